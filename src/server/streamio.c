/* streamio.c -- StreamRequestHandler's rfile/wfile: buffered, bounded, EINTR-safe. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

/* Allocated on the first buffered read only: most requests of a file server
 * spend their life idle, and 1000 idle sessions should not cost 8 MiB. */
#define RBUF_SIZE 8192

int ss_stream_set_timeout(ss_request *r, int timeout_ms)
{
    if (timeout_ms < 0)
        return -EINVAL;
    r->timeout_ms = timeout_ms;
    return 0;
}

int ss_stream_disable_nagle(ss_request *r)
{
    int one = 1;
    const struct sockaddr *sa = ss_request_client_address(r, NULL);
    if (!r->stream)
        return -ENOTSUP;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return 0; /* Unix sockets have no Nagle to disable */
    if (setsockopt(r->conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -errno;
    return 0;
}

/* One recv(), waiting for readability only when nothing is there yet (so
 * the timeout holds even when the socket has no SO_RCVTIMEO, and data that
 * has already arrived costs no poll()).  Returns bytes, 0 at EOF, or -errno. */
static ssize_t recv_some(ss_request *r, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(r->conn.fd, buf, cap, MSG_DONTWAIT);
        if (n >= 0) {
            /* A short read took all there was: parking needs no look at
             * the socket (park.c).  EOF is not "empty": it must be seen. */
            r->drained = n > 0 && (size_t)n < cap;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__poll_one(r->conn.fd, POLLIN, r->timeout_ms);
        if (rc < 0)
            return rc;
    }
}

static int fill(ss_request *r)
{
    if (!r->rbuf) {
        r->rbuf = malloc(RBUF_SIZE);
        if (!r->rbuf)
            return -ENOMEM;
    }
    if (r->rpos == r->rlen)
        r->rpos = r->rlen = 0;
    ssize_t n = recv_some(r, r->rbuf + r->rlen, RBUF_SIZE - r->rlen);
    if (n > 0)
        r->rlen += (size_t)n;
    return (int)n;
}

size_t ss_stream_buffered(const ss_request *r)
{
    return r->rlen - r->rpos;
}

ssize_t ss_stream_readline(ss_request *r, char *buf, size_t cap)
{
    size_t len = 0;
    bool overflow = false;
    if (!r->stream)
        return -ENOTSUP;
    if (cap < 2)
        return -EINVAL;
    for (;;) {
        if (r->rpos == r->rlen) {
            int n = fill(r);
            if (n < 0)
                return n;
            if (n == 0)
                break; /* EOF: return what we have */
        }
        unsigned char *p = r->rbuf + r->rpos;
        size_t avail = r->rlen - r->rpos;
        unsigned char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) + 1 : avail;
        if (!overflow) {
            size_t room = cap - 1 - len;
            size_t copy = take < room ? take : room;
            memcpy(buf + len, p, copy);
            len += copy;
            if (copy < take)
                overflow = true;
        }
        r->rpos += take;
        if (nl)
            break;
        if (len == cap - 1)
            overflow = true;
    }
    if (overflow)
        return -EMSGSIZE;
    buf[len] = '\0';
    return (ssize_t)len;
}

ssize_t ss_stream_read(ss_request *r, void *buf, size_t cap)
{
    if (!r->stream)
        return -ENOTSUP;
    if (cap == 0)
        return 0;
    size_t have = r->rlen - r->rpos;
    if (have) {
        size_t n = have < cap ? have : cap;
        memcpy(buf, r->rbuf + r->rpos, n);
        r->rpos += n;
        return (ssize_t)n;
    }
    return recv_some(r, buf, cap); /* large reads bypass the buffer */
}

int ss_stream_read_exact(ss_request *r, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = ss_stream_read(r, p, n);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return -ECONNRESET;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int ss_stream_write_all(ss_request *r, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    if (!r->stream)
        return -ENOTSUP;
    while (n > 0) {
        ssize_t w = send(r->conn.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__poll_one(r->conn.fd, POLLOUT, r->timeout_ms);
        if (rc < 0)
            return rc;
    }
    return 0;
}
