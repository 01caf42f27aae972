/* util.h -- shared helpers for the libsocketserver tests.
 *
 * Rules the helpers enforce so each test can stay short:
 *   - every wait has a deadline (no test can hang, none sleeps a fixed time
 *     to "let the server start"): readiness comes from ss_server_create()
 *     returning, from an ev posted by a handler, or from a bounded poll on
 *     ss_server_get_stats();
 *   - handlers never call cmocka asserts (they run on other threads or in
 *     other processes); they record into atomics or an ev, and the test
 *     thread asserts;
 *   - client sockets only talk to 127.0.0.1, ::1 or Unix sockets.
 *
 * Names: every helper library of the tests carries one prefix of its own,
 * so a test's own names and the code under test's never collide: tl_ here
 * (tests/lib), tu_ in tests/proto/testutil.h, tmpdir_ in
 * tests/handler/tmpdir.h.  The fixtures F and H are the exceptions, as
 * cmocka's own fixtures are by habit.
 */
#ifndef SS_TEST_UTIL_H
#define SS_TEST_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h> /* cmocka needs these first */
#include <cmocka.h>

#include "socketserver.h"

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tl_now_ms(void);

/* Bounded polling loop: re-evaluates cond every millisecond for at most
 * timeout_ms and leaves its final truth value in the bool ok.  Only for
 * state that has no event to wait on (server stats, /proc counters). */
#define WAIT_UNTIL(ok, cond, timeout_ms)                                       \
    do {                                                                       \
        int64_t wu_end_ = tl_now_ms() + (timeout_ms);                          \
        while (!((ok) = (cond)) && tl_now_ms() < wu_end_)                      \
            tl_nap_ms(1);                                                      \
    } while (0)
void tl_nap_ms(int ms);

/* ---- events and gates between handlers and the test thread ------------ */

/* A counter handlers post to; the test waits until it reaches n. */
typedef struct tl_ev {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned count;
} tl_ev;
void tl_ev_init(tl_ev *e);
void tl_ev_destroy(tl_ev *e);
void tl_ev_post(tl_ev *e);
unsigned tl_ev_count(tl_ev *e);
/* True if count >= n within timeout_ms. */
bool tl_ev_wait(tl_ev *e, unsigned n, int timeout_ms);

/* A gate handlers block on (bounded) until the test opens it. */
typedef struct tl_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
} tl_gate;
void tl_gate_init(tl_gate *g);
void tl_gate_destroy(tl_gate *g);
void tl_gate_open(tl_gate *g);
/* True if the gate opened within timeout_ms. */
bool tl_gate_wait(tl_gate *g, int timeout_ms);

/* ---- running serve_forever() on a thread -------------------------------- */

typedef struct tl_runner {
    ss_server *s;
    int poll_ms;
    pthread_t th;
    bool started;
    tl_ev done;      /* posted when serve_forever() has returned */
    _Atomic int tid; /* the serving thread's kernel id */
    int rc;          /* its return value (read after tl_runner_wait/stop) */
} tl_runner;
void tl_runner_start(tl_runner *r, ss_server *s, int poll_ms);
/* True if serve_forever() returned within timeout_ms. */
bool tl_runner_wait(tl_runner *r, int timeout_ms);
/* ss_server_shutdown(), then join.  Returns serve_forever()'s result. */
int tl_runner_stop(tl_runner *r);
/* Join only (serve_forever() must already be returning). */
int tl_runner_join(tl_runner *r);
/* True while the serving thread sleeps in a system call (state 'S' in
 * /proc): after the last request is handled, that is its poll(). */
bool tl_runner_sleeping(tl_runner *r);

/* ---- servers ------------------------------------------------------------ */

/* ss_server_get_stats() by value, for WAIT_UNTIL conditions. */
ss_server_stats tl_stats_of(ss_server *s);

/* ss_config_init(kind), then concurrency, 127.0.0.1:0 or a fresh abstract
 * Unix path. */
void tl_cfg_for(ss_config *c, ss_kind kind, ss_concurrency cc);
/* A fresh Unix socket path: "@ss-test-<pid>-<n>" (abstract) or a file in a
 * private temporary directory. */
const char *tl_unix_path(bool abstract);

/* A client socket connected to the server's real address (any-address is
 * replaced by loopback).  Datagram Unix clients are autobound so replies can
 * reach them.  Returns the fd or -errno. */
int tl_connect_server(ss_server *s);
int tl_connect_tcp(const char *host, uint16_t port, int timeout_ms);
/* Same, from a given local IPv4 source address. */
int tl_connect_tcp_from(const char *src, const char *host, uint16_t port,
                        int timeout_ms);
int tl_connect_unix(const char *path, int type);

/* Writes all of buf (MSG_NOSIGNAL).  0 or -errno. */
int tl_send_all(int fd, const void *buf, size_t n);
int tl_send_str(int fd, const char *s);
/* Reads exactly n bytes within timeout_ms: n, fewer at EOF, or -errno
 * (-ETIMEDOUT). */
ssize_t tl_recv_n(int fd, void *buf, size_t n, int timeout_ms);
/* Reads one '\n'-terminated line (byte at a time; fine for tests) into buf,
 * NUL-terminated.  Returns length, 0 at EOF, or -errno. */
ssize_t tl_recv_line(int fd, char *buf, size_t cap, int timeout_ms);
/* Waits for the peer to end the connection without sending data:
 * 1 = EOF or reset, 0 = still open at the deadline, -1 = data arrived. */
int tl_wait_closed(int fd, int timeout_ms);
/* One datagram within timeout_ms: its length or -errno. */
ssize_t tl_recv_dgram(int fd, void *buf, size_t cap, int timeout_ms);
/* Closes with SO_LINGER 0 so the peer gets a reset. */
void tl_close_reset(int fd);

/* ---- process accounting -------------------------------------------------- */
int tl_count_threads(void); /* "Threads:" of /proc/self/status */
int tl_count_fds(void);     /* entries of /proc/self/fd */

/* ---- handlers shared by several files ------------------------------------ */

/* Stream: echoes every line until EOF. */
extern const ss_handler_class tl_echo_stream_handler;
/* Stream: reads one line, replies "echo:<line>", returns. */
extern const ss_handler_class tl_echo_once_handler;
/* Datagram: replies with the packet. */
extern const ss_handler_class tl_echo_dgram_handler;

/* One full request/reply against s with any kind: sends msg (a line for
 * streams) and checks the echo.  Returns 0 or a negative code naming what
 * failed (for assert_int_equal). */
int tl_roundtrip_once(ss_server *s, const char *msg, bool once_handler);

/* ---- a record of handle_error calls (thread-safe) ----------------------- */
typedef struct tl_err_log {
    pthread_mutex_t mu;
    unsigned n;
    int err[64];
    bool had_conn[64];
    char what[64][32];
} tl_err_log;
void tl_err_log_init(tl_err_log *l);
void tl_err_log_add(tl_err_log *l, const ss_conn *conn, int err,
                    const char *what);
/* How many calls had this err (and, if conn_must >= 0, that conn-ness). */
unsigned tl_err_log_count(tl_err_log *l, int err, int conn_must);
unsigned tl_err_log_total(tl_err_log *l);

/* ---- per-test fixture ------------------------------------------------------ */

/* The server, serving thread and client sockets of the running test, so a
 * failed assertion (which longjmps out of the test) still tears down. */
typedef struct tl_fixture {
    ss_server *s;
    tl_runner r;
    int fds[512];
    int nfds;
} tl_fixture;
extern tl_fixture F;
/* Remembers a client fd for teardown; returns fd. */
int tl_fx_fd(int fd);
/* Closes a tracked fd now (and forgets it). */
void tl_fx_close(int fd);
/* Stops the runner, destroys the server, closes the client fds. */
int tl_fx_teardown(void **state);
/* Runs the tests of one file.  argv[1..] are optional name prefixes: with
 * any plain prefix only tests starting with one run; "!prefix" excludes. */
int tl_run_selected(const char *group, const struct CMUnitTest *tests, size_t n,
                    int argc, char **argv);

/* ---- requests held in flight (the pool, limits and handler suites) -------- */

/* What tl_held_handler and tl_logging_ops record, reset by tl_held_setup. */
typedef struct tl_held {
    tl_ev entered;   /* a held handler has read its line */
    tl_ev finished;  /* a held handler has returned */
    tl_gate release; /* held handlers wait for this (10 s at most) */
    _Atomic int inflight, max_inflight, max_workers_seen;
    tl_err_log
        errs; /* every handle_error call of a server using tl_logging_ops */
} tl_held;
extern tl_held H;
/* Stream: reads a line, counts itself in flight (and the pool's workers),
 * posts H.entered, waits at H.release, echoes "echo:<line>", posts
 * H.finished. */
extern const ss_handler_class tl_held_handler;
/* handle_error records into H.errs instead of printing. */
void tl_log_error(ss_server *s, const ss_conn *conn, int err, const char *what);
extern const ss_server_ops tl_logging_ops;
/* cmocka setup/teardown: resets H; the teardown opens the gate (no handler
 * is left parked), then tl_fx_teardown(), then frees H's events. */
int tl_held_setup(void **state);
int tl_held_teardown(void **state);

#endif
