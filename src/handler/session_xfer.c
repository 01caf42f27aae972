/* session_xfer.c -- put and get, both resumable (docs/protocol.md, "put",
 * "get"), on the file service (files.h). */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digestcache.h"
#include "xferlog.h"

static void log_transfer(struct session *s, const char *cmd, const char *path,
                         uint64_t total, uint64_t off, uint64_t moved,
                         double start, const uint8_t digest[PROTO_DIGEST_BYTES],
                         const char *outcome)
{
    double secs = proto_mono_s() - start;
    char hex[PROTO_DIGEST_HEX_SIZE] = "-";
    if (digest != NULL)
        proto_digest_to_hex(digest, hex);
    session_log(s,
                "%s %s: %s, %llu of %llu bytes from offset %llu in %.3f s "
                "(%.1f KiB/s), digest %s",
                cmd, path, outcome, (unsigned long long)moved,
                (unsigned long long)total, (unsigned long long)off, secs,
                secs > 0 ? (double)moved / 1024.0 / secs : 0.0, hex);
    xferlog_write(
        &(struct xferlog_entry){.service = "ssftp",
                                .peer = s->peer,
                                .user = s->user,
                                .path = path,
                                .bytes = moved,
                                .seconds = secs,
                                .upload = cmd[0] == 'p',
                                .complete = strcmp(outcome, "ok") == 0});
}

/* ---- put ---------------------------------------------------------------- */

/* An upload between its put and its put_end. */
struct upload {
    struct files_upload *u; /* NULL: a whole put that was refused */
    char path[PROTO_PATH_BUF];
    uint64_t total;       /* N */
    uint64_t partial;     /* K, the partial's length offered as prefix */
    proto_digest_state d; /* of the partial's first K bytes, then the body */
    bool whole;           /* no reply to put: put_data follows at offset 0 */
    int refused;          /* a whole put's refusal, told at put_end */
};

/* ---- group commit --------------------------------------------------------
 * A verified upload is published (fsync, rename, directory fsync) before
 * its reply.  When the client has already sent more (puts back to back,
 * docs/protocol.md "put", "whole"), up to PUT_BATCH_MAX verified uploads are
 * held and published together -- each file fsynced and renamed, then each
 * directory fsynced once -- and their replies then go out in order.  No
 * reply says ok before its file is durable; nothing is held while the
 * connection waits for input. */

#define PUT_BATCH_MAX 32

struct held_put {
    struct files_upload *u;
    char path[PROTO_PATH_BUF];
    uint64_t total, off, moved;
    double start;
    uint8_t digest[PROTO_DIGEST_BYTES];
};

struct put_batch {
    unsigned n;
    struct held_put h[PUT_BATCH_MAX];
};

/* Whether the client has sent more already (a peek, never a wait). */
static bool input_waiting(const struct session *s)
{
    char b;
    return proto_tls_pending(&s->io) ||
           recv(s->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* The reply to one published (or failed) upload. */
static int put_reply(struct session *s, const struct held_put *h, int err,
                     const struct jail_commit *c)
{
    if (err != 0) {
        log_transfer(s, "put", h->path, h->total, h->off, h->moved, h->start,
                     h->digest, proto_errno_code(err));
        return session_fail(s, err, h->path);
    }
    if (c->dir_hidden)
        session_log(s,
                    "put %s: a directory that took the name meanwhile "
                    "could not be given it back and is hidden in the same "
                    "directory under a .commit-* name; restore it by hand",
                    h->path);
    if (c->sync_err != 0)
        session_log(s, "put %s: in place, but the directory fsync failed: %s",
                    h->path, strerror(-c->sync_err));
    log_transfer(s, "put", h->path, h->total, h->off, h->moved, h->start,
                 h->digest, "ok");
    json_t *r = json_pack("{s:I}", "bytes", (json_int_t)h->total);
    int rc = r == NULL
                 ? -ENOMEM
                 : proto_set_hex(r, "digest", h->digest, PROTO_DIGEST_BYTES);
    rc = rc == 0 ? proto_send_ok(&s->io, r)
                 : proto_send_error(&s->io, PROTO_E_INTERNAL, "out of memory");
    json_decref(r);
    return rc;
}

/* fsyncs the directories the commits left to us, each once (the last
 * commit in a directory does it for all before it), and closes them. */
static void sync_dirs(struct jail_commit *c, unsigned n)
{
    struct synced {
        dev_t dev;
        ino_t ino;
        int err;
    } done[PUT_BATCH_MAX];
    unsigned nd = 0;
    for (unsigned i = n; i-- > 0;) {
        if (c[i].dir_fd < 0)
            continue;
        struct stat st;
        bool known = fstat(c[i].dir_fd, &st) == 0;
        unsigned k = 0;
        while (known && k < nd &&
               (done[k].dev != st.st_dev || done[k].ino != st.st_ino))
            k++;
        if (known && k < nd) {
            c[i].sync_err = done[k].err;
        } else {
            c[i].sync_err = fsync(c[i].dir_fd) != 0 ? -errno : 0;
            if (known)
                done[nd++] =
                    (struct synced){st.st_dev, st.st_ino, c[i].sync_err};
        }
        close(c[i].dir_fd);
        c[i].dir_fd = -1;
    }
}

int session_put_flush(struct session *s)
{
    struct put_batch *b = s->held;
    if (b == NULL)
        return 0;
    s->held = NULL;
    struct jail_commit c[PUT_BATCH_MAX];
    int err[PUT_BATCH_MAX];
    for (unsigned i = 0; i < b->n; i++)
        err[i] = files_upload_commit(b->h[i].u, &c[i], JAIL_SYNC_DIR_LATER);
    sync_dirs(c, b->n);
    int rc = 0;
    for (unsigned i = 0; i < b->n; i++) {
        int sent = rc == 0 ? put_reply(s, &b->h[i], err[i], &c[i]) : rc;
        if (rc == 0)
            rc = sent;
        if (c[i].displaced_fd >= 0)
            close(c[i].displaced_fd); /* frees the old file, after the reply */
    }
    free(b);
    return rc;
}

/* A verified upload: held for a group commit while the client has sent
 * more, else published with those held before it. */
static int put_publish(struct session *s, struct upload *up, uint64_t off,
                       uint64_t moved, double start,
                       const uint8_t digest[PROTO_DIGEST_BYTES])
{
    if (s->held != NULL && s->held->n == PUT_BATCH_MAX) {
        int rc = session_put_flush(s);
        if (rc != 0) {
            files_upload_leave(up->u);
            return rc;
        }
    }
    if (s->held == NULL) {
        s->held = malloc(sizeof *s->held);
        if (s->held != NULL)
            s->held->n = 0;
    }
    if (s->held == NULL) { /* published alone, at once */
        struct held_put h = {
            .total = up->total, .off = off, .moved = moved, .start = start};
        memcpy(h.path, up->path, sizeof h.path);
        memcpy(h.digest, digest, sizeof h.digest);
        struct jail_commit c;
        int err = files_upload_commit(up->u, &c, JAIL_SYNC_FULL);
        int rc = put_reply(s, &h, err, &c);
        if (c.displaced_fd >= 0)
            close(c.displaced_fd);
        return rc;
    }
    struct held_put *h = &s->held->h[s->held->n++];
    *h = (struct held_put){.u = up->u,
                           .total = up->total,
                           .off = off,
                           .moved = moved,
                           .start = start};
    memcpy(h->path, up->path, sizeof h->path);
    memcpy(h->digest, digest, sizeof h->digest);
    if (s->held->n < PUT_BATCH_MAX && input_waiting(s)) {
        files_upload_flush_start(up->u); /* the data heads for the disk */
        return 0;
    }
    return session_put_flush(s);
}

bool session_put_held(const struct session *s)
{
    return s->held != NULL;
}

int session_put_settle(struct session *s)
{
    return s->held != NULL && !input_waiting(s) ? session_put_flush(s) : 0;
}

/* Receives put_data into the partial.  Returns 0 with *err the error for
 * put_end (0 if the body is stored whole), or negative when the connection
 * is gone. */
static int put_data(struct session *s, struct upload *up, const json_t *req,
                    uint64_t *moved, int *err)
{
    uint64_t off, size = proto_body_size(req);
    *err = up->refused;
    if (up->u == NULL)
        return 0; /* a refused whole put: the body is dropped */
    if (proto_get_u64(req, "offset", &off) != 0 ||
        (off != 0 && (up->whole || off != up->partial)) ||
        !proto_has(req, "size") || size != up->total - off) {
        *err = -EINVAL; /* the body is dropped by the next proto_recv() */
        return 0;
    }
    if (off == 0 && up->partial > 0) {
        /* The client's copy differs from the partial: start over (should
         * that fail, the partial is kept for another resume). */
        *err = files_upload_restart(up->u);
        if (*err != 0)
            return 0;
        proto_digest_init(&up->d);
    }
    int file_err = 0;
    proto_body_hooks who = {.progress = who_xfer_hook, .ctx = s->who};
    int rc = proto_body_to_file(&s->io, files_upload_fd(up->u), off, &up->d,
                                &who, &file_err);
    (void)files_upload_written(up->u, off, moved);
    *err = file_err;
    return rc;
}

/* put_end: the digest check and the commit.  Returns as proto_send(). */
static int put_end(struct session *s, struct upload *up, const json_t *req,
                   int err, uint64_t off, uint64_t moved, double start)
{
    uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
    proto_digest_final(&up->d, got);
    if (err == 0 && proto_get_hex(req, "digest", want, sizeof want) != 0)
        err = -EINVAL;
    bool match = err == 0 && sodium_memcmp(want, got, sizeof got) == 0;
    if (!match) { /* a reply now: those held before it go first */
        int rc = session_put_flush(s);
        if (rc != 0) {
            files_upload_leave(up->u);
            return rc;
        }
    }
    if (err != 0) {
        files_upload_leave(up->u); /* keeps the partial for a resume */
        log_transfer(s, "put", up->path, up->total, off, moved, start, NULL,
                     proto_errno_code(err));
        return session_fail(s, err, up->path);
    }
    if (!match) {
        (void)files_upload_discard(up->u);
        log_transfer(s, "put", up->path, up->total, off, moved, start, got,
                     PROTO_E_DIGEST_MISMATCH);
        return proto_send_error(&s->io, PROTO_E_DIGEST_MISMATCH,
                                "%s: the data does not match its digest; "
                                "the upload was discarded",
                                up->path);
    }
    /* Verified: put the digest on record for gets (before the fsync, so
     * it is as durable as the data). */
    (void)digestcache_store(files_upload_fd(up->u), got, NULL);
    return put_publish(s, up, off, moved, start, got);
}

/* After the put reply: put_data, then put_end; anything else abandons.
 * Owns up->u from here on.  Returns 0, or negative to end the session. */
static int put_steps(struct session *s, struct upload *up)
{
    double start = proto_mono_s();
    uint64_t off = 0, moved = 0;
    int err = 0;
    bool had_data = false;
    for (;;) {
        json_t *req;
        int rc = session_next(s, &req, true);
        if (rc != 0) {
            if ((rc == -EMSGSIZE || rc == -EBADMSG) &&
                session_put_flush(s) == 0)
                proto_send_error(&s->io, PROTO_E_BAD_FRAME, "unreadable frame");
            files_upload_leave(up->u);
            log_transfer(s, "put", up->path, up->total, off, moved, start, NULL,
                         "cut");
            return rc;
        }
        const char *cmd = "";
        proto_get_str(req, "cmd", &cmd);
        if (!had_data && strcmp(cmd, "put_data") == 0) {
            had_data = true;
            proto_get_u64(req, "offset", &off);
            rc = put_data(s, up, req, &moved, &err);
            if (rc != 0) {
                files_upload_leave(up->u);
                log_transfer(s, "put", up->path, up->total, off, moved, start,
                             NULL, "cut");
            }
            json_decref(req);
            if (rc != 0)
                return rc;
            continue;
        }
        if (had_data && strcmp(cmd, "put_end") == 0) {
            rc = put_end(s, up, req, err, off, moved, start);
            json_decref(req);
            return rc;
        }
        /* Abandoned: answer the stray request without acting on it (and a
         * whole put, not answered yet, first). */
        files_upload_leave(up->u);
        log_transfer(s, "put", up->path, up->total, off, moved, start, NULL,
                     "abandoned");
        rc = session_put_flush(s);
        for (int k = up->whole ? 2 : 1; rc == 0 && k > 0; k--)
            rc = proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                  "\"%s\" during an upload: the upload is "
                                  "abandoned",
                                  cmd);
        json_decref(req);
        return rc;
    }
}

/* put_steps(), shown by "ssftpd who" (who.h) meanwhile. */
static int put_transfer(struct session *s, struct upload *up)
{
    if (up->u != NULL)
        who_xfer_begin(s->who, "put", up->path, up->partial, up->total);
    int rc = put_steps(s, up);
    who_xfer_end(s->who);
    return rc;
}

/* Takes the upload of p (up->total bytes) into up->u. */
static int upload_begin(struct session *s, struct jail_path *p,
                        struct upload *up)
{
    snprintf(up->path, sizeof up->path, "%s", jail_path_user(p));
    int err = files_upload_begin(s->files, p, up->total, &up->u, &up->partial);
    if (err == -EACCES) {
        /* Neither file nor directory: a symbolic link is bad_path, as for
         * every other command. */
        int fd;
        int probe = jail_open_read(p, &fd, NULL);
        if (probe == 0)
            close(fd);
        else if (probe == -ELOOP)
            err = probe;
    }
    jail_path_free(p);
    return err;
}

/* A whole put: the client sent put_data (offset 0, the whole file) and
 * put_end without waiting, so the one reply -- a refusal too -- comes after
 * put_end, and an old partial is simply overwritten. */
static int put_whole(struct session *s, const json_t *req, struct upload *up)
{
    const char *path = "?";
    size_t n = 0;
    int err = proto_get_u64(req, "total", &up->total) != 0 ||
                      proto_get_str(req, "path", &path) != 0 ||
                      (n = session_path_len(path)) == 0
                  ? -EINVAL
                  : 0;
    snprintf(up->path, sizeof up->path, "%s", path);
    for (int attempt = 0; err == 0 && attempt < 2; attempt++) {
        struct jail_path *p;
        err = files_resolve(s->files, path, n, &p);
        if (err == 0)
            err = upload_begin(s, p, up);
        /* A held upload of this session may be what stands in the way:
         * the lock on the same partial (a put of the same name again), or
         * the quota, which counts it and the file it replaces until it is
         * published.  Publish the group (its replies go first, as they
         * must) and try once more. */
        if ((err == -EAGAIN || err == -EDQUOT) && s->held != NULL &&
            attempt == 0) {
            int rc = session_put_flush(s);
            if (rc != 0)
                return rc;
            err = 0;
            continue;
        }
        break;
    }
    up->refused = err;
    proto_digest_init(&up->d);
    if (err == 0)
        session_log(s, "put %s: total %llu, whole", up->path,
                    (unsigned long long)up->total);
    else
        session_log(s, "put %s: %s", up->path, proto_errno_code(err));
    return put_transfer(s, up);
}

int session_cmd_put(struct session *s, const json_t *req)
{
    struct upload up = {0};
    const json_t *whole = json_object_get(req, "whole");
    if (json_is_true(whole)) {
        up.whole = true;
        return put_whole(s, req, &up);
    }
    int rc = session_put_flush(s); /* this put replies now */
    if (rc != 0)
        return rc;
    if (whole != NULL)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"whole\" is true or absent");
    if (proto_get_u64(req, "total", &up.total) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"total\" must be an integer >= 0");
    struct jail_path *p;
    rc = session_resolve(s, req, "path", &p);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int err = upload_begin(s, p, &up);
    if (err != 0)
        return session_reply(s, "put", up.path, err, NULL);
    proto_digest_init(&up.d);
    if (up.partial > 0)
        err = proto_digest_update_file(&up.d, files_upload_fd(up.u), 0,
                                       up.partial);
    json_t *r =
        err != 0 ? NULL : json_pack("{s:I}", "offset", (json_int_t)up.partial);
    if (r != NULL && up.partial > 0) {
        uint8_t prefix[PROTO_DIGEST_BYTES];
        proto_digest_peek(&up.d, prefix);
        if (proto_set_hex(r, "prefix", prefix, sizeof prefix) != 0) {
            json_decref(r);
            r = NULL;
        }
    }
    if (r == NULL) {
        files_upload_leave(up.u);
        return session_reply(s, "put", up.path, err != 0 ? err : -ENOMEM, NULL);
    }
    session_log(s, "put %s: total %llu, partial %llu", up.path,
                (unsigned long long)up.total, (unsigned long long)up.partial);
    rc = proto_send_ok(&s->io, r);
    json_decref(r);
    if (rc != 0) {
        files_upload_leave(up.u);
        return rc;
    }
    return put_transfer(s, &up);
}

/* ---- get ---------------------------------------------------------------- */

int session_cmd_get(struct session *s, const json_t *req)
{
    uint64_t want_off;
    uint8_t prefix[PROTO_DIGEST_BYTES];
    bool has_prefix = proto_has(req, "prefix");
    if (proto_get_u64(req, "offset", &want_off) != 0 ||
        has_prefix != (want_off > 0) ||
        (has_prefix &&
         proto_get_hex(req, "prefix", prefix, sizeof prefix) != 0))
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "get needs an integer \"offset\" >= 0, and a "
                                "\"prefix\" digest exactly when it is > 0");
    struct jail_path *p;
    int rc = session_resolve(s, req, "path", &p);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    char path[PROTO_PATH_BUF];
    snprintf(path, sizeof path, "%s", jail_path_user(p));
    int fd;
    struct stat st;
    int err = jail_open_read(p, &fd, &st);
    jail_path_free(p);
    if (err != 0)
        return session_reply(s, "get", path, err, NULL);
    double start = proto_mono_s();
    uint64_t total = (uint64_t)st.st_size, off = 0;
    proto_digest_state d;
    proto_digest_init(&d);
    if (want_off > 0 && want_off <= total) {
        uint8_t mine[PROTO_DIGEST_BYTES];
        err = proto_digest_update_file(&d, fd, 0, want_off);
        proto_digest_peek(&d, mine);
        if (err == 0 && sodium_memcmp(mine, prefix, sizeof mine) == 0) {
            off = want_off;
        } else {
            proto_digest_init(&d);
        }
        if (err != 0) {
            close(fd);
            return session_reply(s, "get", path, err, NULL);
        }
    }
    /* With the digest on record (digestcache.h) the body goes out with
     * sendfile and is not hashed here; the client still checks it. */
    uint8_t sum[PROTO_DIGEST_BYTES];
    bool known = digestcache_load(fd, &st, sum) == 0;
    json_t *r =
        json_pack("{s:I, s:I, s:I}", "total", (json_int_t)total, "offset",
                  (json_int_t)off, "size", (json_int_t)(total - off));
    rc = r == NULL ? proto_send_error(&s->io, PROTO_E_INTERNAL, "no memory")
                   : proto_send_ok(&s->io, r);
    json_decref(r);
    int file_err = 0;
    proto_body_hooks hooks = {
        .zero_copy = true, .progress = who_xfer_hook, .ctx = s->who};
    who_xfer_begin(s->who, "get", path, off, total);
    uint64_t sent = 0; /* handed to the socket, for the log of a cut get */
    if (rc == 0 && r != NULL) {
        rc = proto_body_from_file(&s->io, fd, off, known ? NULL : &d, &hooks,
                                  &file_err);
        if (s->io.body_out < total - off)
            sent = total - off - s->io.body_out;
    }
    who_xfer_end(s->who);
    if (!known) {
        proto_digest_final(&d, sum);
        /* Remember it, unless the file changed while it was read. */
        if (rc == 0 && r != NULL)
            (void)digestcache_store(fd, sum, &st);
    }
    close(fd);
    if (rc != 0 || r == NULL) {
        log_transfer(s, "get", path, total, off, sent, start, NULL,
                     file_err != 0 ? proto_errno_code(file_err) : "cut");
        return rc != 0 ? rc : 0;
    }
    log_transfer(s, "get", path, total, off, total - off, start, sum, "ok");
    json_t *t = json_object();
    rc = t == NULL ? -ENOMEM : proto_set_hex(t, "digest", sum, sizeof sum);
    if (rc == 0)
        rc = proto_send_ok(&s->io, t);
    json_decref(t);
    return rc;
}
