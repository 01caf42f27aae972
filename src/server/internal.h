/* internal.h -- the server and request structures shared by src/server/. */
#ifndef SS_INTERNAL_H
#define SS_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "socketserver.h"

/* Internal symbols are hidden from the shared library (meson sets
 * -fvisibility=hidden); every function declared here carries the ss__
 * prefix, which marks it as not public API.  A function used by one file
 * only is static there.  The files call each other one way only (a DAG,
 * checked by tests/lib/check_server_dag.py):
 *
 *     server.c, loop.c          the life cycle and the serving loop
 *       pool.c, forking.c       the mix-ins
 *         stream.c, dgram.c     the kinds' steps
 *           base.c              BaseServer's default steps
 *             streamio.c        the handler's stream helpers
 *             request.c         a request's life: instance, report, end
 *             proxy.c           PROXY headers awaited (proxyproto.c parses)
 *               park.c          parked connections: epoll, idle deadlines
 *               limits.c        admission
 *                 sys.c, inet.c system calls, addresses
 */

struct ss_pool;
struct ss_forking;
struct ss_addr_entry;
struct ss_park;
struct ss_proxy;

/* Connection accounting: admitted stream connections and the per-address
 * table (limits.c). */
struct ss_limits {
    pthread_mutex_t mu;
    unsigned active;
    struct ss_addr_entry **buckets; /* NULL unless max_per_address */
};

/* The registry of running requests, so a drain can cut them (request.c). */
struct ss_running {
    pthread_mutex_t mu;
    ss_request *head; /* doubly linked through ss_request */
    bool cut;         /* drain deadline passed: cut new ones */
};

struct ss_server {
    ss_config cfg;
    char *host; /* owned copies of cfg.host / cfg.path */
    char *path;
    char *proxy_from;                /* owned copy of cfg.proxy_from */
    const ss_handler_class *handler; /* &handler_copy */
    ss_handler_class handler_copy;
    ss_server_ops ops;       /* in force: base <- kind <- mix-in <- user */
    ss_server_ops inherited; /* the same without the user's overrides */
    void *user;

    int fd;      /* listening or datagram socket, -1 when closed */
    int wake_fd; /* eventfd: shutdown and "room again" wake the loop */
    int family;
    int socktype;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool unlink_on_close;
    dev_t path_dev;
    ino_t path_ino;

    atomic_bool shutdown_request; /* Python's __shutdown_request */
    atomic_bool stopping;         /* shutdown or close has begun */
    atomic_bool parking;          /* serve_forever runs: it watches the park */

    pthread_mutex_t mu; /* guards serving/serving_thread/closed */
    pthread_cond_t shut_cv;
    bool serving;
    pthread_t serving_thread;
    bool closed;

    unsigned char *pkt;  /* datagram receive buffer (max_packet_size) */
    struct pollfd *pfds; /* forking: wake + listen + one per child */

    /* EMFILE/ENFILE: accepting paused until resume_ms (or a release). */
    atomic_bool accept_paused; /* read by workers releasing a conn */
    bool accept_error_reported;
    int64_t accept_resume_ms;
    int accept_backoff_ms;

    struct ss_limits lim;
    struct ss_running running;
    struct ss_pool *pool;
    struct ss_forking *forking;
    struct ss_park *park;   /* stream kinds under SS_SYNC or SS_THREADING */
    struct ss_proxy *proxy; /* cfg.proxy_protocol: headers awaited */

    atomic_uint_least64_t handled;
    atomic_uint_least64_t rejected;
    atomic_uint_least64_t errors;
};

struct ss_request {
    ss_server *server;
    ss_conn conn;
    void *state;
    int timeout_ms;
    bool stream;
    /* buffered reads (allocated on first buffered read) */
    unsigned char *rbuf;
    size_t rpos, rlen;
    /* datagram reply (allocated on first ss_dgram_reply) */
    unsigned char *wbuf;
    size_t wlen;
    bool replied;
    /* registry of running requests */
    ss_request *prev, *next;
    /* parking (park.c; guarded by the park's lock while parked) */
    int status;          /* what ended it: ss_request_status() */
    bool pending;        /* the handler holds input: call again at once */
    bool in_epoll;       /* in the park's epoll set (edge-triggered) */
    bool parked;         /* in the park, waiting (maybe in the heap) */
    bool again;          /* input arrived while not parked */
    bool drained;        /* this handle()'s last read emptied the socket */
    bool expired;        /* taken out of the park by its deadline */
    size_t heap_i;       /* index in the park's heap, or SIZE_MAX */
    int64_t due_ms;      /* when a parked wait ends (0: never) */
    int64_t deadline_ms; /* ss_request_set_deadline(): 0 none */
    ss_request *pprev, *pnext; /* the park's list of parked requests */
    ss_request *qnext;         /* the pool's queue of ready requests */
    int64_t queued_ms;         /* when it was queued there */
    /* ss_request_client_str() and ss_request_client_host(): in the same
     * allocation, after the handler's state, as long as they are (a few
     * dozen bytes, where fixed arrays took 236 in every request). */
    const char *client_str, *client_host;
};

static inline bool ss__is_stream(const ss_server *s)
{
    return s->socktype == SOCK_STREAM;
}

/* sys.c: checked system call helpers */
int64_t ss__now_ms(void);
int ss__poll_one(int fd, short events, int timeout_ms);
void ss__close(int fd);
void ss__wake(ss_server *s);
void ss__drain_wake(ss_server *s);
void ss__ignore_sigpipe(void);
int ss__eventfd(void);

/* inet.c: address resolution and socket creation */
int ss__resolve(ss_server *s);
/* cfg.listen_fd: checks the socket against cfg.kind, takes it over and
 * reads its address. */
int ss__adopt_socket(ss_server *s, int fd);
int ss__open_socket(ss_server *s);

/* limits.c */
int ss__limits_init(ss_server *s);
void ss__limits_destroy(ss_server *s);
int ss__admit(ss_server *s, ss_conn *conn);
void ss__release(ss_server *s, ss_conn *conn);
unsigned ss__active(ss_server *s);

/* request.c: a request's life.  ss__report counts and reports an error;
 * ss__end_request is the end of an admitted request in the process that
 * admitted it (shutdown_request, then the accounting release);
 * ss__cut_running shuts down every running request's socket. */
int ss__running_init(ss_server *s);
void ss__running_destroy(ss_server *s);
void ss__report(ss_server *s, const ss_conn *conn, int err, const char *what);
void ss__end_request(ss_server *s, ss_conn *conn);
void ss__cut_running(ss_server *s);

/* park.c: connections that wait for their next message.  The park owns
 * an epoll set (one-shot registrations) and a heap of deadlines; it never
 * calls a handler: it hands ready or expired requests back to its callers
 * (loop.c, pool.c), which resume them through request.c. */
/* When a wait for r's next input ends, parked or in place: its timeout
 * from now or its deadline, whichever is first (0: never). */
int64_t ss__request_due(const ss_request *r, int64_t now);
int ss__park_create(ss_server *s);
void ss__park_free(ss_server *s);
int ss__park_fd(ss_server *s);
/* Parks r (registered for input, its deadline in the heap): 0.  1 if input
 * is there already (run handle() again now).  -ESHUTDOWN once
 * ss__park_close() has run; -errno from epoll_ctl. */
int ss__park_add(ss_server *s, ss_request *r);
/* Before r ends: takes it out of the epoll set, so that no consumer can
 * hold an event for it once it is freed.  Not under the consumer lock. */
void ss__park_forget(ss_server *s, ss_request *r);
/* Up to cap requests whose input arrived, taken out of the park (no wait
 * for input).  wait: wait for another thread taking them, else return 0. */
int ss__park_ready(ss_server *s, ss_request **out, int cap, bool wait);
/* Up to cap requests whose deadline has passed, taken out and marked
 * expired. */
int ss__park_expired(ss_server *s, int64_t now, ss_request **out, int cap);
/* The loop's poll() timeout: timeout_ms (-1: none) or less, to wake for the
 * first deadline; records it, so that a deadline parked meanwhile that
 * comes sooner wakes the loop. */
int ss__park_sleep_ms(ss_server *s, int64_t now, int timeout_ms);
/* Refuses new parks and takes every parked request out, into *out (a list
 * through qnext). */
ss_request *ss__park_close(ss_server *s);
unsigned ss__park_count(ss_server *s);

/* request.c (parking): runs handle() again for a request taken from the
 * park, and on to its end.  Returns SS_KEEP if it was parked again. */
int ss__request_resume(ss_server *s, ss_request *r);
/* Ends a request taken from the park without running handle(): status,
 * finish(), the connection's end. */
void ss__request_abort(ss_server *s, ss_request *r, int status);

/* proxy.c: connections from a trusted proxy (cfg.proxy_from) wait for
 * their PROXY header before they are verified and admitted.  The serving
 * loop watches ss__proxy_fd() and the first timeout
 * (ss__proxy_sleep_ms); ss__proxy_ready hands back the connections whose
 * header was read, their address now the client's; a bad, cut or late
 * header is reported and closed there.  ss__proxy_wait_in_place is
 * ss_server_handle_request()'s blocking wait (0, or the connection is
 * closed and reported). */
int ss__proxy_create(ss_server *s);
void ss__proxy_close(ss_server *s);
void ss__proxy_free(ss_server *s);
/* In a forked child: closes the parent's waiting connections. */
void ss__proxy_child(ss_server *s);
bool ss__proxy_trusted(ss_server *s, const ss_conn *conn);
/* Takes conn over: 0 waiting, or -errno (reported, closed). */
int ss__proxy_begin(ss_server *s, ss_conn *conn);
int ss__proxy_fd(ss_server *s);
int ss__proxy_sleep_ms(ss_server *s, int64_t now, int timeout_ms);
int ss__proxy_ready(ss_server *s, int64_t now, ss_conn *out, int cap);
int ss__proxy_wait_in_place(ss_server *s, ss_conn *conn);

/* loop.c: ss_server_destroy() takes s off the signal handler's list. */
void ss__signals_forget(ss_server *s);

/* stream.c */
int ss__stream_prepare(ss_server *s, int fd);

/* pool.c */
int ss__pool_create(ss_server *s);
/* Queues requests taken from the park for the workers. */
void ss__pool_push_ready(ss_server *s, ss_request **rs, int n);
int ss__pool_watch(ss_server *s, int64_t now, int timeout_ms);
/* Who watches the parked connections, asked by the loop once per turn:
 * SS__PARK_LEADER, an idle worker does (and serves what comes itself);
 * SS__PARK_TICK, workers are at work, none leads, and one finished a
 * request less than stall_ms ago: they take from the park as they finish,
 * and the loop only looks again in stall_ms; SS__PARK_STALLED, the same but
 * nothing finished for stall_ms (the work is long): the loop takes what
 * waits and hands it to another worker; SS__PARK_WATCH, no worker is at
 * work or leads: the loop watches and hands over.  A leader that goes to
 * work wakes the loop. */
enum { SS__PARK_WATCH, SS__PARK_TICK, SS__PARK_STALLED, SS__PARK_LEADER };
int ss__pool_park_watch(ss_server *s, int stall_ms);
bool ss__pool_has_room(ss_server *s);
void ss__pool_close(ss_server *s, int drain_ms);
void ss__pool_stats(ss_server *s, ss_server_stats *st);
void ss__pool_free(ss_server *s);

/* forking.c */
int ss__forking_create(ss_server *s);
void ss__forking_close(ss_server *s, int drain_ms);
unsigned ss__forking_children(ss_server *s);
bool ss__forking_has_room(ss_server *s);
void ss__forking_free(ss_server *s);
unsigned ss__forking_pollfds(ss_server *s, struct pollfd *p);

#endif
