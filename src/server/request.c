/* request.c -- the handler instance: its attributes and the datagram reply. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

/* One allocation holds the request and the handler's state, the way a
 * Python handler instance holds its attributes. */
ss_request *ss__request_new(ss_server *s, const ss_conn *conn)
{
    size_t head = (sizeof(ss_request) + alignof(max_align_t) - 1) &
                  ~(alignof(max_align_t) - 1);
    size_t state = s->handler->state_size;
    if (state > SIZE_MAX - head)
        return NULL;
    ss_request *r = calloc(1, head + state);
    if (!r)
        return NULL;
    r->server = s;
    r->conn = *conn;
    r->state = state ? (char *)r + head : NULL;
    r->timeout_ms = s->cfg.idle_timeout_ms;
    r->stream = ss__is_stream(s);
    if (ss_format_address((const struct sockaddr *)&conn->addr, conn->addrlen,
                          r->client_str, sizeof r->client_str) < 0)
        strcpy(r->client_str, "?");
    return r;
}

void ss__request_free(ss_request *r)
{
    free(r->rbuf);
    free(r->wbuf);
    free(r);
}

int ss_request_fd(const ss_request *r) { return r->conn.fd; }
ss_server *ss_request_server(const ss_request *r) { return r->server; }
void *ss_request_state(const ss_request *r) { return r->state; }
void *ss_request_user(const ss_request *r) { return r->server->user; }
const char *ss_request_client_str(const ss_request *r) { return r->client_str; }

const struct sockaddr *ss_request_client_address(const ss_request *r,
                                                 socklen_t *len)
{
    if (len)
        *len = r->conn.addrlen;
    return (const struct sockaddr *)&r->conn.addr;
}

const void *ss_request_packet(const ss_request *r, size_t *len)
{
    if (len)
        *len = r->conn.len;
    return r->conn.data;
}

int ss_dgram_reply(ss_request *r, const void *buf, size_t n)
{
    size_t cap = r->server->cfg.max_packet_size;
    if (r->stream)
        return -ENOTSUP;
    if (n > cap - r->wlen)
        return -EMSGSIZE;
    if (!r->wbuf) {
        r->wbuf = malloc(cap);
        if (!r->wbuf)
            return -ENOMEM;
    }
    if (n)
        memcpy(r->wbuf + r->wlen, buf, n);
    r->wlen += n;
    r->replied = true;
    return 0;
}

/* DatagramRequestHandler.finish: socket.sendto(wfile.getvalue(), addr).
 * Only when the handler used the reply buffer, so a handler that answers
 * with its own sendto (the docs' example) does not send a second, empty
 * datagram. */
void ss__request_finish_dgram(ss_request *r)
{
    if (!r->replied)
        return;
    ssize_t n;
    do {
        n = sendto(r->conn.fd, r->wbuf ? (const void *)r->wbuf : "", r->wlen,
                   MSG_NOSIGNAL, (const struct sockaddr *)&r->conn.addr,
                   r->conn.addrlen);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        ss__report(r->server, &r->conn, -errno, "sendto");
}
