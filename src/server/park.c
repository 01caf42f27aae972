/* park.c -- connections waiting for their next message: one epoll set, a heap of deadlines. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* A parked connection costs its ss_request (plus the handler's state), one
 * epoll registration and, when it has a deadline, one heap slot: no thread,
 * no buffer (streamio.c frees an empty read buffer before parking).
 *
 * Registrations are edge-triggered and stay for the connection's life, so
 * parking again costs no system call: an edge is new input.  An edge for a
 * request that is not parked (it is queued or running) only marks it
 * `again`; exactly one thread runs a request, the one that took it out.
 * Input that came before a park, with no edge to tell, is caught at the
 * park: the handler's last read was short (the socket was empty then, and
 * anything later makes an edge), or a peek finds it.  Everything else is
 * under mu: which requests are parked, the flags, the heap and the list.
 *
 * Taking requests out (ready, expired, close) is one consumer at a time,
 * under cmu: an event names its request by pointer, and between epoll_wait
 * returning it and mu being taken nobody else may take that request out,
 * nor end it: a request leaves the set under cmu (ss__park_forget) before
 * it is freed.  The serving loop waits for cmu; a worker out of work only
 * tries it. */
struct ss_park {
    int epfd;
    pthread_mutex_t cmu; /* the one consumer */
    pthread_mutex_t mu;
    ss_request **heap; /* min-heap by due_ms: parked requests with one */
    size_t n, cap;
    ss_request *list; /* every parked request (for close) */
    unsigned count;
    bool closed;
    int64_t loop_due; /* when the loop wakes next anyway (0: not asleep) */
};

int ss__park_create(ss_server *s)
{
    struct ss_park *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int err = -errno;
        free(p);
        return err;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        ss__close(p->epfd);
        free(p);
        return -ENOMEM;
    }
    if (pthread_mutex_init(&p->cmu, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        ss__close(p->epfd);
        free(p);
        return -ENOMEM;
    }
    s->park = p;
    return 0;
}

void ss__park_free(ss_server *s)
{
    struct ss_park *p = s->park;
    if (!p)
        return;
    if (p->epfd >= 0)
        ss__close(p->epfd);
    pthread_mutex_destroy(&p->cmu);
    pthread_mutex_destroy(&p->mu);
    free(p->heap);
    free(p);
    s->park = NULL;
}

int ss__park_fd(ss_server *s)
{
    struct ss_park *p = s->park;
    if (p == NULL)
        return -1;
    pthread_mutex_lock(&p->mu);
    int fd = p->epfd; /* closed under mu (ss__park_close) */
    pthread_mutex_unlock(&p->mu);
    return fd;
}

unsigned ss__park_count(ss_server *s)
{
    struct ss_park *p = s->park;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    unsigned n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* ---- the heap of deadlines ------------------------------------------------ */

static void heap_set(struct ss_park *p, size_t i, ss_request *r)
{
    p->heap[i] = r;
    r->heap_i = i;
}

static void heap_up(struct ss_park *p, size_t i)
{
    ss_request *r = p->heap[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (p->heap[up]->due_ms <= r->due_ms)
            break;
        heap_set(p, i, p->heap[up]);
        i = up;
    }
    heap_set(p, i, r);
}

static void heap_down(struct ss_park *p, size_t i)
{
    ss_request *r = p->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= p->n)
            break;
        if (c + 1 < p->n && p->heap[c + 1]->due_ms < p->heap[c]->due_ms)
            c++;
        if (r->due_ms <= p->heap[c]->due_ms)
            break;
        heap_set(p, i, p->heap[c]);
        i = c;
    }
    heap_set(p, i, r);
}

static int heap_push(struct ss_park *p, ss_request *r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        ss_request **h = realloc(p->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        p->heap = h;
        p->cap = cap;
    }
    heap_set(p, p->n++, r);
    heap_up(p, r->heap_i);
    return 0;
}

static void heap_remove(struct ss_park *p, ss_request *r)
{
    size_t i = r->heap_i;
    if (i == SIZE_MAX)
        return;
    r->heap_i = SIZE_MAX;
    ss_request *last = p->heap[--p->n];
    if (i == p->n)
        return;
    heap_set(p, i, last);
    heap_down(p, i);
    heap_up(p, last->heap_i);
}

/* ---- parking and taking out ----------------------------------------------- */

/* Under mu: r leaves the park (its registration is disarmed or gone). */
static void take_out(struct ss_park *p, ss_request *r)
{
    heap_remove(p, r);
    if (r->pprev)
        r->pprev->pnext = r->pnext;
    else
        p->list = r->pnext;
    if (r->pnext)
        r->pnext->pprev = r->pprev;
    r->pprev = r->pnext = NULL;
    r->parked = false;
    p->count--;
}

int64_t ss__request_due(const ss_request *r, int64_t now)
{
    int64_t due = r->timeout_ms > 0 ? now + r->timeout_ms : 0;
    if (r->deadline_ms > 0 && (due == 0 || r->deadline_ms < due))
        due = r->deadline_ms;
    return due;
}

/* Whether input (or EOF, or an error) is waiting on r's socket. */
static bool input_waiting(const ss_request *r)
{
    char c;
    ssize_t n;
    do {
        n = recv(r->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

int ss__park_add(ss_server *s, ss_request *r)
{
    struct ss_park *p = s->park;
    bool drained = r->drained;
    for (;;) {
        /* Outside the lock: an edge meanwhile marks r `again`. */
        if (!drained && r->in_epoll && input_waiting(r))
            return 1;
        pthread_mutex_lock(&p->mu);
        if (p->closed) {
            pthread_mutex_unlock(&p->mu);
            return -ESHUTDOWN;
        }
        if (!r->again)
            break;        /* holding mu */
        r->again = false; /* an edge since: look again */
        drained = false;
        pthread_mutex_unlock(&p->mu);
    }
    int64_t now = ss__now_ms();
    bool wake = false;
    int rc = 0;
    r->expired = false;
    r->heap_i = SIZE_MAX;
    r->due_ms = ss__request_due(r, now);
    if (r->due_ms > 0) {
        rc = heap_push(p, r);
        /* The loop sleeps until loop_due: wake it for an earlier one. */
        wake = rc == 0 && r->heap_i == 0 && p->loop_due > 0 &&
               r->due_ms < p->loop_due;
    }
    if (rc == 0 && !r->in_epoll) {
        /* Input already there makes an event at once. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = r};
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, r->conn.fd, &ev) < 0) {
            rc = -errno;
            heap_remove(p, r);
            wake = false;
        } else {
            r->in_epoll = true;
        }
    }
    if (rc == 0) {
        r->parked = true;
        r->pprev = NULL;
        r->pnext = p->list;
        if (p->list)
            p->list->pprev = r;
        p->list = r;
        p->count++;
    }
    pthread_mutex_unlock(&p->mu);
    if (wake)
        ss__wake(s);
    return rc;
}

void ss__park_forget(ss_server *s, ss_request *r)
{
    struct ss_park *p = s->park;
    pthread_mutex_lock(&p->cmu);
    pthread_mutex_lock(&p->mu);
    if (r->in_epoll && p->epfd >= 0)
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, r->conn.fd, NULL);
    r->in_epoll = false;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->cmu);
}

int ss__park_ready(ss_server *s, ss_request **out, int cap, bool wait)
{
    struct ss_park *p = s->park;
    struct epoll_event ev[64];
    if (cap > 64)
        cap = 64;
    if (wait)
        pthread_mutex_lock(&p->cmu);
    else if (pthread_mutex_trylock(&p->cmu) != 0)
        return 0; /* another thread is taking them */
    int n = -EBADF, got = 0;
    if (p->epfd >= 0) {
        do {
            n = epoll_wait(p->epfd, ev, cap, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            n = -errno;
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < n; i++) {
        ss_request *r = ev[i].data.ptr;
        if (!r->parked) { /* queued or running: it looks before it parks */
            r->again = true;
            continue;
        }
        take_out(p, r);
        out[got++] = r;
    }
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->cmu);
    return n < 0 ? n : got;
}

int ss__park_expired(ss_server *s, int64_t now, ss_request **out, int cap)
{
    struct ss_park *p = s->park;
    int got = 0;
    pthread_mutex_lock(&p->cmu);
    pthread_mutex_lock(&p->mu);
    while (got < cap && p->n > 0 && p->heap[0]->due_ms <= now) {
        ss_request *r = p->heap[0];
        /* Disarm it for good before anyone else can see it: after this
         * no epoll_wait can report it. */
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, r->conn.fd, NULL);
        r->in_epoll = false;
        take_out(p, r);
        r->expired = true;
        out[got++] = r;
    }
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->cmu);
    return got;
}

int ss__park_sleep_ms(ss_server *s, int64_t now, int timeout_ms)
{
    struct ss_park *p = s->park;
    pthread_mutex_lock(&p->mu);
    if (p->n > 0) {
        int64_t left = p->heap[0]->due_ms - now;
        if (left < 0)
            left = 0;
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = left > INT32_MAX ? INT32_MAX : (int)left;
    }
    p->loop_due = timeout_ms < 0 ? INT64_MAX : now + timeout_ms;
    pthread_mutex_unlock(&p->mu);
    return timeout_ms;
}

ss_request *ss__park_close(ss_server *s)
{
    struct ss_park *p = s->park;
    ss_request *all = NULL;
    if (!p)
        return NULL;
    pthread_mutex_lock(&p->cmu);
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    while (p->list) {
        ss_request *r = p->list;
        r->in_epoll = false;
        take_out(p, r);
        r->qnext = all;
        all = r;
    }
    /* Nothing can be parked any more: the set goes with the server's
     * other descriptors (only the wake-up eventfd outlives close).  Every
     * consumer checks epfd under cmu. */
    ss__close(p->epfd);
    p->epfd = -1;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->cmu);
    return all;
}
