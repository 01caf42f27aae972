/* transfer.c -- resumable, verified put and get over one session. */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"
#include "text.h"

/* ---- SIGINT: leave the partial, say how to resume, exit ---------------- */

static volatile sig_atomic_t bar_on;

static void on_sigint(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls.  Every byte already written is a correct
     * prefix of the file, so stopping here is what resuming expects. */
    static const char msg[] =
        "ssftp: interrupted; run the same command again to resume\n";
    if (bar_on)
        (void)!write(STDERR_FILENO, "\n", 1);
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(130);
}

/* A transfer in flight: its progress bar, and SIGINT caught so that Ctrl-C
 * ends the process with the partial in place and a word on resuming. */
struct xfer {
    progress bar;
    struct sigaction old_sigint;
};

static void xfer_begin(struct xfer *x, bool show_progress, const char *name,
                       uint64_t total, uint64_t done)
{
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &x->old_sigint);
    progress_begin(&x->bar, show_progress, name, total, done);
    bar_on = x->bar.on;
}

static void xfer_end(struct xfer *x, uint64_t total, bool ok)
{
    progress_end(&x->bar, total, ok);
    bar_on = 0;
    sigaction(SIGINT, &x->old_sigint, NULL);
}

/* ---- helpers ------------------------------------------------------------ */

/* "verified blake2b:<first 16 hex>" -- enough to compare by eye. */
static void report_done(const char *from, const char *to, uint64_t total,
                        uint64_t resumed,
                        const uint8_t digest[PROTO_DIGEST_BYTES])
{
    char hex[PROTO_DIGEST_HEX_SIZE];
    proto_digest_to_hex(digest, hex);
    char *f = text_escape(from), *t = text_escape(to);
    char resume[64] = "";
    if (resumed)
        snprintf(resume, sizeof resume, ", resumed at %s",
                 proto_size_format(resumed).s);
    printf("%s -> %s: %s%s, verified blake2b:%.16s\n", f ? f : "?", t ? t : "?",
           proto_size_format(total).s, resume, hex);
    fflush(stdout);
    free(f);
    free(t);
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
    proto_body_hooks hooks = {.progress = on_progress, .ctx = bar};
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

static int put_file(client_conn *c, int fd, uint64_t total, const char *local,
                    const char *remote, bool show_progress, const char *what)
{
    json_t *rep = NULL;
    int r = conn_call(c,
                      json_pack("{s:s, s:s, s:I}", "cmd", "put", "path", remote,
                                "total", (json_int_t)total),
                      &rep);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, rep, what);
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    proto_digest_state d;
    uint64_t k2 = put_resume_offset(fd, total, rep, &d);
    json_decref(rep);

    json_t *data = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                             (json_int_t)k2, "size", (json_int_t)(total - k2));
    r = data ? proto_send(&c->io, data) : -ENOMEM;
    json_decref(data);
    if (r)
        return conn_errno_fail(c, r, what);
    struct xfer x;
    xfer_begin(&x, show_progress, local, total, k2);
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
    report_done(local, remote, total, k2, ours);
    return SSFTP_OK;
}

int transfer_put(client_conn *c, const char *local, const char *remote,
                 bool show_progress)
{
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
    int status = put_file(c, fd, (uint64_t)st.st_size, local, remote,
                          show_progress, what);
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
    proto_body_hooks hooks = {
        .progress = on_progress, .ctx = bar, .stop_on_file_error = true};
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

/* Send get with our partial's prefix; on success *rep is the reply (body
 * follows). */
static int get_request(client_conn *c, const char *remote, uint64_t k,
                       proto_digest_state *d, json_t **rep)
{
    json_t *req = json_pack("{s:s, s:s, s:I}", "cmd", "get", "path", remote,
                            "offset", (json_int_t)k);
    if (req && k > 0) {
        uint8_t prefix[PROTO_DIGEST_BYTES];
        proto_digest_peek(d, prefix);
        if (proto_set_hex(req, "prefix", prefix, sizeof prefix)) {
            json_decref(req);
            req = NULL;
        }
    }
    return conn_call(c, req, rep);
}

static int get_file(client_conn *c, int fd, const char *remote,
                    const char *target, const char *part, bool show_progress,
                    const char *what)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
    uint64_t k = (uint64_t)st.st_size;
    proto_digest_state d;
    proto_digest_init(&d);
    if (k > 0 && proto_digest_update_file(&d, fd, 0, k) != 0) {
        proto_digest_init(&d);
        k = 0;
    }
    json_t *rep = NULL;
    int r = get_request(c, remote, k, &d, &rep);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, rep, what);
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
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
    if (k2 != k) { /* the server did not recognise our prefix: start over */
        if (ftruncate(fd, 0) < 0)
            return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
        proto_digest_init(&d);
    }
    struct xfer x;
    xfer_begin(&x, show_progress, remote, total, k2);
    int status = get_body(c, fd, k2, &d, &x.bar, what, part);
    xfer_end(&x, total, status == SSFTP_OK);
    if (status != SSFTP_OK)
        return status;

    uint8_t ours[PROTO_DIGEST_BYTES], theirs[PROTO_DIGEST_BYTES];
    proto_digest_final(&d, ours);
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
    if (sodium_memcmp(ours, theirs, sizeof ours) != 0) {
        unlink(part);
        return conn_fail(c, SSFTP_FAIL,
                         "%s: digest mismatch, download discarded", what);
    }
    if (fsync(fd) < 0 || rename(part, target) < 0)
        return conn_fail(c, SSFTP_FAIL, "%s: %s", what, strerror(errno));
    sync_parent(target);
    report_done(remote, target, total, k2, ours);
    return SSFTP_OK;
}

int transfer_get(client_conn *c, const char *remote, const char *local,
                 bool show_progress)
{
    char what[PROTO_PATH_MAX + 8];
    snprintf(what, sizeof what, "get %s", remote);
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
    int status = get_file(c, fd, remote, target, part, show_progress, what);
    struct stat st;
    /* A refused get must not leave an empty partial we just made. */
    if (status != SSFTP_OK && !existed && fstat(fd, &st) == 0 &&
        st.st_size == 0)
        unlink(part);
    close(fd);
    return status;
}
