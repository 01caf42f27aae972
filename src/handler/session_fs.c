/* session_fs.c -- the file commands of a logged-in session: pwd, cd, ls,
 * stat, mkdir, rm, rmdir, rename, set_mtime, quota (docs/protocol.md,
 * "Commands"). */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digestcache.h"

int session_reply(struct session *s, const char *cmd, const char *what, int err,
                  json_t *extra)
{
    /* The code is what the client sees; the reason is what an admin needs
     * (an "internal" could be EIO, ENOMEM or a full ledger). */
    if (err == 0)
        session_log(s, "%s %s: ok", cmd, what);
    else
        session_log(s, "%s %s: %s (%s)", cmd, what, proto_errno_code(err),
                    strerror(-err));
    return err == 0 ? proto_send_ok(&s->io, extra) : session_fail(s, err, what);
}

int session_cmd_pwd(struct session *s, const json_t *req)
{
    (void)req;
    json_t *r = json_pack("{s:s}", "cwd", files_cwd(s->files));
    int rc = session_reply(s, "pwd", "", r == NULL ? -ENOMEM : 0, r);
    json_decref(r);
    return rc;
}

int session_cmd_cd(struct session *s, const json_t *req)
{
    const char *path;
    size_t n = 0;
    if (proto_get_str(req, "path", &path) != 0 ||
        (n = session_path_len(path)) == 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"path\" must be a string of 1..%d bytes",
                                PROTO_PATH_MAX);
    int err = files_cd(s->files, path, n);
    json_t *r =
        err == 0 ? json_pack("{s:s}", "cwd", files_cwd(s->files)) : NULL;
    if (err == 0 && r == NULL)
        err = -ENOMEM;
    int rc = session_reply(s, "cd", path, err, r);
    json_decref(r);
    return rc;
}

/* ---- ls ----------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jail_entry *)a)->name,
                  ((const struct jail_entry *)b)->name);
}

/* The first PROTO_LS_PAGE_ENTRIES + 1 names after `after`, sorted: memory
 * stays bounded however big the directory, since whenever the array fills
 * it is sorted and cut back to what a page could still use. */
struct page {
    struct jail_entry *e;
    size_t n, cap;
};

#define PAGE_KEEP (PROTO_LS_PAGE_ENTRIES + 1)

static int page_add(struct page *pg, const struct jail_entry *e)
{
    if (pg->n == pg->cap) {
        if (pg->cap >= 2 * PAGE_KEEP) {
            qsort(pg->e, pg->n, sizeof *pg->e, entry_cmp);
            pg->n = PAGE_KEEP;
        } else {
            size_t cap = pg->cap ? 2 * pg->cap : 64;
            struct jail_entry *ne = realloc(pg->e, cap * sizeof *ne);
            if (ne == NULL)
                return -ENOMEM;
            pg->e = ne;
            pg->cap = cap;
        }
    }
    pg->e[pg->n++] = *e;
    return 0;
}

static const char *type_name(enum jail_type t)
{
    return t == JAIL_FILE ? "file" : t == JAIL_DIR ? "dir" : "other";
}

/* Builds the reply's entries from the sorted page: at most
 * PROTO_LS_PAGE_ENTRIES and PROTO_LS_PAGE_BYTES of encoded entries. */
static int page_reply(struct page *pg, json_t *reply, size_t *shown)
{
    json_t *arr = json_array();
    if (arr == NULL || json_object_set_new(reply, "entries", arr) != 0)
        return -ENOMEM;
    size_t bytes = 0, i;
    for (i = 0; i < pg->n && i < PROTO_LS_PAGE_ENTRIES; i++) {
        const struct jail_entry *e = &pg->e[i];
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "name", e->name, "type",
                              type_name(e->type), "size", (json_int_t)e->size,
                              "mtime", (json_int_t)e->mtime);
        if (o == NULL)
            return -ENOMEM;
        size_t len = json_dumpb(o, NULL, 0, JSON_COMPACT) + 1;
        if (bytes + len > PROTO_LS_PAGE_BYTES) {
            json_decref(o);
            break;
        }
        bytes += len;
        if (json_array_append_new(arr, o) != 0)
            return -ENOMEM;
    }
    *shown = i;
    return json_object_set_new(reply, "more", json_boolean(i < pg->n));
}

/* ls, or partials: the entries next() gives, sorted and paged. */
static int listing(struct session *s, const json_t *req, const char *cmd,
                   int (*next)(struct jail_dir *, struct jail_entry *))
{
    const char *after = NULL;
    if (proto_has(req, "after") && proto_get_str(req, "after", &after) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"after\" must be a string");
    struct jail_path *p;
    int rc;
    if (proto_has(req, "path")) {
        rc = session_resolve(s, req, "path", &p);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    } else {
        const char *cwd = files_cwd(s->files);
        rc = files_resolve(s->files, cwd, strlen(cwd), &p);
        if (rc != 0)
            return session_reply(s, cmd, cwd, rc, NULL);
    }
    char what[PROTO_PATH_BUF];
    snprintf(what, sizeof what, "%s", jail_path_user(p));
    struct page pg = {0};
    struct jail_dir *d;
    int err = jail_dir_open(p, &d);
    jail_path_free(p);
    if (err == 0) {
        struct jail_entry e;
        while ((err = next(d, &e)) == 1)
            if (after == NULL || strcmp(e.name, after) > 0)
                if ((err = page_add(&pg, &e)) != 0)
                    break;
        jail_dir_close(d);
    }
    json_t *reply = NULL;
    size_t shown = 0;
    if (err == 0) {
        if (pg.n > 1) /* qsort(NULL, 0, ...) is undefined */
            qsort(pg.e, pg.n, sizeof *pg.e, entry_cmp);
        reply = json_object();
        err = reply == NULL ? -ENOMEM : page_reply(&pg, reply, &shown);
    }
    free(pg.e);
    rc = session_reply(s, cmd, what, err, reply);
    json_decref(reply);
    return rc;
}

int session_cmd_ls(struct session *s, const json_t *req)
{
    return listing(s, req, "ls", jail_dir_next);
}

int session_cmd_partials(struct session *s, const json_t *req)
{
    return listing(s, req, "partials", jail_dir_next_partial);
}

/* ---- stat, rename ------------------------------------------------------- */

/* session_resolve() of "path", and its normalized name into what (for the
 * reply and the log once p is freed). */
static int resolve_named(struct session *s, const json_t *req,
                         struct jail_path **p, char what[PROTO_PATH_BUF])
{
    int rc = session_resolve(s, req, "path", p);
    if (rc == 0)
        snprintf(what, PROTO_PATH_BUF, "%s", jail_path_user(*p));
    return rc;
}

/* A regular file's size, mtime and recorded digest, read through one open
 * descriptor so the three agree; false when it cannot be opened (the
 * entry from jail_stat() then stands, without a digest). */
static bool file_facts(const struct jail_path *p, struct jail_entry *e,
                       uint8_t digest[PROTO_DIGEST_BYTES], bool *known)
{
    int fd;
    struct stat st;
    if (jail_open_read(p, &fd, &st) != 0)
        return false;
    e->size = (uint64_t)st.st_size;
    e->mtime = (int64_t)st.st_mtime;
    *known = digestcache_load(fd, &st, digest) == 0;
    close(fd);
    return true;
}

int session_cmd_stat(struct session *s, const json_t *req)
{
    struct jail_path *p;
    char what[PROTO_PATH_BUF];
    int rc = resolve_named(s, req, &p, what);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct jail_entry e;
    int err = jail_stat(p, &e);
    uint8_t digest[PROTO_DIGEST_BYTES];
    bool known = false;
    if (err == 0 && e.type == JAIL_FILE)
        (void)file_facts(p, &e, digest, &known);
    jail_path_free(p);
    json_t *r = NULL;
    if (err == 0) {
        /* The entry is nested as in ls: a top-level "size" would announce
         * a body (docs/protocol.md, "Framing"). */
        r = json_pack("{s:s, s:{s:s, s:s, s:I, s:I}}", "path", what, "entry",
                      "name", strcmp(e.name, ".") == 0 ? "/" : e.name, "type",
                      type_name(e.type), "size",
                      (json_int_t)(e.type == JAIL_FILE ? e.size : 0), "mtime",
                      (json_int_t)e.mtime);
        if (r == NULL ||
            (known && proto_set_hex(r, "digest", digest, sizeof digest) != 0))
            err = -ENOMEM;
    }
    rc = session_reply(s, "stat", what, err, r);
    json_decref(r);
    return rc;
}

int session_cmd_rename(struct session *s, const json_t *req)
{
    struct jail_path *from, *to;
    int rc = session_resolve(s, req, "path", &from);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = session_resolve(s, req, "to", &to);
    if (rc != 0) {
        jail_path_free(from);
        return rc < 0 ? rc : 0;
    }
    char what[2 * PROTO_PATH_BUF + 8];
    snprintf(what, sizeof what, "%s to %s", jail_path_user(from),
             jail_path_user(to));
    /* As ls, which does not show it: a symbolic link is not renamed (nor
     * anything else that is neither a file nor a directory). */
    struct jail_entry e;
    int err = jail_stat(from, &e);
    if (err == 0 && e.type == JAIL_OTHER)
        err = -ELOOP;
    if (err == 0)
        err = files_rename(s->files, from, to);
    jail_path_free(from);
    jail_path_free(to);
    if (err == -EINVAL) { /* the kernel's word for into its own subtree */
        session_log(s, "rename %s: a directory into itself", what);
        return proto_send_error(&s->io, PROTO_E_BAD_PATH,
                                "%s: a directory cannot move into itself",
                                what);
    }
    return session_reply(s, "rename", what, err, NULL);
}

int session_cmd_set_mtime(struct session *s, const json_t *req)
{
    int64_t t = 0;
    if (proto_get_i64(req, "mtime", &t) != 0 || t < 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"mtime\" must be an integer >= 0");
    struct jail_path *p;
    char what[PROTO_PATH_BUF];
    int rc = resolve_named(s, req, &p, what);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int err = jail_set_mtime(p, t);
    jail_path_free(p);
    return session_reply(s, "set_mtime", what, err, NULL);
}

/* ---- mkdir, rm, rmdir, quota ------------------------------------------- */

/* mkdir, rm and rmdir: one operation of the file service on one path. */
typedef int (*path_op)(struct files *f, const struct jail_path *p);

static int path_command(struct session *s, const json_t *req, const char *cmd,
                        path_op op)
{
    struct jail_path *p;
    int rc = session_resolve(s, req, "path", &p);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int err = op(s->files, p);
    rc = session_reply(s, cmd, jail_path_user(p), err, NULL);
    jail_path_free(p);
    return rc;
}

int session_cmd_mkdir(struct session *s, const json_t *req)
{
    return path_command(s, req, "mkdir", files_mkdir);
}

int session_cmd_rm(struct session *s, const json_t *req)
{
    return path_command(s, req, "rm", files_remove);
}

int session_cmd_rmdir(struct session *s, const json_t *req)
{
    return path_command(s, req, "rmdir", files_rmdir);
}

int session_cmd_quota(struct session *s, const json_t *req)
{
    (void)req;
    struct quota_usage u;
    int err = files_usage(s->files, &u);
    json_t *r = NULL;
    if (err == 0) {
        r = json_pack("{s:I, s:I}", "used", (json_int_t)u.used, "files",
                      (json_int_t)u.entries);
        if (r != NULL && u.limit != QUOTA_UNLIMITED)
            json_object_set_new(r, "limit", json_integer((json_int_t)u.limit));
        if (r != NULL && u.entries_limit != QUOTA_UNLIMITED)
            json_object_set_new(r, "max_files",
                                json_integer((json_int_t)u.entries_limit));
        if (r == NULL)
            err = -ENOMEM;
    }
    int rc = session_reply(s, "quota", "", err, r);
    json_decref(r);
    return rc;
}
