/* request.c -- a request's life: the handler instance, its registry, errors, the end; attributes and datagram reply. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"

/* Python's client_address[0]: the address without the port; for a Unix
 * peer its path as client_str shows it, or "" when unnamed. */
static void client_host(const ss_conn *c, const char *str, char *out,
                        size_t cap)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->addr;
    const void *a = NULL;
    out[0] = '\0';
    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (a != NULL) {
        if (inet_ntop(sa->sa_family, a, out, (socklen_t)cap) == NULL)
            strcpy(out, "?");
    } else if (sa->sa_family == AF_UNIX &&
               c->addrlen > offsetof(struct sockaddr_un, sun_path)) {
        snprintf(out, cap, "%s", str);
    }
}

/* One allocation holds the request, the handler's state (the way a Python
 * handler instance holds its attributes) and the client's address as
 * text. */
static ss_request *request_new(ss_server *s, const ss_conn *conn)
{
    char str[128], host[128];
    if (ss_format_address((const struct sockaddr *)&conn->addr, conn->addrlen,
                          str, sizeof str) < 0)
        strcpy(str, "?");
    client_host(conn, str, host, sizeof host);
    size_t head = (sizeof(ss_request) + alignof(max_align_t) - 1) &
                  ~(alignof(max_align_t) - 1);
    size_t state = s->handler->state_size;
    size_t ls = strlen(str) + 1, lh = strlen(host) + 1;
    if (state > SIZE_MAX - head - ls - lh)
        return NULL;
    ss_request *r = calloc(1, head + state + ls + lh);
    if (!r)
        return NULL;
    r->server = s;
    r->conn = *conn;
    r->state = state ? (char *)r + head : NULL;
    r->timeout_ms = s->cfg.idle_timeout_ms;
    r->stream = ss__is_stream(s);
    r->heap_i = SIZE_MAX;
    char *names = (char *)r + head + state;
    r->client_str = memcpy(names, str, ls);
    r->client_host = memcpy(names + ls, host, lh);
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
void ss_request_set_pending(ss_request *r, bool pending)
{
    r->pending = pending;
}
int ss_request_set_deadline(ss_request *r, int ms)
{
    if (ms < 0)
        return -EINVAL;
    r->deadline_ms = ms > 0 ? ss__now_ms() + ms : 0;
    return 0;
}
int ss_request_status(const ss_request *r)
{
    return r->status;
}
const char *ss_request_client_str(const ss_request *r)
{
    return r->client_str;
}

const char *ss_request_client_host(const ss_request *r)
{
    return r->client_host;
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

/* ---- finish_request, and the parked life ---------------------------------- */

/* The end of a handler instance: finish(), the datagram reply, and free.
 * hrc is handle()'s result (reported when negative), status why it ended.
 * Returns what finish_request returns. */
static int request_done(ss_server *s, ss_request *r, int hrc, int status)
{
    const ss_handler_class *h = s->handler;
    if (r->in_epoll)
        ss__park_forget(s, r);
    if (hrc < 0) {
        status = hrc;
        ss__report(s, &r->conn, hrc, "handle");
    }
    r->status = status;
    int frc = h->finish ? h->finish(r) : 0;
    if (frc < 0)
        ss__report(s, &r->conn, frc, "finish");
    if (!r->stream)
        request_finish_dgram(r);
    unregister_running(s, r);
    request_free(r);
    atomic_fetch_add(&s->handled, 1);
    return hrc < 0 ? hrc : frc;
}

/* SS_KEEP where nothing can park it: wait for input here, in slices so a
 * stopping server is noticed.  0 when readable, else the status to end
 * with. */
static int wait_in_place(ss_server *s, ss_request *r)
{
    int64_t due = ss__request_due(r, ss__now_ms());
    for (;;) {
        if (atomic_load(&s->stopping))
            return -ESHUTDOWN;
        int slice = 250;
        if (due > 0) {
            int64_t left = due - ss__now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            if (left < slice)
                slice = (int)left;
        }
        int rc = ss__poll_one(r->conn.fd, POLLIN, slice);
        if (rc != -ETIMEDOUT)
            return rc;
    }
}

/* After handle() said SS_KEEP: 1 if r is parked (it may already be running
 * elsewhere: do not touch it), 0 if input is there to handle now, or the
 * (negative) status to end it with. */
static int wait_for_input(ss_server *s, ss_request *r)
{
    if (r->pending || r->rpos < r->rlen)
        return 0;
    if (atomic_load(&s->stopping))
        return -ESHUTDOWN;
    if (s->park && atomic_load(&s->parking)) {
        if (r->rbuf) { /* empty: an idle connection costs no buffer */
            free(r->rbuf);
            r->rbuf = NULL;
            r->rpos = r->rlen = 0;
        }
        int rc = ss__park_add(s, r);
        if (rc == 1)
            return 0; /* input came meanwhile: handle it now */
        if (rc == 0 || rc == -ESHUTDOWN)
            return rc == 0 ? 1 : rc;
        ss__report(s, &r->conn, rc, "park (waiting in place)");
    }
    return wait_in_place(s, r);
}

/* handle() until it returns something else than SS_KEEP, or the request
 * is parked (SS_KEEP). */
static int request_run(ss_server *s, ss_request *r)
{
    const ss_handler_class *h = s->handler;
    for (;;) {
        r->pending = false;
        r->drained = false; /* until a read of this call empties it */
        int hrc = h->handle ? h->handle(r) : 0;
        if (hrc != SS_KEEP)
            return request_done(s, r, hrc, 0);
        if (!r->stream)
            return request_done(s, r, 0, 0);
        int w = wait_for_input(s, r);
        if (w == 1)
            return SS_KEEP;
        if (w < 0)
            return request_done(s, r, 0, w);
    }
}

int ss__request_resume(ss_server *s, ss_request *r)
{
    ss_conn conn = r->conn; /* r is freed at its end */
    int rc = r->expired ? request_done(s, r, 0, -ETIMEDOUT) : request_run(s, r);
    if (rc != SS_KEEP)
        ss__end_request(s, &conn);
    return rc;
}

void ss__request_abort(ss_server *s, ss_request *r, int status)
{
    ss_conn conn = r->conn;
    (void)request_done(s, r, 0, status);
    ss__end_request(s, &conn);
}

/* Python's finish_request: self.RequestHandlerClass(request, client_address,
 * self).  The "instance" is an ss_request with the class's state; like
 * BaseRequestHandler.__init__, a failed setup skips handle and finish, and
 * finish runs even when handle failed (try/finally).  Returns SS_KEEP when
 * the request was parked: the connection is the library's from then on,
 * and the caller must not end it. */
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
        unregister_running(s, r);
        request_free(r);
        atomic_fetch_add(&s->handled, 1);
        return rc;
    }
    return request_run(s, r);
}
