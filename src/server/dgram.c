/* dgram.c -- UDPServer's steps (also UnixDatagramServer's): one packet is one request. */
#include <errno.h>
#include <sys/socket.h>

#include "internal.h"

/* UDPServer.server_activate: there is nothing to listen() on. */
int ss_udp_server_activate(ss_server *s)
{
    (void)s;
    return 0;
}

/* UDPServer.get_request: Python returns ((data, self.socket), client_addr).
 * Here conn->fd is the server socket and data/len the packet, which lives in
 * the server's buffer until process_request copies it (the pool does). */
int ss_udp_get_request(ss_server *s, ss_conn *conn)
{
    ssize_t n;
    conn->addrlen = sizeof conn->addr;
    do {
        /* MSG_TRUNC makes an oversize datagram visible instead of silently
         * handing the handler its first max_packet_size bytes. */
        n = recvfrom(s->fd, s->pkt, s->cfg.max_packet_size, MSG_TRUNC,
                     (struct sockaddr *)&conn->addr, &conn->addrlen);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        /* A previous sendto's ICMP port-unreachable surfaces here on Linux;
         * it is about an old peer, not about this socket. */
        if (errno == ECONNREFUSED)
            return -EAGAIN;
        return -errno;
    }
    if ((size_t)n > s->cfg.max_packet_size)
        return -EMSGSIZE;
    conn->fd = s->fd;
    conn->data = s->pkt;
    conn->len = (size_t)n;
    return 0;
}

/* UDPServer.shutdown_request: no connection to shut down. */
void ss_udp_shutdown_request(ss_server *s, ss_conn *conn)
{
    s->ops.close_request(s, conn);
}

/* UDPServer.close_request: the socket is the server's; keep it open. */
void ss_udp_close_request(ss_server *s, ss_conn *conn)
{
    (void)s;
    (void)conn;
}
