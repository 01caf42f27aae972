/* whocmd.c -- "ssftpd who": the sessions online on a data root, as a table
 * or as JSON (who.h).
 *
 * Everything printed comes from the servers' sockets: it is text to show,
 * nothing more.  Names are escaped (logesc.h) before they reach the
 * terminal, numbers are checked before they are used.
 */
#include "who.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "logesc.h"
#include "size.h"

static void who_usage(FILE *f)
{
    fputs("usage: ssftpd who [--root DIR] [--config FILE] [--json]\n"
          "  the sessions online on the data root (every server running on\n"
          "  it): USER, PROTO, FROM, SINCE (login time), IDLE and DOING\n"
          "  (the transfer in progress and its progress); --json: the\n"
          "  servers' answers as JSON.  Run as the server's user or root.\n",
          f);
}

/* The config file's "root", if it names one. */
static int config_root(void *arg, const char *file, unsigned line,
                       const char *key, const char *value)
{
    (void)file;
    (void)line;
    if (strcmp(key, "root") == 0)
        *(const char **)arg = value;
    return 0;
}

/* A number from a server: finite and at least 0, else 0. */
static double num(const json_t *o, const char *key)
{
    double v = json_number_value(json_object_get(o, key));
    return v > 0 && v < 1e300 ? v : 0; /* NaN fails both */
}

/* A string from a server, escaped; "-" when absent. */
static void str(const json_t *o, const char *key, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    log_escape(s != NULL ? s : "-", out, cap);
}

static void fmt_since(double t, double now, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || localtime_r(&tt, &tm) == NULL)
        snprintf(out, cap, "?");
    else
        strftime(out, cap, now - t < 86400 ? "%H:%M:%S" : "%b%d", &tm);
}

static uint64_t u64(double v)
{
    return !(v > 0) ? 0 : v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
}

static void fmt_idle(double s, char *out, size_t cap)
{
    uint64_t t = u64(s);
    if (t < 120)
        snprintf(out, cap, "%llus", (unsigned long long)t);
    else if (t < 7200)
        snprintf(out, cap, "%llum", (unsigned long long)(t / 60));
    else if (t < 172800)
        snprintf(out, cap, "%lluh", (unsigned long long)(t / 3600));
    else
        snprintf(out, cap, "%llud", (unsigned long long)(t / 86400));
}

/* "put NAME 312 MiB/1.0 GiB 31% 48 MiB/s", "idle" or "login". */
static void fmt_doing(const json_t *s, char *out, size_t cap)
{
    const json_t *x = json_object_get(s, "transfer");
    if (!json_is_object(x)) {
        snprintf(out, cap, "%s",
                 json_is_string(json_object_get(s, "user")) ? "idle" : "login");
        return;
    }
    char dir[16], name[2048];
    str(x, "dir", dir, sizeof dir);
    str(x, "name", name, sizeof name);
    uint64_t done = u64(num(x, "done"));
    const json_t *tj = json_object_get(x, "total");
    char of[64] = "";
    if (json_is_number(tj)) {
        uint64_t total = u64(num(x, "total"));
        unsigned pct = total == 0 || done >= total
                           ? 100
                           : (unsigned)(100.0 * (double)done / (double)total);
        snprintf(of, sizeof of, "/%s %u%%", proto_size_format(total).s, pct);
    }
    snprintf(out, cap, "%s %s %s%s %s/s", dir, name, proto_size_format(done).s,
             of, proto_size_format(u64(num(x, "rate"))).s);
}

struct row {
    double since;
    char user[4 * 65], proto[16], from[256], when[32], idle[24], doing[2300];
};

static int by_since(const void *a, const void *b)
{
    double x = ((const struct row *)a)->since;
    double y = ((const struct row *)b)->since;
    return (x > y) - (x < y);
}

static int widest(int w, const char *s)
{
    size_t n = strlen(s);
    return n > (size_t)w ? (int)n : w;
}

/* Prints the table of every session of the servers that answered. */
static int print_table(const json_t *servers)
{
    size_t n = 0, i, k;
    const json_t *srv, *s;
    json_array_foreach(servers, i, srv) n +=
        json_array_size(json_object_get(srv, "sessions"));
    struct row *rows = calloc(n + 1, sizeof *rows);
    if (rows == NULL)
        return -ENOMEM;
    size_t r = 0;
    json_array_foreach(servers, i, srv)
    {
        double now = num(srv, "now");
        json_array_foreach(json_object_get(srv, "sessions"), k, s)
        {
            if (r == n || !json_is_object(s))
                continue;
            struct row *w = &rows[r++];
            double login = num(s, "login");
            w->since = login > 0 ? login : num(s, "connected");
            str(s, "user", w->user, sizeof w->user);
            str(s, "proto", w->proto, sizeof w->proto);
            str(s, "from", w->from, sizeof w->from);
            fmt_since(w->since, now, w->when, sizeof w->when);
            fmt_idle(now - num(s, "active"), w->idle, sizeof w->idle);
            fmt_doing(s, w->doing, sizeof w->doing);
        }
    }
    qsort(rows, r, sizeof *rows, by_since);
    int wu = 4, wp = 5, wf = 4, ws = 5;
    for (i = 0; i < r; i++) {
        wu = widest(wu, rows[i].user);
        wp = widest(wp, rows[i].proto);
        wf = widest(wf, rows[i].from);
        ws = widest(ws, rows[i].when);
    }
    printf("%-*s %-*s %-*s %-*s %5s  %s\n", wu, "USER", wp, "PROTO", wf, "FROM",
           ws, "SINCE", "IDLE", "DOING");
    for (i = 0; i < r; i++)
        printf("%-*s %-*s %-*s %-*s %5s  %s\n", wu, rows[i].user, wp,
               rows[i].proto, wf, rows[i].from, ws, rows[i].when, rows[i].idle,
               rows[i].doing);
    free(rows);
    return 0;
}

int who_main(int argc, char **argv)
{
    const char *root = NULL, *config = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            who_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--root") == 0 && v != NULL) {
            root = v;
            i++;
        } else if (strcmp(argv[i], "--config") == 0 && v != NULL) {
            config = v;
            i++;
        } else {
            fprintf(stderr,
                    "ssftpd who: unknown option or missing value: "
                    "%s\n",
                    argv[i]);
            who_usage(stderr);
            return 2;
        }
    }
    /* The root as the server finds it: --root, else the config file's
     * (--config's, else the default one if it exists), else the default. */
    if (config == NULL && access(SSFTPD_DEFAULT_CONFIG, F_OK) == 0)
        config = SSFTPD_DEFAULT_CONFIG;
    const char *from_config = NULL;
    if (root == NULL && config != NULL &&
        config_load(config, config_root, &from_config) != 0)
        return 2;
    if (root == NULL)
        root = from_config != NULL ? from_config : SSFTPD_DEFAULT_ROOT;
    struct stat st;
    if (stat(root, &st) != 0) {
        fprintf(stderr, "ssftpd who: data root %s: %s\n", root,
                strerror(errno));
        return 1;
    }
    json_t *servers;
    char err[4400];
    int rc = whosock_ask(root, &servers, err, sizeof err);
    if (rc == -EACCES || rc == -EPERM) {
        fprintf(stderr,
                "ssftpd who: %s; ask as the server's user (the owner of "
                "%s) or as root\n",
                err, root);
        return 1;
    }
    if (rc != 0 && rc != -ENOENT) {
        fprintf(stderr, "ssftpd who: %s\n", err);
        return 1;
    }
    if (rc == -ENOENT || json_array_size(servers) == 0) {
        json_decref(servers);
        fprintf(stderr, "ssftpd who: no server is running on %s\n", root);
        return 1;
    }
    /* Servers that would not answer are said; the others are shown. */
    size_t i, answered = 0;
    json_t *srv;
    json_array_foreach(servers, i, srv)
    {
        const char *why = json_string_value(json_object_get(srv, "error"));
        if (why == NULL) {
            answered++;
            continue;
        }
        char esc[1024];
        log_escape(why, esc, sizeof esc);
        fprintf(stderr,
                "ssftpd who: the server of pid %.0f did not answer: "
                "%s\n",
                num(srv, "pid"), esc);
    }
    if (json) {
        json_t *all = json_pack("{s:s, s:O}", "root", root, "servers", servers);
        char *text = all == NULL
                         ? NULL
                         : json_dumps(all, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        json_decref(all);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        rc = text == NULL ? -ENOMEM : 0;
    } else if (answered > 0) {
        rc = print_table(servers);
    }
    json_decref(servers);
    if (rc != 0) {
        fprintf(stderr, "ssftpd who: %s\n", strerror(-rc));
        return 1;
    }
    return answered > 0 ? 0 : 1;
}
