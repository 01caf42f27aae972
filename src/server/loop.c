/* loop.c -- serve_forever, handle_request and shutdown: the serving loop. */
#include <errno.h>
#include <poll.h>
#include <signal.h>

#include "internal.h"

/* Connections serve_forever accepts per wake-up at most. */
#define ACCEPT_BATCH 32
/* How often the loop looks at the park while the workers take from it. */
#define HARVEST_MS 2

/* The rest of _handle_request_noblock once the client's address is known
 * (at accept, or after a PROXY header): verify_request -> admission ->
 * process_request.  From the moment process_request is called it owns the
 * connection. */
static int verify_and_process(ss_server *s, ss_conn *conn)
{
    if (!s->ops.verify_request(s, conn)) {
        atomic_fetch_add(&s->rejected, 1);
        s->ops.shutdown_request(s, conn);
        return 0;
    }
    int rc = ss__admit(s, conn);
    if (rc < 0) {
        atomic_fetch_add(&s->rejected, 1);
        ss__report(s, conn, rc, "admission");
        s->ops.shutdown_request(s, conn);
        return 0;
    }
    return s->ops.process_request(s, conn);
}

/* Python's _handle_request_noblock: called when fileno() is readable.
 * get_request -> [PROXY header] -> verify_and_process.  *accepted says
 * whether get_request produced a connection (false: nothing was waiting,
 * or accept failed), which serve_forever's accept batch needs.  in_loop:
 * serve_forever runs, and a connection from a trusted proxy waits for its
 * header in the loop (proxy.c) instead of here. */
static int handle_one(ss_server *s, bool *accepted, bool in_loop)
{
    ss_conn conn = {.fd = -1};
    *accepted = false;
    int rc = s->ops.get_request(s, &conn);
    if (rc == -EAGAIN)
        return 0;
    if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
        /* Pause accepting instead of spinning on a listen socket that
         * stays readable; say so once per episode, not once per retry. */
        s->accept_paused = true;
        s->accept_resume_ms = ss__now_ms() + s->accept_backoff_ms;
        if (s->accept_backoff_ms < 1000)
            s->accept_backoff_ms *= 2;
        if (!s->accept_error_reported) {
            s->accept_error_reported = true;
            ss__report(s, NULL, rc, "accept (pausing until descriptors free)");
        }
        return rc;
    }
    if (rc < 0) {
        ss__report(s, conn.addrlen ? &conn : NULL, rc, "get_request");
        return rc;
    }
    s->accept_error_reported = false;
    s->accept_backoff_ms = 10;
    *accepted = true;

    if (ss__is_stream(s)) {
        rc = ss__stream_prepare(s, conn.fd);
        if (rc < 0) {
            ss__report(s, &conn, rc, "setsockopt SO_RCVTIMEO/SO_SNDTIMEO");
            s->ops.shutdown_request(s, &conn);
            return rc;
        }
    }
    if (s->proxy && ss__proxy_trusted(s, &conn)) {
        if (in_loop) {
            (void)ss__proxy_begin(s, &conn); /* refused: reported */
            return 0;
        }
        if (ss__proxy_wait_in_place(s, &conn) < 0)
            return 0; /* reported and closed */
    }
    return verify_and_process(s, &conn);
}

static int ss_handle_request_noblock(ss_server *s)
{
    bool accepted;
    return handle_one(s, &accepted, false);
}

static bool can_accept(ss_server *s)
{
    if (s->accept_paused)
        return false;
    if (s->pool && !ss__pool_has_room(s))
        return false; /* SS_QUEUE_FULL_BLOCK: backpressure */
    if (s->forking && !ss__forking_has_room(s))
        return false; /* max_children: wait for one of ours to exit */
    return true;
}

/* Connections whose PROXY header is in (or late): on to admission, one
 * at a time while there is room, as accept does (process_request must not
 * wait for a queue slot on this thread); the rest stay in the epoll set. */
static void service_proxy(ss_server *s)
{
    ss_conn conn;
    for (int i = 0; i < ACCEPT_BATCH && can_accept(s) &&
                    !atomic_load(&s->shutdown_request);
         i++) {
        if (ss__proxy_ready(s, ss__now_ms(), &conn, 1) != 1)
            break;
        (void)verify_and_process(s, &conn);
    }
}

/* Requests the park hands back (input arrived, or a deadline passed) run
 * on the serving thread under SS_SYNC and on the workers under
 * SS_THREADING. */
static void dispatch_parked(ss_server *s, ss_request **rs, int n)
{
    if (s->pool) {
        ss__pool_push_ready(s, rs, n);
        return;
    }
    for (int i = 0; i < n; i++)
        (void)ss__request_resume(s, rs[i]);
}

static void service_park(ss_server *s, bool readable)
{
    ss_request *rs[64];
    int n;
    if (readable) {
        n = ss__park_ready(s, rs, 64, true);
        if (n < 0)
            ss__report(s, NULL, n, "epoll_wait");
        else
            dispatch_parked(s, rs, n);
    }
    while ((n = ss__park_expired(s, ss__now_ms(), rs, 64)) > 0)
        dispatch_parked(s, rs, n);
}

static int min_timeout(int a, int64_t b)
{
    if (b < 0)
        b = 0;
    if (a < 0 || b < a)
        return (int)b;
    return a;
}

int ss_server_serve_forever(ss_server *s, int poll_interval_ms)
{
    pthread_mutex_lock(&s->mu);
    if (s->closed || s->serving) {
        int busy = s->serving;
        pthread_mutex_unlock(&s->mu);
        /* Not -EBUSY: that is the pool's "request queue full" (one
         * meaning per code, so ss_strerror can name it). */
        return busy ? -EALREADY : -EBADF;
    }
    s->serving = true;
    s->serving_thread = pthread_self();
    /* A new run is not stopping, unless a shutdown is already pending. */
    atomic_store(&s->stopping, atomic_load(&s->shutdown_request));
    pthread_mutex_unlock(&s->mu);

    int rc = 0;
    /* A shutdown requested before we got here (say, SIGTERM at start-up)
     * still counts: the flag is only consumed when the loop ends. */
    atomic_store(&s->parking, s->park != NULL);
    while (!atomic_load(&s->shutdown_request)) {
        struct pollfd some[4];
        struct pollfd *p = s->forking ? s->pfds : some;
        bool accept = can_accept(s);
        p[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
        /* When not accepting, the slot is ignored (fd -1). */
        p[1] = (struct pollfd){.fd = accept ? s->fd : -1, .events = POLLIN};
        nfds_t nfd = 2;
        if (s->forking) /* a child's exit wakes us: reap it at once */
            nfd += ss__forking_pollfds(s, p + 2);
        /* Parked connections with input.  An idle worker may be watching
         * them itself (the leader, which serves what comes); while workers
         * are at work and none leads, they take them as they finish (no
         * hand-off through this thread), and we look only every
         * HARVEST_MS, in case the work is long and another worker must
         * come. */
        int watch = s->park && s->pool ? ss__pool_park_watch(s, HARVEST_MS)
                                       : SS__PARK_WATCH;
        bool harvest = watch == SS__PARK_STALLED;
        nfds_t park_slot = nfd;
        if (s->park)
            p[nfd++] = (struct pollfd){
                .fd = watch == SS__PARK_WATCH ? ss__park_fd(s) : -1,
                .events = POLLIN};
        /* Connections from a trusted proxy waiting for their header; as
         * the listening socket, ignored while not accepting. */
        if (s->proxy)
            p[nfd++] = (struct pollfd){.fd = accept ? ss__proxy_fd(s) : -1,
                                       .events = POLLIN};
        int timeout = poll_interval_ms;
        if (watch == SS__PARK_TICK || harvest)
            timeout = min_timeout(timeout, HARVEST_MS);
        if (s->accept_paused)
            timeout = min_timeout(timeout, s->accept_resume_ms - ss__now_ms());
        if (s->park)
            timeout = ss__park_sleep_ms(s, ss__now_ms(), timeout);
        /* Late headers are dealt with only while accepting (as the
         * slot above): waking for them otherwise would spin. */
        if (s->proxy && accept)
            timeout = ss__proxy_sleep_ms(s, ss__now_ms(), timeout);
        if (s->pool)
            timeout = ss__pool_watch(s, ss__now_ms(), timeout);
        int n = poll(p, nfd, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (atomic_load(&s->shutdown_request))
            break;
        if (p[0].revents & POLLIN) {
            ss__drain_wake(s);
            s->accept_paused = false; /* a descriptor was freed: retry */
        }
        if (s->accept_paused && ss__now_ms() >= s->accept_resume_ms)
            s->accept_paused = false;
        if (accept && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            /* A burst of connections is taken in one wake-up, up to
             * ACCEPT_BATCH, instead of one poll() per accept; the batch
             * ends as soon as the backlog is empty or we must stop. */
            bool more = true;
            for (int i = 0; more && i < ACCEPT_BATCH; i++) {
                (void)handle_one(s, &more, true);
                more =
                    more && !atomic_load(&s->shutdown_request) && can_accept(s);
            }
        }
        /* Waited a tick while workers were at work: still nothing done? */
        if (watch == SS__PARK_TICK)
            harvest = ss__pool_park_watch(s, HARVEST_MS) == SS__PARK_STALLED;
        if (s->park)
            service_park(s, harvest || p[park_slot].revents != 0);
        if (s->proxy) /* headers in, and headers late */
            service_proxy(s);
        s->ops.service_actions(s);
    }

    atomic_store(&s->parking, false);
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->shutdown_request, false);
    s->serving = false;
    pthread_cond_broadcast(&s->shut_cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ss_server_handle_request(ss_server *s)
{
    int timeout = s->cfg.timeout_ms;
    int64_t deadline = timeout >= 0 ? ss__now_ms() + timeout : 0;
    if (s->fd < 0)
        return -EBADF;
    for (;;) {
        int wait = -1;
        if (timeout >= 0) {
            int64_t left = deadline - ss__now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
                              {.fd = s->wake_fd, .events = POLLIN}};
        int n = poll(p, 2, wait);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            s->ops.handle_timeout(s);
            return -ETIMEDOUT;
        }
        if (p[1].revents & POLLIN)
            ss__drain_wake(s);
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP))
            return ss_handle_request_noblock(s);
    }
}

void ss_server_request_shutdown(ss_server *s)
{
    atomic_store(&s->stopping, true);
    atomic_store(&s->shutdown_request, true);
    ss__wake(s);
}

/* Python's shutdown() waits for serve_forever to end, which deadlocks when
 * called from the serving thread (bpo-2451 in the docs' own words: "must be
 * called while serve_forever() is running in another thread").  We wait only
 * when another thread is serving. */
int ss_server_shutdown(ss_server *s)
{
    if (!s)
        return -EINVAL;
    ss_server_request_shutdown(s);
    pthread_mutex_lock(&s->mu);
    if (s->serving && !pthread_equal(s->serving_thread, pthread_self())) {
        while (s->serving)
            pthread_cond_wait(&s->shut_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- stopping on SIGINT/SIGTERM ------------------------------------------ */

/* The servers the handler stops: lock-free atomics, so the handler may run
 * at any instant, on any thread. */
#define SIGNAL_SERVERS 8
static _Atomic(ss_server *) signal_servers[SIGNAL_SERVERS];

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    for (int i = 0; i < SIGNAL_SERVERS; i++) {
        ss_server *s = atomic_load(&signal_servers[i]);
        if (s != NULL)
            ss_server_request_shutdown(s); /* async-signal-safe */
    }
    errno = saved;
}

int ss_server_shutdown_on_signals(ss_server *s)
{
    if (!s)
        return -EINVAL;
    int slot = -1;
    for (int i = 0; i < SIGNAL_SERVERS && slot < 0; i++)
        if (atomic_load(&signal_servers[i]) == s)
            slot = i;
    for (int i = 0; i < SIGNAL_SERVERS && slot < 0; i++) {
        ss_server *none = NULL;
        if (atomic_compare_exchange_strong(&signal_servers[i], &none, s))
            slot = i;
    }
    if (slot < 0)
        return -ENOSPC;
    /* SA_RESTART: other threads' reads and writes go on; serve_forever's
     * poll() still returns at once, through the wake-up descriptor. */
    struct sigaction act = {.sa_handler = on_stop_signal,
                            .sa_flags = SA_RESTART};
    sigemptyset(&act.sa_mask);
    if (sigaction(SIGINT, &act, NULL) < 0 ||
        sigaction(SIGTERM, &act, NULL) < 0) {
        int err = -errno;
        atomic_store(&signal_servers[slot], NULL);
        return err;
    }
    return 0;
}

void ss__signals_forget(ss_server *s)
{
    for (int i = 0; i < SIGNAL_SERVERS; i++) {
        ss_server *mine = s;
        (void)atomic_compare_exchange_strong(&signal_servers[i], &mine, NULL);
    }
}
