/* request.c -- a request's life: the handler instance, its registry, errors, the end; attributes and datagram reply. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

/* One allocation holds the request and the handler's state, the way a
 * Python handler instance holds its attributes. */
static ss_request *request_new(ss_server *s, const ss_conn *conn)
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

static void request_free(ss_request *r)
{
    free(r->rbuf);
    free(r->wbuf);
    free(r);
}

int ss_request_fd(const ss_request *r)
{
    return r->conn.fd;
}
ss_server *ss_request_server(const ss_request *r)
{
    return r->server;
}
void *ss_request_state(const ss_request *r)
{
    return r->state;
}
void *ss_request_user(const ss_request *r)
{
    return r->server->user;
}
const char *ss_request_client_str(const ss_request *r)
{
    return r->client_str;
}

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

void ss__report(ss_server *s, const ss_conn *conn, int err, const char *what)
{
    atomic_fetch_add(&s->errors, 1);
    s->ops.handle_error(s, conn, err, what);
}

/* Every admitted request ends here, in the process that admitted it:
 * Python's shutdown_request, then our connection accounting. */
void ss__end_request(ss_server *s, ss_conn *conn)
{
    s->ops.shutdown_request(s, conn);
    ss__release(s, conn);
}

/* DatagramRequestHandler.finish: socket.sendto(wfile.getvalue(), addr).
 * Only when the handler used the reply buffer, so a handler that answers
 * with its own sendto (the docs' example) does not send a second, empty
 * datagram. */
static void request_finish_dgram(ss_request *r)
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

/* ---- the registry of running requests ----------------------------------- */

int ss__running_init(ss_server *s)
{
    return pthread_mutex_init(&s->running.mu, NULL) != 0 ? -ENOMEM : 0;
}

void ss__running_destroy(ss_server *s)
{
    pthread_mutex_destroy(&s->running.mu);
}

static void register_running(ss_server *s, ss_request *r)
{
    pthread_mutex_lock(&s->running.mu);
    r->prev = NULL;
    r->next = s->running.head;
    if (r->next)
        r->next->prev = r;
    s->running.head = r;
    /* Registered after the drain deadline: cut at once, as the rest were. */
    if (s->running.cut && r->stream)
        (void)shutdown(r->conn.fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->running.mu);
}

static void unregister_running(ss_server *s, ss_request *r)
{
    pthread_mutex_lock(&s->running.mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        s->running.head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    pthread_mutex_unlock(&s->running.mu);
}

/* The end of a drain: shut down (not close) every running request's socket.
 * Blocked reads and writes return at once, the handler unwinds through its
 * own error paths, and the descriptor is still closed by its owner, so it
 * can never be reused under a handler's feet. */
void ss__cut_running(ss_server *s)
{
    pthread_mutex_lock(&s->running.mu);
    s->running.cut = true;
    for (ss_request *r = s->running.head; r; r = r->next)
        if (r->stream)
            (void)shutdown(r->conn.fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->running.mu);
}

/* ---- finish_request ------------------------------------------------------ */

/* Python's finish_request: self.RequestHandlerClass(request, client_address,
 * self).  The "instance" is an ss_request with the class's state; like
 * BaseRequestHandler.__init__, a failed setup skips handle and finish, and
 * finish runs even when handle failed (try/finally). */
int ss_base_finish_request(ss_server *s, ss_conn *conn)
{
    ss_request *r = request_new(s, conn);
    if (!r)
        return -ENOMEM;
    const ss_handler_class *h = s->handler;
    register_running(s, r);
    int rc = h->setup ? h->setup(r) : 0;
    if (rc < 0) {
        ss__report(s, conn, rc, "setup");
    } else {
        int hrc = h->handle ? h->handle(r) : 0;
        if (hrc < 0)
            ss__report(s, conn, hrc, "handle");
        int frc = h->finish ? h->finish(r) : 0;
        if (frc < 0)
            ss__report(s, conn, frc, "finish");
        if (!ss__is_stream(s))
            request_finish_dgram(r);
        rc = hrc < 0 ? hrc : frc;
    }
    unregister_running(s, r);
    request_free(r);
    atomic_fetch_add(&s->handled, 1);
    return rc;
}
