/* test_park.c -- parked connections (SS_KEEP): served by few threads, woken
 * by input, buffered input or the handler's own, ended by EOF, timeout,
 * deadline or server_close; and Python's loop handler on default settings. */
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a handler that answers one line per call ------------------------------ */

static struct {
    atomic_int setups, finishes, calls;
    atomic_int status_timeout, status_shutdown, status_zero;
    int deadline_ms; /* set in setup when > 0 */
    tl_gate gate;    /* a "block" line waits for it */
    atomic_bool blocked;
    bool pending_once; /* the first call asks to be called again at once */
} K;

struct kstate {
    int msgs;
    bool pended;
};

static int k_setup(ss_request *r)
{
    atomic_fetch_add(&K.setups, 1);
    if (K.deadline_ms > 0)
        return ss_request_set_deadline(r, K.deadline_ms);
    return 0;
}

static int k_handle(ss_request *r)
{
    struct kstate *st = ss_request_state(r);
    atomic_fetch_add(&K.calls, 1);
    if (K.pending_once && !st->pended) {
        /* As a TLS layer would: input of our own, none on the socket. */
        st->pended = true;
        ss_request_set_pending(r, true);
        return ss_stream_write_all(r, "a", 1) == 0 ? SS_KEEP : -EIO;
    }
    char line[256], out[300];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    if (strcmp(line, "block\n") == 0) { /* a long request */
        atomic_store(&K.blocked, true);
        (void)tl_gate_wait(&K.gate, 10000);
    }
    st->msgs++;
    int m = snprintf(out, sizeof out, "%d:%s", st->msgs, line);
    int rc = ss_stream_write_all(r, out, (size_t)m);
    return rc < 0 ? rc : SS_KEEP;
}

static int k_finish(ss_request *r)
{
    int st = ss_request_status(r);
    if (st == -ETIMEDOUT)
        atomic_fetch_add(&K.status_timeout, 1);
    else if (st == -ESHUTDOWN)
        atomic_fetch_add(&K.status_shutdown, 1);
    else if (st == 0)
        atomic_fetch_add(&K.status_zero, 1);
    atomic_fetch_add(&K.finishes, 1);
    return 0;
}

static const ss_handler_class keep_handler = {.name = "keep",
                                              .state_size =
                                                  sizeof(struct kstate),
                                              .setup = k_setup,
                                              .handle = k_handle,
                                              .finish = k_finish};

static int park_setup(void **state)
{
    memset(&K, 0, sizeof K);
    return tl_held_setup(state);
}

static void start(ss_config *c, const ss_handler_class *h)
{
    assert_int_equal(ss_server_create(&F.s, c, h, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
}

/* Sends "<msg>\n" and expects "<nth>:<msg>\n" back. */
static void roundtrip(int fd, int nth, const char *msg)
{
    char line[128], want[160], got[160];
    snprintf(line, sizeof line, "%s\n", msg);
    assert_int_equal(tl_send_str(fd, line), 0);
    snprintf(want, sizeof want, "%d:%s\n", nth, msg);
    ssize_t n = tl_recv_line(fd, got, sizeof got, 5000);
    assert_true(n > 0);
    assert_string_equal(got, want);
}

static void raise_nofile(unsigned need)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < need && rl.rlim_max >= need) {
        rl.rlim_cur = need;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

/* ---- many connections, few threads ----------------------------------------- */

static void many_connections(ss_concurrency cc, unsigned workers, int n)
{
    enum { ROUNDS = 4 };
    raise_nofile(4 * (unsigned)n + 64);
    int threads0 = tl_count_threads();
    ss_config c;
    tl_cfg_for(&c, SS_TCP, cc);
    c.max_workers = workers;
    start(&c, &keep_handler);
    int *fds = calloc((size_t)n, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < n; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        assert_true(fds[i] >= 0);
    }
    /* Round-robin over every connection: each waits parked between its
     * messages while the others are served. */
    char msg[32];
    for (int k = 1; k <= ROUNDS; k++)
        for (int i = 0; i < n; i++) {
            snprintf(msg, sizeof msg, "c%d-r%d", i, k);
            roundtrip(fds[i], k, msg);
        }
    bool ok;
    WAIT_UNTIL(ok, ss_server_parked(F.s) == (unsigned)n, 3000);
    assert_int_equal(ss_server_parked(F.s), n);
    /* Threads: the serving loop plus at most `workers` (the process may
     * hold a sanitizer's own thread besides). */
    assert_in_range(tl_stats_of(F.s).workers, 0, workers);
    assert_in_range(tl_count_threads() - threads0, 1, 2 + (int)workers);
    assert_int_equal(atomic_load(&K.setups), n);
    assert_int_equal(atomic_load(&K.finishes), 0);
    for (int i = 0; i < n; i++)
        tl_fx_close(fds[i]);
    /* EOF wakes each parked connection; handle() reads 0 and it ends. */
    WAIT_UNTIL(ok, atomic_load(&K.finishes) == n, 5000);
    assert_int_equal(atomic_load(&K.finishes), n);
    assert_int_equal(atomic_load(&K.status_zero), n);
    WAIT_UNTIL(ok, tl_stats_of(F.s).active == 0, 3000);
    assert_int_equal(ss_server_parked(F.s), 0);
    for (unsigned i = 0; i < tl_err_log_total(&H.errs) && i < 64; i++)
        printf("error %u: %d %s\n", i, H.errs.err[i], H.errs.what[i]);
    assert_int_equal(tl_err_log_total(&H.errs), 0);
    free(fds);
}

static void threading_two_workers_serve_300_parked_connections(void **st)
{
    (void)st;
    many_connections(SS_THREADING, 2, 300);
}

static void sync_serving_thread_serves_100_parked_connections(void **st)
{
    (void)st;
    many_connections(SS_SYNC, 1, 100);
}

/* Two lines in one packet: the second is in the helpers' buffer when the
 * first call returns SS_KEEP, so handle() runs again without new input. */
static void buffered_input_is_handled_without_waiting_for_the_socket(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &keep_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(fd, "x\ny\n"), 0);
    char got[64];
    assert_true(tl_recv_line(fd, got, sizeof got, 3000) > 0);
    assert_string_equal(got, "1:x\n");
    assert_true(tl_recv_line(fd, got, sizeof got, 3000) > 0);
    assert_string_equal(got, "2:y\n");
}

/* A handler that reads one byte per call, straight from the socket: the
 * rest of "abc" is in the socket, not in any buffer, and no new input
 * will come to wake it -- the park must see it is there. */
static int one_byte_handle(ss_request *r)
{
    char c;
    ssize_t n;
    do {
        n = recv(ss_request_fd(r), &c, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? 0 : -errno;
    char out[2] = {c, '.'};
    int rc = ss_stream_write_all(r, out, 2);
    return rc < 0 ? rc : SS_KEEP;
}

static const ss_handler_class one_byte_handler = {.name = "one-byte",
                                                  .handle = one_byte_handle};

static void input_left_in_the_socket_is_handled_without_new_input(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &one_byte_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    for (int round = 0; round < 20; round++) {
        assert_int_equal(tl_send_str(fd, "abc"), 0);
        char got[8] = {0};
        assert_int_equal(tl_recv_n(fd, got, 6, 3000), 6);
        assert_string_equal(got, "a.b.c.");
    }
}

static void pending_input_of_the_handler_calls_it_again_at_once(void **st)
{
    (void)st;
    K.pending_once = true;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &keep_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    char got[8];
    /* "a" from the first call; the second call waits for our line. */
    assert_int_equal(tl_recv_n(fd, got, 1, 3000), 1);
    assert_int_equal(got[0], 'a');
    roundtrip(fd, 1, "after");
    assert_int_equal(atomic_load(&K.calls), 2);
}

/* ---- how a parked connection ends ------------------------------------------- */

static void idle_timeout_ends_a_parked_connection(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.idle_timeout_ms = 200;
    start(&c, &keep_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    roundtrip(fd, 1, "hello");
    int64_t t0 = tl_now_ms();
    assert_int_equal(tl_wait_closed(fd, 5000), 1);
    assert_true(tl_now_ms() - t0 >= 150);
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&K.finishes) == 1, 3000);
    assert_int_equal(atomic_load(&K.status_timeout), 1);
    WAIT_UNTIL(ok, tl_stats_of(F.s).active == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).active, 0);
}

/* A deadline (a login's time limit) ends the connection even though it is
 * never idle for long, and with no idle timeout at all. */
static void deadline_ends_a_busy_connection(void **st)
{
    (void)st;
    K.deadline_ms = 400;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.idle_timeout_ms = 0;
    start(&c, &keep_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    int64_t t0 = tl_now_ms();
    int k = 0;
    char msg[16];
    while (tl_now_ms() - t0 < 250) {
        snprintf(msg, sizeof msg, "m%d", ++k);
        roundtrip(fd, k, msg);
        tl_nap_ms(20);
    }
    assert_int_equal(tl_wait_closed(fd, 3000), 1);
    assert_in_range(tl_now_ms() - t0, 350, 3000);
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&K.status_timeout) == 1, 3000);
    assert_int_equal(atomic_load(&K.status_timeout), 1);
}

static void server_close_ends_parked_connections(void **st)
{
    (void)st;
    int fds0 = tl_count_fds();
    int threads0 = tl_count_threads();
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &keep_handler);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        roundtrip(fds[i], 1, "x");
    }
    bool ok;
    WAIT_UNTIL(ok, ss_server_parked(F.s) == 5, 3000);
    assert_int_equal(tl_runner_stop(&F.r), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(atomic_load(&K.finishes), 5);
    assert_int_equal(atomic_load(&K.status_shutdown), 5);
    assert_int_equal(tl_stats_of(F.s).active, 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tl_wait_closed(fds[i], 3000), 1);
        tl_fx_close(fds[i]);
    }
    assert_int_equal(tl_count_threads(), threads0);
    assert_int_equal(tl_count_fds(), fds0 + 1); /* the wake-up eventfd */
    ss_server_destroy(F.s);
    F.s = NULL;
    assert_int_equal(tl_count_fds(), fds0);
}

/* Parked connections stay admitted: max_connections counts them. */
static void parked_connections_count_against_max_connections(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.max_connections = 3;
    start(&c, &keep_handler);
    int fds[4];
    for (int i = 0; i < 3; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        roundtrip(fds[i], 1, "in");
    }
    fds[3] = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_wait_closed(fds[3], 3000), 1);
    bool ok;
    WAIT_UNTIL(ok, tl_err_log_count(&H.errs, -EUSERS, 1) == 1, 3000);
    assert_int_equal(tl_err_log_count(&H.errs, -EUSERS, 1), 1);
    tl_fx_close(fds[0]);
    WAIT_UNTIL(ok, tl_stats_of(F.s).active == 2, 3000);
    int again = tl_fx_fd(tl_connect_server(F.s));
    roundtrip(again, 1, "now");
}

/* ---- where nothing can park: waiting in place ------------------------------ */

static void handle_request_waits_in_place(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.idle_timeout_ms = 3000;
    assert_int_equal(
        ss_server_create(&F.s, &c, &keep_handler, &tl_logging_ops, NULL), 0);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    /* Everything the request will read is sent before it is handled. */
    assert_int_equal(tl_send_str(fd, "one\n"), 0);
    assert_int_equal(tl_send_str(fd, "two\n"), 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_int_equal(ss_server_handle_request(F.s), 0);
    char got[64];
    assert_true(tl_recv_line(fd, got, sizeof got, 3000) > 0);
    assert_string_equal(got, "1:one\n");
    assert_true(tl_recv_line(fd, got, sizeof got, 3000) > 0);
    assert_string_equal(got, "2:two\n");
    assert_int_equal(tl_wait_closed(fd, 3000), 1);
    assert_int_equal(atomic_load(&K.finishes), 1);
    assert_int_equal(atomic_load(&K.status_zero), 1);
}

static void forking_child_waits_in_place(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    start(&c, &keep_handler);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    roundtrip(fd, 1, "first");
    roundtrip(fd, 2, "second");
    roundtrip(fd, 3, "third");
}

/* ---- Python's program: a handler that loops until EOF ---------------------- */

/* ThreadingTCPServer with its defaults serves every client of a few
 * hundred at once, each holding a thread: so must SS_THREADING. */
static void loop_handler_on_defaults_serves_300_concurrent_clients(void **st)
{
    (void)st;
    enum { N = 300, ROUNDS = 3 };
    raise_nofile(4 * N + 64);
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    start(&c, &tl_echo_stream_handler);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        assert_true(fds[i] >= 0);
    }
    char line[64], got[64];
    for (int k = 0; k < ROUNDS; k++)
        for (int i = 0; i < N; i++) {
            snprintf(line, sizeof line, "client-%d-%d\n", i, k);
            assert_int_equal(tl_send_str(fds[i], line), 0);
            assert_true(tl_recv_line(fds[i], got, sizeof got, 5000) > 0);
            assert_string_equal(got, line);
        }
    assert_int_equal(tl_stats_of(F.s).workers, N);
    assert_int_equal(tl_err_log_total(&H.errs), 0);
}

/* Past max_workers a client waits for a worker: said once, not silently. */
static void waiting_for_a_worker_is_reported_once(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &tl_echo_stream_handler);
    int fds[5];
    char got[32];
    for (int i = 0; i < 5; i++)
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tl_send_str(fds[i], "held\n"), 0);
        assert_true(tl_recv_line(fds[i], got, sizeof got, 3000) > 0);
    }
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).queued == 3, 3000);
    /* Said after a second of waiting (a short wait is normal), once. */
    WAIT_UNTIL(ok, tl_err_log_count(&H.errs, -EAGAIN, 0) == 1, 5000);
    assert_int_equal(tl_err_log_count(&H.errs, -EAGAIN, 0), 1);
    /* The held clients leave: the waiting ones are served in turn. */
    tl_fx_close(fds[0]);
    tl_fx_close(fds[1]);
    for (int i = 2; i < 5; i++) {
        assert_int_equal(tl_send_str(fds[i], "late\n"), 0);
        assert_true(tl_recv_line(fds[i], got, sizeof got, 5000) > 0);
        assert_string_equal(got, "late\n");
        tl_fx_close(fds[i]);
    }
    assert_int_equal(tl_err_log_count(&H.errs, -EAGAIN, 0), 1);
}

/* ---- leader and followers ---------------------------------------------------- */

static tl_gate loop_gate;
static atomic_bool block_loop, loop_blocked;

/* The serving loop's per-turn step, held up once, for as long as the test
 * says (10 s at most). */
static void held_up_actions(ss_server *s)
{
    ss_base_service_actions(s);
    if (atomic_load(&block_loop) && !atomic_exchange(&loop_blocked, true))
        (void)tl_gate_wait(&loop_gate, 10000);
}

/* The leader's idle time runs out and it retires: the loop, which left the
 * park to it, watches again (with no poll interval of its own to save it),
 * and input that comes later is served. */
static void input_after_the_leader_retired_is_served(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.min_workers = 0;
    c.idle_worker_ms = 50;
    assert_int_equal(
        ss_server_create(&F.s, &c, &keep_handler, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, -1);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    roundtrip(fd, 1, "before");
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).workers == 0, 5000);
    assert_true(ok);
    roundtrip(fd, 2, "after");
    tl_fx_close(fd);
    WAIT_UNTIL(ok, atomic_load(&K.finishes) == 1, 5000);
    assert_int_equal(atomic_load(&K.finishes), 1);
}

/* The leader takes a long request: the others' input is taken from the park
 * and served by another worker all the same. */
static void a_long_request_does_not_hold_up_the_other_connections(void **st)
{
    (void)st;
    tl_gate_init(&K.gate);
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    start(&c, &keep_handler);
    int fd[2];
    for (int i = 0; i < 2; i++) {
        fd[i] = tl_fx_fd(tl_connect_server(F.s));
        assert_true(fd[i] >= 0);
        roundtrip(fd[i], 1, i ? "b" : "a");
    }
    int a = fd[0], b = fd[1];
    assert_int_equal(tl_send_str(a, "block\n"), 0);
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&K.blocked), 3000);
    assert_true(ok);
    char msg[32];
    for (int k = 2; k <= 10; k++) {
        snprintf(msg, sizeof msg, "b%d", k);
        roundtrip(b, k, msg);
    }
    tl_gate_open(&K.gate);
    char got[64];
    assert_true(tl_recv_line(a, got, sizeof got, 5000) > 0);
    assert_string_equal(got, "2:block\n");
    tl_fx_close(a);
    tl_fx_close(b);
    WAIT_UNTIL(ok, atomic_load(&K.finishes) == 2, 5000);
    assert_int_equal(atomic_load(&K.finishes), 2);
    tl_gate_destroy(&K.gate);
}

static void parked_connections_are_served_while_the_loop_is_held_up(void **st)
{
    (void)st;
    static ss_server_ops ops;
    ops = tl_logging_ops;
    ops.service_actions = held_up_actions;
    tl_gate_init(&loop_gate);
    atomic_store(&block_loop, false);
    atomic_store(&loop_blocked, false);
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    assert_int_equal(ss_server_create(&F.s, &c, &keep_handler, &ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    roundtrip(fd, 1, "first");
    bool ok;
    WAIT_UNTIL(ok, ss_server_parked(F.s) == 1, 3000);
    /* The loop stops in its next turn; an idle worker watches the park
     * itself (the leader) and serves the connection without it. */
    atomic_store(&block_loop, true);
    WAIT_UNTIL(ok, atomic_load(&loop_blocked), 3000);
    assert_true(ok);
    char msg[32];
    for (int k = 2; k <= 20; k++) {
        snprintf(msg, sizeof msg, "m%d", k);
        roundtrip(fd, k, msg);
    }
    tl_gate_open(&loop_gate);
    tl_fx_close(fd);
    WAIT_UNTIL(ok, atomic_load(&K.finishes) == 1, 5000);
    assert_int_equal(atomic_load(&K.finishes), 1);
    /* The gate is not destroyed: the loop may still be on its way out of
     * the wait until the teardown stops it. */
}

#define T(f) cmocka_unit_test_setup_teardown(f, park_setup, tl_held_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(threading_two_workers_serve_300_parked_connections),
        T(sync_serving_thread_serves_100_parked_connections),
        T(buffered_input_is_handled_without_waiting_for_the_socket),
        T(pending_input_of_the_handler_calls_it_again_at_once),
        T(input_left_in_the_socket_is_handled_without_new_input),
        T(idle_timeout_ends_a_parked_connection),
        T(deadline_ends_a_busy_connection),
        T(server_close_ends_parked_connections),
        T(parked_connections_count_against_max_connections),
        T(handle_request_waits_in_place),
        T(forking_child_waits_in_place),
        T(loop_handler_on_defaults_serves_300_concurrent_clients),
        T(waiting_for_a_worker_is_reported_once),
        T(parked_connections_are_served_while_the_loop_is_held_up),
        T(a_long_request_does_not_hold_up_the_other_connections),
        T(input_after_the_leader_retired_is_served),
    };
    return tl_run_selected("park", tests, sizeof tests / sizeof tests[0], argc,
                           argv);
}
