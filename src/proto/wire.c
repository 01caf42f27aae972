/* wire.c -- deadlines and socket waits that frames and bodies share. */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int proto_wire_deadline_in(int timeout_ms, int64_t *deadline)
{
    if (timeout_ms <= 0) {
        *deadline = NO_DEADLINE;
        return 0;
    }
    *deadline = proto_mono_ms() + timeout_ms;
    return 0;
}

/* PER_WAIT made absolute: the body timeout from now. */
int proto_wire_per_wait(const proto_io *io, int64_t *deadline)
{
    int t = io->body_timeout_ms ? io->body_timeout_ms : io->timeout_ms;
    return proto_wire_deadline_in(t, deadline);
}

/* The bytes fd's kernel queue still holds to send (unsent, or sent and not
 * yet acknowledged), or -1 where it cannot say. */
static int send_queue(int fd)
{
    int n;
    return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

/* Wait until fd is ready for events (or has an error/hangup for the next
 * recv/send to report), or the deadline passes.
 *
 * A PER_WAIT for room to send ends only when the peer has taken nothing
 * for a whole body timeout: a socket with megabytes queued to a slow
 * reader (a client under --limit-rate, a thin link) is writable again only
 * once about half of them have gone, which can take longer than the
 * timeout although the peer reads all along.  So when the wait runs out,
 * a queue that has shrunk since it began earns another wait; a peer that
 * stopped reading (a zero window) does not shrink it and times out. */
int proto_wire_wait(const proto_io *io, short events, int64_t deadline)
{
    if (deadline == NO_WAIT)
        return -EAGAIN;
    int queued = -1; /* the send queue when this wait began, if it counts */
    if (deadline == PER_WAIT) {
        int r = proto_wire_per_wait(io, &deadline);
        if (r)
            return r;
        if ((events & POLLOUT) && deadline != NO_DEADLINE)
            queued = send_queue(io->fd);
    }
    /* The session's hard deadline (a login deadline) bounds every wait,
     * bodies included, so no trickle can outlast it. */
    if (io->deadline_ms > 0 &&
        (deadline == NO_DEADLINE || io->deadline_ms <= deadline)) {
        deadline = io->deadline_ms;
        queued = -1;
    }
    for (;;) {
        int wait = -1;
        if (deadline != NO_DEADLINE) {
            int64_t now = proto_mono_ms();
            int q = queued > 0 && now >= deadline ? send_queue(io->fd) : -1;
            if (q >= 0 && q < queued) {
                queued = q; /* it moved: another whole wait */
                int r = proto_wire_per_wait(io, &deadline);
                if (r)
                    return r;
                if (io->deadline_ms > 0 && io->deadline_ms <= deadline) {
                    deadline = io->deadline_ms;
                    queued = -1;
                }
                continue;
            }
            if (now >= deadline)
                return -ETIMEDOUT;
            wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
        }
        struct pollfd p[2] = {{.fd = io->fd, .events = events},
                              {.fd = io->watch_fd, .events = POLLIN}};
        int n = poll(p, io->watch != NULL ? 2 : 1, wait);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* the loop recomputes what is left of the wait */
            return -errno;
        }
        if (n == 0)
            continue; /* the top of the loop turns this into -ETIMEDOUT */
        if (p[0].revents & POLLNVAL)
            return -EBADF;
        if (p[0].revents != 0)
            return 0;
        if (io->watch(io->watch_ctx) != 0)
            return -ECANCELED;
    }
}

/* One recv of up to n bytes: the count, 0 at end of stream, or -errno.
 * MSG_DONTWAIT keeps the socket's own blocking mode from defeating the
 * deadline. */
ssize_t proto_wire_recv_some(const proto_io *io, void *buf, size_t n,
                             int64_t deadline)
{
    if (io->tls != NULL)
        return proto_tls_recv_some(io, buf, n, deadline);
    for (;;) {
        ssize_t k = recv(io->fd, buf, n, MSG_DONTWAIT);
        if (k >= 0)
            return k;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = proto_wire_wait(io, POLLIN, deadline);
        if (r)
            return r;
    }
}

/* Exactly n bytes; end of stream part-way is the peer vanishing mid-frame. */
int proto_wire_recv_exact(const proto_io *io, void *buf, size_t n,
                          int64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k =
            proto_wire_recv_some(io, (char *)buf + got, n - got, deadline);
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
int proto_wire_send_all(const proto_io *io, const void *buf, size_t n,
                        int64_t deadline)
{
    if (io->tls != NULL)
        return proto_tls_send_all(io, buf, n, deadline);
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
        int r = proto_wire_wait(io, POLLOUT, deadline);
        if (r)
            return r;
    }
    return 0;
}
