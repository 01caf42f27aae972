/* pool.c -- ThreadingMixIn as a bounded pool: min/max workers, a bounded queue, drain on close. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_STACK (256u * 1024u)
/* A request that waits this long for a worker gets one more woken. */
#define NUDGE_MS 2
/* Requests a worker takes from the park at once, when out of work. */
#define READY_BATCH 16
/* A request waiting this long for a worker, every worker busy, is said. */
#define STARVE_MS 1000

enum slot_state { SLOT_FREE = 0, SLOT_RUNNING, SLOT_EXITED };

struct worker {
    pthread_t tid;
    enum slot_state state;
    ss_server *s;
};

struct ss_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: a request was queued, or stop */
    pthread_cond_t room_cv; /* handle_request under BLOCK: a slot freed */
    pthread_cond_t done_cv; /* close: a request finished or a worker left */
    ss_conn *q;             /* ring of queue_capacity accepted requests */
    int64_t *qt;            /* when each was queued */
    unsigned cap, head, count;
    ss_request *rq, *rq_tail; /* ready, from the park, through qnext */
    unsigned nready;
    bool ready_turn;     /* alternate: no queue starves the other */
    bool busy_reported;  /* "all workers busy" said for this episode */
    bool spawn_reported; /* a failed worker start, said once */
    int spawn_err;       /* to report, outside the lock */
    unsigned nthreads, nidle, busy;
    bool stop;
    bool loop_waiting; /* the loop stopped accepting until there is room */
    bool loop_blind;   /* the loop does not watch the park (see the loop) */
    /* Leader and followers: one idle worker at a time (the leader) waits
     * on the park itself, in poll(), and serves what comes without a
     * hand-off; the other idle workers wait on work_cv.  lwake wakes the
     * leader for work queued while no one waits on work_cv, or stop. */
    bool leader;
    unsigned ncv;        /* idle workers waiting on work_cv */
    int64_t progress_ms; /* when a request last ended, or a leader took some */
    int lwake;           /* eventfd */
    bool ready;          /* fully initialised: close has work to undo */
    pthread_attr_t attr;
    struct worker *slots; /* max_workers of them */
};

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int ss__pool_create(ss_server *s)
{
    const ss_config *c = &s->cfg;
    struct ss_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->lwake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->lwake < 0) {
        int err = -errno;
        free(p);
        return err;
    }
    p->cap = c->queue_capacity;
    p->q = calloc(p->cap, sizeof *p->q);
    p->qt = calloc(p->cap, sizeof *p->qt);
    p->slots = calloc(c->max_workers, sizeof *p->slots);
    pthread_condattr_t ca;
    int rc = (!p->q || !p->qt || !p->slots) ? ENOMEM : 0;
    if (rc == 0)
        rc = pthread_condattr_init(&ca);
    if (rc == 0) {
        /* Idle retirement must not jump when the wall clock is set. */
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(&p->work_cv, &ca);
        if (rc == 0)
            rc = pthread_cond_init(&p->room_cv, &ca);
        if (rc == 0)
            rc = pthread_cond_init(&p->done_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (rc == 0)
        rc = pthread_mutex_init(&p->mu, NULL);
    if (rc == 0)
        rc = pthread_attr_init(&p->attr);
    if (rc == 0) {
        size_t stack =
            c->worker_stack_size ? c->worker_stack_size : DEFAULT_STACK;
        if (stack < (size_t)PTHREAD_STACK_MIN)
            stack = (size_t)PTHREAD_STACK_MIN;
        rc = pthread_attr_setstacksize(&p->attr, stack);
    }
    s->pool = p; /* freed by ss_server_destroy; the rest by pool_close */
    if (rc != 0)
        return -rc;
    for (unsigned i = 0; i < c->max_workers; i++)
        p->slots[i].s = s;
    p->ready = true;
    return 0;
}

/* Python's process_request_thread: finish_request, then shutdown_request
 * whatever happened -- unless the request was parked.  Runs on a pool
 * worker. */
static int ss_threading_process_request_thread(ss_server *s, ss_conn *conn)
{
    int rc = s->ops.finish_request(s, conn);
    if (rc != SS_KEEP)
        ss__end_request(s, conn);
    if (!ss__is_stream(s))
        free((void *)conn->data); /* the pool's copy of the packet */
    return rc;
}

static void queue_ready_locked(ss_server *s, struct ss_pool *p, ss_request **rs,
                               int n, int64_t now, unsigned wake);

static void poke_leader(struct ss_pool *p)
{
    uint64_t one = 1;
    (void)!write(p->lwake, &one, sizeof one);
}

/* With p->mu held: one idle worker to the queue. */
static void wake_one_locked(struct ss_pool *p)
{
    if (p->ncv > 0)
        pthread_cond_signal(&p->work_cv);
    else if (p->leader)
        poke_leader(p);
}

/* With p->mu held, a worker with nothing to do and no leader: it waits on
 * the park (and lwake) itself, up to its idle time, and queues what it
 * takes -- for itself, first.  Returns false when it waited the whole idle
 * time for nothing. */
static bool lead(ss_server *s, struct ss_pool *p)
{
    p->leader = true;
    p->nidle++;
    p->busy_reported = false;
    pthread_mutex_unlock(&p->mu);
    struct pollfd f[2] = {{.fd = ss__park_fd(s), .events = POLLIN},
                          {.fd = p->lwake, .events = POLLIN}};
    int ms = s->cfg.idle_worker_ms > 0 ? s->cfg.idle_worker_ms : -1;
    int n = poll(f, 2, ms);
    ss_request *rs[READY_BATCH];
    int got = 0;
    if (n > 0 && (f[1].revents & POLLIN)) {
        uint64_t v;
        (void)!read(p->lwake, &v, sizeof v);
    }
    if (n > 0 && (f[0].revents & POLLIN))
        got = ss__park_ready(s, rs, READY_BATCH, true);
    pthread_mutex_lock(&p->mu);
    p->leader = false;
    p->nidle--;
    if (got > 0) {
        p->progress_ms = ss__now_ms();
        queue_ready_locked(s, p, rs, got, p->progress_ms, 0);
    }
    /* No leader now.  Off to work, the leader keeps its batch and leads
     * again when done: waking a follower to lead instead only makes two
     * workers take turns (on 2 CPUs, 100 parked echo connections ran at
     * 0.7x of one leader).  Whatever the reason it left -- work, a poke,
     * its idle time (it may retire) -- the loop, which counted on a
     * leader, is told: it watches the park again, or looks every
     * HARVEST_MS while the work lasts, until a worker leads again. */
    if (p->loop_blind) {
        p->loop_blind = false;
        ss__wake(s);
    }
    return n != 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    ss_server *s = w->s;
    struct ss_pool *p = s->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct timespec until;
        if (s->cfg.idle_worker_ms > 0)
            deadline_after(&until, s->cfg.idle_worker_ms);
        bool retire = false;
        while (!p->stop && !retire) {
            bool none = p->count == 0 && p->nready == 0;
            if (s->park && !p->leader && none && atomic_load(&s->parking)) {
                if (!lead(s, p) && p->count == 0 && p->nready == 0 &&
                    p->nthreads > s->cfg.min_workers)
                    retire = true;
                continue;
            }
            if (!none)
                break;
            int rc;
            p->nidle++;
            p->ncv++;
            p->busy_reported = false; /* a worker is free: episode over */
            if (s->cfg.idle_worker_ms > 0)
                rc = pthread_cond_timedwait(&p->work_cv, &p->mu, &until);
            else
                rc = pthread_cond_wait(&p->work_cv, &p->mu);
            p->nidle--;
            p->ncv--;
            if (rc == ETIMEDOUT && p->count == 0 && p->nready == 0 &&
                p->nthreads > s->cfg.min_workers)
                retire = true;
        }
        if (p->count == 0 && p->nready == 0)
            break; /* retiring, or stopping with nothing left to do */
        bool take_ready = p->nready > 0 && (p->count == 0 || p->ready_turn);
        p->ready_turn = !take_ready;
        ss_request *r = NULL;
        ss_conn c;
        if (take_ready) {
            r = p->rq;
            p->rq = r->qnext;
            if (!p->rq)
                p->rq_tail = NULL;
            p->nready--;
            /* More than a batch waiting: one more worker, and that one
             * wakes the next if it is still so (a chain, not a herd). */
            if (p->nready > READY_BATCH && p->nidle > 0)
                wake_one_locked(p);
        } else {
            c = p->q[p->head];
            p->head = (p->head + 1) % p->cap;
            p->count--;
            if (p->loop_waiting) {
                p->loop_waiting = false;
                ss__wake(s); /* BLOCK policy: the loop may accept again */
            }
            pthread_cond_signal(&p->room_cv);
        }
        p->busy++;
        pthread_mutex_unlock(&p->mu);

        if (r)
            (void)ss__request_resume(s, r);
        else
            ss_threading_process_request_thread(s, &c);

        /* Out of work, take what the park has ready before sleeping: under
         * load the workers serve parked connections without a hand-off
         * through the serving loop (it still takes them when they idle). */
        ss_request *rs[READY_BATCH];
        int n = 0;
        pthread_mutex_lock(&p->mu);
        bool idle = p->count == 0 && p->nready == 0 && !p->stop;
        pthread_mutex_unlock(&p->mu);
        if (s->park && idle)
            n = ss__park_ready(s, rs, READY_BATCH, false);
        int64_t now = ss__now_ms();
        pthread_mutex_lock(&p->mu);
        p->busy--;
        p->progress_ms = now;
        if (n > 0)
            queue_ready_locked(s, p, rs, n, now, 0);
        /* With nothing left, this worker leads next (or a leader is
         * already watching the park), so a loop that looks at the park
         * only every HARVEST_MS need not be told. */
        pthread_cond_broadcast(&p->done_cv);
    }
    p->nthreads--;
    w->state = SLOT_EXITED; /* joined by the next spawn or by close */
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Called with p->mu held.  Reuses the slot of a worker that retired. */
static int spawn_locked(ss_server *s, struct ss_pool *p)
{
    for (unsigned i = 0; i < s->cfg.max_workers; i++) {
        struct worker *w = &p->slots[i];
        if (w->state == SLOT_RUNNING)
            continue;
        if (w->state == SLOT_EXITED) {
            /* It has left the lock for good; joining cannot deadlock. */
            pthread_join(w->tid, NULL);
            w->state = SLOT_FREE;
        }
        int rc = pthread_create(&w->tid, &p->attr, worker_main, w);
        if (rc != 0)
            return -rc;
        w->state = SLOT_RUNNING;
        p->nthreads++;
        return 0;
    }
    return -EAGAIN;
}

/* Called with p->mu held after queueing n requests: wakes idle workers and
 * starts new ones for the work no idle worker covers, up to max_workers.
 * Returns 0 or a failed start's error. */
static int wake_workers_locked(ss_server *s, struct ss_pool *p, unsigned n)
{
    unsigned work = p->count + p->nready;
    unsigned cover = p->nthreads - p->busy; /* idle, or starting */
    for (unsigned i = 0; i < n; i++) {
        if (work > cover && p->nthreads < s->cfg.max_workers) {
            int rc = spawn_locked(s, p);
            if (rc < 0)
                return rc;
            cover++;
        } else {
            wake_one_locked(p);
        }
    }
    return 0;
}

/* The serving loop's watch, once per turn: a request that has waited
 * STARVE_MS for a worker while every one of max_workers is busy is said
 * once per episode (until a worker finds the queue empty).  Short waits
 * behind busy workers are normal (SS_KEEP handlers, bursts) and not
 * reported.  Returns the loop's poll timeout, shortened to wake for the
 * next check. */
int ss__pool_watch(ss_server *s, int64_t now, int timeout_ms)
{
    struct ss_pool *p = s->pool;
    bool report = false;
    pthread_mutex_lock(&p->mu);
    int64_t oldest = INT64_MAX;
    if (p->count > 0)
        oldest = p->qt[p->head];
    if (p->rq && p->rq->queued_ms < oldest)
        oldest = p->rq->queued_ms;
    /* A worker that took a batch from the park serves it alone (on a
     * small machine a second worker would only take turns with it); if
     * its requests wait NUDGE_MS -- it is on a long one -- one more worker
     * comes, started if need be.  The loop wakes to look. */
    if (oldest != INT64_MAX) {
        int64_t left = oldest + NUDGE_MS - now;
        if (left <= 0)
            (void)wake_workers_locked(s, p, 1);
        else if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = (int)left;
    }
    if (oldest != INT64_MAX && !p->busy_reported) {
        int64_t left = oldest + STARVE_MS - now;
        if (left <= 0 && p->nthreads >= s->cfg.max_workers) {
            p->busy_reported = true;
            report = true;
        } else if (left > 0 && (timeout_ms < 0 || left < timeout_ms)) {
            timeout_ms = (int)left;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (report) {
        char what[96];
        snprintf(what, sizeof what,
                 "all %u workers busy (max_workers): requests wait",
                 s->cfg.max_workers);
        ss__report(s, NULL, -EAGAIN, what);
    }
    return timeout_ms;
}

/* With p->mu held: queues n requests from the park and wakes (or starts)
 * up to `wake` workers for them. */
static void queue_ready_locked(ss_server *s, struct ss_pool *p, ss_request **rs,
                               int n, int64_t now, unsigned wake)
{
    for (int i = 0; i < n; i++) {
        rs[i]->qnext = NULL;
        rs[i]->queued_ms = now;
        if (p->rq_tail)
            p->rq_tail->qnext = rs[i];
        else
            p->rq = rs[i];
        p->rq_tail = rs[i];
        p->nready++;
    }
    int err = wake_workers_locked(s, p, wake);
    if (err < 0 && !p->spawn_reported) {
        p->spawn_reported = true; /* the workers there are will serve them */
        p->spawn_err = err;
    }
}

void ss__pool_push_ready(ss_server *s, ss_request **rs, int n)
{
    struct ss_pool *p = s->pool;
    if (n <= 0)
        return;
    int64_t now = ss__now_ms();
    pthread_mutex_lock(&p->mu);
    queue_ready_locked(s, p, rs, n, now, 1);
    int err = p->spawn_err;
    p->spawn_err = 0;
    pthread_mutex_unlock(&p->mu);
    if (err < 0)
        ss__report(s, NULL, err, "start a worker");
}

int ss__pool_park_watch(ss_server *s, int stall_ms)
{
    struct ss_pool *p = s->pool;
    pthread_mutex_lock(&p->mu);
    int w = p->leader ? SS__PARK_LEADER
            : p->busy > 0 && ss__now_ms() - p->progress_ms < stall_ms
                ? SS__PARK_TICK
            : p->busy > 0 ? SS__PARK_STALLED
                          : SS__PARK_WATCH;
    p->loop_blind = w != SS__PARK_WATCH;
    pthread_mutex_unlock(&p->mu);
    return w;
}

bool ss__pool_has_room(ss_server *s)
{
    struct ss_pool *p = s->pool;
    if (s->cfg.queue_full_policy == SS_QUEUE_FULL_REJECT)
        return true; /* accept, then reject in process_request */
    pthread_mutex_lock(&p->mu);
    bool room = p->count < p->cap;
    if (!room)
        p->loop_waiting = true;
    pthread_mutex_unlock(&p->mu);
    return room;
}

static int reject(ss_server *s, ss_conn *conn, int err, const char *what)
{
    atomic_fetch_add(&s->rejected, 1);
    ss__report(s, conn, err, what);
    ss__end_request(s, conn);
    return err;
}

/* ThreadingMixIn.process_request, bounded: queue the request for a worker
 * instead of starting a thread for it.  A worker is started only when no
 * idle one can take the request and the pool is below max_workers. */
int ss_threading_process_request(ss_server *s, ss_conn *conn)
{
    struct ss_pool *p = s->pool;
    if (!ss__is_stream(s)) {
        /* The packet lives in the server's buffer: the next recvfrom
         * would overwrite it before a worker reads it. */
        void *copy = malloc(conn->len ? conn->len : 1);
        if (!copy)
            return reject(s, conn, -ENOMEM, "queue packet");
        memcpy(copy, conn->data, conn->len);
        conn->data = copy;
    }
    pthread_mutex_lock(&p->mu);
    while (p->count == p->cap && !p->stop) {
        if (s->cfg.queue_full_policy == SS_QUEUE_FULL_REJECT)
            break;
        pthread_cond_wait(&p->room_cv, &p->mu); /* handle_request path */
    }
    int err = p->stop ? -ECANCELED : (p->count == p->cap ? -EBUSY : 0);
    if (err == 0) {
        unsigned at = (p->head + p->count) % p->cap;
        p->q[at] = *conn;
        p->qt[at] = ss__now_ms();
        p->count++;
        int rc = wake_workers_locked(s, p, 1);
        if (rc < 0 && p->nthreads == 0) {
            /* Nobody would ever run it: take it back. */
            p->count--;
            err = rc;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (err == 0)
        return 0;
    if (!ss__is_stream(s)) {
        free((void *)conn->data);
        conn->data = NULL;
    }
    return reject(s, conn, err,
                  err == -EBUSY ? "request queue full" : "queue request");
}

/* Waits until nothing is queued or running, or until deadline_ms passes
 * (-1: forever).  Called with p->mu held.  Returns true when drained. */
static bool wait_drained(struct ss_pool *p, int drain_ms)
{
    struct timespec until;
    if (drain_ms > 0)
        deadline_after(&until, drain_ms);
    while (p->count > 0 || p->nready > 0 || p->busy > 0) {
        if (drain_ms == 0)
            return false;
        if (drain_ms < 0) {
            pthread_cond_wait(&p->done_cv, &p->mu);
        } else if (pthread_cond_timedwait(&p->done_cv, &p->mu, &until) ==
                   ETIMEDOUT) {
            return p->count == 0 && p->nready == 0 && p->busy == 0;
        }
    }
    return true;
}

void ss__pool_close(ss_server *s, int drain_ms)
{
    struct ss_pool *p = s->pool;
    if (!p || !p->ready)
        return;
    p->ready = false;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_cond_broadcast(&p->room_cv);
    poke_leader(p);
    if (!wait_drained(p, drain_ms)) {
        /* Deadline: what is still queued never started; drop it. */
        while (p->count > 0) {
            ss_conn c = p->q[p->head];
            p->head = (p->head + 1) % p->cap;
            p->count--;
            pthread_mutex_unlock(&p->mu);
            atomic_fetch_add(&s->rejected, 1);
            ss__end_request(s, &c);
            if (!ss__is_stream(s))
                free((void *)c.data);
            pthread_mutex_lock(&p->mu);
        }
        while (p->rq) { /* parked, then ready, never resumed */
            ss_request *r = p->rq;
            p->rq = r->qnext;
            p->nready--;
            pthread_mutex_unlock(&p->mu);
            ss__request_abort(s, r, -ESHUTDOWN);
            pthread_mutex_lock(&p->mu);
        }
        p->rq_tail = NULL;
        pthread_mutex_unlock(&p->mu);
        ss__cut_running(s); /* blocked handlers return with an error */
        pthread_mutex_lock(&p->mu);
        (void)wait_drained(p, -1);
    }
    pthread_mutex_unlock(&p->mu);
    /* Every worker now sees stop with an empty queue and leaves. */
    for (unsigned i = 0; i < s->cfg.max_workers; i++) {
        struct worker *w = &p->slots[i];
        pthread_mutex_lock(&p->mu);
        enum slot_state st = w->state;
        pthread_mutex_unlock(&p->mu);
        if (st != SLOT_FREE) {
            pthread_join(w->tid, NULL);
            w->state = SLOT_FREE;
        }
    }
    pthread_attr_destroy(&p->attr);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->room_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    close(p->lwake);
    p->lwake = -1;
    free(p->q);
    free(p->qt);
    free(p->slots);
    p->q = NULL;
    p->qt = NULL;
    p->slots = NULL;
}

void ss__pool_free(ss_server *s)
{
    if (s->pool && !s->pool->ready) {
        if (s->pool->lwake >= 0)
            close(s->pool->lwake);
        free(s->pool->q);
        free(s->pool->qt);
        free(s->pool->slots);
    }
    free(s->pool);
    s->pool = NULL;
}

void ss__pool_stats(ss_server *s, ss_server_stats *st)
{
    struct ss_pool *p = s->pool;
    if (!p->ready)
        return; /* closed */
    pthread_mutex_lock(&p->mu);
    st->workers = p->nthreads;
    st->idle_workers = p->nidle;
    st->queued = p->count;
    pthread_mutex_unlock(&p->mu);
}
