/* proxy.c -- PROXY protocol: connections from a trusted proxy wait for their header in an epoll set, off the workers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "internal.h"
#include "proxyproto.h"

/* A connection from a trusted proxy is not admitted until its header says
 * who the client is: until then it waits here, owned by the serving loop,
 * at the cost of this record and an epoll registration -- no worker, no
 * buffer (the header stays in the socket, peeked, until it is whole; then
 * exactly its bytes are read, so the handler's first byte is the client's
 * first byte).  Waits are kept in arrival order; they all have the same
 * timeout, so the first is the first to expire.  Edge-triggered: an event
 * is a new segment (or EOF), and a header still short waits for the
 * next. */
struct ss_proxy_wait {
    struct ss_proxy_wait *prev, *next;
    ss_conn conn;
    int64_t due_ms;
};

struct ss_proxy {
    pthread_mutex_t mu; /* the list, count, closed and epfd */
    int epfd;
    struct ss__cidr *from;
    size_t nfrom;
    struct ss_proxy_wait *head, *tail;
    unsigned count, cap;
    bool closed;
};

/* Waiting connections at most, when max_connections does not say. */
#define WAITING_MAX 1024

int ss_proxy_from_check(const char *list, size_t *bad, size_t *badlen)
{
    size_t b = 0, bl = 0;
    int n = ss__cidr_parse(list, NULL, 0, &b, &bl);
    if (bad)
        *bad = b;
    if (badlen)
        *badlen = bl;
    return n < 0 ? n : 0;
}

int ss__proxy_create(ss_server *s)
{
    size_t bad, badlen;
    if (!s->cfg.proxy_protocol)
        return 0;
    if (s->cfg.kind != SS_TCP || s->cfg.proxy_timeout_ms < 0)
        return -EINVAL; /* a header is a stream's first bytes from a proxy */
    int n = ss__cidr_parse(s->cfg.proxy_from, NULL, 0, &bad, &badlen);
    if (n <= 0)
        return -EINVAL;
    struct ss_proxy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->from = calloc((size_t)n, sizeof *p->from);
    if (p->from == NULL || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->from);
        free(p);
        return -ENOMEM;
    }
    p->nfrom = (size_t)ss__cidr_parse(s->cfg.proxy_from, p->from, (size_t)n,
                                      &bad, &badlen);
    p->cap = s->cfg.max_connections ? s->cfg.max_connections : WAITING_MAX;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->proxy = p; /* freed by ss__proxy_free either way */
    return p->epfd < 0 ? -errno : 0;
}

static void unlink_wait(struct ss_proxy *p, struct ss_proxy_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        p->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        p->tail = w->prev;
    p->count--;
}

void ss__proxy_close(ss_server *s)
{
    struct ss_proxy *p = s->proxy;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    while (p->head) {
        struct ss_proxy_wait *w = p->head;
        unlink_wait(p, w);
        s->ops.close_request(s, &w->conn); /* never admitted: no release */
        free(w);
    }
    ss__close(p->epfd);
    p->epfd = -1;
    pthread_mutex_unlock(&p->mu);
}

void ss__proxy_free(ss_server *s)
{
    struct ss_proxy *p = s->proxy;
    if (p == NULL)
        return;
    ss__proxy_close(s);
    pthread_mutex_destroy(&p->mu);
    free(p->from);
    free(p);
    s->proxy = NULL;
}

void ss__proxy_child(ss_server *s)
{
    struct ss_proxy *p = s->proxy;
    if (p == NULL)
        return;
    /* After fork(), on the one thread there is: the parent's waits are
     * not the child's to keep open. */
    for (struct ss_proxy_wait *w = p->head; w; w = w->next)
        ss__close(w->conn.fd);
    ss__close(p->epfd);
    p->epfd = -1;
    p->closed = true;
}

bool ss__proxy_trusted(ss_server *s, const ss_conn *conn)
{
    struct ss_proxy *p = s->proxy;
    return p != NULL && ss__cidr_match(p->from, p->nfrom,
                                       (const struct sockaddr *)&conn->addr);
}

int ss__proxy_fd(ss_server *s)
{
    struct ss_proxy *p = s->proxy;
    if (p == NULL)
        return -1;
    pthread_mutex_lock(&p->mu);
    int fd = p->epfd;
    pthread_mutex_unlock(&p->mu);
    return fd;
}

int ss__proxy_sleep_ms(ss_server *s, int64_t now, int timeout_ms)
{
    struct ss_proxy *p = s->proxy;
    if (p == NULL)
        return timeout_ms;
    pthread_mutex_lock(&p->mu);
    if (p->head && p->head->due_ms > 0) {
        int64_t left = p->head->due_ms - now;
        if (left < 0)
            left = 0;
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = left > INT32_MAX ? INT32_MAX : (int)left;
    }
    pthread_mutex_unlock(&p->mu);
    return timeout_ms;
}

/* Reports a trusted connection that gave no valid header, and closes it:
 * it was never admitted. */
static void refuse(ss_server *s, ss_conn *conn, int err, const char *why)
{
    char what[200];
    if (err == -ETIMEDOUT)
        (void)snprintf(what, sizeof what,
                       "PROXY header: none within %d ms (waiting for %s)",
                       s->cfg.proxy_timeout_ms, why);
    else
        (void)snprintf(what, sizeof what, "PROXY header: %s", why);
    atomic_fetch_add(&s->rejected, 1);
    ss__report(s, conn, err, what);
    s->ops.shutdown_request(s, conn);
}

/* One look at the socket: 1 when the header was read (conn->addr is then
 * the client's, unless the header said LOCAL or UNKNOWN), 0 when more must
 * come (*why: what), or a -errno with *why. */
static int try_header(ss_conn *conn, const char **why)
{
    uint8_t buf[SS__PROXY_MAX];
    ssize_t n;
    do {
        n = recv(conn->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        *why = "the header";
        return 0;
    }
    if (n < 0) {
        *why = "recv";
        return -errno;
    }
    if (n == 0) {
        *why = "the connection closed before a whole header";
        return -ECONNRESET;
    }
    struct ss__proxy_hdr h;
    int len = ss__proxy_parse(buf, (size_t)n, &h);
    *why = h.why;
    if (len <= 0)
        return len;
    /* Exactly the header's bytes, which are there (peeked): what follows
     * is the handler's. */
    size_t got = 0;
    while (got < (size_t)len) {
        ssize_t r = recv(conn->fd, buf, (size_t)len - got, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = "recv after peeking the header";
            return r < 0 ? -errno : -ECONNRESET;
        }
        got += (size_t)r;
    }
    if (h.has_addr) {
        memcpy(&conn->addr, &h.src, h.srclen);
        conn->addrlen = h.srclen;
    }
    return 1;
}

int ss__proxy_begin(ss_server *s, ss_conn *conn)
{
    struct ss_proxy *p = s->proxy;
    struct ss_proxy_wait *w = malloc(sizeof *w);
    int rc = w ? 0 : -ENOMEM;
    const char *why = "no memory to wait for it";
    pthread_mutex_lock(&p->mu);
    if (rc == 0 && (p->closed || p->count >= p->cap)) {
        rc = p->closed ? -ESHUTDOWN : -EUSERS;
        why = p->closed ? "the server is closing"
                        : "too many connections waiting for theirs";
    }
    if (rc == 0) {
        *w = (struct ss_proxy_wait){.conn = *conn, .prev = p->tail};
        w->due_ms = s->cfg.proxy_timeout_ms > 0
                        ? ss__now_ms() + s->cfg.proxy_timeout_ms
                        : 0;
        /* Input already there makes an event at once. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = w};
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, conn->fd, &ev) < 0) {
            rc = -errno;
            why = "epoll_ctl";
        } else {
            if (p->tail)
                p->tail->next = w;
            else
                p->head = w;
            p->tail = w;
            p->count++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        free(w);
        refuse(s, conn, rc, why);
    }
    return rc;
}

/* A wait that ended without a header, reported once the lock is let go. */
struct failure {
    ss_conn conn;
    int err;
    const char *why;
};

/* Under mu: w's wait is over. */
static void wait_done(struct ss_proxy *p, struct ss_proxy_wait *w)
{
    (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, w->conn.fd, NULL);
    unlink_wait(p, w);
}

int ss__proxy_ready(ss_server *s, int64_t now, ss_conn *out, int cap)
{
    struct ss_proxy *p = s->proxy;
    struct epoll_event ev[32];
    struct failure failed[32];
    int got = 0, nfail = 0;
    if (cap > 32)
        cap = 32;
    pthread_mutex_lock(&p->mu);
    int n = p->epfd < 0 ? 0 : epoll_wait(p->epfd, ev, cap, 0);
    for (int i = 0; i < n; i++) {
        struct ss_proxy_wait *w = ev[i].data.ptr;
        const char *why;
        int rc = try_header(&w->conn, &why);
        if (rc == 0 && (ev[i].events & (EPOLLRDHUP | EPOLLHUP))) {
            /* A part, then the end: no more is coming. */
            rc = -ECONNRESET;
            why = "the connection closed before a whole header";
        }
        if (rc == 0)
            continue;
        wait_done(p, w);
        if (rc > 0)
            out[got++] = w->conn;
        else
            failed[nfail++] = (struct failure){w->conn, rc, why};
        free(w);
    }
    /* Then what has waited too long (a last look first: its last bytes
     * may have come with no event seen yet). */
    while (got + nfail < cap && p->head && p->head->due_ms > 0 &&
           p->head->due_ms <= now) {
        struct ss_proxy_wait *w = p->head;
        const char *why;
        int rc = try_header(&w->conn, &why);
        wait_done(p, w);
        if (rc > 0)
            out[got++] = w->conn;
        else
            failed[nfail++] =
                (struct failure){w->conn, rc < 0 ? rc : -ETIMEDOUT, why};
        free(w);
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < nfail; i++)
        refuse(s, &failed[i].conn, failed[i].err, failed[i].why);
    return got;
}

/* The socket readable once more than `have` bytes are in: a part of a
 * header stays in it (peeked), and poll() would say readable at once. */
static void wake_past(int fd, int have)
{
    int low = have + 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
}

int ss__proxy_wait_in_place(ss_server *s, ss_conn *conn)
{
    int t = s->cfg.proxy_timeout_ms;
    int64_t due = t > 0 ? ss__now_ms() + t : 0;
    int rc;
    const char *why;
    for (;;) {
        rc = try_header(conn, &why);
        if (rc > 0) {
            rc = 0;
            break;
        }
        if (rc == 0) {
            int have = 0, left = 0; /* ss__poll_one: 0 waits forever */
            if (due > 0) {
                int64_t l = due - ss__now_ms();
                left = l > 0 ? (int)l : -1;
            }
            if (ioctl(conn->fd, FIONREAD, &have) == 0 && have > 0)
                wake_past(conn->fd, have);
            rc = left < 0 ? -ETIMEDOUT
                          : ss__poll_one(conn->fd, POLLIN | POLLRDHUP, left);
            int now = 0;
            if (rc == 0 && have > 0 && ioctl(conn->fd, FIONREAD, &now) == 0 &&
                now == have) {
                /* Woken with nothing new: the peer's end. */
                rc = -ECONNRESET;
                why = "the connection closed before a whole header";
            }
            if (rc == 0)
                continue;
        }
        break;
    }
    wake_past(conn->fd, 0); /* back to the default, 1 */
    if (rc != 0)
        refuse(s, conn, rc, why);
    return rc;
}
