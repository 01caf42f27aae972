/* transfer.c -- resumable, verified put and get over one session. */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "progress.h"
#include "text.h"

/* ---- SIGINT: leave the partial, say how to resume ------------------------
 * One-shot and batch: exit 130.  In the shell (transfer_interruptible()):
 * shut the connection down, which fails the transfer at once wherever it
 * waits; the shell then reconnects (shell.c). */

static volatile sig_atomic_t bar_on, interruptible, interrupted;
static volatile int xfer_fd = -1;

static void on_sigint(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls.  Every byte already written is a correct
     * prefix of the file, so stopping here is what resuming expects. */
    static const char msg[] =
        "ssftp: interrupted; run the same command again to resume\n";
    if (bar_on)
        (void)!write(STDERR_FILENO, "\n", 1);
    if (interruptible && xfer_fd >= 0) {
        interrupted = 1;
        (void)shutdown(xfer_fd, SHUT_RDWR);
        return;
    }
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(130);
}

void transfer_interruptible(bool on)
{
    interruptible = on;
}

bool transfer_interrupted(void)
{
    bool was = interrupted;
    interrupted = 0;
    return was;
}

/* A transfer in flight: its progress bar, and SIGINT caught so that Ctrl-C
 * stops it with the partial in place and a word on resuming. */
struct xfer {
    progress bar;
    struct sigaction old_sigint;
};

static void xfer_begin(struct xfer *x, int fd, bool show_progress,
                       const char *name, uint64_t total, uint64_t done)
{
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    xfer_fd = fd;
    sigaction(SIGINT, &sa, &x->old_sigint);
    progress_begin(&x->bar, show_progress, name, total, done);
    bar_on = x->bar.on;
}

static void xfer_end(struct xfer *x, uint64_t total, bool ok)
{
    progress_end(&x->bar, total, ok);
    bar_on = 0;
    sigaction(SIGINT, &x->old_sigint, NULL);
    xfer_fd = -1;
}

/* ---- --limit-rate ---------------------------------------------------------
 * One limit for every body of the process, both ways, kept across files
 * and reconnects (body.h, proto_rate). */

static proto_rate limit;

const char *transfer_rate_parse(const char *s, uint64_t *out)
{
    if (strcmp(s, "off") == 0) {
        *out = 0;
        return NULL;
    }
    uint64_t v = 0;
    int r = proto_size_parse(s, &v);
    if (r == -ERANGE || (r == 0 && v > TRANSFER_RATE_MAX))
        return "too large (at most 1024G a second)";
    if (r != 0)
        return "not a rate: bytes a second, digits with an optional K, M or "
               "G (1024-based), or off";
    if (v < TRANSFER_RATE_MIN)
        return "below 1K, the least a limit may be (off: no limit)";
    *out = v;
    return NULL;
}

void transfer_limit_rate(uint64_t bytes_per_s)
{
    limit = (proto_rate){.bytes_per_s = bytes_per_s};
}

uint64_t transfer_rate(void)
{
    return limit.bytes_per_s;
}

/* ---- helpers ------------------------------------------------------------ */

/* "verified blake2b:<first 16 hex>" -- enough to compare by eye. */
static void report_to(FILE *out, const char *from, const char *to,
                      uint64_t total, uint64_t resumed,
                      const uint8_t digest[PROTO_DIGEST_BYTES])
{
    char hex[PROTO_DIGEST_HEX_SIZE];
    proto_digest_to_hex(digest, hex);
    char *f = text_escape(from), *t = text_escape(to);
    char resume[64] = "";
    if (resumed)
        snprintf(resume, sizeof resume, ", resumed at %s",
                 proto_size_format(resumed).s);
    fprintf(out, "%s -> %s: %s%s, verified blake2b:%.16s\n", f ? f : "?",
            t ? t : "?", proto_size_format(total).s, resume, hex);
    fflush(out);
    free(f);
    free(t);
}

static void report_done(const char *from, const char *to, uint64_t total,
                        uint64_t resumed,
                        const uint8_t digest[PROTO_DIGEST_BYTES])
{
    report_to(stdout, from, to, total, resumed, digest);
}

/* A resume that cannot be: the partial's bytes are not a prefix of the file
 * (it changed, on one side or the other), so it starts again from zero,
 * and says so on stderr. */
static void say_restart(const char *what, const char *whose, uint64_t bytes)
{
    char *w = text_escape(what);
    fprintf(stderr,
            "ssftp: %s: %s (%s) does not match the file; starting again "
            "from zero\n",
            w ? w : "?", whose, proto_size_format(bytes).s);
    free(w);
}

/* An unlinked temporary file in $TMPDIR (default /tmp), read-write:
 * O_TMPFILE, or where the file system has none, mkstemp() and unlink().
 * Returns the descriptor or -errno. */
static int spool_open(void)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR)
        return -errno;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/ssftp-XXXXXX", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (unlink(path) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Make a rename into path durable: fsync its directory (best effort; the
 * data itself was fsynced before the rename). */
static void sync_parent(const char *path)
{
    char dir[PROTO_PATH_MAX + 1];
    size_t n = proto_path_dir_len(path);
    if (n == 0)
        strcpy(dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)n, path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ---- put ----------------------------------------------------------------- */

static void on_progress(void *bar, uint64_t off)
{
    progress_update(bar, off);
}

/* Stream bytes off..total-1 of fd as the announced body, hashing them. */
static int put_body(client_conn *c, int fd, uint64_t off, proto_digest_state *d,
                    progress *bar, const char *what)
{
    proto_body_hooks hooks = {
        .progress = on_progress, .ctx = bar, .rate = &limit};
    int file_err = 0;
    int r = proto_body_from_file(&c->io, fd, off, d, &hooks, &file_err);
    if (r == 0)
        return SSFTP_OK;
    if (file_err == 0) {
        int status = conn_errno_fail(c, r, what);
        c->dead = true; /* whatever failed, the body is still owed */
        return status;
    }
    /* The peer is owed bytes we do not have: only closing is honest
     * (docs/protocol.md, "Framing"). */
    c->dead = true;
    return conn_fail(c, SSFTP_FAIL, "%s: %s", what,
                     file_err == -ENODATA  ? "file shrank while being sent"
                     : file_err == -ENOMEM ? "out of memory"
                                           : strerror(-file_err));
}

/* The offset to send put_data from: K when our first K bytes hash to the
 * server's prefix, else 0.  d then holds the hash of those K2 bytes. */
static uint64_t put_resume_offset(int fd, uint64_t total, const json_t *rep,
                                  proto_digest_state *d)
{
    uint64_t k = 0;
    uint8_t theirs[PROTO_DIGEST_BYTES], ours[PROTO_DIGEST_BYTES];
    proto_digest_init(d);
    if (proto_get_u64(rep, "offset", &k) || k == 0 || k > total ||
        proto_get_hex(rep, "prefix", theirs, sizeof theirs))
        return 0;
    if (proto_digest_update_file(d, fd, 0, k) == 0) {
        proto_digest_peek(d, ours);
        if (sodium_memcmp(ours, theirs, sizeof ours) == 0)
            return k;
    }
    proto_digest_init(d);
    return 0;
}

/* put -p: the remote file gets mtime (docs/protocol.md, "set_mtime"). */
static int set_remote_mtime(client_conn *c, const char *remote, int64_t mtime,
                            const char *what)
{
    return conn_request(c,
                        json_pack("{s:s, s:s, s:I}", "cmd", "set_mtime", "path",
                                  remote, "mtime", (json_int_t)mtime),
                        what, NULL);
}

/* get -p: the local file (fd, not yet published) gets the remote mtime. */
static int keep_remote_mtime(client_conn *c, int fd, const char *remote,
                             const char *what)
{
    json_t *rep = NULL;
    int r = conn_request(
        c, json_pack("{s:s, s:s}", "cmd", "stat", "path", remote), what, &rep);
    if (r != SSFTP_OK)
        return r;
    int64_t mtime = 0;
    r = proto_get_i64(json_object_get(rep, "entry"), "mtime", &mtime);
    json_decref(rep);
    if (r != 0)
        return conn_fail(c, SSFTP_FAIL, "%s: no mtime from the server", what);
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
                             {.tv_sec = (time_t)mtime, .tv_nsec = 0}};
    if (futimens(fd, ts) != 0)
        return conn_fail(c, SSFTP_FAIL, "%s: set time: %s", what,
                         strerror(errno));
    return SSFTP_OK;
}

static int put_file(client_conn *c, int fd, uint64_t total, const char *local,
                    const char *remote, bool show_progress, int64_t mtime,
                    const char *what)
{
    json_t *rep = NULL;
    int r = conn_call(c,
                      json_pack("{s:s, s:s, s:I}", "cmd", "put", "path", remote,
                                "total", (json_int_t)total),
                      &rep);
    if (r == -EREMOTEIO) {
        const char *code = "";
        (void)proto_get_str(rep, "code", &code);
        bool dir = strcmp(code, PROTO_E_IS_A_DIRECTORY) == 0;
        int status = conn_remote_fail(c, rep, what);
        if (dir) { /* the remote is; say how to put into it */
            char *e = text_escape(remote);
            size_t n = strlen(c->err);
            snprintf(c->err + n, sizeof c->err - n,
                     " (the remote %s; put FILE %s/ puts into it)", e ? e : "?",
                     e ? e : "?");
            free(e);
        }
        return status;
    }
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    proto_digest_state d;
    uint64_t k2 = put_resume_offset(fd, total, rep, &d), offered = 0;
    if (k2 == 0 && proto_get_u64(rep, "offset", &offered) == 0 && offered > 0)
        say_restart(what, "the server's partial", offered);
    json_decref(rep);

    json_t *data = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                             (json_int_t)k2, "size", (json_int_t)(total - k2));
    r = data ? proto_send(&c->io, data) : -ENOMEM;
    json_decref(data);
    if (r)
        return conn_errno_fail(c, r, what);
    struct xfer x;
    xfer_begin(&x, c->io.fd, show_progress, local, total, k2);
    int status = put_body(c, fd, k2, &d, &x.bar, what);
    xfer_end(&x, total, status == SSFTP_OK);
    if (status != SSFTP_OK)
        return status;

    uint8_t ours[PROTO_DIGEST_BYTES], theirs[PROTO_DIGEST_BYTES];
    proto_digest_final(&d, ours);
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    if (end && proto_set_hex(end, "digest", ours, sizeof ours)) {
        json_decref(end);
        end = NULL;
    }
    r = conn_call(c, end, &rep);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, rep, what);
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    uint64_t bytes = 0;
    r = proto_get_hex(rep, "digest", theirs, sizeof theirs);
    if (r == 0)
        r = proto_get_u64(rep, "bytes", &bytes);
    json_decref(rep);
    if (r || bytes != total || sodium_memcmp(ours, theirs, sizeof ours))
        return conn_fail(c, SSFTP_FAIL,
                         "%s: the server stored different bytes "
                         "(digest mismatch)",
                         what);
    if (mtime >= 0) {
        int status = set_remote_mtime(c, remote, mtime, what);
        if (status != SSFTP_OK)
            return status;
    }
    report_done(local, remote, total, k2, ours);
    return SSFTP_OK;
}

/* put - NAME: stdin to end of file into a spool file (the protocol wants
 * the size first), then uploaded from it as any file, so it is verified
 * and resumable alike. */
static int put_stdin(client_conn *c, const char *remote, bool show_progress)
{
    const char *what = "put -";
    if (remote == NULL || remote[0] == '\0' ||
        remote[strlen(remote) - 1] == '/')
        return conn_fail(c, SSFTP_USAGE, "%s: give the remote NAME", what);
    int fd = spool_open();
    if (fd < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: temporary file: %s", what,
                         strerror(-fd));
    uint64_t total = 0;
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return conn_fail(c, SSFTP_FAIL, "%s: stdin: %s", what, strerror(e));
        }
        if (n == 0)
            break;
        int r = proto_write_all(fd, buf, (size_t)n);
        if (r != 0) {
            close(fd);
            return conn_fail(c, SSFTP_FAIL, "%s: temporary file: %s", what,
                             strerror(-r));
        }
        total += (uint64_t)n;
    }
    int status =
        put_file(c, fd, total, "stdin", remote, show_progress, -1, what);
    close(fd);
    return status;
}

int transfer_put(client_conn *c, const char *local, const char *remote,
                 bool show_progress, bool keep_mtime)
{
    if (strcmp(local, "-") == 0)
        return put_stdin(c, remote, show_progress);
    char what[PROTO_PATH_MAX + 8];
    snprintf(what, sizeof what, "put %s", local);
    char name[PROTO_NAME_MAX + 1], target[PROTO_PATH_MAX + 1];
    if (proto_path_base(local, name, sizeof name) != 0)
        return conn_fail(c, SSFTP_FAIL, "%s: file name too long", what);
    if (remote == NULL)
        remote = name;
    else if (remote[0] && remote[strlen(remote) - 1] == '/') {
        if (proto_path_join(target, sizeof target, remote, name))
            return conn_fail(c, SSFTP_FAIL, "%s: remote path too long", what);
        remote = target;
    }
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return conn_fail(c, SSFTP_FAIL, "%s: %s", what,
                         S_ISDIR(st.st_mode) ? "is a directory"
                         : e                 ? strerror(e)
                                             : "not a regular file");
    }
    int status =
        put_file(c, fd, (uint64_t)st.st_size, local, remote, show_progress,
                 keep_mtime ? (int64_t)st.st_mtime : -1, what);
    close(fd);
    return status;
}

/* ---- get ----------------------------------------------------------------- */

/* Where the download goes: target (the final name) and part (its partial
 * beside it).  Returns 0 or a negative errno. */
static int get_paths(const char *remote, const char *local, char *target,
                     char *part, size_t cap)
{
    char name[PROTO_NAME_MAX + 1];
    int r = proto_path_base(remote, name, sizeof name);
    if (r != 0)
        return r;
    if (name[0] == '\0' || strcmp(name, "/") == 0)
        return -EISDIR;
    struct stat st;
    if (local == NULL)
        r = snprintf(target, cap, "%s", name) >= (int)cap ? -ENAMETOOLONG : 0;
    else if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
        r = proto_path_join(target, cap, local, name);
    else
        r = snprintf(target, cap, "%s", local) >= (int)cap ? -ENAMETOOLONG : 0;
    if (r)
        return r;
    char base[PROTO_NAME_MAX + 1], pname[PROTO_NAME_MAX + 1];
    r = proto_path_base(target, base, sizeof base);
    if (r == 0)
        r = proto_part_name(base, pname, sizeof pname);
    if (r)
        return r;
    int dirlen = (int)proto_path_dir_len(target);
    int k = snprintf(part, cap, "%.*s%s", dirlen, target, pname);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

/* Receive the announced body into fd at off, hashing it. */
static int get_body(client_conn *c, int fd, uint64_t off, proto_digest_state *d,
                    progress *bar, const char *what, const char *part)
{
    /* Draining a large body to nowhere helps nobody: on a failed write
     * drop the session and keep the partial that was written. */
    proto_body_hooks hooks = {.progress = on_progress,
                              .ctx = bar,
                              .stop_on_file_error = true,
                              .rate = &limit};
    int file_err = 0;
    int r = proto_body_to_file(&c->io, fd, off, d, &hooks, &file_err);
    if (r == 0 && file_err == 0)
        return SSFTP_OK;
    if (file_err == 0) {
        int status = conn_errno_fail(c, r, what);
        c->dead = true; /* the rest of the body is still on its way */
        return status;
    }
    c->dead = true;
    char *p = text_escape(part);
    int status = conn_fail(c, SSFTP_FAIL, "%s: write %s: %s", what, p ? p : "?",
                           strerror(-file_err));
    free(p);
    return status;
}

/* One download: its partial, the prefix offered, and the outcome. */
struct get_one {
    const char *remote, *what;
    const char *target, *part;
    int fd;               /* the partial, open read-write */
    uint64_t k;           /* its length when the get was sent */
    proto_digest_state d; /* of its first k bytes, then of the body */
    uint64_t total, k2;   /* from the reply */
    uint8_t ours[PROTO_DIGEST_BYTES];
    bool back_to_back; /* one of several gets sent without waiting */
};

/* Sends get with the partial's prefix (g->fd, g->remote). */
static int get_send(client_conn *c, struct get_one *g)
{
    struct stat st;
    if (fstat(g->fd, &st) < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", g->what, strerror(errno));
    g->k = (uint64_t)st.st_size;
    proto_digest_init(&g->d);
    if (g->k > 0 && proto_digest_update_file(&g->d, g->fd, 0, g->k) != 0) {
        proto_digest_init(&g->d);
        g->k = 0;
    }
    json_t *req = json_pack("{s:s, s:s, s:I}", "cmd", "get", "path", g->remote,
                            "offset", (json_int_t)g->k);
    if (req && g->k > 0) {
        uint8_t prefix[PROTO_DIGEST_BYTES];
        proto_digest_peek(&g->d, prefix);
        if (proto_set_hex(req, "prefix", prefix, sizeof prefix)) {
            json_decref(req);
            req = NULL;
        }
    }
    if (req == NULL)
        return conn_fail(c, SSFTP_FAIL,
                         "%s: cannot encode the request (names must be "
                         "valid UTF-8)",
                         g->what);
    int r = proto_send(&c->io, req);
    json_decref(req);
    return r == 0 ? SSFTP_OK : conn_errno_fail(c, r, g->what);
}

/* Receives the reply to get_send(), the body into the partial and the
 * trailer, and checks the digest; publishing is the caller's. */
static int get_receive(client_conn *c, struct get_one *g, bool show_progress)
{
    const char *what = g->what, *part = g->part, *remote = g->remote;
    int fd = g->fd;
    uint64_t k = g->k;
    json_t *rep = NULL;
    int r = proto_recv(&c->io, &rep);
    if (r == 0) {
        r = proto_reply_check(rep, NULL, NULL);
        if (r == -EREMOTEIO)
            return g->back_to_back ? conn_remote_note(c, rep, what)
                                   : conn_remote_fail(c, rep, what);
        if (r != 0) {
            json_decref(rep);
            c->dead = true;
            return conn_fail(c, SSFTP_CONN, "%s: malformed reply from server",
                             what);
        }
    }
    if (r < 0)
        return conn_errno_fail(c, r, what);
    uint64_t total = 0, k2 = 0;
    uint64_t body = c->io.body_in;
    r = proto_get_u64(rep, "total", &total);
    if (r == 0)
        r = proto_get_u64(rep, "offset", &k2);
    json_decref(rep);
    if (r || (k2 != 0 && k2 != k) || k2 > total || body != total - k2) {
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: malformed reply from server",
                         what);
    }
    /* The server did not recognise our prefix, or we offered none: start
     * over (what the partial holds now is not what was offered). */
    if (k2 != k || k2 == 0) {
        if (k > 0)
            say_restart(what, "the local partial", k);
        if (ftruncate(fd, 0) < 0) {
            c->dead = true; /* the body is on its way */
            return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
        }
        proto_digest_init(&g->d);
    }
    g->total = total;
    g->k2 = k2;
    struct xfer x;
    xfer_begin(&x, c->io.fd, show_progress, remote, total, k2);
    int status = get_body(c, fd, k2, &g->d, &x.bar, what, part);
    xfer_end(&x, total, status == SSFTP_OK);
    if (status != SSFTP_OK)
        return status;

    uint8_t *ours = g->ours, theirs[PROTO_DIGEST_BYTES];
    proto_digest_final(&g->d, ours);
    json_t *trailer = NULL;
    r = proto_recv(&c->io, &trailer);
    if (r)
        return conn_errno_fail(c, r, what);
    r = proto_reply_check(trailer, NULL, NULL);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, trailer, what);
    r = r ? r : proto_get_hex(trailer, "digest", theirs, sizeof theirs);
    json_decref(trailer);
    if (r) {
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: malformed trailer from server",
                         what);
    }
    if (sodium_memcmp(ours, theirs, PROTO_DIGEST_BYTES) != 0) {
        unlink(part);
        return conn_fail(c, SSFTP_FAIL,
                         "%s: digest mismatch, download discarded", what);
    }
    return SSFTP_OK;
}

/* Verified: the partial becomes the target (its data on disk first, so a
 * crash never leaves a short file under the target's name).  The
 * directory's fsync is the caller's. */
static int get_publish(client_conn *c, const struct get_one *g)
{
    if (fsync(g->fd) < 0 || rename(g->part, g->target) < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", g->what, strerror(errno));
    return SSFTP_OK;
}

static int get_file(client_conn *c, int fd, const char *remote,
                    const char *target, const char *part, bool show_progress,
                    bool keep_mtime, const char *what)
{
    struct get_one g = {.remote = remote,
                        .what = what,
                        .target = target,
                        .part = part,
                        .fd = fd};
    int status = get_send(c, &g);
    if (status == SSFTP_OK)
        status = get_receive(c, &g, show_progress);
    if (status == SSFTP_OK && keep_mtime)
        status = keep_remote_mtime(c, fd, remote, what);
    if (status == SSFTP_OK)
        status = get_publish(c, &g);
    if (status != SSFTP_OK)
        return status;
    sync_parent(target);
    report_done(remote, target, g.total, g.k2, g.ours);
    return SSFTP_OK;
}

/* get FILE -: into a spool file, verified, then copied to stdout, so
 * nothing unverified ever reaches it; no progress bar, the report on
 * stderr. */
static int get_stdout(client_conn *c, const char *remote, const char *what)
{
    int fd = spool_open();
    if (fd < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: temporary file: %s", what,
                         strerror(-fd));
    struct get_one g = {
        .remote = remote, .what = what, .part = "temporary file", .fd = fd};
    int status = get_send(c, &g);
    if (status == SSFTP_OK)
        status = get_receive(c, &g, false);
    static char buf[1 << 16];
    for (uint64_t off = 0; status == SSFTP_OK && off < g.total;) {
        size_t want =
            g.total - off < sizeof buf ? (size_t)(g.total - off) : sizeof buf;
        ssize_t n = proto_pread_full(fd, buf, want, off);
        int r = n < 0 ? (int)n : n == 0 ? -ENODATA : 0;
        if (r == 0 && fflush(stdout) != 0)
            r = -errno;
        if (r == 0)
            r = proto_write_all(STDOUT_FILENO, buf, (size_t)n);
        if (r != 0)
            status =
                conn_fail(c, SSFTP_FAIL, "%s: stdout: %s", what, strerror(-r));
        else
            off += (uint64_t)n;
    }
    close(fd);
    if (status == SSFTP_OK)
        report_to(stderr, remote, "stdout", g.total, 0, g.ours);
    return status;
}

int transfer_get(client_conn *c, const char *remote, const char *local,
                 bool show_progress, bool keep_mtime)
{
    char what[PROTO_PATH_MAX + 8];
    snprintf(what, sizeof what, "get %s", remote);
    if (local != NULL && strcmp(local, "-") == 0)
        return get_stdout(c, remote, what);
    char target[PROTO_PATH_MAX + 1], part[PROTO_PATH_MAX + 1];
    int r = get_paths(remote, local, target, part, sizeof target);
    if (r)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(-r));
    bool existed = access(part, F_OK) == 0;
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        char *p = text_escape(part);
        r = conn_fail(c, SSFTP_FAIL, "%s: %s: %s", what, p ? p : "?",
                      strerror(errno));
        free(p);
        return r;
    }
    int status =
        get_file(c, fd, remote, target, part, show_progress, keep_mtime, what);
    struct stat st;
    /* A refused get must not leave an empty partial we just made. */
    if (status != SSFTP_OK && !existed && fstat(fd, &st) == 0 &&
        st.st_size == 0)
        unlink(part);
    close(fd);
    return status;
}

/* ---- many files, back to back -------------------------------------------
 * mput and mget send their requests without waiting for each reply, a
 * window at a time, and make the files durable a window at a time: with
 * small files the round trips and the fsyncs, not the bytes, are the cost
 * (bench/smallfiles.py). */

/* Files up to this size are put whole, without waiting for the server
 * (docs/protocol.md, "put"): sending one again costs less than the round
 * trip a resume needs.  Larger ones go one at a time, resumable. */
#define WHOLE_MAX (256 * 1024)
/* Requests in flight, and bytes of whole puts in flight, at most (twice
 * the server's group of commits, so that one group is sent while the one
 * before is published). */
#define WINDOW_FILES 64
/* Bytes of get requests in flight, at most (well within a socket's
 * buffer, so the requests never wait behind the first reply's body). */
#define WINDOW_REQUEST_BYTES (32u * 1024)
#define WINDOW_BYTES (4u << 20)

/* A per-file failure in mput/mget: said at once, and the command goes on
 * (the connection permitting). */
static void say_failed(client_conn *c, unsigned *failed)
{
    fprintf(stderr, "ssftp: %s\n", c->err);
    (*failed)++;
}

/* The command's status once every file has had its turn. */
static int many_status(client_conn *c, const char *cmd, unsigned failed,
                       unsigned n)
{
    if (c->dead)
        return SSFTP_CONN;
    if (failed == 0)
        return SSFTP_OK;
    return conn_fail(c, SSFTP_FAIL, "%s: %u of %u files failed", cmd, failed,
                     n);
}

struct put_flight {
    const char *local;
    char remote[PROTO_NAME_MAX + 1];
    uint64_t total;
    uint8_t digest[PROTO_DIGEST_BYTES];
};

/* put (whole), put_data and put_end for fd, without waiting. */
static int put_whole_send(client_conn *c, int fd, struct put_flight *f,
                          const char *what)
{
    json_t *req =
        json_pack("{s:s, s:s, s:I, s:b}", "cmd", "put", "path", f->remote,
                  "total", (json_int_t)f->total, "whole", 1);
    if (req == NULL)
        return conn_fail(c, SSFTP_FAIL,
                         "%s: cannot encode the request (names must be "
                         "valid UTF-8)",
                         what);
    int r = proto_send(&c->io, req);
    json_decref(req);
    if (r == 0) {
        json_t *data = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                                 (json_int_t)0, "size", (json_int_t)f->total);
        r = data ? proto_send(&c->io, data) : -ENOMEM;
        json_decref(data);
    }
    if (r != 0) {
        c->dead = true; /* the put went out; what follows cannot */
        return conn_errno_fail(c, r, what);
    }
    proto_digest_state d;
    proto_digest_init(&d);
    progress quiet;
    progress_begin(&quiet, false, f->local, f->total, 0);
    int status = put_body(c, fd, 0, &d, &quiet, what);
    if (status != SSFTP_OK)
        return status;
    proto_digest_final(&d, f->digest);
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    r = end ? proto_set_hex(end, "digest", f->digest, sizeof f->digest)
            : -ENOMEM;
    if (r == 0)
        r = proto_send(&c->io, end);
    json_decref(end);
    if (r != 0) {
        c->dead = true;
        return conn_errno_fail(c, r, what);
    }
    return SSFTP_OK;
}

/* The reply to one whole put. */
static int put_reply(client_conn *c, const struct put_flight *f)
{
    char what[PROTO_PATH_MAX + 8];
    snprintf(what, sizeof what, "put %s", f->local);
    json_t *rep = NULL;
    int r = proto_recv(&c->io, &rep);
    if (r != 0) {
        c->dead = true;
        return conn_errno_fail(c, r, what);
    }
    r = proto_reply_check(rep, NULL, NULL);
    if (r == -EREMOTEIO)
        return conn_remote_note(c, rep, what);
    uint8_t theirs[PROTO_DIGEST_BYTES];
    uint64_t bytes = 0;
    if (r == 0)
        r = proto_get_hex(rep, "digest", theirs, sizeof theirs);
    if (r == 0)
        r = proto_get_u64(rep, "bytes", &bytes);
    json_decref(rep);
    if (r != 0) {
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: malformed reply from server",
                         what);
    }
    if (bytes != f->total || sodium_memcmp(f->digest, theirs, sizeof theirs))
        return conn_fail(c, SSFTP_FAIL,
                         "%s: the server stored different bytes "
                         "(digest mismatch)",
                         what);
    report_done(f->local, f->remote, f->total, 0, f->digest);
    return SSFTP_OK;
}

/* The whole puts in flight, oldest first (a ring of WINDOW_FILES). */
struct put_window {
    struct put_flight f[WINDOW_FILES];
    unsigned head, n;
    uint64_t bytes;
    unsigned failed;
};

/* Collects the oldest reply. */
static void put_collect_one(client_conn *c, struct put_window *w)
{
    struct put_flight *f = &w->f[w->head];
    w->head = (w->head + 1) % WINDOW_FILES;
    w->n--;
    w->bytes -= f->total;
    if (c->dead) /* the broken connection was said once */
        w->failed++;
    else if (put_reply(c, f) != SSFTP_OK)
        say_failed(c, &w->failed);
}

/* Collects replies: all of them (all), or until there is room for a file
 * of size bytes, then those already here without waiting -- so that the
 * client reads replies while the server publishes, and sends while it
 * does. */
static void put_collect(client_conn *c, struct put_window *w, bool all,
                        uint64_t size)
{
    while (w->n > 0 &&
           (all || w->n == WINDOW_FILES || w->bytes + size > WINDOW_BYTES))
        put_collect_one(c, w);
    while (w->n > 0 && !c->dead) {
        struct pollfd p = {.fd = c->io.fd, .events = POLLIN};
        if (!proto_tls_pending(&c->io) && proto_poll(&p, 1, 0) <= 0)
            break;
        put_collect_one(c, w);
    }
}

int transfer_mput(client_conn *c, const char *const *locals, unsigned n,
                  bool show_progress, bool keep_mtime)
{
    struct put_window *w = calloc(1, sizeof *w);
    if (w == NULL)
        return conn_fail(c, SSFTP_FAIL, "mput: out of memory");
    for (unsigned i = 0; i < n && !c->dead; i++) {
        char what[PROTO_PATH_MAX + 8];
        snprintf(what, sizeof what, "put %s", locals[i]);
        int fd = open(locals[i], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
            if (fd >= 0)
                close(fd);
            say_failed(c, &w->failed);
            continue;
        }
        uint64_t size = (uint64_t)st.st_size;
        char name[PROTO_NAME_MAX + 1];
        /* -p: set_mtime waits for its put, so each file goes alone. */
        bool whole = !keep_mtime && S_ISREG(st.st_mode) && size <= WHOLE_MAX &&
                     proto_path_base(locals[i], name, sizeof name) == 0 &&
                     name[0] != '\0';
        /* A large file goes alone, resumable, after every reply is in. */
        put_collect(c, w, !whole, size);
        int status = SSFTP_OK;
        if (c->dead) { /* the broken connection was said once */
            close(fd);
            w->failed++;
            continue;
        } else if (whole) {
            struct put_flight *f = &w->f[(w->head + w->n) % WINDOW_FILES];
            memcpy(f->remote, name, sizeof name);
            f->local = locals[i];
            f->total = size;
            status = put_whole_send(c, fd, f, what);
            if (status == SSFTP_OK) {
                w->n++;
                w->bytes += size;
            }
        } else {
            status =
                transfer_put(c, locals[i], NULL, show_progress, keep_mtime);
        }
        close(fd);
        if (status != SSFTP_OK)
            say_failed(c, &w->failed);
    }
    put_collect(c, w, true, 0);
    unsigned failed = w->failed;
    free(w);
    return many_status(c, "mput", failed, n);
}

/* Where and how each get of a window stands. */
struct get_flight {
    struct get_one g;
    char what[PROTO_PATH_MAX + 8];
    char target[PROTO_PATH_MAX + 1], part[PROTO_PATH_MAX + 1];
    bool existed; /* the partial was there before us */
    int status;
};

static void get_flight_close(struct get_flight *f)
{
    struct stat st;
    /* A refused get must not leave an empty partial we just made. */
    if (f->status != SSFTP_OK && !f->existed && fstat(f->g.fd, &st) == 0 &&
        st.st_size == 0)
        unlink(f->part);
    close(f->g.fd);
    f->g.fd = -1;
}

/* Receives a window of gets in order, then publishes the verified ones:
 * each file fsynced and renamed, then each directory fsynced once. */
static void get_drain(client_conn *c, struct get_flight *fl, unsigned nf,
                      bool show_progress, bool keep_mtime, unsigned *failed)
{
    for (unsigned i = 0; i < nf; i++) {
        struct get_flight *f = &fl[i];
        if (c->dead) { /* the broken connection was said once */
            f->status = SSFTP_CONN;
            (*failed)++;
            continue;
        }
        f->status = get_receive(c, &f->g, show_progress);
        if (f->status == SSFTP_OK) /* its data heads for the disk */
            (void)sync_file_range(f->g.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        else
            say_failed(c, failed);
    }
    /* Every reply is in: -p's stat may go now. */
    for (unsigned i = 0; i < nf; i++) {
        if (fl[i].status != SSFTP_OK)
            continue;
        if (keep_mtime)
            fl[i].status =
                keep_remote_mtime(c, fl[i].g.fd, fl[i].g.remote, fl[i].what);
        if (fl[i].status == SSFTP_OK)
            fl[i].status = get_publish(c, &fl[i].g);
        if (fl[i].status != SSFTP_OK)
            say_failed(c, failed);
    }
    for (unsigned i = 0; i < nf; i++) {
        struct get_flight *f = &fl[i];
        if (f->status != SSFTP_OK) {
            get_flight_close(f);
            continue;
        }
        size_t dl = proto_path_dir_len(f->target);
        bool same_next = false;
        for (unsigned j = i + 1; j < nf && !same_next; j++)
            same_next = fl[j].status == SSFTP_OK &&
                        proto_path_dir_len(fl[j].target) == dl &&
                        memcmp(fl[j].target, f->target, dl) == 0;
        if (!same_next)
            sync_parent(f->target);
        get_flight_close(f);
    }
    for (unsigned i = 0; i < nf; i++)
        if (fl[i].status == SSFTP_OK)
            report_done(fl[i].g.remote, fl[i].target, fl[i].g.total, fl[i].g.k2,
                        fl[i].g.ours);
}

/* Names f's target and partial for remote and points its get at them.
 * Returns get_paths()'s result. */
static int flight_prepare(struct get_flight *f, const char *remote)
{
    memset(f, 0, sizeof *f);
    snprintf(f->what, sizeof f->what, "get %s", remote);
    f->g = (struct get_one){.remote = remote,
                            .what = f->what,
                            .target = f->target,
                            .part = f->part,
                            .fd = -1,
                            .back_to_back = true};
    return get_paths(remote, NULL, f->target, f->part, sizeof f->target);
}

int transfer_mget(client_conn *c, const char *const *remotes, unsigned n,
                  bool show_progress, bool keep_mtime)
{
    struct get_flight *fl =
        aligned_alloc(64, (WINDOW_FILES * sizeof *fl + 63) / 64 * 64);
    if (fl == NULL)
        return conn_fail(c, SSFTP_FAIL, "mget: out of memory");
    unsigned nf = 0, failed = 0;
    size_t wire_bytes = 0; /* of the gets in flight */
    for (unsigned i = 0; i < n && !c->dead; i++) {
        struct get_flight *f = &fl[nf];
        int r = flight_prepare(f, remotes[i]);
        if (r != 0) {
            conn_fail(c, SSFTP_FAIL, "%s: %s", f->what, strerror(-r));
            say_failed(c, &failed);
            continue;
        }
        /* Two names with one target (a/x and b/x) must not share a
         * partial in flight: the window before goes first.  So must the
         * requests themselves, past a few dozen KiB: the server sends the
         * first body while the rest wait in its socket. */
        size_t req_bytes = strlen(remotes[i]) + 160;
        bool clash = wire_bytes + req_bytes > WINDOW_REQUEST_BYTES;
        for (unsigned j = 0; j < nf && !clash; j++)
            clash = strcmp(fl[j].part, f->part) == 0;
        if (clash && nf > 0) {
            get_drain(c, fl, nf, show_progress, keep_mtime, &failed);
            nf = 0;
            wire_bytes = 0;
            if (c->dead)
                break;
            f = &fl[0]; /* named again there: the same paths as above */
            (void)flight_prepare(f, remotes[i]);
        }
        wire_bytes += req_bytes;
        f->existed = access(f->part, F_OK) == 0;
        f->g.fd = open(f->part, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (f->g.fd < 0) {
            char *p = text_escape(f->part);
            conn_fail(c, SSFTP_FAIL, "%s: %s: %s", f->what, p ? p : "?",
                      strerror(errno));
            free(p);
            say_failed(c, &failed);
            continue;
        }
        f->status = get_send(c, &f->g);
        if (f->status != SSFTP_OK) {
            say_failed(c, &failed);
            get_flight_close(f);
            continue;
        }
        if (++nf == WINDOW_FILES) {
            get_drain(c, fl, nf, show_progress, keep_mtime, &failed);
            nf = 0;
            wire_bytes = 0;
        }
    }
    get_drain(c, fl, nf, show_progress, keep_mtime, &failed);
    free(fl);
    return many_status(c, "mget", failed, n);
}
