/* files.c -- one user's home with its quota: the jail's work and the
 * quota's bookkeeping together (files.h). */
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The largest file: what off_t can address. */
#define MAX_FILE_SIZE ((uint64_t)INT64_MAX)

struct files {
    struct jail *jail;
    struct quota *quota;
    struct userdb *db; /* to open the home again after files_rest() */
    char user[USERDB_NAME_MAX + 1];
};

struct files_upload {
    struct files *f;
    struct jail_upload *u;
    uint64_t total;
    uint64_t partial;  /* what the partial held when offered */
    uint64_t reserved; /* bytes promised to this upload */
};

int files_open(struct userdb *db, struct quota_registry *quotas,
               const char *user, struct files **out, struct quota_opened *ev)
{
    struct files *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    int fd;
    f->db = db;
    snprintf(f->user, sizeof f->user, "%s", user);
    int rc = userdb_home_open(db, user, &fd);
    if (rc == 0)
        rc = jail_open(fd, &f->jail);
    if (rc == 0)
        rc = quota_acquire(quotas, user, f->jail, &f->quota, ev);
    if (rc != 0) {
        files_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void files_close(struct files *f)
{
    if (f == NULL)
        return;
    quota_drop(f->quota);
    jail_close(f->jail);
    free(f);
}

void files_rest(struct files *f)
{
    jail_rest(f->jail);
}

int files_wake(struct files *f)
{
    if (!jail_resting(f->jail))
        return 0;
    int fd;
    int rc = userdb_home_open(f->db, f->user, &fd);
    return rc != 0 ? rc : jail_wake(f->jail, fd);
}

const char *files_cwd(const struct files *f)
{
    return jail_cwd(f->jail);
}

int files_cd(struct files *f, const char *path, size_t len)
{
    return jail_cd(f->jail, path, len);
}

int files_resolve(const struct files *f, const char *path, size_t len,
                  struct jail_path **out)
{
    return jail_resolve(f->jail, path, len, out);
}

/* A new entry is taken first, so the limit holds for concurrent mkdirs,
 * and given back if none was made. */
int files_mkdir(struct files *f, const struct jail_path *p)
{
    int rc = quota_take_entry(f->quota);
    if (rc != 0)
        return rc;
    rc = jail_mkdir(p);
    if (rc != 0)
        (void)quota_free(f->quota, (struct jail_count){.entries = 1});
    return rc;
}

int files_remove(struct files *f, const struct jail_path *p)
{
    struct jail_count freed = {0};
    int rc = jail_unlink(p, &freed);
    (void)quota_free(f->quota, freed);
    return rc;
}

int files_rmdir(struct files *f, const struct jail_path *p)
{
    struct jail_count freed = {0};
    int rc = jail_rmdir(p, &freed);
    (void)quota_free(f->quota, freed); /* partials go even if rmdir fails */
    return rc;
}

int files_rename(struct files *f, const struct jail_path *from,
                 const struct jail_path *to)
{
    (void)f; /* a rename never changes what is stored */
    return jail_rename(from, to);
}

int files_usage(struct files *f, struct quota_usage *u)
{
    return quota_report(f->quota, u);
}

/* ---- uploads ------------------------------------------------------------ */

/* The partial is an entry: taken before it is made, given back if this
 * call did not make it.  At the limit, only a partial that is there
 * already (a resume) may go on; one made all the same is removed, or, when
 * another session took it over meanwhile, counted. */
static int begin_counted(struct files *f, const struct jail_path *p,
                         struct jail_upload **u)
{
    bool created = false;
    int err = quota_take_entry(f->quota);
    bool took = err == 0;
    if (err == 0 || err == -EDQUOT)
        err = jail_upload_begin(p, u, &created);
    if (!took && created && err == 0) {
        (void)jail_upload_discard(*u, NULL);
        err = -EDQUOT;
    } else if (!took && created) {
        (void)quota_count_entry(f->quota);
    }
    if (took && !created)
        (void)quota_free(f->quota, (struct jail_count){.entries = 1});
    return err;
}

int files_upload_begin(struct files *f, const struct jail_path *p,
                       uint64_t total, struct files_upload **out,
                       uint64_t *partial)
{
    if (total > MAX_FILE_SIZE)
        return -EFBIG;
    struct files_upload *up = calloc(1, sizeof *up);
    if (up == NULL)
        return -ENOMEM;
    up->f = f;
    up->total = total;
    int err = begin_counted(f, p, &up->u);
    if (err != 0) {
        free(up);
        return err;
    }
    err = jail_upload_size(up->u, &up->partial);
    /* A partial longer than the file cannot be its prefix: it starts over.
     * The reservation comes first, so a refusal keeps the partial. */
    bool restart = err == 0 && up->partial > total;
    uint64_t need = total - (restart ? 0 : up->partial);
    if (err == 0)
        err = quota_reserve(f->quota, need);
    if (err == 0)
        up->reserved = need;
    if (err == 0 && restart) {
        uint64_t cut = 0;
        err = jail_upload_truncate(up->u, 0, &cut);
        (void)quota_free(f->quota, (struct jail_count){.bytes = cut});
        up->partial = 0;
    }
    if (err != 0) {
        files_upload_leave(up);
        return err;
    }
    *partial = up->partial;
    *out = up;
    return 0;
}

/* files_upload_begin_open()'s total: the partial's size at commit. */
#define OPEN_TOTAL UINT64_MAX

int files_upload_begin_open(struct files *f, const struct jail_path *p,
                            struct files_upload **out, uint64_t *partial)
{
    struct files_upload *up = calloc(1, sizeof *up);
    if (up == NULL)
        return -ENOMEM;
    up->f = f;
    up->total = OPEN_TOTAL;
    int err = begin_counted(f, p, &up->u);
    if (err != 0) {
        free(up);
        return err;
    }
    err = jail_upload_size(up->u, &up->partial);
    if (err != 0) {
        files_upload_leave(up);
        return err;
    }
    *partial = up->partial;
    *out = up;
    return 0;
}

int files_upload_reserve(struct files_upload *u, uint64_t n)
{
    int rc = quota_reserve(u->f->quota, n);
    if (rc == 0)
        u->reserved += n;
    return rc;
}

int files_upload_truncate(struct files_upload *u, uint64_t len)
{
    uint64_t cut = 0;
    int rc = jail_upload_truncate(u->u, len, &cut);
    (void)quota_free(u->f->quota, (struct jail_count){.bytes = cut});
    return rc;
}

int files_upload_fd(const struct files_upload *u)
{
    return jail_upload_fd(u->u);
}

int files_upload_restart(struct files_upload *u)
{
    if (u->partial == 0)
        return 0;
    int rc = quota_reserve(u->f->quota, u->partial);
    if (rc != 0)
        return rc;
    u->reserved += u->partial;
    uint64_t cut = 0;
    rc = jail_upload_truncate(u->u, 0, &cut);
    (void)quota_free(u->f->quota, (struct jail_count){.bytes = cut});
    if (rc == 0)
        u->partial = 0;
    return rc;
}

int files_upload_written(struct files_upload *u, uint64_t off, uint64_t *stored)
{
    uint64_t end = off;
    if (jail_upload_size(u->u, &end) != 0 || end < off)
        end = off;
    *stored = end - off;
    int rc = quota_commit(u->f->quota, u->reserved, *stored);
    u->reserved = 0;
    return rc;
}

void files_upload_flush_start(const struct files_upload *u)
{
    jail_upload_flush_start(u->u);
}

int files_upload_commit(struct files_upload *u, struct jail_commit *c,
                        enum jail_sync sync)
{
    uint64_t end = 0;
    int rc = jail_upload_size(u->u, &end);
    if (rc == 0 && end != u->total && u->total != OPEN_TOTAL)
        rc = -EIO;
    if (rc != 0) {
        *c = (struct jail_commit){.displaced_fd = -1, .dir_fd = -1};
        files_upload_leave(u);
        return rc;
    }
    (void)quota_release(u->f->quota, u->reserved);
    rc = jail_upload_commit(u->u, c, sync);
    if (rc == 0)
        (void)quota_free(u->f->quota, c->replaced);
    free(u);
    return rc;
}

void files_upload_leave(struct files_upload *u)
{
    if (u == NULL)
        return;
    (void)quota_release(u->f->quota, u->reserved);
    uint64_t size = 0;
    struct jail_count freed = {0};
    if (jail_upload_size(u->u, &size) == 0 && size == 0) {
        if (jail_upload_discard(u->u, &freed) == 0)
            (void)quota_free(u->f->quota, freed);
    } else {
        jail_upload_close(u->u);
    }
    free(u);
}

int files_upload_discard(struct files_upload *u)
{
    (void)quota_release(u->f->quota, u->reserved);
    struct jail_count freed = {0};
    int rc = jail_upload_discard(u->u, &freed);
    if (rc == 0)
        (void)quota_free(u->f->quota, freed);
    free(u);
    return rc;
}
