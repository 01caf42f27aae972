/* test_shutdown.c -- shutdown is immediate (no poll_interval wait), safe from
 * handlers and signal handlers; handle_request's timeout; service_actions. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define LONG_POLL 10000 /* ms: shutdown must not wait for this */

static atomic_int timeouts, actions;
static atomic_llong shutdown_called_at, shutdown_took;
static atomic_int shutdown_rc;
static tl_ev actions_ev;

static int sd_setup(void **state)
{
    (void)state;
    atomic_store(&timeouts, 0);
    atomic_store(&actions, 0);
    atomic_store(&shutdown_called_at, 0);
    atomic_store(&shutdown_took, -1);
    atomic_store(&shutdown_rc, 12345);
    tl_ev_init(&actions_ev);
    return 0;
}

static int sd_teardown(void **state)
{
    tl_fx_teardown(state);
    tl_ev_destroy(&actions_ev);
    return 0;
}

/* Waits until `handled` requests are done and the serving thread sleeps in
 * its poll(): a shutdown now must wake it, not catch it between requests. */
static void wait_loop_idle(uint64_t handled)
{
    bool ok;
    WAIT_UNTIL(ok,
               tl_stats_of(F.s).handled >= handled && tl_runner_sleeping(&F.r),
               3000);
    assert_true(ok);
}

static void start(ss_concurrency cc, const ss_handler_class *h,
                  const ss_server_ops *ops, int poll_ms)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, cc);
    assert_int_equal(ss_server_create(&F.s, &c, h, ops, NULL), 0);
    tl_runner_start(&F.r, F.s, poll_ms);
    /* A full round trip proves serve_forever() is inside its loop. */
    if (h == &tl_echo_stream_handler) {
        assert_int_equal(tl_roundtrip_once(F.s, "ready?", false), 0);
        wait_loop_idle(1);
    }
}

static void shutdown_from_thread_is_prompt(ss_concurrency cc)
{
    start(cc, &tl_echo_stream_handler, NULL, LONG_POLL);
    assert_false(ss_server_stopping(F.s));
    int64_t t0 = tl_now_ms();
    int rc = ss_server_shutdown(F.s);
    int64_t took = tl_now_ms() - t0;
    assert_int_equal(rc, 0);
    assert_in_range(took, 0, 99);
    /* shutdown() returns once serve_forever() is on its way out: the
     * serving thread then only has to return and say so (a moment, which
     * a loaded machine can stretch; it used to be given none). */
    assert_true(tl_runner_wait(&F.r, 2000));
    assert_int_equal(tl_runner_join(&F.r), 0);
    assert_true(ss_server_stopping(F.s));
}

static void sync_shutdown_from_another_thread_returns_within_100ms(void **st)
{
    (void)st;
    shutdown_from_thread_is_prompt(SS_SYNC);
}

static void
threading_shutdown_from_another_thread_returns_within_100ms(void **st)
{
    (void)st;
    shutdown_from_thread_is_prompt(SS_THREADING);
}

/* Calls shutdown on the server it is serving, then answers. */
static int shutdown_self_handle(ss_request *r)
{
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    int64_t t0 = tl_now_ms();
    int rc = ss_server_shutdown(ss_request_server(r));
    int64_t t1 = tl_now_ms();
    atomic_store(&shutdown_rc, rc);
    atomic_store(&shutdown_took, t1 - t0);
    atomic_store(&shutdown_called_at, t1);
    return ss_stream_write_all(r, line, (size_t)n);
}

static const ss_handler_class shutdown_self_handler = {
    .name = "shutdown-self", .handle = shutdown_self_handle};

static void shutdown_from_handler(ss_concurrency cc)
{
    start(cc, &shutdown_self_handler, NULL, LONG_POLL);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(fd, "stop\n"), 0);
    char buf[16];
    assert_int_equal(tl_recv_line(fd, buf, sizeof buf, 3000), 5);
    assert_true(tl_runner_wait(&F.r, 2000));
    int64_t done = tl_now_ms();
    assert_int_equal(tl_runner_join(&F.r), 0);
    assert_int_equal(atomic_load(&shutdown_rc), 0);
    assert_in_range(atomic_load(&shutdown_took), 0, 99);
    assert_in_range(done - atomic_load(&shutdown_called_at), 0, 99);
}

static void sync_shutdown_from_a_handler_does_not_deadlock(void **st)
{
    (void)st;
    shutdown_from_handler(SS_SYNC);
}

static void threading_shutdown_from_a_worker_does_not_deadlock(void **st)
{
    (void)st;
    shutdown_from_handler(SS_THREADING);
}

static void shutdown_when_not_serving_returns_at_once(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    int64_t t0 = tl_now_ms();
    ss_server_shutdown(F.s);
    assert_in_range(tl_now_ms() - t0, 0, 99);
}

static void serve_forever_runs_again_after_shutdown(void **st)
{
    (void)st;
    start(SS_SYNC, &tl_echo_stream_handler, NULL, LONG_POLL);
    assert_int_equal(tl_runner_stop(&F.r), 0);
    tl_runner_start(&F.r, F.s, LONG_POLL);
    assert_int_equal(tl_roundtrip_once(F.s, "second life", false), 0);
    /* A new serve_forever() is not stopping any more. */
    assert_false(ss_server_stopping(F.s));
    wait_loop_idle(2);
    int64_t t0 = tl_now_ms();
    assert_int_equal(tl_runner_stop(&F.r), 0);
    assert_in_range(tl_now_ms() - t0, 0, 99);
}

/* -EBUSY is the pool's "request queue full" (SS_QUEUE_FULL_REJECT); a second
 * serve_forever() must not borrow it, or ss_strerror() would call a caller's
 * mistake a full queue. */
static void
serve_forever_while_serving_says_already_in_progress_not_queue_full(void **st)
{
    (void)st;
    start(SS_SYNC, &tl_echo_stream_handler, NULL, LONG_POLL);
    int rc = ss_server_serve_forever(F.s, LONG_POLL);
    assert_int_equal(rc, -EALREADY);
    assert_string_not_equal(ss_strerror(rc), ss_strerror(-EBUSY));
    assert_string_equal(ss_strerror(-EBUSY), "request queue full");
    /* The first loop is untouched: it still serves. */
    assert_int_equal(tl_roundtrip_once(F.s, "still here", false), 0);
    assert_int_equal(tl_runner_stop(&F.r), 0);
}

static void serve_forever_after_close_is_a_bad_descriptor(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(ss_server_serve_forever(F.s, LONG_POLL), -EBADF);
}

/* ---- signals -------------------------------------------------------------- */

static ss_server *signal_target;

static void on_sigusr1(int sig)
{
    (void)sig;
    ss_server_request_shutdown(signal_target);
}

static void request_shutdown_via_signal(bool to_serving_thread)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    signal_target = F.s; /* before the serving thread exists */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() sees EINTR */
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    tl_runner_start(&F.r, F.s, LONG_POLL);
    assert_int_equal(tl_roundtrip_once(F.s, "ready?", false), 0);
    wait_loop_idle(1);

    int64_t t0 = tl_now_ms();
    if (to_serving_thread)
        pthread_kill(F.r.th, SIGUSR1);
    else
        raise(SIGUSR1);
    bool stopped = tl_runner_wait(&F.r, 2000);
    int64_t took = tl_now_ms() - t0;
    sigaction(SIGUSR1, &old, NULL);
    assert_true(stopped);
    assert_int_equal(tl_runner_join(&F.r), 0);
    assert_in_range(took, 0, 99);
}

static void
request_shutdown_in_a_signal_on_the_serving_thread_stops_it(void **st)
{
    (void)st;
    request_shutdown_via_signal(true);
}

static void request_shutdown_in_a_signal_on_another_thread_stops_it(void **st)
{
    (void)st;
    request_shutdown_via_signal(false);
}

/* ---- handle_request and timeouts -------------------------------------------- */

static void count_timeout(ss_server *s)
{
    (void)s;
    atomic_fetch_add(&timeouts, 1);
}

static const ss_server_ops timeout_ops = {.handle_timeout = count_timeout};

static void handle_request_times_out_into_handle_timeout(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.timeout_ms = 50;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, &timeout_ops, NULL),
        0);
    int64_t t0 = tl_now_ms();
    int rc = ss_server_handle_request(F.s);
    int64_t took = tl_now_ms() - t0;
    assert_int_equal(rc, -ETIMEDOUT);
    assert_int_equal(atomic_load(&timeouts), 1);
    assert_in_range(took, 45, 1000);
}

static void handle_request_serves_one_pending_request_without_timeout(void **s)
{
    (void)s;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.timeout_ms = 2000;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, &timeout_ops, NULL),
        0);
    int a = tl_fx_fd(tl_connect_server(F.s));
    int b = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(a, "one\n"), 0);
    assert_int_equal(tl_send_str(b, "two\n"), 0);
    assert_int_equal(ss_server_handle_request(F.s), 0);
    char buf[32];
    assert_true(tl_recv_line(a, buf, sizeof buf, 2000) > 0);
    assert_string_equal(buf, "echo:one\n");
    /* Exactly one: b is still waiting. */
    assert_int_equal(tl_recv_line(b, buf, sizeof buf, 50), -ETIMEDOUT);
    assert_int_equal(ss_server_handle_request(F.s), 0);
    assert_true(tl_recv_line(b, buf, sizeof buf, 2000) > 0);
    assert_string_equal(buf, "echo:two\n");
    assert_int_equal(atomic_load(&timeouts), 0);
}

static void count_action(ss_server *s)
{
    atomic_fetch_add(&actions, 1);
    tl_ev_post(&actions_ev);
    ss_server_inherited_ops(s)->service_actions(s);
}

static void service_actions_runs_every_poll_interval_while_idle(void **st)
{
    (void)st;
    static const ss_server_ops ops = {.service_actions = count_action};
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, &ops, NULL), 0);
    int64_t t0 = tl_now_ms();
    tl_runner_start(&F.r, F.s, 20);
    assert_true(tl_ev_wait(&actions_ev, 5, 2000));
    int64_t took = tl_now_ms() - t0;
    /* 5 calls at a 20 ms interval: not a busy loop, not stuck. */
    assert_in_range(took, 60, 1500);
}

/* ss_server_shutdown_on_signals: SIGTERM (or SIGINT) makes serve_forever
 * return 0; once the server is destroyed a signal touches nothing. */
static void signals_stop_serve_forever_and_forget_a_destroyed_server(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, NULL, NULL), 0);
    assert_int_equal(ss_server_shutdown_on_signals(F.s), 0);
    assert_int_equal(ss_server_shutdown_on_signals(F.s), 0); /* once */
    tl_runner_start(&F.r, F.s, 60000);
    assert_int_equal(tl_roundtrip_once(F.s, "before", true), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_true(tl_runner_wait(&F.r, 3000));
    assert_int_equal(tl_runner_join(&F.r), 0);
    ss_server_destroy(F.s);
    F.s = NULL;
    /* Still our handler, with nobody on its list: a no-op, not a crash. */
    assert_int_equal(kill(getpid(), SIGINT), 0);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    assert_int_equal(sigaction(SIGINT, &dfl, NULL), 0);
    assert_int_equal(sigaction(SIGTERM, &dfl, NULL), 0);
}

/* server_close is an overridable step, as in Python; the override chains
 * to the base step, and ss_server_close() runs it once. */
static atomic_int closes;

static void counting_close(ss_server *s)
{
    atomic_fetch_add(&closes, 1);
    ss_server_inherited_ops(s)->server_close(s);
}

static void server_close_override_runs_once_and_chains_to_super(void **st)
{
    (void)st;
    atomic_store(&closes, 0);
    static const ss_server_ops ops = {.server_close = counting_close};
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, &ops, NULL), 0);
    int fd = ss_server_fileno(F.s);
    tl_runner_start(&F.r, F.s, 50);
    assert_int_equal(tl_roundtrip_once(F.s, "x", true), 0);
    assert_int_equal(tl_runner_stop(&F.r), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(atomic_load(&closes), 1);
    assert_true(fcntl(fd, F_GETFD) < 0); /* super closed the socket */
    assert_int_equal(tl_stats_of(F.s).workers, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sd_setup, sd_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(sync_shutdown_from_another_thread_returns_within_100ms),
        T(signals_stop_serve_forever_and_forget_a_destroyed_server),
        T(server_close_override_runs_once_and_chains_to_super),
        T(threading_shutdown_from_another_thread_returns_within_100ms),
        T(sync_shutdown_from_a_handler_does_not_deadlock),
        T(threading_shutdown_from_a_worker_does_not_deadlock),
        T(shutdown_when_not_serving_returns_at_once),
        T(serve_forever_runs_again_after_shutdown),
        T(serve_forever_while_serving_says_already_in_progress_not_queue_full),
        T(serve_forever_after_close_is_a_bad_descriptor),
        T(request_shutdown_in_a_signal_on_the_serving_thread_stops_it),
        T(request_shutdown_in_a_signal_on_another_thread_stops_it),
        T(handle_request_times_out_into_handle_timeout),
        T(handle_request_serves_one_pending_request_without_timeout),
        T(service_actions_runs_every_poll_interval_while_idle),
    };
    return tl_run_selected("shutdown", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
