/* test_handler.c -- the request handler "class" (setup/handle/finish, its
 * state), request attributes, verify_request, and "super" through
 * ss_server_inherited_ops(). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int setups, handles, finishes, bad_state, verifies, processes;
static atomic_int cloexec_seen;
static tl_ev done;

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t process_thread, handle_thread;
static void *state_ptrs[8];
static int nstates;

static int h_setup(void **state)
{
    (void)state;
    atomic_store(&setups, 0);
    atomic_store(&handles, 0);
    atomic_store(&finishes, 0);
    atomic_store(&bad_state, 0);
    atomic_store(&verifies, 0);
    atomic_store(&processes, 0);
    atomic_store(&cloexec_seen, -1);
    tl_held_setup(state);
    tl_ev_init(&done);
    nstates = 0;
    return 0;
}

static int h_teardown(void **state)
{
    tl_held_teardown(state);
    tl_ev_destroy(&done);
    return 0;
}

static void start(ss_kind kind, ss_concurrency cc, const ss_handler_class *h,
                  const ss_server_ops *ops, void *user)
{
    ss_config c;
    tl_cfg_for(&c, kind, cc);
    c.max_workers = 4;
    assert_int_equal(ss_server_create(&F.s, &c, h, ops, user), 0);
    tl_runner_start(&F.r, F.s, 50);
}

/* ---- setup / handle / finish ------------------------------------------------------ */

typedef struct trace {
    char steps[8];
    int n;
} trace;

static int t_setup(ss_request *r)
{
    atomic_fetch_add(&setups, 1);
    trace *t = ss_request_state(r);
    t->steps[t->n++] = 'S';
    return 0;
}

static int t_handle(ss_request *r)
{
    atomic_fetch_add(&handles, 1);
    trace *t = ss_request_state(r);
    t->steps[t->n++] = 'H';
    return 0;
}

static int t_finish(ss_request *r)
{
    atomic_fetch_add(&finishes, 1);
    trace *t = ss_request_state(r);
    t->steps[t->n++] = 'F';
    return ss_stream_write_all(r, t->steps, (size_t)t->n);
}

static void setup_handle_finish_run_in_that_order(void **st)
{
    (void)st;
    static const ss_handler_class h = {.name = "trace",
                                       .state_size = sizeof(trace),
                                       .setup = t_setup,
                                       .handle = t_handle,
                                       .finish = t_finish};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    char buf[16];
    assert_int_equal(tl_recv_n(fd, buf, sizeof buf, 3000), 3);
    assert_memory_equal(buf, "SHF", 3);
}

static int fail_setup(ss_request *r)
{
    (void)r;
    atomic_fetch_add(&setups, 1);
    return -EPERM;
}

static int count_handle(ss_request *r)
{
    (void)r;
    atomic_fetch_add(&handles, 1);
    return 0;
}

static int count_finish(ss_request *r)
{
    (void)r;
    atomic_fetch_add(&finishes, 1);
    return 0;
}

static int fail_handle(ss_request *r)
{
    (void)r;
    atomic_fetch_add(&handles, 1);
    return -EIO;
}

static int fail_finish(ss_request *r)
{
    (void)r;
    atomic_fetch_add(&finishes, 1);
    return -EPROTO;
}

static void run_one_and_wait_eof(void)
{
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    assert_int_equal(tl_wait_closed(fd, 3000), 1);
    /* The error is reported before or after the close: wait for it. */
    bool ok;
    WAIT_UNTIL(ok, tl_err_log_total(&H.errs) >= 1, 2000);
}

static void failing_setup_skips_handle_and_finish(void **st)
{
    (void)st;
    static const ss_handler_class h = {.name = "fail-setup",
                                       .setup = fail_setup,
                                       .handle = count_handle,
                                       .finish = count_finish};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    run_one_and_wait_eof();
    assert_int_equal(atomic_load(&setups), 1);
    assert_int_equal(atomic_load(&handles), 0);
    assert_int_equal(atomic_load(&finishes), 0);
    assert_int_equal(tl_err_log_count(&H.errs, -EPERM, 1), 1);
}

static void failing_handle_still_runs_finish_and_reports_the_error(void **st)
{
    (void)st;
    static const ss_handler_class h = {
        .name = "fail-handle", .handle = fail_handle, .finish = count_finish};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    run_one_and_wait_eof();
    assert_int_equal(atomic_load(&handles), 1);
    assert_int_equal(atomic_load(&finishes), 1);
    assert_int_equal(tl_err_log_count(&H.errs, -EIO, 1), 1);
    assert_int_equal(tl_err_log_total(&H.errs), 1);
}

static void failing_finish_is_reported_to_handle_error(void **st)
{
    (void)st;
    static const ss_handler_class h = {
        .name = "fail-finish", .handle = count_handle, .finish = fail_finish};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    run_one_and_wait_eof();
    assert_int_equal(atomic_load(&finishes), 1);
    assert_int_equal(tl_err_log_count(&H.errs, -EPROTO, 1), 1);
}

static void null_callbacks_are_allowed(void **st)
{
    (void)st;
    static const ss_handler_class h = {.name = "empty"};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_wait_closed(fd, 3000), 1);
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).handled == 1, 2000);
    assert_int_equal(tl_stats_of(F.s).handled, 1);
    assert_int_equal(tl_err_log_total(&H.errs), 0);
}

/* ---- per-request state ----------------------------------------------------------- */

enum { STATE_SIZE = 4096 };

static int z_setup(ss_request *r)
{
    unsigned char *p = ss_request_state(r);
    bool zero = p != NULL;
    for (size_t i = 0; zero && i < STATE_SIZE; i++)
        zero = p[i] == 0;
    if (!zero)
        atomic_fetch_add(&bad_state, 1);
    if (p)
        memset(p, 0xAB, STATE_SIZE);
    pthread_mutex_lock(&seen_mu);
    if (nstates < 8)
        state_ptrs[nstates++] = p;
    pthread_mutex_unlock(&seen_mu);
    return 0;
}

static int z_handle(ss_request *r)
{
    unsigned char *p = ss_request_state(r);
    tl_ev_post(&done);
    tl_gate_wait(&H.release, 10000); /* two requests alive at once */
    for (size_t i = 0; p && i < STATE_SIZE; i++)
        if (p[i] != 0xAB) {
            atomic_fetch_add(&bad_state, 1); /* someone else wrote it */
            break;
        }
    return 0;
}

static void state_is_zeroed_and_private_to_each_request(void **st)
{
    (void)st;
    static const ss_handler_class h = {.name = "zeroed",
                                       .state_size = STATE_SIZE,
                                       .setup = z_setup,
                                       .handle = z_handle};
    start(SS_TCP, SS_THREADING, &h, &tl_logging_ops, NULL);
    /* Two at once: distinct state. */
    int a = tl_fx_fd(tl_connect_server(F.s));
    int b = tl_fx_fd(tl_connect_server(F.s));
    assert_true(tl_ev_wait(&done, 2, 3000));
    tl_gate_open(&H.release);
    assert_int_equal(tl_wait_closed(a, 3000), 1);
    assert_int_equal(tl_wait_closed(b, 3000), 1);
    /* Then one after another: each starts zeroed again. */
    for (int i = 0; i < 4; i++) {
        int fd = tl_fx_fd(tl_connect_server(F.s));
        assert_int_equal(tl_wait_closed(fd, 3000), 1);
        tl_fx_close(fd);
    }
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).handled == 6, 2000);
    assert_int_equal(tl_stats_of(F.s).handled, 6);
    assert_int_equal(atomic_load(&bad_state), 0);
    pthread_mutex_lock(&seen_mu);
    bool distinct = nstates >= 2 && state_ptrs[0] != state_ptrs[1];
    pthread_mutex_unlock(&seen_mu);
    assert_true(distinct);
}

static int null_state_handle(ss_request *r)
{
    if (ss_request_state(r) != NULL)
        atomic_fetch_add(&bad_state, 1);
    tl_ev_post(&done);
    return 0;
}

static void zero_state_size_gives_null_state(void **st)
{
    (void)st;
    static const ss_handler_class h = {.name = "stateless",
                                       .handle = null_state_handle};
    start(SS_TCP, SS_SYNC, &h, &tl_logging_ops, NULL);
    tl_fx_fd(tl_connect_server(F.s));
    assert_true(tl_ev_wait(&done, 1, 3000));
    assert_int_equal(atomic_load(&bad_state), 0);
}

/* ---- request attributes ------------------------------------------------------------ */

static int user_token;

static int attrs_handle(ss_request *r)
{
    ss_server *s = ss_request_server(r);
    int fd = ss_request_fd(r);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    getpeername(fd, (struct sockaddr *)&peer, &pl);
    socklen_t cl = 0;
    const struct sockaddr_in *client =
        (const struct sockaddr_in *)ss_request_client_address(r, &cl);
    int fl = fcntl(fd, F_GETFD);
    char out[160];
    snprintf(out, sizeof out, "user=%d server_user=%d fd_is_peer=%d cloexec=%d",
             ss_request_user(r) == &user_token,
             s && ss_server_user(s) == &user_token,
             client && cl == sizeof peer && client->sin_port == peer.sin_port,
             fl >= 0 && (fl & FD_CLOEXEC) != 0);
    return ss_stream_write_all(r, out, strlen(out));
}

static void
request_attributes_expose_server_user_fd_and_client(void **st,
                                                    ss_concurrency cc)
{
    (void)st;
    static const ss_handler_class h = {.name = "attrs", .handle = attrs_handle};
    start(SS_TCP, cc, &h, &tl_logging_ops, &user_token);
    assert_ptr_equal(ss_server_user(F.s), &user_token);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    char buf[160];
    ssize_t n = tl_recv_n(fd, buf, sizeof buf - 1, 3000);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "user=1 server_user=1 fd_is_peer=1 cloexec=1");
}

static void sync_request_attributes_and_close_on_exec_socket(void **st)
{
    request_attributes_expose_server_user_fd_and_client(st, SS_SYNC);
}

static void threading_request_attributes_and_close_on_exec_socket(void **st)
{
    request_attributes_expose_server_user_fd_and_client(st, SS_THREADING);
}

static void server_sockets_are_close_on_exec(void **st)
{
    (void)st;
    static const ss_kind kinds[] = {SS_TCP, SS_UDP, SS_UNIX_STREAM,
                                    SS_UNIX_DGRAM};
    for (size_t i = 0; i < 4; i++) {
        ss_config c;
        tl_cfg_for(&c, kinds[i], SS_SYNC);
        ss_server *s = NULL;
        assert_int_equal(
            ss_server_create(&s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
        int fl = fcntl(ss_server_fileno(s), F_GETFD);
        ss_server_destroy(s);
        assert_true(fl >= 0 && (fl & FD_CLOEXEC));
    }
}

/* ---- verify_request and inherited ops ------------------------------------------------ */

static bool refuse(ss_server *s, const ss_conn *conn)
{
    (void)s;
    (void)conn;
    atomic_fetch_add(&verifies, 1);
    return false;
}

static void verify_request_false_closes_without_running_the_handler(void **st)
{
    (void)st;
    static const ss_server_ops ops = {.verify_request = refuse,
                                      .handle_error = tl_log_error};
    static const ss_handler_class h = {.name = "never",
                                       .setup = t_setup,
                                       .handle = count_handle,
                                       .finish = count_finish};
    start(SS_TCP, SS_SYNC, &h, &ops, NULL);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(fd, "let me in\n"), 0);
    assert_int_equal(tl_wait_closed(fd, 3000), 1);
    assert_int_equal(atomic_load(&verifies), 1);
    assert_int_equal(atomic_load(&setups), 0);
    assert_int_equal(atomic_load(&handles), 0);
    assert_int_equal(atomic_load(&finishes), 0);
    assert_true(tl_stats_of(F.s).rejected >= 1);
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).active == 0, 2000);
    assert_int_equal(tl_stats_of(F.s).active, 0);
}

static bool verify_chained(ss_server *s, const ss_conn *conn)
{
    atomic_fetch_add(&verifies, 1);
    return ss_server_inherited_ops(s)->verify_request(s, conn);
}

static int process_chained(ss_server *s, ss_conn *conn)
{
    atomic_fetch_add(&processes, 1);
    pthread_mutex_lock(&seen_mu);
    process_thread = pthread_self();
    pthread_mutex_unlock(&seen_mu);
    return ss_server_inherited_ops(s)->process_request(s, conn);
}

static int thread_handle(ss_request *r)
{
    pthread_mutex_lock(&seen_mu);
    handle_thread = pthread_self();
    pthread_mutex_unlock(&seen_mu);
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    return n > 0 ? ss_stream_write_all(r, line, (size_t)n) : (int)n;
}

static void overrides_chain_to_inherited_ops_and_keep_the_mixin(void **st)
{
    (void)st;
    static const ss_server_ops ops = {.verify_request = verify_chained,
                                      .process_request = process_chained,
                                      .handle_error = tl_log_error};
    static const ss_handler_class h = {.name = "thread",
                                       .handle = thread_handle};
    start(SS_TCP, SS_THREADING, &h, &ops, NULL);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(fd, "chained\n"), 0);
    char buf[32];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    assert_string_equal(buf, "chained\n");
    assert_int_equal(atomic_load(&verifies), 1);
    assert_int_equal(atomic_load(&processes), 1);
    pthread_mutex_lock(&seen_mu);
    bool same = pthread_equal(process_thread, handle_thread);
    pthread_mutex_unlock(&seen_mu);
    /* Chaining to the ThreadingMixIn step ran the handler on a worker. */
    assert_false(same);
}

static void inherited_ops_are_the_kind_and_mixin_steps(void **st)
{
    (void)st;
    static const ss_server_ops user = {.verify_request = refuse,
                                       .process_request = process_chained};
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, &user, NULL), 0);
    const ss_server_ops *o = ss_server_inherited_ops(F.s);
    assert_non_null(o);
    assert_true(o->server_bind == ss_tcp_server_bind);
    assert_true(o->server_activate == ss_tcp_server_activate);
    assert_true(o->get_request == ss_tcp_get_request);
    assert_true(o->verify_request == ss_base_verify_request);
    assert_true(o->process_request == ss_threading_process_request);
    assert_true(o->finish_request == ss_base_finish_request);
    assert_true(o->shutdown_request == ss_tcp_shutdown_request);
    assert_true(o->close_request == ss_tcp_close_request);
    assert_true(o->handle_error == ss_base_handle_error);
    assert_true(o->handle_timeout == ss_base_handle_timeout);
    assert_true(o->service_actions == ss_base_service_actions);
    ss_server_destroy(F.s);
    F.s = NULL;

    tl_cfg_for(&c, SS_UDP, SS_FORKING);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_dgram_handler, NULL, NULL), 0);
    o = ss_server_inherited_ops(F.s);
    assert_true(o->server_activate == ss_udp_server_activate);
    assert_true(o->get_request == ss_udp_get_request);
    assert_true(o->process_request == ss_forking_process_request);
    assert_true(o->service_actions == ss_forking_service_actions);
    assert_true(o->shutdown_request == ss_udp_shutdown_request);
    assert_true(o->close_request == ss_udp_close_request);
    ss_server_destroy(F.s);
    F.s = NULL;

    tl_cfg_for(&c, SS_UNIX_STREAM, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    o = ss_server_inherited_ops(F.s);
    assert_true(o->get_request == ss_tcp_get_request);
    assert_true(o->process_request == ss_base_process_request);
}

/* ---- small utilities ------------------------------------------------------------------ */

static void strerror_and_format_address_handle_errors(void **st)
{
    (void)st;
    const char *m = ss_strerror(-ETIMEDOUT);
    assert_non_null(m);
    assert_true(strlen(m) > 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(8080),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char small[6];
    assert_true(ss_format_address((struct sockaddr *)&sa, sizeof sa, small,
                                  sizeof small) < 0);
    char ok[32];
    assert_true(ss_format_address((struct sockaddr *)&sa, sizeof sa, ok,
                                  sizeof ok) >= 0);
    assert_string_equal(ok, "127.0.0.1:8080");
}

#define T(f) cmocka_unit_test_setup_teardown(f, h_setup, h_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(setup_handle_finish_run_in_that_order),
        T(failing_setup_skips_handle_and_finish),
        T(failing_handle_still_runs_finish_and_reports_the_error),
        T(failing_finish_is_reported_to_handle_error),
        T(null_callbacks_are_allowed),
        T(state_is_zeroed_and_private_to_each_request),
        T(zero_state_size_gives_null_state),
        T(sync_request_attributes_and_close_on_exec_socket),
        T(threading_request_attributes_and_close_on_exec_socket),
        T(server_sockets_are_close_on_exec),
        T(verify_request_false_closes_without_running_the_handler),
        T(overrides_chain_to_inherited_ops_and_keep_the_mixin),
        T(inherited_ops_are_the_kind_and_mixin_steps),
        T(strerror_and_format_address_handle_errors),
    };
    return tl_run_selected("handler", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
