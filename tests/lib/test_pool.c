/* test_pool.c -- SS_THREADING: the bounded pool, its queue policies, worker
 * retirement, and what server_close() does to workers and in-flight work. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- shared handler state (reset by setup) -------------------------------- */

/* tl_held_handler, tl_logging_ops and their record H come from util.c. */
static atomic_int last_read_rc;

static int pool_setup(void **state)
{
    tl_held_setup(state);
    atomic_store(&last_read_rc, 12345);
    return 0;
}

static void start_pool(ss_config *c, const ss_handler_class *h)
{
    assert_int_equal(ss_server_create(&F.s, c, h, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
}

/* Connects and sends "<tag>\n"; returns the fd (tracked). */
static int client_send(const char *tag)
{
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    char line[64];
    snprintf(line, sizeof line, "%s\n", tag);
    assert_int_equal(tl_send_str(fd, line), 0);
    return fd;
}

static void expect_echo(int fd, const char *tag)
{
    char buf[128], want[128];
    snprintf(want, sizeof want, "echo:%s\n", tag);
    ssize_t n = tl_recv_line(fd, buf, sizeof buf, 5000);
    assert_true(n > 0);
    assert_string_equal(buf, want);
}

/* ---- capacity --------------------------------------------------------------- */

static void pool_of_8_serves_200_concurrent_clients(void **st)
{
    (void)st;
    enum { N = 200 };
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 8;
    start_pool(&c, &tl_held_handler);

    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        assert_true(fds[i] >= 0);
    }
    char tag[32];
    for (int i = 0; i < N; i++) {
        snprintf(tag, sizeof tag, "client-%d\n", i);
        assert_int_equal(tl_send_str(fds[i], tag), 0);
    }
    /* The first handlers park at the gate: the pool must grow to exactly 8
     * and no further while 192 clients wait. */
    assert_true(tl_ev_wait(&H.entered, 8, 5000));
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).queued > 0, 2000);
    assert_int_equal(tl_ev_count(&H.entered), 8);
    assert_int_equal(tl_stats_of(F.s).workers, 8);
    tl_gate_open(&H.release);
    for (int i = 0; i < N; i++) {
        snprintf(tag, sizeof tag, "client-%d", i);
        expect_echo(fds[i], tag);
    }
    assert_true(tl_ev_wait(&H.finished, N, 5000));
    WAIT_UNTIL(ok, tl_stats_of(F.s).handled == N, 2000);
    assert_int_equal(tl_stats_of(F.s).handled, N);
    assert_int_equal(atomic_load(&H.max_inflight), 8);
    assert_in_range(atomic_load(&H.max_workers_seen), 1, 8);
    assert_in_range(tl_stats_of(F.s).workers, 0, 8);
    assert_int_equal(tl_stats_of(F.s).rejected, 0);
}

/* serve_forever takes a burst of waiting connections in one wake-up: with
 * 20 in the backlog it runs one loop turn (one service_actions), not 20
 * poll()+accept() turns. */
static atomic_int burst_turns;

static void count_turn(ss_server *s)
{
    atomic_fetch_add(&burst_turns, 1);
    ss_server_inherited_ops(s)->service_actions(s);
}

static void a_burst_of_connections_is_accepted_in_one_wakeup(void **st)
{
    (void)st;
    enum { N = 20 };
    static const ss_server_ops ops = {.handle_error = tl_log_error,
                                      .service_actions = count_turn};
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    atomic_store(&burst_turns, 0);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, &ops, NULL), 0);
    /* All N are in the listen backlog before the loop starts. */
    int fds[N];
    char tag[32];
    for (int i = 0; i < N; i++) {
        snprintf(tag, sizeof tag, "burst-%d", i);
        fds[i] = client_send(tag);
    }
    /* A poll interval far longer than the test: every turn is a wake-up. */
    tl_runner_start(&F.r, F.s, 60000);
    for (int i = 0; i < N; i++) {
        snprintf(tag, sizeof tag, "burst-%d", i);
        expect_echo(fds[i], tag);
    }
    /* A turn is counted when it ends, after its accepts: the replies can
     * arrive before the first one is. */
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&burst_turns) >= 1, 3000);
    /* One accept per wake-up would take N turns; the batch takes one or
     * two.  Other wake-ups (a worker freeing queue room, a loaded machine
     * delaying the first accepts) may add a few, never N/2. */
    int turns = atomic_load(&burst_turns);
    if (turns > 3)
        printf("burst of %d took %d turns\n", N, turns);
    assert_in_range(turns, 1, N / 2);
    assert_int_equal(tl_err_log_total(&H.errs), 0);
}

/* Two workers held, two requests queued: the pool is full. */
static void fill_pool(int fds[4])
{
    fds[0] = client_send("w0");
    fds[1] = client_send("w1");
    assert_true(tl_ev_wait(&H.entered, 2, 3000));
    fds[2] = client_send("q0");
    fds[3] = client_send("q1");
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).queued == 2, 3000);
    assert_int_equal(tl_stats_of(F.s).queued, 2);
    assert_int_equal(tl_stats_of(F.s).workers, 2);
}

static void queue_full_reject_closes_excess_connections(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.queue_capacity = 2;
    c.queue_full_policy = SS_QUEUE_FULL_REJECT;
    start_pool(&c, &tl_held_handler);
    int fds[4];
    fill_pool(fds);

    for (int i = 0; i < 3; i++) {
        int x = client_send("excess");
        assert_int_equal(tl_wait_closed(x, 3000), 1);
    }
    assert_true(tl_stats_of(F.s).rejected >= 3);
    assert_true(tl_err_log_count(&H.errs, -EBUSY, -1) >= 3);
    assert_int_equal(tl_ev_count(&H.entered), 2);

    tl_gate_open(&H.release);
    expect_echo(fds[0], "w0");
    expect_echo(fds[1], "w1");
    expect_echo(fds[2], "q0");
    expect_echo(fds[3], "q1");
}

static void queue_full_block_serves_every_connection_once_workers_free(void **s)
{
    (void)s;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.queue_capacity = 2;
    c.queue_full_policy = SS_QUEUE_FULL_BLOCK;
    start_pool(&c, &tl_held_handler);
    int fds[4];
    fill_pool(fds);

    int extra[3];
    for (int i = 0; i < 3; i++)
        extra[i] = client_send("late");
    /* Backpressure, not rejection: the extra connections stay open. */
    assert_int_equal(tl_wait_closed(extra[0], 200), 0);
    assert_int_equal(tl_stats_of(F.s).rejected, 0);
    assert_int_equal(tl_stats_of(F.s).queued, 2);

    tl_gate_open(&H.release);
    expect_echo(fds[0], "w0");
    expect_echo(fds[1], "w1");
    expect_echo(fds[2], "q0");
    expect_echo(fds[3], "q1");
    for (int i = 0; i < 3; i++)
        expect_echo(extra[i], "late");
    assert_int_equal(tl_stats_of(F.s).rejected, 0);
    assert_int_equal(tl_err_log_count(&H.errs, -EBUSY, -1), 0);
}

/* Each datagram must be copied out of the server's receive buffer before the
 * next one is read: a held first packet must still be itself later. */
static int udp_held_handle(ss_request *r)
{
    size_t n = 0;
    const char *p = ss_request_packet(r, &n);
    if (n == 4 && memcmp(p, "hold", 4) == 0) {
        tl_ev_post(&H.entered);
        tl_gate_wait(&H.release, 10000);
    }
    return ss_dgram_reply(r, p, n);
}

static const ss_handler_class udp_held_handler = {.name = "udp-held",
                                                  .handle = udp_held_handle};

static void threading_udp_copies_each_packet_for_its_worker(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UDP, SS_THREADING);
    c.max_workers = 2;
    start_pool(&c, &udp_held_handler);
    int a = tl_fx_fd(tl_connect_server(F.s));
    int b = tl_fx_fd(tl_connect_server(F.s));
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(tl_send_str(a, "hold"), 0);
    assert_true(tl_ev_wait(&H.entered, 1, 3000));
    assert_int_equal(tl_send_str(b, "other packet"), 0);
    char buf[64];
    ssize_t n = tl_recv_dgram(b, buf, sizeof buf, 3000);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "other packet", 12);
    tl_gate_open(&H.release);
    n = tl_recv_dgram(a, buf, sizeof buf, 3000);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "hold", 4);
}

/* server_close on a datagram server: the socket is the in-flight
 * handlers' too, so it is closed after they drain, and a late reply still
 * goes out.  The releaser lets the handler go once close has begun, and
 * after the socket is closed if close does that first (the old order). */
static void *release_when_closing(void *arg)
{
    int fd = *(int *)arg;
    bool ok;
    WAIT_UNTIL(ok, ss_server_stopping(F.s), 5000);
    WAIT_UNTIL(ok, fcntl(fd, F_GETFD) < 0, 300);
    tl_gate_open(&H.release);
    return NULL;
}

static void udp_close_drains_handlers_before_closing_the_socket(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UDP, SS_THREADING);
    c.max_workers = 2;
    start_pool(&c, &udp_held_handler);
    int a = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(a, "hold"), 0);
    assert_true(tl_ev_wait(&H.entered, 1, 3000));
    assert_int_equal(tl_runner_stop(&F.r), 0);
    int sfd = ss_server_fileno(F.s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_when_closing, &sfd), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    char buf[16];
    assert_int_equal(tl_recv_dgram(a, buf, sizeof buf, 3000), 4);
    assert_memory_equal(buf, "hold", 4);
    assert_int_equal(tl_err_log_total(&H.errs), 0);
}

/* ---- worker life cycle ------------------------------------------------------- */

static void server_close_joins_every_worker_and_frees_descriptors(void **st)
{
    (void)st;
    int threads0 = tl_count_threads();
    int fds0 = tl_count_fds();
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 4;
    c.idle_worker_ms = 60000; /* workers stay until close */
    start_pool(&c, &tl_held_handler);
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = client_send("w");
    assert_true(tl_ev_wait(&H.entered, 4, 3000));
    assert_int_equal(tl_stats_of(F.s).workers, 4);
    tl_gate_open(&H.release);
    for (int i = 0; i < 4; i++) {
        expect_echo(fds[i], "w");
        tl_fx_close(fds[i]);
    }
    assert_int_equal(tl_runner_stop(&F.r), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(tl_stats_of(F.s).workers, 0);
    assert_int_equal(tl_stats_of(F.s).active, 0);
    assert_int_equal(tl_count_threads(), threads0);
    /* After close only the wake-up eventfd remains (it lives until
     * destroy so a late signal handler never writes to a reused fd). */
    assert_int_equal(tl_count_fds(), fds0 + 1);
    assert_int_equal(ss_server_close(F.s), 0); /* idempotent */
    ss_server_destroy(F.s);
    F.s = NULL;
    assert_int_equal(tl_count_fds(), fds0);
}

static void idle_workers_retire_down_to_min_workers(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.min_workers = 1;
    c.max_workers = 4;
    c.idle_worker_ms = 50;
    start_pool(&c, &tl_held_handler);
    int threads_before = tl_count_threads();
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = client_send("w");
    assert_true(tl_ev_wait(&H.entered, 4, 3000));
    assert_int_equal(tl_stats_of(F.s).workers, 4);
    tl_gate_open(&H.release);
    for (int i = 0; i < 4; i++)
        expect_echo(fds[i], "w");

    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).workers == 1, 3000);
    assert_int_equal(tl_stats_of(F.s).workers, 1);
    assert_int_equal(tl_stats_of(F.s).idle_workers, 1);
    /* Retired workers are really gone, not just uncounted. */
    WAIT_UNTIL(ok, tl_count_threads() <= threads_before + 1, 2000);
    assert_true(tl_count_threads() <= threads_before + 1);
    /* And it stops at min_workers: sample for 6 idle periods. */
    int64_t end = tl_now_ms() + 300;
    while (tl_now_ms() < end) {
        assert_int_equal(tl_stats_of(F.s).workers, 1);
        tl_nap_ms(5);
    }
    /* The survivor still serves. */
    fds[0] = client_send("again");
    expect_echo(fds[0], "again");
}

/* ---- server_close() and in-flight requests ------------------------------------- */

typedef struct closer {
    ss_server *s;
    pthread_t th;
    atomic_bool returned;
    atomic_llong took_ms;
    int rc;
} closer;

static void *closer_main(void *arg)
{
    closer *c = arg;
    int64_t t0 = tl_now_ms();
    c->rc = ss_server_close(c->s);
    atomic_store(&c->took_ms, tl_now_ms() - t0);
    atomic_store(&c->returned, true);
    return NULL;
}

static bool listener_gone(uint16_t port)
{
    int fd = tl_connect_tcp("127.0.0.1", port, 500);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return fd == -ECONNREFUSED;
}

/* Waits at the gate, then answers "done". */
static int gated_handle(ss_request *r)
{
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    tl_ev_post(&H.entered);
    tl_gate_wait(&H.release, 10000);
    int rc = ss_stream_write_all(r, "done\n", 5);
    tl_ev_post(&H.finished);
    return rc;
}

static const ss_handler_class gated_handler = {.name = "gated",
                                               .handle = gated_handle};

static void server_close_drains_an_in_flight_request_to_completion(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.drain_timeout_ms = 5000;
    start_pool(&c, &gated_handler);
    uint16_t port = ss_server_port(F.s);
    int fd = client_send("go");
    assert_true(tl_ev_wait(&H.entered, 1, 3000));
    assert_int_equal(tl_runner_stop(&F.r), 0);

    closer cl = {.s = F.s};
    assert_int_equal(pthread_create(&cl.th, NULL, closer_main, &cl), 0);
    /* close() has begun once the listener is gone; it must now be waiting
     * for our handler, not returning. */
    bool ok;
    WAIT_UNTIL(ok, listener_gone(port), 3000);
    bool returned_early = atomic_load(&cl.returned);
    tl_gate_open(&H.release);
    char buf[16];
    ssize_t n = tl_recv_line(fd, buf, sizeof buf, 5000);
    pthread_join(cl.th, NULL);
    assert_true(ok);
    assert_false(returned_early);
    assert_int_equal(cl.rc, 0);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "done\n");
    assert_true(atomic_load(&cl.took_ms) < 3000);
    assert_int_equal(tl_stats_of(F.s).handled, 1);
    assert_int_equal(tl_stats_of(F.s).workers, 0);
}

/* Reads one line, announces itself, then blocks reading a silent client. */
static int blocked_reader_handle(ss_request *r)
{
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    tl_ev_post(&H.entered);
    n = ss_stream_readline(r, line, sizeof line);
    atomic_store(&last_read_rc, (int)n);
    tl_ev_post(&H.finished);
    return n < 0 ? (int)n : 0;
}

static const ss_handler_class blocked_reader_handler = {
    .name = "blocked-reader", .handle = blocked_reader_handle};

static int64_t close_with_blocked_reader(ss_config *c)
{
    start_pool(c, &blocked_reader_handler);
    int fd = client_send("hello");
    assert_true(tl_ev_wait(&H.entered, 1, 3000));
    assert_int_equal(tl_runner_stop(&F.r), 0);
    int64_t t0 = tl_now_ms();
    assert_int_equal(ss_server_close(F.s), 0);
    int64_t took = tl_now_ms() - t0;
    /* The handler was cut, not left behind. */
    assert_int_equal(tl_ev_count(&H.finished), 1);
    assert_true(atomic_load(&last_read_rc) <= 0);
    assert_int_equal(tl_stats_of(F.s).workers, 0);
    assert_int_equal(tl_wait_closed(fd, 2000), 1);
    return took;
}

static void drain_timeout_cuts_a_handler_blocked_reading(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.drain_timeout_ms = 200;
    int64_t took = close_with_blocked_reader(&c);
    assert_in_range(took, 150, 200 + 800);
}

static void daemon_threads_cut_in_flight_requests_at_once(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.daemon_threads = true;
    c.drain_timeout_ms = 5000;
    int64_t took = close_with_blocked_reader(&c);
    assert_in_range(took, 0, 500);
}

static void no_block_on_close_cuts_in_flight_requests_at_once(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.block_on_close = false;
    c.drain_timeout_ms = 5000;
    int64_t took = close_with_blocked_reader(&c);
    assert_in_range(took, 0, 500);
}

/* ---- failure isolation ------------------------------------------------------------ */

static int scripted_handle(ss_request *r)
{
    char line[64];
    for (;;) {
        ssize_t n = ss_stream_readline(r, line, sizeof line);
        if (n <= 0)
            return (int)n;
        if (strcmp(line, "fail\n") == 0)
            return -EIO;
        int rc = ss_stream_write_all(r, line, (size_t)n);
        if (rc)
            return rc;
    }
}

static const ss_handler_class scripted_handler = {.name = "scripted",
                                                  .handle = scripted_handle};

static void failing_handler_does_not_disturb_a_concurrent_one(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 4;
    start_pool(&c, &scripted_handler);
    char buf[64];

    int a = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(a, "a1\n"), 0);
    assert_true(tl_recv_line(a, buf, sizeof buf, 3000) > 0);
    assert_string_equal(buf, "a1\n");

    /* B's handler returns -EIO. */
    int b = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(b, "fail\n"), 0);
    assert_int_equal(tl_wait_closed(b, 3000), 1);

    /* C's peer resets while its handler is reading. */
    int cfd = tl_connect_server(F.s);
    assert_int_equal(tl_send_str(cfd, "c1\n"), 0);
    assert_true(tl_recv_line(cfd, buf, sizeof buf, 3000) > 0);
    tl_close_reset(cfd);

    bool ok;
    WAIT_UNTIL(ok, tl_err_log_count(&H.errs, -ECONNRESET, 1) == 1, 3000);
    assert_int_equal(tl_err_log_count(&H.errs, -EIO, 1), 1);
    assert_int_equal(tl_err_log_count(&H.errs, -ECONNRESET, 1), 1);

    /* A never noticed. */
    assert_int_equal(tl_send_str(a, "a2\n"), 0);
    assert_true(tl_recv_line(a, buf, sizeof buf, 3000) > 0);
    assert_string_equal(buf, "a2\n");
    assert_int_equal(tl_err_log_total(&H.errs), 2);
    assert_true(tl_stats_of(F.s).errors >= 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pool_setup, tl_held_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(pool_of_8_serves_200_concurrent_clients),
        T(a_burst_of_connections_is_accepted_in_one_wakeup),
        T(queue_full_reject_closes_excess_connections),
        T(queue_full_block_serves_every_connection_once_workers_free),
        T(threading_udp_copies_each_packet_for_its_worker),
        T(udp_close_drains_handlers_before_closing_the_socket),
        T(server_close_joins_every_worker_and_frees_descriptors),
        T(idle_workers_retire_down_to_min_workers),
        T(server_close_drains_an_in_flight_request_to_completion),
        T(drain_timeout_cuts_a_handler_blocked_reading),
        T(daemon_threads_cut_in_flight_requests_at_once),
        T(no_block_on_close_cuts_in_flight_requests_at_once),
        T(failing_handler_does_not_disturb_a_concurrent_one),
    };
    return tl_run_selected("pool", tests, sizeof tests / sizeof tests[0], argc,
                           argv);
}
