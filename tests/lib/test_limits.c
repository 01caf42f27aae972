/* test_limits.c -- admission control (max_connections, max_per_address),
 * idle timeouts, and running out of descriptors (EMFILE) while accepting. */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

/* tl_held_handler, tl_logging_ops and their record H come from util.c. */
static tl_ev done;
static atomic_int read_rc;
static atomic_llong read_took;

static int lim_setup(void **state)
{
    tl_held_setup(state);
    tl_ev_init(&done);
    atomic_store(&read_rc, 12345);
    atomic_store(&read_took, -1);
    return 0;
}

static int lim_teardown(void **state)
{
    tl_held_teardown(state);
    tl_ev_destroy(&done);
    return 0;
}

static void start_threading(ss_config *c)
{
    assert_int_equal(
        ss_server_create(&F.s, c, &tl_held_handler, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
}

static int send_line_from(const char *src, const char *tag)
{
    int fd =
        src ? tl_connect_tcp_from(src, "127.0.0.1", ss_server_port(F.s), 2000)
            : tl_connect_server(F.s);
    assert_true(fd >= 0);
    tl_fx_fd(fd);
    char line[64];
    snprintf(line, sizeof line, "%s\n", tag);
    assert_int_equal(tl_send_str(fd, line), 0);
    return fd;
}

static void expect_echo(int fd, const char *tag)
{
    char buf[128], want[128];
    snprintf(want, sizeof want, "echo:%s\n", tag);
    assert_true(tl_recv_line(fd, buf, sizeof buf, 5000) > 0);
    assert_string_equal(buf, want);
}

/* ---- admission control ------------------------------------------------------ */

static void
max_connections_closes_the_excess_without_running_the_handler(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 4;
    c.max_connections = 2;
    start_threading(&c);
    int a = send_line_from(NULL, "a");
    int b = send_line_from(NULL, "b");
    assert_true(tl_ev_wait(&H.entered, 2, 3000));

    int x = send_line_from(NULL, "x");
    assert_int_equal(tl_wait_closed(x, 3000), 1);
    assert_int_equal(tl_ev_count(&H.entered), 2);
    assert_int_equal(tl_err_log_count(&H.errs, -EUSERS, -1), 1);
    assert_true(tl_stats_of(F.s).rejected >= 1);
    assert_int_equal(tl_stats_of(F.s).active, 2);

    tl_gate_open(&H.release);
    expect_echo(a, "a");
    expect_echo(b, "b");
    tl_fx_close(a);
    tl_fx_close(b);
    /* The limit counts live connections: once they are gone, room again. */
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).active == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).active, 0);
    int y = send_line_from(NULL, "y");
    expect_echo(y, "y");
}

static void max_per_address_closes_the_excess_from_one_address_only(void **s)
{
    (void)s;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 4;
    c.max_per_address = 1;
    start_threading(&c);
    int a = send_line_from("127.0.0.1", "a");
    assert_true(tl_ev_wait(&H.entered, 1, 3000));

    int x = send_line_from("127.0.0.1", "x");
    assert_int_equal(tl_wait_closed(x, 3000), 1);
    assert_int_equal(tl_ev_count(&H.entered), 1);
    assert_int_equal(tl_err_log_count(&H.errs, -EMLINK, -1), 1);
    assert_true(tl_stats_of(F.s).rejected >= 1);

    /* Another loopback address has its own allowance. */
    int fd = tl_connect_tcp_from("127.0.0.2", "127.0.0.1", ss_server_port(F.s),
                                 2000);
    if (fd < 0) {
        tl_gate_open(&H.release);
        expect_echo(a, "a");
        skip(); /* no 127.0.0.2 in this sandbox */
    }
    tl_fx_fd(fd);
    assert_int_equal(tl_send_str(fd, "z\n"), 0);
    assert_true(tl_ev_wait(&H.entered, 2, 3000));
    tl_gate_open(&H.release);
    expect_echo(a, "a");
    expect_echo(fd, "z");
}

/* ---- idle timeouts ------------------------------------------------------------ */

static int timed_read_handle(ss_request *r)
{
    int64_t t0 = tl_now_ms();
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    atomic_store(&read_took, tl_now_ms() - t0);
    atomic_store(&read_rc, (int)n);
    tl_ev_post(&done);
    return 0;
}

static int per_request_timeout_setup(ss_request *r)
{
    return ss_stream_set_timeout(r, 50);
}

static const ss_handler_class timed_read_handler = {
    .name = "timed-read", .handle = timed_read_handle};
static const ss_handler_class per_request_timeout_handler = {
    .name = "per-request-timeout",
    .setup = per_request_timeout_setup,
    .handle = timed_read_handle};

static void silent_client(const ss_handler_class *h, int idle_timeout_ms,
                          int expect_ms)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.idle_timeout_ms = idle_timeout_ms;
    assert_int_equal(ss_server_create(&F.s, &c, h, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s)); /* and never says a word */
    assert_true(fd >= 0);
    assert_true(tl_ev_wait(&done, 1, 3000));
    assert_int_equal(atomic_load(&read_rc), -ETIMEDOUT);
    assert_in_range(atomic_load(&read_took), expect_ms * 8 / 10, 1500);
}

static void idle_timeout_fails_a_silent_clients_read_with_etimedout(void **s)
{
    (void)s;
    silent_client(&timed_read_handler, 100, 100);
}

static void stream_set_timeout_applies_to_its_request(void **st)
{
    (void)st;
    silent_client(&per_request_timeout_handler, 0, 50);
}

/* A handler that bypasses the helpers and calls recv(2) itself. */
static int raw_read_handle(ss_request *r)
{
    int64_t t0 = tl_now_ms();
    char c;
    ssize_t n = recv(ss_request_fd(r), &c, 1, 0);
    atomic_store(&read_took, tl_now_ms() - t0);
    atomic_store(&read_rc, n < 0 ? -errno : (int)n);
    tl_ev_post(&done);
    return 0;
}

static const ss_handler_class raw_read_handler = {.name = "raw-read",
                                                  .handle = raw_read_handle};

static void idle_timeout_also_bounds_a_raw_recv_on_the_socket(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.idle_timeout_ms = 100;
    assert_int_equal(
        ss_server_create(&F.s, &c, &raw_read_handler, &tl_logging_ops, NULL),
        0);
    tl_runner_start(&F.r, F.s, 50);
    assert_true(tl_fx_fd(tl_connect_server(F.s)) >= 0);
    assert_true(tl_ev_wait(&done, 1, 3000));
    assert_int_equal(atomic_load(&read_rc), -EAGAIN); /* SO_RCVTIMEO */
    assert_in_range(atomic_load(&read_took), 80, 1500);
}

/* Writes until the client, which never reads, has filled every buffer. */
static int flood_handle(ss_request *r)
{
    static const char chunk[65536];
    int rc = 0;
    for (int i = 0; i < 4096 && rc == 0; i++) /* at most 256 MiB */
        rc = ss_stream_write_all(r, chunk, sizeof chunk);
    atomic_store(&read_rc, rc);
    tl_ev_post(&done);
    return 0;
}

static const ss_handler_class flood_handler = {.name = "flood",
                                               .handle = flood_handle};

static void idle_timeout_fails_a_write_to_a_client_that_never_reads(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.idle_timeout_ms = 100;
    assert_int_equal(
        ss_server_create(&F.s, &c, &flood_handler, &tl_logging_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    assert_true(tl_ev_wait(&done, 1, 4000));
    assert_int_equal(atomic_load(&read_rc), -ETIMEDOUT);
}

/* ---- EMFILE --------------------------------------------------------------------- */

/* The scenario runs in a child process: it lowers RLIMIT_NOFILE, which must
 * not leak into the other tests. */
static atomic_int emfile_reports, other_errors, service_calls;

static void emfile_log(ss_server *s, const ss_conn *conn, int err,
                       const char *what)
{
    (void)s;
    (void)what;
    if (err == -EMFILE && conn == NULL)
        atomic_fetch_add(&emfile_reports, 1);
    else
        atomic_fetch_add(&other_errors, 1);
}

static void emfile_actions(ss_server *s)
{
    atomic_fetch_add(&service_calls, 1);
    ss_server_inherited_ops(s)->service_actions(s);
}

#define CHECK(x)                                                               \
    do {                                                                       \
        if (!(x)) {                                                            \
            fprintf(stderr, "emfile child: %s:%d: CHECK(%s) failed\n",         \
                    __FILE__, __LINE__, #x);                                   \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int emfile_child(void)
{
    static const ss_server_ops ops = {.handle_error = emfile_log,
                                      .service_actions = emfile_actions};
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    ss_server *s = NULL;
    CHECK(ss_server_create(&s, &c, &tl_echo_once_handler, &ops, NULL) == 0);
    tl_runner r;
    tl_runner_start(&r, s, 20);
    int fds0 = tl_count_fds();
    CHECK(tl_roundtrip_once(s, "alive", true) == 0);
    /* The server closes its side of that connection a moment after the
     * reply; wait for it, or that descriptor would be free for accept. */
    bool ok;
    WAIT_UNTIL(ok, tl_count_fds() == fds0, 3000);
    CHECK(ok);

    /* Client sockets made now, while descriptors are still available. */
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c3 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(c2 >= 0 && c3 >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(ss_server_port(s)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    /* Every descriptor number below the lowest free one is taken, so with
     * the limit there the next accept() fails with EMFILE. */
    int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(lowest >= 0);
    close(lowest);
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

    CHECK(connect(c2, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(tl_send_str(c2, "c2\n") == 0);
    WAIT_UNTIL(ok, atomic_load(&emfile_reports) >= 1, 3000);
    CHECK(ok);

    /* A bounded window with the listener still readable: a loop that
     * retries accept() at once would run thousands of iterations. */
    int calls0 = atomic_load(&service_calls);
    double cpu0 = cpu_seconds();
    int64_t t0 = tl_now_ms();
    while (tl_now_ms() - t0 < 500)
        tl_nap_ms(10);
    int calls = atomic_load(&service_calls) - calls0;
    double cpu = cpu_seconds() - cpu0;
    fprintf(stderr, "emfile child: %d service_actions, %.3f s CPU in 500 ms\n",
            calls, cpu);
    CHECK(calls < 100);
    CHECK(cpu < 0.25);
    CHECK(atomic_load(&emfile_reports) == 1);

    /* Descriptors free again: the server must pick up new clients. */
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK(connect(c3, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(tl_send_str(c3, "c3\n") == 0);
    char buf[64];
    ssize_t n = tl_recv_line(c3, buf, sizeof buf, 3000);
    CHECK(n > 0 && strcmp(buf, "echo:c3\n") == 0);
    CHECK(atomic_load(&emfile_reports) == 1);
    CHECK(tl_runner_stop(&r) == 0);
    ss_server_destroy(s);
    close(c2);
    close(c3);
    return 0;
}

static void
emfile_while_accepting_neither_spins_nor_floods_and_recovers(void **st)
{
    (void)st;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(emfile_child());
    int status = 0;
    bool ok;
    WAIT_UNTIL(ok, waitpid(pid, &status, WNOHANG) == pid, 15000);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("emfile child did not finish in 15 s");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, lim_setup, lim_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(max_connections_closes_the_excess_without_running_the_handler),
        T(max_per_address_closes_the_excess_from_one_address_only),
        T(idle_timeout_fails_a_silent_clients_read_with_etimedout),
        T(stream_set_timeout_applies_to_its_request),
        T(idle_timeout_fails_a_write_to_a_client_that_never_reads),
        T(idle_timeout_also_bounds_a_raw_recv_on_the_socket),
        T(emfile_while_accepting_neither_spins_nor_floods_and_recovers),
    };
    return tl_run_selected("limits", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
