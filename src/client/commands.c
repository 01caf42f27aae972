/* commands.c -- one function per ssftp command, and the table that maps
 * names to them. */
#include "commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "text.h"
#include "transfer.h"

/* Print s escaped, then end. */
static void print_escaped(const char *s, const char *end)
{
    char *e = text_escape(s);
    fputs(e ? e : "?", stdout);
    fputs(end, stdout);
    free(e);
}

/* "cmd ARG" for messages. */
static void what_of(char *out, size_t cap, int argc, char **argv)
{
    snprintf(out, cap, "%s%s%s", argv[0], argc > 1 ? " " : "",
             argc > 1 ? argv[1] : "");
}

/* A request whose success reply carries nothing we need. */
static int simple(client_conn *c, int argc, char **argv, json_t **keep)
{
    char what[PROTO_PATH_MAX + 16];
    what_of(what, sizeof what, argc, argv);
    json_t *req = argc > 1
                      ? json_pack("{s:s, s:s}", "cmd", argv[0], "path", argv[1])
                      : json_pack("{s:s}", "cmd", argv[0]);
    return conn_request(c, req, what, keep);
}

static int cmd_plain(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    return simple(c, argc, argv, NULL);
}

static int cmd_cwd(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    json_t *rep = NULL;
    int s = simple(c, argc, argv, &rep);
    if (s != SSFTP_OK)
        return s;
    const char *cwd = NULL;
    if (proto_get_str(rep, "cwd", &cwd) == 0 && strlen(cwd) < sizeof c->cwd)
        strcpy(c->cwd, cwd);
    json_decref(rep);
    if (strcmp(argv[0], "pwd") == 0)
        print_escaped(c->cwd, "\n");
    return SSFTP_OK;
}

/* One line of ls or lls: type, size (bytes, or with -h a binary unit),
 * local modification time, name (a '/' after a directory's). */
static void print_entry(char kind, uint64_t size, int64_t mtime,
                        const char *name, bool human)
{
    char when[32] = "?";
    time_t t = (time_t)mtime;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    if (human)
        printf("%c %10s %s  ", kind, proto_size_format(size).s, when);
    else
        printf("%c %12llu %s  ", kind, (unsigned long long)size, when);
    print_escaped(name, kind == 'd' ? "/\n" : "\n");
}

struct ls_ctx {
    bool human;
};

static void ls_print(const json_t *e, void *ctx)
{
    const struct ls_ctx *l = ctx;
    const char *name = NULL, *type = "other";
    uint64_t size = 0;
    int64_t mtime = 0;
    if (proto_get_str(e, "name", &name))
        return;
    (void)proto_get_str(e, "type", &type);
    (void)proto_get_u64(e, "size", &size);
    (void)proto_get_i64(e, "mtime", &mtime);
    char kind = strcmp(type, "dir") == 0    ? 'd'
                : strcmp(type, "file") == 0 ? '-'
                                            : '?';
    print_entry(kind, size, mtime, name, l != NULL && l->human);
}

/* Lists path (NULL: the current directory), calling each() for every
 * entry.  Returns an SSFTP_* status. */
static int walk(client_conn *c, const char *cmd, const char *path,
                const char *what, void (*each)(const json_t *e, void *ctx),
                void *ctx)
{
    char *after = NULL;
    int status = SSFTP_OK;
    for (;;) { /* one request per page; docs/protocol.md, "ls" */
        json_t *req = json_pack("{s:s}", "cmd", cmd);
        if (req && path)
            json_object_set_new(req, "path", json_string(path));
        if (req && after)
            json_object_set_new(req, "after", json_string(after));
        json_t *rep = NULL;
        int r = conn_call(c, req, &rep);
        if (r == -EREMOTEIO) {
            status = conn_remote_fail(c, rep, what);
            break;
        }
        if (r < 0) {
            status = c->dead ? SSFTP_CONN : SSFTP_FAIL;
            break;
        }
        json_t *entries = json_object_get(rep, "entries");
        bool more = false;
        (void)proto_get_bool(rep, "more", &more);
        size_t i;
        json_t *e;
        const char *last = NULL;
        json_array_foreach(entries, i, e)
        {
            each(e, ctx);
            (void)proto_get_str(e, "name", &last);
        }
        free(after);
        after = more && last ? strdup(last) : NULL;
        json_decref(rep);
        if (after == NULL)
            break;
    }
    free(after);
    fflush(stdout);
    return status;
}

static int ls_walk(client_conn *c, const char *path, const char *what,
                   void (*each)(const json_t *e, void *ctx), void *ctx)
{
    return walk(c, "ls", path, what, each, ctx);
}

/* A command's leading flags, alone or together ("-lh"), "--" ending them:
 * each letter of allowed sets its slot of on[].  Returns the index of the
 * first operand, or -1 for a letter not allowed. */
static int word_flags(int argc, char **argv, const char *allowed, bool *on)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1;
        for (const char *f = argv[i] + 1; *f; f++) {
            const char *k = strchr(allowed, *f);
            if (k == NULL)
                return -1;
            on[k - allowed] = true;
        }
    }
    return i;
}

/* ls and lls options: -l (the long listing, which is the only one) and
 * -h (sizes in binary units).  Returns as word_flags(). */
static int list_flags(int argc, char **argv, struct ls_ctx *l)
{
    bool on[2] = {false, false};
    int i = word_flags(argc, argv, "lh", on);
    l->human = on[1];
    return i;
}

/* ls's and lls's words: the flags into l, the operand (NULL if none) into
 * *path.  Returns SSFTP_OK or SSFTP_USAGE. */
static int list_args(client_conn *c, int argc, char **argv, struct ls_ctx *l,
                     const char **path)
{
    int i = list_flags(argc, argv, l);
    if (i < 0 || argc - i > 1)
        return conn_fail(c, SSFTP_USAGE, "usage: %s [-lh] [%s]", argv[0],
                         argv[0][0] == 'l' && argv[0][1] == 'l' ? "DIR"
                                                                : "PATH");
    *path = i < argc ? argv[i] : NULL;
    return SSFTP_OK;
}

static int cmd_ls(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    struct ls_ctx l = {0};
    const char *path;
    if (list_args(c, argc, argv, &l, &path) != SSFTP_OK)
        return SSFTP_USAGE;
    char what[PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "ls%s%s", path ? " " : "", path ? path : "");
    return ls_walk(c, path, what, ls_print, &l);
}

static void print_unmatched(const char *pattern)
{
    char *e = text_escape(pattern);
    fprintf(stderr, "ssftp: %s: no match\n", e ? e : "?");
    free(e);
}

/* ---- mput, mget: names and patterns -------------------------------------
 * Local patterns are expanded here with glob(3); remote ones (a pattern in
 * the last component only) by listing the directory and matching its files
 * with fnmatch(3), as lftp does.  A leading '.' is matched only by a '.'. */

struct names {
    json_t *all;  /* the names, as strings (not checked as UTF-8) */
    json_t *dirs; /* -r: the directories, apart (NULL: none wanted) */
    bool nomem;
    const char *dir; /* remote: the pattern's directory, with its '/' */
    size_t dir_len;
    const char *pattern;
};

/* dir (dir_len bytes) then name, appended to list. */
static void list_add(json_t *list, bool *nomem, const char *dir, size_t dir_len,
                     const char *name)
{
    size_t n = strlen(name);
    char *s = malloc(dir_len + n + 1);
    json_t *j = NULL;
    if (s != NULL) {
        memcpy(s, dir, dir_len);
        memcpy(s + dir_len, name, n + 1);
        j = json_stringn_nocheck(s, dir_len + n);
        free(s);
    }
    /* json_array_append_new() frees j when it fails */
    if (j == NULL || list == NULL || json_array_append_new(list, j) != 0)
        *nomem = true;
}

static void names_add(struct names *l, const char *dir, size_t dir_len,
                      const char *name)
{
    list_add(l->all, &l->nomem, dir, dir_len, name);
}

static size_t names_count(const struct names *l)
{
    return json_array_size(l->all) + json_array_size(l->dirs);
}

static bool has_pattern(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static void match_remote(const json_t *e, void *ctx)
{
    struct names *l = ctx;
    const char *name = NULL, *type = "";
    if (proto_get_str(e, "name", &name) != 0 ||
        fnmatch(l->pattern, name, FNM_PERIOD) != 0)
        return;
    (void)proto_get_str(e, "type", &type);
    if (strcmp(type, "file") == 0)
        names_add(l, l->dir, l->dir_len, name);
    else if (strcmp(type, "dir") == 0 && l->dirs != NULL)
        list_add(l->dirs, &l->nomem, l->dir, l->dir_len, name);
}

/* put, get, mput and mget flags: -p keeps modification times, -r takes
 * directories (trees).  Returns as word_flags(). */
static int transfer_flags(int argc, char **argv, bool *keep, bool *tree)
{
    bool on[2] = {false, false};
    int i = word_flags(argc, argv, "pr", on);
    *keep = on[0];
    *tree = on[1];
    return i;
}

static int cmd_tree(client_conn *c, bool put, const char *from, const char *to,
                    const cmd_opts *o, bool keep);

/* Runs mput/mget over the names, then put -r/get -r over the directories
 * (-r); patterns that matched nothing count as failures (they were said
 * as they were found), so does a tree that failed (said at once). */
static int many_names(client_conn *c, const char *cmd, struct names *l,
                      unsigned unmatched, const cmd_opts *o, bool keep,
                      int (*run)(client_conn *, const char *const *, unsigned,
                                 bool, bool))
{
    size_t n = json_array_size(l->all);
    const char **v = n > 0 ? malloc(n * sizeof *v) : NULL;
    if (l->nomem || (n > 0 && v == NULL) || n > UINT_MAX) {
        free(v);
        return conn_fail(c, SSFTP_FAIL, "%s: out of memory", cmd);
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(l->all, i));
    int status = n > 0 ? run(c, v, (unsigned)n, o->progress, keep) : SSFTP_OK;
    free(v);
    char files_err[sizeof c->err];
    memcpy(files_err, c->err, sizeof files_err);
    unsigned trees = 0;
    size_t i;
    json_t *d;
    json_array_foreach(l->dirs, i, d)
    {
        if (c->dead || status == SSFTP_CONN)
            return SSFTP_CONN;
        int s = cmd_tree(c, cmd[1] == 'p', json_string_value(d), NULL, o, keep);
        if (s == SSFTP_CONN)
            return s;
        if (s != SSFTP_OK) {
            fprintf(stderr, "ssftp: %s\n", c->err);
            trees++;
        }
    }
    if (trees > 0) { /* the files' failure is said last, then the count */
        if (status != SSFTP_OK)
            fprintf(stderr, "ssftp: %s\n", files_err);
        return conn_fail(c, SSFTP_FAIL, "%s: %u director%s failed", cmd, trees,
                         trees == 1 ? "y" : "ies");
    }
    if (status != SSFTP_OK) {
        memcpy(c->err, files_err, sizeof files_err);
        return status;
    }
    if (unmatched > 0)
        status = conn_fail(c, SSFTP_FAIL, "%s: %u pattern%s matched nothing",
                           cmd, unmatched, unmatched == 1 ? "" : "s");
    return status;
}

/* The usage of mput and mget. */
static int many_usage(client_conn *c, const char *cmd)
{
    return conn_fail(c, SSFTP_USAGE, "usage: %s [-pr] %s...", cmd,
                     cmd[1] == 'p' ? "LOCAL" : "REMOTE");
}

static int cmd_mput(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    bool keep = false, tree = false;
    int first = transfer_flags(argc, argv, &keep, &tree);
    if (first < 0 || first >= argc)
        return many_usage(c, "mput");
    struct names l = {.all = json_array(), .dirs = json_array()};
    unsigned unmatched = 0;
    glob_t g = {0};
    for (int i = first; i < argc; i++) {
        int r = 0;
        if (has_pattern(argv[i])) {
            r = glob(argv[i], 0, NULL, &g);
            if (r == GLOB_NOMATCH)
                unmatched++, print_unmatched(argv[i]);
            else if (r != 0)
                l.nomem = true;
        } else {
            g.gl_pathc = 1;
            g.gl_pathv = &argv[i];
        }
        for (size_t k = 0; r == 0 && k < g.gl_pathc; k++) {
            struct stat st;
            if (tree && stat(g.gl_pathv[k], &st) == 0 && S_ISDIR(st.st_mode))
                list_add(l.dirs, &l.nomem, "", 0, g.gl_pathv[k]);
            else
                names_add(&l, "", 0, g.gl_pathv[k]);
        }
        if (has_pattern(argv[i]) && (r == 0 || r == GLOB_NOMATCH))
            globfree(&g);
        g = (glob_t){0};
    }
    int status = many_names(c, "mput", &l, unmatched, o, keep, transfer_mput);
    json_decref(l.all);
    json_decref(l.dirs);
    return status;
}

/* mget -r of a name without a pattern: a directory goes to l->dirs (asked
 * with stat), anything else -- also a name stat cannot find -- to the
 * files, whose get then says what is wrong.  Returns an SSFTP_* status. */
static int mget_sort(client_conn *c, struct names *l, const char *name)
{
    json_t *rep = NULL;
    char what[PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "mget %s", name);
    int s = conn_request(
        c, json_pack("{s:s, s:s}", "cmd", "stat", "path", name), what, &rep);
    if (s == SSFTP_FAIL)
        names_add(l, "", 0, name);
    if (s != SSFTP_OK)
        return s == SSFTP_FAIL ? SSFTP_OK : s;
    const char *type = "";
    (void)proto_get_str(json_object_get(rep, "entry"), "type", &type);
    list_add(strcmp(type, "dir") == 0 ? l->dirs : l->all, &l->nomem, "", 0,
             name);
    json_decref(rep);
    return SSFTP_OK;
}

static int cmd_mget(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    bool keep = false, tree = false;
    int first = transfer_flags(argc, argv, &keep, &tree);
    if (first < 0 || first >= argc)
        return many_usage(c, "mget");
    struct names l = {.all = json_array(), .dirs = tree ? json_array() : NULL};
    unsigned unmatched = 0;
    int status = SSFTP_OK;
    for (int i = first; i < argc && !c->dead && status == SSFTP_OK; i++) {
        size_t dl = proto_path_dir_len(argv[i]);
        if (!has_pattern(argv[i] + dl)) {
            if (tree)
                status = mget_sort(c, &l, argv[i]);
            else
                names_add(&l, "", 0, argv[i]);
            continue;
        }
        if (has_pattern(argv[i]) && strpbrk(argv[i], "*?[") < argv[i] + dl) {
            status =
                conn_fail(c, SSFTP_USAGE,
                          "mget: a pattern may only be in the last component");
            break;
        }
        char dir[PROTO_PATH_MAX + 1];
        snprintf(dir, sizeof dir, "%.*s", (int)dl, argv[i]);
        l.dir = argv[i];
        l.dir_len = dl;
        l.pattern = argv[i] + dl;
        size_t before = names_count(&l);
        char what[PROTO_PATH_MAX + 8];
        snprintf(what, sizeof what, "mget %s", argv[i]);
        status = ls_walk(c, dl ? dir : NULL, what, match_remote, &l);
        if (status == SSFTP_OK && names_count(&l) == before)
            unmatched++, print_unmatched(argv[i]);
    }
    if (status == SSFTP_OK)
        status = many_names(c, "mget", &l, unmatched, o, keep, transfer_mget);
    json_decref(l.all);
    json_decref(l.dirs);
    return status;
}

static int cmd_quota(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    json_t *rep = NULL;
    int s = simple(c, argc, argv, &rep);
    if (s != SSFTP_OK)
        return s;
    uint64_t used = 0, limit = 0;
    (void)proto_get_u64(rep, "used", &used);
    if (proto_get_u64(rep, "limit", &limit) == 0)
        printf("used %s of %s (%.1f%%)\n", proto_size_format(used).s,
               proto_size_format(limit).s,
               limit ? 100.0 * (double)used / (double)limit : 100.0);
    else
        printf("used %s (no limit)\n", proto_size_format(used).s);
    uint64_t files = 0, max_files = 0;
    if (proto_get_u64(rep, "files", &files) == 0) {
        if (proto_get_u64(rep, "max_files", &max_files) == 0)
            printf("files %" PRIu64 " of %" PRIu64 "\n", files, max_files);
        else
            printf("files %" PRIu64 " (no limit)\n", files);
    }
    json_decref(rep);
    return SSFTP_OK;
}

/* partials [DIR]: the uploads left unfinished there, by the name each
 * would get; they count against the quota, and rm NAME discards one. */
static int cmd_partials(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    struct ls_ctx l = {0};
    const char *path;
    if (list_args(c, argc, argv, &l, &path) != SSFTP_OK)
        return SSFTP_USAGE;
    (void)o;
    char what[PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "partials%s%s", path ? " " : "",
             path ? path : "");
    return walk(c, "partials", path, what, ls_print, &l);
}

/* ---- stat, rename ------------------------------------------------------ */

static int cmd_stat(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    json_t *rep = NULL;
    int s = simple(c, argc, argv, &rep);
    if (s != SSFTP_OK)
        return s;
    const char *path = argv[1], *type = "?";
    uint64_t size = 0;
    int64_t mtime = 0;
    const json_t *e = json_object_get(rep, "entry"); /* as an ls entry */
    (void)proto_get_str(rep, "path", &path);
    (void)proto_get_str(e, "type", &type);
    (void)proto_get_u64(e, "size", &size);
    (void)proto_get_i64(e, "mtime", &mtime);
    fputs("  path: ", stdout);
    print_escaped(path, "\n");
    fputs("  type: ", stdout);
    print_escaped(type, "\n");
    if (strcmp(type, "file") == 0)
        printf("  size: %" PRIu64 " (%s)\n", size, proto_size_format(size).s);
    char when[64] = "?";
    time_t t = (time_t)mtime;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    printf(" mtime: %s\n", when);
    uint8_t digest[PROTO_DIGEST_BYTES];
    if (proto_get_hex(rep, "digest", digest, sizeof digest) == 0) {
        char hex[PROTO_DIGEST_HEX_SIZE];
        proto_digest_to_hex(digest, hex);
        printf("digest: blake2b:%s\n", hex);
    } else if (strcmp(type, "file") == 0) {
        puts("digest: not recorded (a get records it)");
    }
    json_decref(rep);
    fflush(stdout);
    return SSFTP_OK;
}

/* mv OLD NEW: NEW ending in '/' is a directory to move OLD into, keeping
 * its name (as put FILE DIR/). */
static int cmd_rename(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)argc, (void)o;
    char what[2 * PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "%s %s %s", argv[0], argv[1], argv[2]);
    const char *to = argv[2];
    char name[PROTO_NAME_MAX + 1], into[PROTO_PATH_MAX + 1];
    if (to[0] != '\0' && to[strlen(to) - 1] == '/') {
        if (proto_path_base(argv[1], name, sizeof name) != 0 ||
            name[0] == '\0' || strcmp(name, "/") == 0)
            return conn_fail(c, SSFTP_USAGE, "%s: name what to move", what);
        if (proto_path_join(into, sizeof into, to, name) != 0)
            return conn_fail(c, SSFTP_FAIL, "%s: path too long", what);
        to = into;
    }
    json_t *rep = NULL;
    int r = conn_call(c,
                      json_pack("{s:s, s:s, s:s}", "cmd", "rename", "path",
                                argv[1], "to", to),
                      &rep);
    if (r == -EREMOTEIO) {
        const char *code = "", *why = "";
        (void)proto_get_str(rep, "code", &code);
        (void)proto_get_str(rep, "error", &why);
        /* A bad_path that is no path's fault (docs/protocol.md, rename). */
        bool into_itself = strcmp(code, PROTO_E_BAD_PATH) == 0 &&
                           strstr(why, "cannot move into itself") != NULL;
        int st = conn_remote_fail(c, rep, what);
        if (into_itself) {
            size_t n = strlen(c->err);
            snprintf(c->err + n, sizeof c->err - n,
                     " (a directory cannot move into itself)");
        }
        return st;
    }
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    json_decref(rep);
    return SSFTP_OK;
}

/* ---- local: lpwd, lcd, lls, !command ------------------------------------ */

static int cmd_lpwd(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)argc, (void)argv, (void)o;
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return conn_fail(c, SSFTP_FAIL, "lpwd: %s", strerror(errno));
    print_escaped(cwd, "\n");
    free(cwd);
    fflush(stdout);
    return SSFTP_OK;
}

static int cmd_lcd(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    const char *dir = argc > 1 ? argv[1] : getenv("HOME");
    if (dir == NULL || *dir == '\0')
        return conn_fail(c, SSFTP_USAGE, "lcd: no directory and no $HOME");
    if (chdir(dir) != 0) {
        char *e = text_escape(dir);
        int s = conn_fail(c, SSFTP_FAIL, "lcd %s: %s", e ? e : "?",
                          strerror(errno));
        free(e);
        return s;
    }
    return SSFTP_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The local directory's entries as ls shows remote ones ("." and ".."
 * left out, symbolic links not followed: 'l'). */
static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The sorted names in local directory path, without "." and ".." (and
 * upload partials if skip_parts): NULL on failure, errno set; free with
 * free_names(). */
static char **local_names(const char *path, bool skip_parts, size_t *count)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return NULL;
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (skip_parts && proto_is_part_name(de->d_name)))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            char **nv = realloc(v, ncap * sizeof *v);
            if (nv == NULL) {
                ok = false;
                break;
            }
            v = nv;
            cap = ncap;
        }
        char *name = strdup(de->d_name);
        if (name == NULL) {
            ok = false;
            break;
        }
        v[n++] = name;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, name_cmp);
    if (!ok) {
        free_names(v, n);
        errno = ENOMEM;
        return NULL;
    }
    *count = n;
    return v ? v : calloc(1, sizeof *v);
}

static char kind_of(mode_t m)
{
    return S_ISDIR(m) ? 'd' : S_ISREG(m) ? '-' : S_ISLNK(m) ? 'l' : '?';
}

static int list_local(client_conn *c, const char *dir, bool human)
{
    struct stat st;
    size_t n = 0;
    char **names = NULL;
    if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        print_entry(kind_of(st.st_mode),
                    S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0,
                    (int64_t)st.st_mtime, dir, human);
    } else if ((names = local_names(dir, false, &n)) == NULL) {
        char *e = text_escape(dir);
        int s = conn_fail(c, SSFTP_FAIL, "lls %s: %s", e ? e : "?",
                          strerror(errno));
        free(e);
        return s;
    }
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (proto_path_join(path, sizeof path, dir, names[i]) != 0 ||
            lstat(path, &st) != 0)
            continue; /* gone meanwhile */
        print_entry(kind_of(st.st_mode),
                    S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0,
                    (int64_t)st.st_mtime, names[i], human);
    }
    free_names(names, n);
    fflush(stdout);
    return SSFTP_OK;
}

static int cmd_lls(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    struct ls_ctx l = {0};
    const char *dir;
    if (list_args(c, argc, argv, &l, &dir) != SSFTP_OK)
        return SSFTP_USAGE;
    return list_local(c, dir ? dir : ".", l.human);
}

int cmd_shell(client_conn *c, const char *command)
{
    command += strspn(command, " \t");
    if (*command == '\0')
        return conn_fail(c, SSFTP_USAGE, "usage: !COMMAND");
    fflush(stdout);
    /* The child gets SIGPIPE and SIGINT as a shell would give them. */
    posix_spawnattr_t attr;
    sigset_t dfl;
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    int r = posix_spawnattr_init(&attr);
    if (r == 0) {
        (void)posix_spawnattr_setsigdefault(&attr, &dfl);
        (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        char *const args[] = {"sh", "-c", (char *)command, NULL};
        pid_t pid;
        r = posix_spawn(&pid, "/bin/sh", NULL, &attr, args, environ);
        posix_spawnattr_destroy(&attr);
        if (r == 0) {
            int st = 0;
            pid_t w;
            while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
                ;
            if (w < 0)
                return conn_fail(c, SSFTP_FAIL, "!: waitpid: %s",
                                 strerror(errno));
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return SSFTP_OK;
            char *e = text_escape(command);
            int s = WIFEXITED(st)
                        ? conn_fail(c, SSFTP_FAIL, "!%s: exit status %d",
                                    e ? e : "?", WEXITSTATUS(st))
                        : conn_fail(c, SSFTP_FAIL, "!%s: killed by signal %d",
                                    e ? e : "?", WTERMSIG(st));
            free(e);
            return s;
        }
    }
    return conn_fail(c, SSFTP_FAIL, "!: /bin/sh: %s", strerror(r));
}

/* ---- put -r, get -r: a tree, file by file ---------------------------------
 * Each file is an ordinary put or get (resumable, verified); one that fails
 * is said and the rest go on, as mput does.  Symbolic links and other
 * special files are skipped, said so. */

struct tree {
    client_conn *c;
    const cmd_opts *o;
    bool keep;
    unsigned failed;
};

/* One file's outcome: SSFTP_CONN ends the walk, any other failure is said
 * and counted. */
static int tree_file(struct tree *t, int status)
{
    if (status == SSFTP_OK || t->c->dead)
        return t->c->dead ? SSFTP_CONN : SSFTP_OK;
    fprintf(stderr, "ssftp: %s\n", t->c->err);
    t->failed++;
    return SSFTP_OK;
}

/* A failure about path (escaped: remote names are untrusted), counted. */
static int tree_fail(struct tree *t, const char *cmd, const char *path,
                     const char *why)
{
    char *e = text_escape(path);
    int s = conn_fail(t->c, SSFTP_FAIL, "%s: %s: %s", cmd, e ? e : "?", why);
    free(e);
    return tree_file(t, s);
}

static void tree_skip(const char *path, const char *why)
{
    char *e = text_escape(path);
    fprintf(stderr, "ssftp: %s: %s, skipped\n", e ? e : "?", why);
    free(e);
}

static int put_tree(struct tree *t, const char *local, const char *remote)
{
    client_conn *c = t->c;
    json_t *rep = NULL;
    int r = conn_call(
        c, json_pack("{s:s, s:s}", "cmd", "mkdir", "path", remote), &rep);
    const char *code = "";
    if (r == -EREMOTEIO && proto_get_str(rep, "code", &code) == 0 &&
        strcmp(code, PROTO_E_EXISTS) == 0)
        r = 0; /* put -r again: into what is there */
    char what[PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "put -r %s", remote);
    if (r == -EREMOTEIO)
        return tree_file(t, conn_remote_fail(c, rep, what));
    json_decref(rep);
    if (r < 0)
        return SSFTP_CONN;
    size_t n = 0;
    char **names = local_names(local, true, &n);
    if (names == NULL)
        return tree_fail(t, "put -r", local, strerror(errno));
    int status = SSFTP_OK;
    for (size_t i = 0; i < n && status == SSFTP_OK; i++) {
        char lp[PATH_MAX], rp[PROTO_PATH_MAX + 1];
        struct stat st;
        if (proto_path_join(lp, sizeof lp, local, names[i]) != 0 ||
            proto_path_join(rp, sizeof rp, remote, names[i]) != 0)
            status = tree_fail(t, "put -r", names[i], "path too long");
        else if (lstat(lp, &st) != 0)
            status = tree_fail(t, "put -r", lp, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            status = put_tree(t, lp, rp);
        else if (S_ISREG(st.st_mode))
            status =
                tree_file(t, transfer_put(c, lp, rp, t->o->progress, t->keep));
        else
            tree_skip(lp, "not a regular file or directory");
    }
    free_names(names, n);
    return status;
}

static void collect_entry(const json_t *e, void *ctx)
{
    json_array_append((json_t *)ctx, (json_t *)e);
}

static int get_tree(struct tree *t, const char *remote, const char *local)
{
    client_conn *c = t->c;
    struct stat st;
    if (mkdir(local, 0777) != 0) {
        int e = errno;
        if (e == EEXIST)
            e = stat(local, &st) != 0 ? errno
                : S_ISDIR(st.st_mode) ? 0
                                      : ENOTDIR;
        if (e != 0)
            return tree_fail(t, "get -r", local, strerror(e));
    }
    json_t *all = json_array();
    char what[PROTO_PATH_MAX + 16];
    snprintf(what, sizeof what, "get -r %s", remote);
    int status = all ? ls_walk(c, remote, what, collect_entry, all)
                     : conn_fail(c, SSFTP_FAIL, "get -r: out of memory");
    if (status != SSFTP_OK) {
        json_decref(all);
        return tree_file(t, status);
    }
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        const char *name = "", *type = "";
        (void)proto_get_str(e, "name", &name);
        (void)proto_get_str(e, "type", &type);
        char lp[PATH_MAX], rp[PROTO_PATH_MAX + 1];
        if (proto_path_join(lp, sizeof lp, local, name) != 0 ||
            proto_path_join(rp, sizeof rp, remote, name) != 0)
            status = tree_fail(t, "get -r", name, "path too long");
        else if (strcmp(type, "dir") == 0)
            status = get_tree(t, rp, lp);
        else if (strcmp(type, "file") == 0)
            status =
                tree_file(t, transfer_get(c, rp, lp, t->o->progress, t->keep));
        else
            tree_skip(rp, "not a regular file or directory");
        if (status != SSFTP_OK)
            break;
    }
    json_decref(all);
    return status;
}

static int cmd_tree(client_conn *c, bool put, const char *from, const char *to,
                    const cmd_opts *o, bool keep)
{
    struct tree t = {.c = c, .o = o, .keep = keep};
    char name[PROTO_NAME_MAX + 1];
    if (to == NULL) { /* the same name, here */
        if (proto_path_base(from, name, sizeof name) != 0 || !name[0] ||
            strcmp(name, "/") == 0)
            return conn_fail(c, SSFTP_USAGE, "%s -r: name the target",
                             put ? "put" : "get");
        to = name;
    }
    int status = put ? put_tree(&t, from, to) : get_tree(&t, from, to);
    if (status == SSFTP_OK && t.failed > 0)
        status =
            conn_fail(c, SSFTP_FAIL, "%s -r: %u file%s failed",
                      put ? "put" : "get", t.failed, t.failed == 1 ? "" : "s");
    return status;
}

/* put and get: [-p] [-r] FROM [TO]; -p keeps the modification time, -r
 * copies a directory tree. */
static int cmd_transfer(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    bool keep = false, tree = false;
    int i = transfer_flags(argc, argv, &keep, &tree);
    bool bad = i < 0;
    if (bad)
        i = argc;
    bool put = strcmp(argv[0], "put") == 0;
    const char *from = i < argc ? argv[i] : NULL;
    const char *to = argc - i > 1 ? argv[i + 1] : NULL;
    if (bad || from == NULL || argc - i > 2 ||
        ((keep || tree) && (!strcmp(from, "-") || (to && !strcmp(to, "-")))))
        return conn_fail(c, SSFTP_USAGE, "usage: %s [-pr] %s", argv[0],
                         put ? "LOCAL [REMOTE] (not -p, -r with stdin)"
                             : "REMOTE [LOCAL] (not -p, -r with stdout)");
    if (tree)
        return cmd_tree(c, put, from, to, o, keep);
    return put ? transfer_put(c, from, to, o->progress, keep)
               : transfer_get(c, from, to, o->progress, keep);
}

/* ---- the session: rate, quit, help ---------------------------------------- */

/* rate [RATE|off]: the limit from now on, or (no operand) the limit now. */
static int cmd_rate(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    if (argc > 1) {
        uint64_t bps = 0;
        const char *bad = transfer_rate_parse(argv[1], &bps);
        if (bad != NULL) {
            char *e = text_escape(argv[1]);
            int s =
                conn_fail(c, SSFTP_USAGE, "rate: '%s' is %s", e ? e : "?", bad);
            free(e);
            return s;
        }
        transfer_limit_rate(bps);
    }
    uint64_t now = transfer_rate();
    if (now == 0)
        puts("rate: no limit");
    else
        printf("rate: %s a second\n", proto_size_format(now).s);
    fflush(stdout);
    return SSFTP_OK;
}

static int cmd_quit(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)c, (void)argc, (void)argv;
    o->quit = true;
    return SSFTP_OK;
}

static int cmd_helpcmd(client_conn *c, int argc, char **argv, cmd_opts *o);

static const struct command {
    const char *name, *aliases, *args, *help;
    int min, max; /* argument counts, without the name */
    int (*run)(client_conn *, int, char **, cmd_opts *);
} commands[] = {
    {"ls", NULL, "[-lh] [PATH]", "list: type, size, time, name (-h: KiB, MiB)",
     0, 3, cmd_ls},
    {"cd", NULL, "PATH", "change the remote directory", 1, 1, cmd_cwd},
    {"pwd", NULL, "", "print the remote directory", 0, 0, cmd_cwd},
    {"stat", NULL, "PATH", "type, size, time and recorded digest", 1, 1,
     cmd_stat},
    {"mkdir", NULL, "PATH", "make a directory", 1, 1, cmd_plain},
    {"rm", NULL, "PATH", "remove a file", 1, 1, cmd_plain},
    {"rmdir", NULL, "PATH", "remove an empty directory", 1, 1, cmd_plain},
    {"mv", "rename", "OLD NEW", "rename/move, not over a name; NEW/: into it",
     2, 2, cmd_rename},
    {"put", NULL, "LOCAL [REMOTE]",
     "upload; -p keep time, -r tree; DIR/: into DIR; -: stdin", 1, 4,
     cmd_transfer},
    {"get", NULL, "REMOTE [LOCAL]",
     "download; -p keep time, -r tree; -: stdout, verified", 1, 4,
     cmd_transfer},
    /* No upper bound: a one-shot `ssftp HOST mput *.jpg` gets the names
     * from the shell (a line of the shell holds a few, with patterns). */
    {"mput", NULL, "[-pr] LOCAL...",
     "upload files (patterns: *.txt) here; -p, -r as put", 1, INT_MAX,
     cmd_mput},
    {"mget", NULL, "[-pr] REMOTE...",
     "download files (patterns: dir/*.txt) here; -p, -r as get", 1, INT_MAX,
     cmd_mget},
    {"quota", NULL, "", "show space used and the limit", 0, 0, cmd_quota},
    {"rate", NULL, "[RATE|off]",
     "limit put/get to RATE bytes/s (K, M, G: 1024-based)", 0, 1, cmd_rate},
    {"partials", NULL, "[-h] [DIR]",
     "unfinished uploads (they count; rm NAME drops one)", 0, 2, cmd_partials},
    {"lpwd", NULL, "", "print the local directory", 0, 0, cmd_lpwd},
    {"lcd", NULL, "[DIR]", "change the local directory (default $HOME)", 0, 1,
     cmd_lcd},
    {"lls", NULL, "[-lh] [DIR]", "list a local directory", 0, 3, cmd_lls},
    {"!", NULL, "COMMAND", "run it with /bin/sh -c; non-zero status fails", 0,
     INT_MAX, NULL},
    {"help", "?", "[COMMAND]", "all commands, or one's usage", 0, 1,
     cmd_helpcmd},
    {"quit", "exit bye", "", "end the session", 0, 0, cmd_quit},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Whether word is name or one of the blank-separated aliases. */
static bool names_command(const struct command *k, const char *word)
{
    if (strcmp(word, k->name) == 0)
        return true;
    size_t n = strlen(word);
    for (const char *a = k->aliases; a != NULL && *a;) {
        size_t len = strcspn(a, " ");
        if (len == n && strncmp(a, word, n) == 0)
            return true;
        a += len + strspn(a + len, " ");
    }
    return false;
}

static const struct command *find_command(const char *word)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (names_command(&commands[i], word))
            return &commands[i];
    return NULL;
}

static void help_one(FILE *out, const struct command *k)
{
    char head[40];
    snprintf(head, sizeof head, "%s%s%s", k->name,
             *k->args && strcmp(k->name, "!") != 0 ? " " : "", k->args);
    fprintf(out, "  %-22s %s", head, k->help);
    if (k->aliases != NULL) {
        fputs(" (also", out);
        for (const char *a = k->aliases, *sep = " "; *a; sep = ", ") {
            size_t len = strcspn(a, " ");
            fprintf(out, "%s%.*s", sep, (int)len, a);
            a += len + strspn(a + len, " ");
        }
        fputc(')', out);
    }
    fputc('\n', out);
}

void cmd_help(FILE *out)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        help_one(out, &commands[i]);
}

static int cmd_helpcmd(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    if (argc < 2) {
        cmd_help(stdout);
        return SSFTP_OK;
    }
    const struct command *k = find_command(argv[1]);
    if (k == NULL && argv[1][0] == '!')
        k = find_command("!");
    if (k == NULL) {
        char *e = text_escape(argv[1]);
        int s = conn_fail(c, SSFTP_USAGE, "help %s: no such command (try help)",
                          e ? e : "?");
        free(e);
        return s;
    }
    help_one(stdout, k);
    return SSFTP_OK;
}

int cmd_run(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    if (argv[0][0] == '!') { /* one-shot: the words joined again */
        size_t len = 1;
        for (int i = 0; i < argc; i++)
            len += strlen(argv[i]) + 1;
        char *line = malloc(len);
        if (line == NULL)
            return conn_fail(c, SSFTP_FAIL, "!: out of memory");
        *line = '\0';
        char *w = line;
        for (int i = 0; i < argc; i++)
            w += sprintf(w, "%s%s", i ? " " : "", i ? argv[i] : argv[i] + 1);
        int s = cmd_shell(c, line);
        free(line);
        return s;
    }
    const struct command *k = find_command(argv[0]);
    if (k != NULL && k->run != NULL) {
        if (argc - 1 < k->min || argc - 1 > k->max)
            return conn_fail(c, SSFTP_USAGE, "usage: %s %s", k->name, k->args);
        return k->run(c, argc, argv, o);
    }
    char *e = text_escape(argv[0]);
    int s = conn_fail(c, SSFTP_USAGE, "%s: unknown command (try help)",
                      e ? e : "?");
    free(e);
    return s;
}

/* ---- completion (shell.c) ------------------------------------------------ */

char *cmd_complete_name(const char *text, int state)
{
    static size_t i;
    static const char *alias;
    if (state == 0) {
        i = 0;
        alias = NULL;
    }
    size_t n = strlen(text);
    while (i < N_COMMANDS) {
        const struct command *k = &commands[i];
        const char *w;
        size_t len;
        if (alias == NULL) { /* the name, then each alias */
            w = k->name;
            len = strlen(w);
            alias = k->aliases ? k->aliases : "";
        } else if (*alias) {
            w = alias;
            len = strcspn(alias, " ");
            alias += len + strspn(alias + len, " ");
        } else {
            i++;
            alias = NULL;
            continue;
        }
        if (strcmp(k->name, "!") != 0 && len >= n && strncmp(w, text, n) == 0)
            return strndup(w, len);
    }
    return NULL;
}

enum cmd_side cmd_operand_side(const char *cmd, int operand)
{
    static const char *const remote[] = {"ls",    "cd", "stat",   "mkdir", "rm",
                                         "rmdir", "mv", "rename", "mget"};
    static const char *const local[] = {"lcd", "lls", "mput"};
    if (cmd[0] == '!')
        return CMD_LOCAL;
    if (strcmp(cmd, "put") == 0)
        return operand == 1 ? CMD_LOCAL : CMD_REMOTE;
    if (strcmp(cmd, "get") == 0)
        return operand == 1 ? CMD_REMOTE : CMD_LOCAL;
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        if (strcmp(cmd, remote[i]) == 0)
            return CMD_REMOTE;
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (strcmp(cmd, local[i]) == 0)
            return CMD_LOCAL;
    return CMD_NONE;
}

struct completing {
    struct names l;
    size_t n;
};

static void match_prefix(const json_t *e, void *ctx)
{
    struct completing *k = ctx;
    const char *name = NULL, *type = "";
    if (proto_get_str(e, "name", &name) != 0 ||
        strncmp(name, k->l.pattern, k->n) != 0)
        return;
    (void)proto_get_str(e, "type", &type);
    if (strcmp(type, "dir") != 0) {
        names_add(&k->l, k->l.dir, k->l.dir_len, name);
        return;
    }
    char *slashed = malloc(strlen(name) + 2);
    if (slashed == NULL) {
        k->l.nomem = true;
        return;
    }
    sprintf(slashed, "%s/", name);
    names_add(&k->l, k->l.dir, k->l.dir_len, slashed);
    free(slashed);
}

json_t *cmd_remote_names(client_conn *c, const char *text)
{
    size_t dl = proto_path_dir_len(text);
    struct completing k = {.l = {.all = json_array(),
                                 .dir = text,
                                 .dir_len = dl,
                                 .pattern = text + dl},
                           .n = strlen(text + dl)};
    char dir[PROTO_PATH_MAX + 1];
    snprintf(dir, sizeof dir, "%.*s", (int)dl, text);
    int s = ls_walk(c, dl ? dir : NULL, "complete", match_prefix, &k);
    if (s != SSFTP_OK || k.l.nomem) {
        json_decref(k.l.all);
        return NULL;
    }
    return k.l.all;
}
