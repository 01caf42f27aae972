/* frame.c -- length-prefixed JSON frames and raw bodies over a socket. */
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>

#include "fileio.h"
#include "hasher.h"

/* Deadlines are absolute CLOCK_MONOTONIC milliseconds.  NO_DEADLINE waits
 * forever; PER_WAIT means "the body timeout from the start of each wait" (the
 * inactivity timeout used for bodies); NO_WAIT does not wait at all (-EAGAIN
 * where a wait would start). */
#define NO_DEADLINE (-1)
#define PER_WAIT INT64_MIN
#define NO_WAIT (INT64_MIN + 1)

int proto_now_ms(int64_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -errno;
    *out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return 0;
}

static int deadline_in(int timeout_ms, int64_t *deadline)
{
    if (timeout_ms <= 0) {
        *deadline = NO_DEADLINE;
        return 0;
    }
    int r = proto_now_ms(deadline);
    if (r == 0)
        *deadline += timeout_ms;
    return r;
}

/* PER_WAIT made absolute: the body timeout from now. */
static int per_wait_deadline(const proto_io *io, int64_t *deadline)
{
    int t = io->body_timeout_ms ? io->body_timeout_ms : io->timeout_ms;
    return deadline_in(t, deadline);
}

/* Wait until fd is ready for events (or has an error/hangup for the next
 * recv/send to report), or the deadline passes. */
static int wait_ready(const proto_io *io, short events, int64_t deadline)
{
    if (deadline == NO_WAIT)
        return -EAGAIN;
    if (deadline == PER_WAIT) {
        int r = per_wait_deadline(io, &deadline);
        if (r)
            return r;
    }
    /* The session's hard deadline (a login deadline) bounds every wait,
     * bodies included, so no trickle can outlast it. */
    if (io->deadline_ms > 0 &&
        (deadline == NO_DEADLINE || io->deadline_ms < deadline))
        deadline = io->deadline_ms;
    for (;;) {
        int wait = -1;
        if (deadline != NO_DEADLINE) {
            int64_t now = 0;
            int r = proto_now_ms(&now);
            if (r)
                return r;
            if (now >= deadline)
                return -ETIMEDOUT;
            wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
        }
        struct pollfd p = {.fd = io->fd, .events = events};
        int n = poll(&p, 1, wait);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* the loop recomputes what is left of the wait */
            return -errno;
        }
        if (n == 0)
            continue; /* the top of the loop turns this into -ETIMEDOUT */
        if (p.revents & POLLNVAL)
            return -EBADF;
        return 0;
    }
}

/* One recv of up to n bytes: the count, 0 at end of stream, or -errno.
 * MSG_DONTWAIT keeps the socket's own blocking mode from defeating the
 * deadline. */
static ssize_t recv_some(const proto_io *io, void *buf, size_t n,
                         int64_t deadline)
{
    for (;;) {
        ssize_t k = recv(io->fd, buf, n, MSG_DONTWAIT);
        if (k >= 0)
            return k;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = wait_ready(io, POLLIN, deadline);
        if (r)
            return r;
    }
}

/* Exactly n bytes; end of stream part-way is the peer vanishing mid-frame. */
static int recv_exact(const proto_io *io, void *buf, size_t n,
                      int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv_some(io, (char *)buf + got, n - got, deadline);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -ECONNRESET;
        got += (size_t)k;
    }
    return 0;
}

/* All n bytes.  MSG_NOSIGNAL turns a closed peer into -EPIPE instead of a
 * process-killing SIGPIPE. */
static int send_all(const proto_io *io, const void *buf, size_t n,
                    int64_t deadline)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(io->fd, (const char *)buf + done, n - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = wait_ready(io, POLLOUT, deadline);
        if (r)
            return r;
    }
    return 0;
}

/* The body a header announces: 0 with *size set (0 when there is no "size"),
 * or -EINVAL when "size" is present but not a non-negative integer -- such a
 * header is ambiguous about where the next frame starts. */
static int size_field(const json_t *hdr, uint64_t *size)
{
    const json_t *s = json_object_get(hdr, "size");
    *size = 0;
    if (!s)
        return 0;
    if (!json_is_integer(s) || json_integer_value(s) < 0)
        return -EINVAL;
    *size = (uint64_t)json_integer_value(s);
    return 0;
}

uint64_t proto_body_size(const json_t *hdr)
{
    uint64_t size;
    return size_field(hdr, &size) == 0 ? size : 0;
}

int proto_send(proto_io *io, json_t *hdr)
{
    uint64_t body;
    if (!json_is_object(hdr) || io->body_out != 0 || size_field(hdr, &body))
        return -EINVAL;
    size_t n = json_dumpb(hdr, NULL, 0, JSON_COMPACT);
    if (n == 0)
        return -ENOMEM; /* jansson's only failure for a valid object */
    if (n > PROTO_HEADER_MAX)
        return -EMSGSIZE;
    /* Length and JSON go out in one send() so a small frame is one packet. */
    unsigned char *buf = malloc(4 + n);
    if (!buf)
        return -ENOMEM;
    buf[0] = (unsigned char)(n >> 24);
    buf[1] = (unsigned char)(n >> 16);
    buf[2] = (unsigned char)(n >> 8);
    buf[3] = (unsigned char)n;
    int64_t deadline = NO_DEADLINE;
    int r = json_dumpb(hdr, (char *)buf + 4, n, JSON_COMPACT) == n
                ? deadline_in(io->timeout_ms, &deadline)
                : -ENOMEM;
    if (r == 0)
        r = send_all(io, buf, 4 + n, deadline);
    free(buf);
    if (r == 0)
        io->body_out = body;
    return r;
}

bool proto_json_depth_ok(const char *json, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* Throw away the unread rest of the current incoming body. */
static int skip_body(proto_io *io)
{
    char sink[4096];
    while (io->body_in > 0) {
        ssize_t k = proto_read_some(io, sink, sizeof sink);
        if (k < 0)
            return (int)k;
    }
    return 0;
}

int proto_recv(proto_io *io, json_t **out)
{
    *out = NULL;
    int r = skip_body(io);
    int64_t deadline = NO_DEADLINE;
    if (r == 0)
        r = deadline_in(io->timeout_ms, &deadline);
    if (r)
        return r;

    /* The first recv decides between a clean close (nothing of a new frame
     * sent) and a frame cut short. */
    unsigned char len[4];
    ssize_t k = recv_some(io, len, sizeof len, deadline);
    if (k <= 0)
        return k == 0 ? -ENODATA : (int)k;
    r = recv_exact(io, len + k, sizeof len - (size_t)k, deadline);
    if (r)
        return r;
    uint32_t n = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 |
                 (uint32_t)len[2] << 8 | len[3];
    /* Refuse before allocating or reading: the length is the peer's word. */
    if (n == 0 || n > PROTO_HEADER_MAX)
        return -EMSGSIZE;

    char *json = malloc(n);
    if (!json)
        return -ENOMEM;
    r = recv_exact(io, json, n, deadline);
    if (r) {
        free(json);
        return r;
    }
    /* jansson's parser recurses once per level: refuse deep nesting before
     * it runs, or a few KiB of "[" overflow a worker's stack. */
    if (!proto_json_depth_ok(json, n, PROTO_DEPTH_MAX)) {
        free(json);
        return -EBADMSG;
    }
    /* Duplicate keys are refused: two "size"s would let sender and receiver
     * disagree about the body.  jansson checks UTF-8 and refuses \u0000. */
    json_error_t err;
    json_t *hdr = json_loadb(json, n, JSON_REJECT_DUPLICATES, &err);
    free(json);
    if (!hdr)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM
                                                                 : -EBADMSG;
    uint64_t body;
    if (!json_is_object(hdr) || size_field(hdr, &body)) {
        json_decref(hdr);
        return -EBADMSG;
    }
    io->body_in = body;
    io->pace_start = 0; /* a new body starts a new pacing window */
    *out = hdr;
    return 0;
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
    int64_t now;
    int r = proto_now_ms(&now);
    if (r)
        return r;
    uint64_t need = (uint64_t)io->body_min_rate *
                    (uint64_t)io->body_window_ms / 1000;
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
        r = per_wait_deadline(io, deadline);
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
    ssize_t k = recv_some(io, buf, cap, deadline);
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

int proto_write_body(proto_io *io, const void *buf, size_t n)
{
    if (n > io->body_out)
        return -EINVAL;
    int r = send_all(io, buf, n, PER_WAIT);
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
 * per-wait deadline as send_all(). */
static int body_sendfile(proto_io *io, int fd, uint64_t off,
                         const proto_body_hooks *hooks, int *file_err)
{
    int was;
    int r = nonblock(io->fd, true, &was);
    if (r != 0)
        return r;
    const uint64_t start = io->body_out;
    while (r == 0 && io->body_out > 0) {
        size_t want = io->body_out < (8u << 20) ? (size_t)io->body_out
                                                 : (8u << 20);
        if (off > (uint64_t)INT64_MAX - want) {
            r = *file_err = -EFBIG;
            break;
        }
        off_t o = (off_t)off;
        ssize_t k = sendfile(io->fd, fd, &o, want);
        if (k > 0) {
            io->body_out -= (uint64_t)k;
            off += (uint64_t)k;
            if (hooks->progress != NULL)
                hooks->progress(hooks->ctx, off);
        } else if (k == 0) {
            r = *file_err = -ENODATA; /* the file ended early */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r = wait_ready(io, POLLOUT, PER_WAIT);
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

int proto_body_from_file(proto_io *io, int fd, uint64_t off, digest_state *d,
                         const proto_body_hooks *hooks, int *file_err)
{
    *file_err = 0;
    if (d == NULL && hooks != NULL && hooks->zero_copy) {
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
        r = proto_write_body(io, buf, want);
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
static int read_fill(proto_io *io, unsigned char *buf, size_t cap,
                     size_t *got)
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

int proto_body_to_file(proto_io *io, int fd, uint64_t off, digest_state *d,
                       const proto_body_hooks *hooks, int *file_err)
{
    *file_err = 0;
    if (io->body_in == 0)
        return 0;
    proto_hasher h;
    int r = proto_hasher_begin(&h, d, io->body_in);
    if (r != 0)
        return r;
    proto_writeback wb;
    proto_writeback_init(&wb, fd, off);
    while (r == 0 && io->body_in > 0) {
        size_t cap, n;
        unsigned char *buf = proto_hasher_buf(&h, &cap);
        r = read_fill(io, buf, cap, &n);
        /* After the first failed write keep reading, so the next frame is
         * found where the peer put it; report the failure afterwards. */
        if (*file_err == 0 && n > 0) {
            *file_err = proto_pwrite_all(fd, buf, n, off);
            if (*file_err == 0)
                proto_writeback_note(&wb, off + n);
        }
        proto_hasher_put(&h, buf, n);
        off += n;
        if (*file_err != 0 && hooks != NULL && hooks->stop_on_file_error)
            r = r != 0 ? r : *file_err;
        else if (*file_err == 0 && hooks != NULL && hooks->progress != NULL)
            hooks->progress(hooks->ctx, off);
    }
    proto_hasher_end(&h);
    return r;
}
