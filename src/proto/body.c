/* body.c -- the raw bytes after a frame: to and from memory and files. */
#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "fileio.h"
#include "hasher.h"
#include "sysutil.h"
#include "wire.h"

/* ---- the rate limit (body.h, proto_rate) ---------------------------------
 * A bucket of one slice: rate_slice() waits until the slice before has had
 * its time, rate_spent() books the bytes that moved.  Unlimited bodies
 * never come here (limited() is false), so they pay one test a buffer. */

static bool limited(const proto_body_hooks *hooks)
{
    return hooks != NULL && hooks->rate != NULL && hooks->rate->bytes_per_s > 0;
}

/* Waits for the bucket, then returns how many of want bytes may move now:
 * a sixteenth of a second's worth, at most PROTO_RATE_SLICE, at least 1. */
static size_t rate_slice(proto_rate *rl, size_t want)
{
    proto_sleep_until_ns(rl->next_ns);
    uint64_t slice = rl->bytes_per_s / 16;
    if (slice > PROTO_RATE_SLICE)
        slice = PROTO_RATE_SLICE;
    if (slice == 0)
        slice = 1;
    return want < slice ? want : (size_t)slice;
}

/* n bytes moved: the next slice waits their time, counted from now or from
 * when this slice was due, whichever is later (an idle pause earns no
 * burst). */
static void rate_spent(proto_rate *rl, uint64_t n)
{
    int64_t now = proto_mono_ns();
    if (rl->next_ns < now)
        rl->next_ns = now;
    /* n <= PROTO_RATE_SLICE, so n * 1e9 fits easily */
    rl->next_ns += (int64_t)(n * 1000000000u / rl->bytes_per_s);
}

/* The minimum-rate rule (frame.h, body_min_rate): a body must bring
 * body_min_rate bytes a second over each window of body_window_ms.  Returns
 * the deadline a body read may wait until: the caller's, or the end of the
 * current window when the window is still short of its bytes; or -ETIMEDOUT
 * when a window has closed short. */
static int pace_deadline(proto_io *io, int64_t *deadline)
{
    if (io->body_min_rate == 0 || io->body_window_ms <= 0 ||
        *deadline == NO_WAIT)
        return 0;
    int64_t now = proto_mono_ms();
    uint64_t need =
        (uint64_t)io->body_min_rate * (uint64_t)io->body_window_ms / 1000;
    if (io->pace_start == 0) {
        io->pace_start = now;
        io->pace_bytes = 0;
    }
    int64_t end = io->pace_start + io->body_window_ms;
    if (now >= end) {
        if (io->pace_bytes < need)
            return -ETIMEDOUT;
        io->pace_start = now; /* a new window */
        io->pace_bytes = 0;
        end = now + io->body_window_ms;
    }
    if (*deadline == PER_WAIT) {
        int r = proto_wire_per_wait(io, deadline);
        if (r)
            return r;
    }
    if (io->pace_bytes < need && (*deadline == NO_DEADLINE || end < *deadline))
        *deadline = end;
    return 0;
}

/* proto_read_some() with a deadline of its choice. */
static ssize_t read_body_some(proto_io *io, void *buf, size_t cap,
                              int64_t deadline)
{
    if (cap > io->body_in)
        cap = (size_t)io->body_in;
    if (cap == 0)
        return 0;
    int r = pace_deadline(io, &deadline);
    if (r)
        return r;
    ssize_t k = proto_wire_recv_some(io, buf, cap, deadline);
    if (k == 0)
        return -ECONNRESET; /* the peer owes us body bytes */
    if (k > 0) {
        io->body_in -= (uint64_t)k;
        io->pace_bytes += (uint64_t)k;
    }
    return k;
}

int proto_read_body(proto_io *io, void *buf, size_t n)
{
    if (n > io->body_in)
        return -EINVAL;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read_body_some(io, (char *)buf + got, n - got, PER_WAIT);
        if (k < 0)
            return (int)k;
        got += (size_t)k;
    }
    return 0;
}

ssize_t proto_read_some(proto_io *io, void *buf, size_t cap)
{
    return read_body_some(io, buf, cap, PER_WAIT);
}

ssize_t proto_stream_recv(proto_io *io, void *buf, size_t cap, bool wait)
{
    int64_t deadline = NO_WAIT;
    if (wait) {
        int r = proto_wire_deadline_in(io->timeout_ms, &deadline);
        if (r)
            return r;
    }
    return proto_wire_recv_some(io, buf, cap, deadline);
}

int proto_write_body(proto_io *io, const void *buf, size_t n)
{
    if (n > io->body_out)
        return -EINVAL;
    int r = proto_wire_send_all(io, buf, n, PER_WAIT);
    if (r == 0)
        io->body_out -= n;
    return r;
}

/* Errors sendfile() takes from the socket; the rest come from the file. */
static bool socket_errno(int e)
{
    return e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ETIMEDOUT ||
           e == ECONNABORTED || e == ENETDOWN || e == ENETUNREACH ||
           e == EHOSTUNREACH;
}

/* The socket's O_NONBLOCK on (on = true), or back as it was (*was). */
static int nonblock(int fd, bool on, int *was)
{
    int fl = on ? fcntl(fd, F_GETFL) : *was;
    if (fl < 0)
        return -errno;
    if (on)
        *was = fl;
    if (fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl) != 0)
        return -errno;
    return 0;
}

/* proto_body_from_file() without a digest: sendfile(), waiting with the same
 * per-wait deadline as proto_wire_send_all(). */
static int body_sendfile(proto_io *io, int fd, uint64_t off,
                         const proto_body_hooks *hooks, int *file_err)
{
    int was;
    int r = nonblock(io->fd, true, &was);
    if (r != 0)
        return r;
    const uint64_t start = io->body_out;
    while (r == 0 && io->body_out > 0) {
        size_t want =
            io->body_out < (8u << 20) ? (size_t)io->body_out : (8u << 20);
        if (limited(hooks))
            want = rate_slice(hooks->rate, want);
        if (off > (uint64_t)INT64_MAX - want) {
            r = *file_err = -EFBIG;
            break;
        }
        off_t o = (off_t)off;
        ssize_t k = sendfile(io->fd, fd, &o, want);
        if (k > 0) {
            io->body_out -= (uint64_t)k;
            off += (uint64_t)k;
            if (limited(hooks))
                rate_spent(hooks->rate, (uint64_t)k);
            if (hooks->progress != NULL)
                hooks->progress(hooks->ctx, off);
        } else if (k == 0) {
            r = *file_err = -ENODATA; /* the file ended early */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r = proto_wire_wait(io, POLLOUT, PER_WAIT);
        } else if ((errno == EINVAL || errno == ENOSYS) &&
                   io->body_out == start) {
            r = -ENOSYS; /* no sendfile for this file: the caller copies */
        } else if (errno != EINTR) {
            r = -errno;
            if (!socket_errno(errno))
                *file_err = r;
        }
    }
    int r2 = nonblock(io->fd, false, &was);
    return r != 0 ? r : r2;
}

/* proto_write_body() of buf[0..n), the file's bytes from off, a slice at
 * a time under hooks->rate, saying the progress of each but the last (the
 * caller says that one). */
static int write_paced(proto_io *io, const unsigned char *buf, size_t n,
                       uint64_t off, const proto_body_hooks *hooks)
{
    for (size_t done = 0; done < n;) {
        size_t k = rate_slice(hooks->rate, n - done);
        int r = proto_write_body(io, buf + done, k);
        if (r != 0)
            return r;
        rate_spent(hooks->rate, k);
        done += k;
        if (done < n && hooks->progress != NULL)
            hooks->progress(hooks->ctx, off + done);
    }
    return 0;
}

int proto_body_from_file(proto_io *io, int fd, uint64_t off,
                         proto_digest_state *d, const proto_body_hooks *hooks,
                         int *file_err)
{
    *file_err = 0;
    /* Over TLS every byte goes through the cipher: no sendfile. */
    if (d == NULL && hooks != NULL && hooks->zero_copy && io->tls == NULL) {
        int r = body_sendfile(io, fd, off, hooks, file_err);
        if (r != -ENOSYS)
            return r;
    }
    proto_hasher h;
    int r = proto_hasher_begin(&h, d, io->body_out);
    if (r != 0)
        return r;
    while (r == 0 && io->body_out > 0) {
        size_t cap;
        unsigned char *buf = proto_hasher_buf(&h, &cap);
        size_t want = io->body_out < cap ? (size_t)io->body_out : cap;
        ssize_t got = proto_pread_full(fd, buf, want, off);
        if (got < 0 || (size_t)got < want) {
            r = *file_err = got < 0 ? (int)got : -ENODATA;
            break;
        }
        r = limited(hooks) ? write_paced(io, buf, want, off, hooks)
                           : proto_write_body(io, buf, want);
        proto_hasher_put(&h, buf, want);
        off += want;
        if (r == 0 && hooks != NULL && hooks->progress != NULL)
            hooks->progress(hooks->ctx, off);
    }
    proto_hasher_end(&h);
    return r;
}

/* Fill buf with up to cap body bytes: waits for the first, then takes what
 * has already arrived.  *got counts what arrived, also when the socket then
 * fails. */
static int read_fill(proto_io *io, unsigned char *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (cap > io->body_in)
        cap = (size_t)io->body_in;
    while (*got < cap) {
        /* Only the first read waits: on a slow link the buffer goes to disk
         * (and the progress bar moves) as the bytes come, instead of once a
         * full buffer has trickled in. */
        ssize_t k = read_body_some(io, buf + *got, cap - *got,
                                   *got == 0 ? PER_WAIT : NO_WAIT);
        if (k == -EAGAIN)
            break;
        if (k < 0)
            return (int)k;
        *got += (size_t)k;
    }
    return 0;
}

int proto_body_to_file(proto_io *io, int fd, uint64_t off,
                       proto_digest_state *d, const proto_body_hooks *hooks,
                       int *file_err)
{
    *file_err = 0;
    if (io->body_in == 0)
        return 0;
    proto_hasher h;
    int r = proto_hasher_begin(&h, d, io->body_in);
    if (r != 0)
        return r;
    /* The hasher writes the file too: on the helper thread for a large
     * body, so this thread only receives. */
    proto_hasher_to_file(&h, fd, off);
    while (r == 0 && io->body_in > 0) {
        size_t cap, n;
        unsigned char *buf = proto_hasher_buf(&h, &cap);
        if (limited(hooks)) /* one slice a buffer */
            cap = rate_slice(hooks->rate, cap);
        r = read_fill(io, buf, cap, &n);
        if (limited(hooks))
            rate_spent(hooks->rate, n);
        /* After a failed write keep reading, so the next frame is found
         * where the peer put it; report the failure afterwards. */
        proto_hasher_put(&h, buf, n);
        off += n;
        *file_err = proto_hasher_file_err(&h);
        if (*file_err != 0 && hooks != NULL && hooks->stop_on_file_error)
            r = r != 0 ? r : *file_err;
        else if (*file_err == 0 && hooks != NULL && hooks->progress != NULL)
            hooks->progress(hooks->ctx, off);
    }
    *file_err = proto_hasher_end(&h);
    if (*file_err != 0 && hooks != NULL && hooks->stop_on_file_error)
        r = r != 0 ? r : *file_err;
    return r;
}
