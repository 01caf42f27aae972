/* stream.c -- TCPServer's steps (also UnixStreamServer's): bind, listen, accept. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "internal.h"

static int setopt(int fd, int level, int name, int val)
{
    if (setsockopt(fd, level, name, &val, sizeof val) < 0)
        return -errno;
    return 0;
}

/* TCPServer.server_bind: socket options, then BaseServer's bind. */
int ss_tcp_server_bind(ss_server *s)
{
    bool ip = s->family == AF_INET || s->family == AF_INET6;
    int rc = 0;
    /* SO_REUSEADDR on a Unix socket does nothing useful; on IP it lets a
     * restarted server bind while old connections sit in TIME_WAIT. */
    if (ip && s->cfg.allow_reuse_address)
        rc = setopt(s->fd, SOL_SOCKET, SO_REUSEADDR, 1);
    /* SO_REUSEPORT is only meaningful for IP; Python once set it on Unix
     * sockets too and failed there (bpo-45521). */
    if (rc == 0 && ip && s->cfg.allow_reuse_port)
        rc = setopt(s->fd, SOL_SOCKET, SO_REUSEPORT, 1);
    /* Say explicitly whether "::" also takes IPv4: the system default
     * (net.ipv6.bindv6only) differs between machines. */
    if (rc == 0 && s->family == AF_INET6 && s->cfg.ipv6_only >= 0)
        rc = setopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, s->cfg.ipv6_only);
    if (rc < 0)
        return rc;
    return ss_base_server_bind(s);
}

int ss_tcp_server_activate(ss_server *s)
{
    int backlog =
        s->cfg.request_queue_size > 0 ? s->cfg.request_queue_size : SOMAXCONN;
    if (listen(s->fd, backlog) < 0)
        return -errno;
    return 0;
}

int ss_tcp_get_request(ss_server *s, ss_conn *conn)
{
    conn->addrlen = sizeof conn->addr;
    int fd;
    do {
        fd = accept4(s->fd, (struct sockaddr *)&conn->addr, &conn->addrlen,
                     SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        /* The peer gave up between poll() and accept(): nothing to do. */
        if (err == EAGAIN || err == EWOULDBLOCK || err == ECONNABORTED ||
            err == EPROTO || err == EPERM)
            return -EAGAIN;
        /* Anything else goes back as it is: EMFILE, ENFILE, ENOBUFS and
         * ENOMEM are not the peer's fault and do not go away by retrying
         * at once, so the loop pauses accepting on them (loop.c). */
        return -err;
    }
    conn->fd = fd;
    conn->data = NULL;
    conn->len = 0;
    return 0;
}

/* Applied to every accepted stream socket before a handler sees it. */
int ss__stream_prepare(ss_server *s, int fd)
{
    int t = s->cfg.idle_timeout_ms;
    if (t > 0) {
        /* So a handler that reads the socket directly, without our
         * helpers, is also bounded by the idle timeout. */
        struct timeval tv = {.tv_sec = t / 1000, .tv_usec = (t % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
            return -errno;
    }
    return 0;
}

/* TCPServer.shutdown_request: half-close first, so the peer sees our
 * orderly EOF after the last byte we wrote, then close. */
void ss_tcp_shutdown_request(ss_server *s, ss_conn *conn)
{
    if (conn->fd >= 0)
        (void)shutdown(conn->fd, SHUT_WR); /* ENOTCONN if the peer left */
    s->ops.close_request(s, conn);
}

void ss_tcp_close_request(ss_server *s, ss_conn *conn)
{
    (void)s;
    ss__close(conn->fd);
    conn->fd = -1;
}
