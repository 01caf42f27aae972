/* commands.c -- one function per ssftp command, and the table that maps
 * names to them. */
#include "commands.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    json_t *rep = NULL;
    int r = conn_call(c, req, &rep);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, rep, what);
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    if (keep)
        *keep = rep;
    else
        json_decref(rep);
    return SSFTP_OK;
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

static void ls_print(const json_t *e, void *ctx)
{
    (void)ctx;
    const char *name = NULL, *type = "other";
    uint64_t size = 0;
    int64_t mtime = 0;
    if (proto_get_str(e, "name", &name))
        return;
    (void)proto_get_str(e, "type", &type);
    (void)proto_get_u64(e, "size", &size);
    (void)proto_get_i64(e, "mtime", &mtime);
    char when[32] = "?";
    time_t t = (time_t)mtime;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    char kind = strcmp(type, "dir") == 0    ? 'd'
                : strcmp(type, "file") == 0 ? '-'
                                            : '?';
    printf("%c %12llu %s  ", kind, (unsigned long long)size, when);
    print_escaped(name, strcmp(type, "dir") == 0 ? "/\n" : "\n");
}

/* Lists path (NULL: the current directory), calling each() for every
 * entry.  Returns an SSFTP_* status. */
static int ls_walk(client_conn *c, const char *path, const char *what,
                   void (*each)(const json_t *e, void *ctx), void *ctx)
{
    char *after = NULL;
    int status = SSFTP_OK;
    for (;;) { /* one request per page; docs/protocol.md, "ls" */
        json_t *req = json_pack("{s:s}", "cmd", "ls");
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

static int cmd_ls(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)o;
    char what[PROTO_PATH_MAX + 16];
    what_of(what, sizeof what, argc, argv);
    return ls_walk(c, argc > 1 ? argv[1] : NULL, what, ls_print, NULL);
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
    json_t *all; /* the names, as strings (not checked as UTF-8) */
    bool nomem;
    const char *dir; /* remote: the pattern's directory, with its '/' */
    size_t dir_len;
    const char *pattern;
};

static void names_add(struct names *l, const char *dir, size_t dir_len,
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
    if (j == NULL || l->all == NULL || json_array_append_new(l->all, j) != 0)
        l->nomem = true;
}

static size_t names_count(const struct names *l)
{
    return json_array_size(l->all);
}

static bool has_pattern(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static void match_remote(const json_t *e, void *ctx)
{
    struct names *l = ctx;
    const char *name = NULL, *type = "";
    if (proto_get_str(e, "name", &name) != 0)
        return;
    (void)proto_get_str(e, "type", &type);
    if (strcmp(type, "file") == 0 && fnmatch(l->pattern, name, FNM_PERIOD) == 0)
        names_add(l, l->dir, l->dir_len, name);
}

/* Runs mput/mget over the names; patterns that matched nothing count as
 * failures (they were said as they were found). */
static int many_names(client_conn *c, const char *cmd, struct names *l,
                      unsigned unmatched, const cmd_opts *o,
                      int (*run)(client_conn *, const char *const *, unsigned,
                                 bool))
{
    size_t n = names_count(l);
    const char **v = n > 0 ? malloc(n * sizeof *v) : NULL;
    if (l->nomem || (n > 0 && v == NULL) || n > UINT_MAX) {
        free(v);
        return conn_fail(c, SSFTP_FAIL, "%s: out of memory", cmd);
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(l->all, i));
    int status = n > 0 ? run(c, v, (unsigned)n, o->progress) : SSFTP_OK;
    free(v);
    if (status == SSFTP_OK && unmatched > 0)
        status = conn_fail(c, SSFTP_FAIL, "%s: %u pattern%s matched nothing",
                           cmd, unmatched, unmatched == 1 ? "" : "s");
    return status;
}

static int cmd_mput(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    struct names l = {.all = json_array()};
    unsigned unmatched = 0;
    for (int i = 1; i < argc; i++) {
        if (!has_pattern(argv[i])) {
            names_add(&l, "", 0, argv[i]);
            continue;
        }
        glob_t g;
        int r = glob(argv[i], 0, NULL, &g);
        if (r == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                names_add(&l, "", 0, g.gl_pathv[k]);
        else if (r == GLOB_NOMATCH)
            unmatched++, print_unmatched(argv[i]);
        else
            l.nomem = true;
        if (r == 0 || r == GLOB_NOMATCH)
            globfree(&g);
    }
    int status = many_names(c, "mput", &l, unmatched, o, transfer_mput);
    json_decref(l.all);
    return status;
}

static int cmd_mget(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    struct names l = {.all = json_array()};
    unsigned unmatched = 0;
    for (int i = 1; i < argc && !c->dead; i++) {
        size_t dl = proto_path_dir_len(argv[i]);
        if (!has_pattern(argv[i] + dl)) {
            names_add(&l, "", 0, argv[i]);
            continue;
        }
        if (has_pattern(argv[i]) && strpbrk(argv[i], "*?[") < argv[i] + dl) {
            conn_fail(c, SSFTP_USAGE,
                      "mget: a pattern may only be in the last component");
            json_decref(l.all);
            return SSFTP_USAGE;
        }
        char dir[PROTO_PATH_MAX + 1];
        snprintf(dir, sizeof dir, "%.*s", (int)dl, argv[i]);
        l.dir = argv[i];
        l.dir_len = dl;
        l.pattern = argv[i] + dl;
        size_t before = names_count(&l);
        char what[PROTO_PATH_MAX + 8];
        snprintf(what, sizeof what, "mget %s", argv[i]);
        int s = ls_walk(c, dl ? dir : NULL, what, match_remote, &l);
        if (s != SSFTP_OK) {
            json_decref(l.all);
            return s;
        }
        if (names_count(&l) == before)
            unmatched++, print_unmatched(argv[i]);
    }
    int status = many_names(c, "mget", &l, unmatched, o, transfer_mget);
    json_decref(l.all);
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

static int cmd_put(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    return transfer_put(c, argv[1], argc > 2 ? argv[2] : NULL, o->progress);
}

static int cmd_get(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    return transfer_get(c, argv[1], argc > 2 ? argv[2] : NULL, o->progress);
}

static int cmd_quit(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)c, (void)argc, (void)argv;
    o->quit = true;
    return SSFTP_OK;
}

static int cmd_helpcmd(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    (void)c, (void)argc, (void)argv, (void)o;
    cmd_help(stdout);
    return SSFTP_OK;
}

static const struct command {
    const char *name, *args, *help;
    int min, max; /* argument counts, without the name */
    int (*run)(client_conn *, int, char **, cmd_opts *);
} commands[] = {
    {"ls", "[PATH]", "list a directory", 0, 1, cmd_ls},
    {"cd", "PATH", "change the remote directory", 1, 1, cmd_cwd},
    {"pwd", "", "print the remote directory", 0, 0, cmd_cwd},
    {"mkdir", "PATH", "make a directory", 1, 1, cmd_plain},
    {"rm", "PATH", "remove a file", 1, 1, cmd_plain},
    {"rmdir", "PATH", "remove an empty directory", 1, 1, cmd_plain},
    {"put", "LOCAL [REMOTE]", "upload (resumes an interrupted upload)", 1, 2,
     cmd_put},
    {"get", "REMOTE [LOCAL]", "download (resumes an interrupted download)", 1,
     2, cmd_get},
    /* No upper bound: a one-shot `ssftp HOST mput *.jpg` gets the names
     * from the shell (a line of the shell holds a few, with patterns). */
    {"mput", "LOCAL...", "upload files (patterns: *.txt) here", 1, INT_MAX,
     cmd_mput},
    {"mget", "REMOTE...", "download files (patterns: dir/*.txt) here", 1,
     INT_MAX, cmd_mget},
    {"quota", "", "show space used and the limit", 0, 0, cmd_quota},
    {"help", "", "this list", 0, 0, cmd_helpcmd},
    {"quit", "", "end the session", 0, 0, cmd_quit},
};

void cmd_help(FILE *out)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char head[32];
        snprintf(head, sizeof head, "%s %s", commands[i].name,
                 commands[i].args);
        fprintf(out, "  %-22s %s\n", head, commands[i].help);
    }
}

int cmd_run(client_conn *c, int argc, char **argv, cmd_opts *o)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *k = &commands[i];
        if (strcmp(argv[0], k->name) != 0)
            continue;
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
