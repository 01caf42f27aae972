/* ftp_fs.c -- the FTP commands that touch files (ftp.h), on the file
 * service (files.h): the same jail, quota and atomic uploads as ssftp's.
 *
 * Uploads.  STOR writes the target's hidden partial (jail.h) and publishes
 * it atomically when the data connection ends cleanly; a transfer that is
 * cut (the data connection reset or timed out, ABOR, or the client gone:
 * its control connection closed by the time its data connection ended)
 * publishes nothing and keeps the partial for a resume.  The bytes are
 * reserved against the quota as they arrive, before they are written, so a
 * quota is never passed: the upload ends with 552 and its partial is
 * removed.
 *
 * Resume (README, "FTP and FTPS"): SIZE gives the published file's size,
 * or for a name with no file but a pending upload the partial's, so
 * `lftp put -c` and `curl -C -` see what arrived.  APPE, and REST N before
 * STOR, continue exactly what SIZE said: the published file's first N
 * bytes (copied into the partial) when there is one, else the partial (cut
 * to N), so the result is published whole and atomically as well.
 */
#include "ftp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "xferlog.h"

#define LIST_BUF (16 * 1024)
#define XFER_BUF (1024 * 1024)

/* A path argument: 1..PROTO_PATH_MAX bytes (else 501), resolved (else the
 * error's reply).  Returns 0 with *p (and its normalized user path in
 * path[PROTO_PATH_BUF], when not NULL), 1 when a reply was sent, or a
 * negative errno. */
static int resolve_path(struct ftp_session *s, const char *arg, size_t n,
                        struct jail_path **p, char *path)
{
    if (n == 0 || n > PROTO_PATH_MAX) {
        int rc = ftp_reply(s, 501, "A path is 1..%d bytes.", PROTO_PATH_MAX);
        return rc < 0 ? rc : 1;
    }
    int rc = files_resolve(s->files, arg, n, p);
    if (rc != 0) {
        ftp_log(s, "path %s: %s", arg, strerror(-rc));
        rc = ftp_fail(s, rc, arg);
        return rc < 0 ? rc : 1;
    }
    if (path != NULL)
        snprintf(path, PROTO_PATH_BUF, "%s", jail_path_user(*p));
    return 0;
}

static int resolve(struct ftp_session *s, const char *arg, size_t n,
                   struct jail_path **p)
{
    return resolve_path(s, arg, n, p, NULL);
}

/* jail_stat() of a path argument.  Returns 0 with *e (and path as
 * resolve_path()), 1 when a reply was sent, or a negative errno; with
 * pending, a name that is only a pending upload gets the partial's size
 * and type JAIL_FILE (SIZE: see the top). */
static int stat_arg(struct ftp_session *s, const char *arg, size_t n,
                    struct jail_entry *e, char *path, bool pending)
{
    struct jail_path *p;
    int rc = resolve_path(s, arg, n, &p, path);
    if (rc != 0)
        return rc;
    rc = jail_stat(p, e);
    if (rc == -ENOENT && pending) {
        rc = jail_partial_size(p, &e->size);
        e->type = JAIL_FILE;
    }
    jail_path_free(p);
    if (rc == 0)
        return 0;
    rc = ftp_fail(s, rc, arg);
    return rc < 0 ? rc : 1;
}

/* jail_open_read() of a path argument: returns as stat_arg(), with *fd. */
static int open_arg(struct ftp_session *s, const char *arg, size_t n, int *fd,
                    struct stat *st, char *path)
{
    struct jail_path *p;
    int rc = resolve_path(s, arg, n, &p, path);
    if (rc != 0)
        return rc;
    rc = jail_open_read(p, fd, st);
    jail_path_free(p);
    if (rc == 0)
        return 0;
    rc = ftp_fail(s, rc, arg);
    return rc < 0 ? rc : 1;
}

/* A path for RFC 959's 257 reply: quotes doubled. */
static void quote_path(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *c = path; *c != '\0' && o + 3 < cap; c++) {
        out[o++] = *c;
        if (*c == '"')
            out[o++] = '"';
    }
    out[o] = '\0';
}

int ftp_cmd_pwd(struct ftp_session *s)
{
    char q[2 * PROTO_PATH_MAX + 3];
    quote_path(files_cwd(s->files), q, sizeof q);
    return ftp_reply(s, 257, "\"%s\" is the current directory.", q);
}

int ftp_cmd_cwd(struct ftp_session *s, const char *arg, size_t n)
{
    if (n == 0 || n > PROTO_PATH_MAX)
        return ftp_reply(s, 501, "CWD takes a directory.");
    int rc = files_cd(s->files, arg, n);
    if (rc != 0)
        return ftp_fail(s, rc, arg);
    return ftp_reply(s, 250, "Directory is now %s.", files_cwd(s->files));
}

/* During a transfer the control connection is watched: an ABOR there
 * ends the data connection's wait (proto_io's watch), and between buffers
 * the progress hook looks for one too. */
struct abort_ctx {
    struct ftp_session *s;
    proto_io *dio;
};

static int watch_control(void *ctx)
{
    struct abort_ctx *a = ctx;
    if (!ftp_take_abort(a->s))
        a->dio->watch = NULL; /* other commands wait: stop looking */
    return a->s->aborted;
}

static void check_abort(void *ctx, uint64_t off)
{
    struct abort_ctx *a = ctx;
    who_xfer_progress(a->s->who, off);
    ftp_poll_abort(a->s);
    if (a->s->aborted)
        (void)shutdown(a->dio->fd, SHUT_RDWR);
}

static void watch(struct ftp_session *s, proto_io *dio, struct abort_ctx *a)
{
    *a = (struct abort_ctx){s, dio};
    dio->watch = watch_control;
    dio->watch_ctx = a;
    dio->watch_fd = s->io.fd;
}

/* ---- listings --------------------------------------------------------- */

static void fmt_mlsx(const struct jail_entry *e, char *out, size_t cap)
{
    struct tm tm;
    time_t t = (time_t)e->mtime;
    gmtime_r(&t, &tm);
    char when[20];
    strftime(when, sizeof when, "%Y%m%d%H%M%S", &tm);
    if (e->type == JAIL_DIR)
        snprintf(out, cap, "type=dir;modify=%s;perm=flcdmpe; %s\r\n", when,
                 e->name);
    else
        snprintf(out, cap, "type=file;size=%llu;modify=%s;perm=adfrw; %s\r\n",
                 (unsigned long long)e->size, when, e->name);
}

static void fmt_list(const struct ftp_session *s, const struct jail_entry *e,
                     time_t now, char *out, size_t cap)
{
    struct tm tm;
    time_t t = (time_t)e->mtime;
    gmtime_r(&t, &tm);
    char when[20];
    /* ls -l: the year for what is over half a year old or in the future. */
    if (t > now + 3600 || now - t > 180 * 86400)
        strftime(when, sizeof when, "%b %e  %Y", &tm);
    else
        strftime(when, sizeof when, "%b %e %H:%M", &tm);
    snprintf(out, cap, "%s 1 %s %s %12llu %s %s\r\n",
             e->type == JAIL_DIR ? "drwxr-xr-x" : "-rw-r--r--", s->user,
             s->user,
             (unsigned long long)(e->type == JAIL_DIR ? 4096 : e->size), when,
             e->name);
}

/* A buffered writer over the data connection. */
struct out {
    proto_io *dio;
    char buf[LIST_BUF];
    size_t len;
    int err;
};

static void out_put(struct out *o, const char *line)
{
    size_t n = strlen(line);
    if (o->err != 0)
        return;
    if (o->len + n > sizeof o->buf) {
        o->err = proto_send_raw(o->dio, o->buf, o->len);
        o->len = 0;
    }
    if (o->err == 0 && n <= sizeof o->buf) {
        memcpy(o->buf + o->len, line, n);
        o->len += n;
    }
}

static int out_flush(struct out *o)
{
    if (o->err == 0 && o->len > 0)
        o->err = proto_send_raw(o->dio, o->buf, o->len);
    o->len = 0;
    return o->err;
}

/* LIST and NLST take ls options ("-la") that mean nothing here. */
static void skip_options(const char **arg, size_t *n)
{
    while (*n > 0 && (*arg)[0] == '-') {
        const char *sp = memchr(*arg, ' ', *n);
        if (sp == NULL) {
            *arg += *n;
            *n = 0;
            return;
        }
        *n -= (size_t)(sp + 1 - *arg);
        *arg = sp + 1;
    }
}

/* Ends a transfer with the reply its outcome calls for.  Returns as the
 * commands. */
static int transfer_reply(struct ftp_session *s, int rc, const char *what)
{
    if (s->aborted) {
        s->aborted = false;
        int r = ftp_reply(s, 426, "Transfer aborted.");
        return r != 0 ? r : ftp_reply(s, 226, "ABOR successful.");
    }
    if (rc != 0)
        return ftp_reply(s, 426, "Connection closed; transfer aborted: %s",
                         strerror(-rc));
    return ftp_reply(s, 226, "%s", what);
}

int ftp_cmd_list(struct ftp_session *s, const char *verb, const char *arg,
                 size_t n)
{
    bool mlsd = strcmp(verb, "MLSD") == 0, names = strcmp(verb, "NLST") == 0;
    if (!mlsd)
        skip_options(&arg, &n);
    if (n == 0) {
        arg = ".";
        n = 1;
    }
    if (!ftp_data_ready(s))
        return ftp_reply(s, 425, "Use PASV or EPSV first.");
    struct jail_path *p;
    int rc = resolve(s, arg, n, &p);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct jail_entry one;
    struct jail_dir *d = NULL;
    rc = jail_stat(p, &one);
    if (rc == 0 && one.type == JAIL_DIR)
        rc = jail_dir_open(p, &d);
    else if (rc == 0 && mlsd)
        rc = -ENOTDIR;
    jail_path_free(p);
    if (rc != 0)
        return ftp_fail(s, rc, arg);
    rc = ftp_reply(s, 150, "Here comes the listing.");
    proto_io dio;
    int r = rc == 0 ? ftp_data_open(s, &dio) : rc;
    if (r != 0) {
        if (d != NULL)
            jail_dir_close(d);
        return r < 0 ? r : 0;
    }
    struct out *o = malloc(sizeof *o);
    if (o == NULL) {
        ftp_data_close(&dio);
        if (d != NULL)
            jail_dir_close(d);
        return ftp_reply(s, 451, "Out of memory.");
    }
    struct abort_ctx ac;
    watch(s, &dio, &ac);
    o->dio = &dio;
    o->len = 0;
    o->err = 0;
    time_t now = time(NULL);
    char line[NAME_MAX + 2 * PROTO_AUTH_USER_MAX + 128];
    struct jail_entry e;
    int more = d == NULL ? 0 : 1;
    if (d == NULL) { /* LIST or NLST of one file */
        if (names)
            snprintf(line, sizeof line, "%s\r\n", arg);
        else
            fmt_list(s, &one, now, line, sizeof line);
        out_put(o, line);
    }
    while (more > 0 && o->err == 0 && !s->aborted) {
        more = jail_dir_next(d, &e);
        if (more <= 0 || e.type == JAIL_OTHER)
            continue;
        if (mlsd)
            fmt_mlsx(&e, line, sizeof line);
        else if (names)
            snprintf(line, sizeof line, "%s\r\n", e.name);
        else
            fmt_list(s, &e, now, line, sizeof line);
        out_put(o, line);
        ftp_poll_abort(s);
    }
    rc = out_flush(o);
    free(o);
    if (d != NULL)
        jail_dir_close(d);
    ftp_data_close(&dio);
    if (more < 0 && rc == 0)
        return ftp_fail(s, more, "listing");
    return transfer_reply(s, rc, "Directory send OK.");
}

int ftp_cmd_mlst(struct ftp_session *s, const char *arg, size_t n)
{
    if (n == 0) {
        arg = ".";
        n = 1;
    }
    struct jail_entry e;
    char path[PROTO_PATH_BUF];
    int rc = stat_arg(s, arg, n, &e, path, false);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (e.type == JAIL_OTHER)
        return ftp_fail(s, -ENOENT, arg);
    snprintf(e.name, sizeof e.name, "%.*s", NAME_MAX, path);
    char fact[NAME_MAX + 128], buf[NAME_MAX + PROTO_PATH_BUF + 256];
    fmt_mlsx(&e, fact, sizeof fact);
    int k = snprintf(buf, sizeof buf, "250-Listing %s\r\n %s250 End\r\n", path,
                     fact);
    return ftp_send(s, buf, (size_t)k);
}

/* ---- facts ------------------------------------------------------------- */

int ftp_cmd_size(struct ftp_session *s, const char *arg, size_t n)
{
    struct jail_entry e;
    int rc = stat_arg(s, arg, n, &e, NULL, true);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (e.type != JAIL_FILE)
        return ftp_fail(s, -EISDIR, arg);
    return ftp_reply(s, 213, "%llu", (unsigned long long)e.size);
}

int ftp_cmd_mdtm(struct ftp_session *s, const char *arg, size_t n)
{
    struct jail_entry e;
    int rc = stat_arg(s, arg, n, &e, NULL, false);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (e.type != JAIL_FILE)
        return ftp_fail(s, -EISDIR, arg);
    struct tm tm;
    time_t t = (time_t)e.mtime;
    gmtime_r(&t, &tm);
    char when[20];
    strftime(when, sizeof when, "%Y%m%d%H%M%S", &tm);
    return ftp_reply(s, 213, "%s", when);
}

/* MFMT YYYYMMDDHHMMSS[.sss] PATH (draft-somers-ftp-mfxx): the file's
 * modification time, UTC; fractions of a second are dropped. */
int ftp_cmd_mfmt(struct ftp_session *s, const char *arg, size_t n)
{
    struct tm tm = {0};
    int used = 0;
    /* Digits only: sscanf's %d would take signs and spaces. */
    size_t digits = strspn(arg, "0123456789");
    if (digits != 14 ||
        sscanf(arg, "%4d%2d%2d%2d%2d%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return ftp_reply(s, 501, "Use MFMT YYYYMMDDHHMMSS path.");
    size_t skip = (size_t)used;
    if (arg[skip] == '.')
        skip += 1 + strspn(arg + skip + 1, "0123456789");
    if (arg[skip] != ' ' || skip + 1 >= n)
        return ftp_reply(s, 501, "Use MFMT YYYYMMDDHHMMSS path.");
    char when[15];
    memcpy(when, arg, 14);
    when[14] = '\0';
    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return ftp_reply(s, 501, "No such time: %s.", when);
    int mday = tm.tm_mday;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != mday) /* 31 April moved on */
        return ftp_reply(s, 501, "No such time: %s.", when);
    const char *path_arg = arg + skip + 1;
    size_t path_n = n - skip - 1;
    struct jail_path *p;
    char path[PROTO_PATH_BUF];
    int rc = resolve_path(s, path_arg, path_n, &p, path);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = jail_set_mtime(p, (int64_t)t);
    jail_path_free(p);
    if (rc != 0)
        return ftp_fail(s, rc, path_arg);
    return ftp_reply(s, 213, "Modify=%s; %s", when, path);
}

/* ---- changes ----------------------------------------------------------- */

typedef int (*change_fn)(struct files *f, const struct jail_path *p);

static int change(struct ftp_session *s, const char *arg, size_t n,
                  change_fn fn, int code, const char *done)
{
    struct jail_path *p;
    char path[PROTO_PATH_BUF];
    int rc = resolve_path(s, arg, n, &p, path);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = fn(s->files, p);
    jail_path_free(p);
    if (rc != 0) {
        ftp_log(s, "%s %s: %s", done, path, strerror(-rc));
        return ftp_fail(s, rc, arg);
    }
    ftp_log(s, "%s %s", done, path);
    if (code == 257) {
        char q[2 * PROTO_PATH_BUF + 3];
        quote_path(path, q, sizeof q);
        return ftp_reply(s, 257, "\"%s\" created.", q);
    }
    return ftp_reply(s, code, "%s %s.", done, path);
}

int ftp_cmd_dele(struct ftp_session *s, const char *arg, size_t n)
{
    return change(s, arg, n, files_remove, 250, "deleted");
}

int ftp_cmd_mkd(struct ftp_session *s, const char *arg, size_t n)
{
    return change(s, arg, n, files_mkdir, 257, "made directory");
}

int ftp_cmd_rmd(struct ftp_session *s, const char *arg, size_t n)
{
    return change(s, arg, n, files_rmdir, 250, "removed directory");
}

int ftp_cmd_rnfr(struct ftp_session *s, const char *arg, size_t n)
{
    struct jail_entry e;
    int rc = stat_arg(s, arg, n, &e, NULL, false);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (e.type == JAIL_OTHER) /* as ls, which does not show it */
        return ftp_fail(s, -ELOOP, arg);
    s->rnfr = strndup(arg, n);
    if (s->rnfr == NULL)
        return ftp_reply(s, 451, "Out of memory.");
    return ftp_reply(s, 350, "Ready for RNTO.");
}

int ftp_cmd_rnto(struct ftp_session *s, const char *arg, size_t n)
{
    if (s->rnfr == NULL)
        return ftp_reply(s, 503, "RNFR first.");
    struct jail_path *from, *to;
    int rc = resolve(s, s->rnfr, strlen(s->rnfr), &from);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = resolve(s, arg, n, &to);
    if (rc != 0) {
        jail_path_free(from);
        return rc < 0 ? rc : 0;
    }
    char a[PROTO_PATH_BUF], b[PROTO_PATH_BUF];
    snprintf(a, sizeof a, "%s", jail_path_user(from));
    snprintf(b, sizeof b, "%s", jail_path_user(to));
    rc = files_rename(s->files, from, to);
    jail_path_free(from);
    jail_path_free(to);
    if (rc != 0) {
        ftp_log(s, "rename %s to %s: %s", a, b, strerror(-rc));
        if (rc == -EINVAL)
            return ftp_reply(s, 553, "A directory cannot move into itself.");
        if (rc == -EEXIST)
            return ftp_reply(s, 553, "%s exists; delete it first.", b);
        return ftp_fail(s, rc, arg);
    }
    ftp_log(s, "renamed %s to %s", a, b);
    return ftp_reply(s, 250, "Renamed %s to %s.", a, b);
}

/* ---- transfers --------------------------------------------------------- */

/* A transfer's line in --xferlog (xferlog.h). */
static void ftp_xferlog(const struct ftp_session *s, const char *path,
                        uint64_t bytes, double t0, bool upload, bool complete)
{
    xferlog_write(&(struct xferlog_entry){.service = "ftp",
                                          .peer = s->peer,
                                          .user = s->user,
                                          .path = path,
                                          .bytes = bytes,
                                          .seconds = proto_mono_s() - t0,
                                          .upload = upload,
                                          .complete = complete});
}

int ftp_cmd_retr(struct ftp_session *s, const char *arg, size_t n)
{
    if (!ftp_data_ready(s))
        return ftp_reply(s, 425, "Use PASV or EPSV first.");
    char path[PROTO_PATH_BUF];
    int fd;
    struct stat st;
    int rc = open_arg(s, arg, n, &fd, &st, path);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    uint64_t size = (uint64_t)st.st_size;
    if (s->rest > size) {
        close(fd);
        return ftp_reply(s, 554, "REST %llu is beyond the end of %s (%llu).",
                         (unsigned long long)s->rest, path,
                         (unsigned long long)size);
    }
    rc = ftp_reply(s, 150,
                   "Opening BINARY mode data connection for %s (%llu "
                   "bytes).",
                   path, (unsigned long long)size);
    proto_io dio;
    int r = rc == 0 ? ftp_data_open(s, &dio) : rc;
    if (r != 0) {
        close(fd);
        return r < 0 ? r : 0;
    }
    struct abort_ctx ac;
    watch(s, &dio, &ac);
    proto_body_hooks hooks = {
        .progress = check_abort, .ctx = &ac, .zero_copy = !s->prot_p};
    dio.body_out = size - s->rest;
    int file_err = 0;
    double t0 = proto_mono_s();
    who_xfer_begin(s->who, "get", path, s->rest, size);
    rc = proto_body_from_file(&dio, fd, s->rest, NULL, &hooks, &file_err);
    who_xfer_end(s->who);
    ftp_xferlog(s, path, size - s->rest - dio.body_out, t0, false,
                rc == 0 && file_err == 0);
    close(fd);
    ftp_data_close(&dio);
    ftp_log(s, "RETR %s from %llu: %s", path, (unsigned long long)s->rest,
            rc == 0 ? "done" : strerror(-rc));
    if (file_err != 0 && !s->aborted)
        return ftp_reply(s, 451, "Cannot read %s: %s", path,
                         strerror(-file_err));
    return transfer_reply(s, rc, "Transfer complete.");
}

/* The published file's first n bytes into the partial at 0 (reserved). */
static int copy_prefix(const struct jail_path *p, struct files_upload *u,
                       uint64_t n)
{
    int in;
    struct stat st;
    int rc = jail_open_read(p, &in, &st);
    if (rc != 0)
        return rc;
    if ((uint64_t)st.st_size < n) {
        close(in);
        return -ERANGE;
    }
    rc = files_upload_reserve(u, n);
    int out = files_upload_fd(u);
    loff_t from = 0, to = 0;
    uint64_t left = n;
    while (rc == 0 && left > 0) {
        ssize_t k = copy_file_range(in, &from, out, &to,
                                    left > (1u << 30) ? (1u << 30) : left, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k == 0 ? -ENODATA : -errno;
            break;
        }
        left -= (uint64_t)k;
    }
    close(in);
    return rc;
}

/* STOR/APPE: where the client's bytes go, after REST/APPE.  A resume
 * continues what SIZE told the client is here (see the top): the published
 * file when there is one (its first bytes copied into the partial), else
 * the partial.  *start: the offset the client's bytes begin at; *from: the
 * partial's size before this transfer adds to it (bytes before it were
 * counted by the attempt that wrote them); *have: what was there, for the
 * 554 of a REST beyond it. */
static int upload_start(struct ftp_session *s, const struct jail_path *p,
                        bool append, struct files_upload *u, uint64_t partial,
                        uint64_t *start, uint64_t *from, uint64_t *have)
{
    struct jail_entry e;
    bool published = jail_stat(p, &e) == 0 && e.type == JAIL_FILE;
    *have = published ? e.size : partial;
    uint64_t want = append ? *have : s->rest; /* STOR: 0, or REST's */
    *start = want;
    *from = partial; /* nothing new yet, also when this fails */
    if (want > *have)
        return -ERANGE;
    if (want > 0 && !published) { /* the partial goes on */
        int rc = partial == want ? 0 : files_upload_truncate(u, want);
        if (rc == 0)
            *from = want;
        return rc;
    }
    int rc = partial == 0 ? 0 : files_upload_truncate(u, 0);
    if (rc == 0)
        *from = 0; /* the copy's bytes, if any, are new */
    return rc != 0 || want == 0 ? rc : copy_prefix(p, u, want);
}

/* After the data connection of an upload ended: was the transfer cut
 * after all?  An ABOR that came with the end is a cut; so is a client that
 * is gone.  A killed client's kernel closes its control connection with
 * its data connection, microseconds apart, in whichever order, while a live
 * client waits for our reply: so the control connection is looked at once
 * the partial's data is on disk (the commit would wait for that anyway),
 * which gives the other end's FIN that long to arrive.  Under PROT P the
 * data connection's TLS close_notify already said the client meant to end
 * there.  Returns 0 (whole), -ECANCELED (ABOR) or -ECONNRESET (gone). */
static int upload_cut(struct ftp_session *s)
{
    struct pollfd pfd = {.fd = s->io.fd, .events = POLLIN | POLLRDHUP};
    bool held = proto_tls_pending(&s->io); /* input TLS already has */
    int n = held ? 0 : proto_poll(&pfd, 1, 0);
    if (n < 0)
        return -ECONNRESET;
    if (held ||
        (n > 0 && (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))))
        (void)ftp_take_abort(s); /* an ABOR, or the end (aborted too) */
    if (!s->aborted)
        return 0;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) ? -ECONNRESET
                                                           : -ECANCELED;
}

/* Once an upload has received this much, quota is reserved ahead in steps
 * this large (fewer ledger updates), or exactly what arrived when a step
 * no longer fits. */
#define RESERVE_STEP (8u << 20)

static int reserve(struct files_upload *u, uint64_t *ahead, uint64_t n,
                   uint64_t got)
{
    /* A small upload reserves what it receives: one running upload must
     * not hold a step of quota that another one needs. */
    if (got < RESERVE_STEP && *ahead < n) {
        int rc = files_upload_reserve(u, n - *ahead);
        if (rc == 0)
            *ahead = 0;
        return rc;
    }
    if (*ahead >= n) {
        *ahead -= n;
        return 0;
    }
    uint64_t need = n - *ahead;
    int rc = files_upload_reserve(u, need > RESERVE_STEP ? need : RESERVE_STEP);
    if (rc == 0) {
        *ahead = (need > RESERVE_STEP ? need : RESERVE_STEP) - need;
        return 0;
    }
    rc = files_upload_reserve(u, need);
    if (rc == 0)
        *ahead = 0;
    return rc;
}

/* Receives the data connection to its end into the partial from off.
 * *got counts the bytes written. */
static int receive(struct ftp_session *s, proto_io *dio, struct files_upload *u,
                   uint64_t off, uint64_t *got, int *file_err)
{
    unsigned char *buf = malloc(XFER_BUF);
    if (buf == NULL)
        return -ENOMEM;
    int fd = files_upload_fd(u);
    proto_writeback wb;
    proto_writeback_init(&wb, fd, off);
    int rc = 0;
    uint64_t ahead = 0; /* reserved, not yet written */
    *got = 0;
    uint64_t next_look = RESERVE_STEP;
    for (;;) {
        /* The first read waits; then what has arrived fills the buffer. */
        size_t k = 0;
        bool end = false;
        while (k < XFER_BUF) {
            ssize_t r = proto_stream_recv(dio, buf + k, XFER_BUF - k, k == 0);
            if (r == -EAGAIN)
                break;
            if (r <= 0) {
                end = r == 0;
                rc = (int)r;
                break;
            }
            k += (size_t)r;
        }
        if (k > 0) {
            /* Never past the quota: reserved before written. */
            int e = reserve(u, &ahead, (uint64_t)k, *got);
            if (e == 0)
                e = proto_pwrite_all(fd, buf, k, off);
            if (e != 0) {
                *file_err = e;
                break;
            }
            off += (uint64_t)k;
            *got += (uint64_t)k;
            who_xfer_progress(s->who, off);
            if (!s->srv->no_fsync)
                proto_writeback_note(&wb, off);
        }
        if (end || rc != 0)
            break;
        /* A steady stream never waits, so the watch never looks: look for
         * an ABOR every few MiB. */
        if (*got >= next_look) {
            next_look = *got + RESERVE_STEP;
            ftp_poll_abort(s);
        }
        if (s->aborted) {
            rc = -ECANCELED;
            break;
        }
    }
    free(buf);
    return rc;
}

int ftp_cmd_stor(struct ftp_session *s, const char *arg, size_t n, bool append)
{
    if (!ftp_data_ready(s))
        return ftp_reply(s, 425, "Use PASV or EPSV first.");
    struct jail_path *p;
    char path[PROTO_PATH_BUF];
    int rc = resolve_path(s, arg, n, &p, path);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct files_upload *u;
    uint64_t partial = 0, start = 0;
    rc = files_upload_begin_open(s->files, p, &u, &partial);
    if (rc != 0) {
        jail_path_free(p);
        ftp_log(s, "STOR %s: %s", path, strerror(-rc));
        return ftp_fail(s, rc, arg);
    }
    uint64_t from = 0, have = 0;
    rc = upload_start(s, p, append, u, partial, &start, &from, &have);
    jail_path_free(p);
    if (rc != 0) {
        /* What a copy that failed part-way left in the partial counts. */
        uint64_t left;
        (void)files_upload_written(u, from, &left);
        files_upload_leave(u);
        if (rc == -ERANGE)
            return ftp_reply(s, 554,
                             "Cannot restart %s at %llu: only %llu bytes of "
                             "it are here.",
                             path, (unsigned long long)start,
                             (unsigned long long)have);
        return ftp_fail(s, rc, arg);
    }
    rc = ftp_reply(s, 150, "Ok to send data for %s%s.", path,
                   start > 0 ? " (resuming)" : "");
    proto_io dio;
    int r = rc == 0 ? ftp_data_open(s, &dio) : rc;
    if (r != 0) {
        files_upload_leave(u);
        return r < 0 ? r : 0;
    }
    uint64_t got = 0, stored = 0;
    int file_err = 0;
    struct abort_ctx ac;
    watch(s, &dio, &ac);
    double t0 = proto_mono_s();
    who_xfer_begin(s->who, "put", path, start, WHO_TOTAL_UNKNOWN);
    rc = receive(s, &dio, u, start, &got, &file_err);
    who_xfer_end(s->who);
    ftp_data_close(&dio);
    /* The data on disk first: the commit would wait for it anyway, and a
     * write error it reports (once) must stop the publishing.  The commit
     * then fsyncs only the directory: one journal commit fewer per file. */
    bool sync = !s->srv->no_fsync;
    if (rc == 0 && file_err == 0 && sync && fdatasync(files_upload_fd(u)) != 0)
        file_err = -errno;
    if (rc == 0 && file_err == 0)
        rc = upload_cut(s);
    (void)files_upload_written(u, from, &stored);
    if (file_err != 0 || rc != 0)
        ftp_xferlog(s, path, got, t0, true, false);
    if (file_err != 0) {
        /* Over quota or out of space: nothing half-made is kept. */
        (void)files_upload_discard(u);
        ftp_log(s, "STOR %s: %s after %llu bytes; discarded", path,
                strerror(-file_err), (unsigned long long)got);
        return ftp_fail(s, file_err, path);
    }
    if (rc != 0) {
        files_upload_leave(u); /* for a resume */
        ftp_log(s, "STOR %s cut after %llu bytes (%s); the partial is kept",
                path, (unsigned long long)(start + got),
                rc == -ECONNRESET && s->aborted ? "the client is gone"
                                                : strerror(-rc));
        return transfer_reply(s, rc, "");
    }
    struct jail_commit c;
    rc = files_upload_commit(u, &c, sync ? JAIL_SYNC_DIR_ONLY : JAIL_SYNC_NONE);
    ftp_xferlog(s, path, got, t0, true, rc == 0);
    if (rc != 0) {
        ftp_log(s, "STOR %s: publishing failed: %s", path, strerror(-rc));
        return ftp_fail(s, rc, path);
    }
    ftp_log(s, "STOR %s: %llu bytes%s", path, (unsigned long long)(start + got),
            start > 0 ? " (resumed)" : "");
    rc = ftp_reply(s, 226, "Transfer complete (%llu bytes).",
                   (unsigned long long)(start + got));
    if (c.displaced_fd >= 0)
        close(c.displaced_fd);
    return rc;
}

/* ---- HASH (draft-bryan-ftpext-hash) ------------------------------------ */

int ftp_cmd_opts_hash(struct ftp_session *s, const char *arg)
{
    if (*arg == '\0')
        return ftp_reply(s, 200, "%s",
                         s->hash_algo[0] ? s->hash_algo : "SHA-256");
    if (strcasecmp(arg, "SHA-256") == 0 || strcasecmp(arg, "SHA-512") == 0) {
        snprintf(s->hash_algo, sizeof s->hash_algo, "SHA-%s", arg + 4);
        return ftp_reply(s, 200, "%s", s->hash_algo);
    }
    return ftp_reply(s, 501,
                     "Unknown algorithm; SHA-256 and SHA-512 are "
                     "supported.");
}

struct hash_ctx {
    EVP_MD_CTX *md;
    struct ftp_session *s;
};

static int hash_chunk(void *ctx, const void *buf, size_t n)
{
    struct hash_ctx *h = ctx;
    ftp_poll_abort(h->s);
    if (h->s->aborted)
        return -ECANCELED;
    return EVP_DigestUpdate(h->md, buf, n) == 1 ? 0 : -ENOMEM;
}

int ftp_cmd_hash(struct ftp_session *s, const char *arg, size_t n)
{
    int fd;
    struct stat st;
    int rc = open_arg(s, arg, n, &fd, &st, NULL);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    uint64_t size = (uint64_t)st.st_size;
    uint64_t from = 0, to = size; /* [from, to) */
    if (s->rang_set) {
        s->rang_set = false;
        if (s->rang_lo >= size || s->rang_hi >= size) {
            close(fd);
            return ftp_reply(s, 556,
                             "RANG %llu-%llu is outside %s (%llu "
                             "bytes).",
                             (unsigned long long)s->rang_lo,
                             (unsigned long long)s->rang_hi, arg,
                             (unsigned long long)size);
        }
        from = s->rang_lo;
        to = s->rang_hi + 1;
    }
    bool sha512 = strcmp(s->hash_algo, "SHA-512") == 0;
    struct hash_ctx h = {EVP_MD_CTX_new(), s};
    if (h.md == NULL ||
        EVP_DigestInit_ex(h.md, sha512 ? EVP_sha512() : EVP_sha256(), NULL) !=
            1) {
        EVP_MD_CTX_free(h.md);
        close(fd);
        return ftp_reply(s, 451, "Out of memory.");
    }
    rc = proto_pread_chunks(fd, from, to - from, hash_chunk, &h);
    close(fd);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (rc == 0 && EVP_DigestFinal_ex(h.md, md, &len) != 1)
        rc = -ENOMEM;
    EVP_MD_CTX_free(h.md);
    if (s->aborted) {
        s->aborted = false;
        return ftp_reply(s, 226, "ABOR successful; HASH stopped.");
    }
    if (rc != 0)
        return ftp_reply(s, 451, "Cannot hash %s: %s", arg, strerror(-rc));
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return ftp_reply(s, 213, "%s %llu-%llu %s %s",
                     sha512 ? "SHA-512" : "SHA-256", (unsigned long long)from,
                     (unsigned long long)(to == 0 ? 0 : to - 1), hex, arg);
}

int ftp_cmd_rang(struct ftp_session *s, const char *arg)
{
    unsigned long long lo, hi;
    int used = 0;
    if (sscanf(arg, "%20llu %20llu%n", &lo, &hi, &used) != 2 ||
        arg[used] != '\0' || arg[0] < '0' || arg[0] > '9')
        return ftp_reply(s, 501, "RANG takes two byte offsets.");
    if (lo == 1 && hi == 0) { /* the draft's reset */
        s->rang_set = false;
        return ftp_reply(s, 350, "Restarting at 0. Range reset.");
    }
    if (lo > hi)
        return ftp_reply(s, 501, "RANG: the start is after the end.");
    s->rang_set = true;
    s->rang_lo = lo;
    s->rang_hi = hi;
    return ftp_reply(s, 350, "Restarting at %llu. Ending at %llu.", lo, hi);
}
