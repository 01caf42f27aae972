/* test_roundtrip.c -- every server kind x concurrency model moves data, and
 * the server reports the address it really bound. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum addr_kind { A_IPV4, A_IPV6, A_DUAL, A_UNIX_FILE, A_UNIX_ABSTRACT };

typedef struct rt_param {
    ss_kind kind;
    ss_concurrency cc;
    enum addr_kind addr;
} rt_param;

static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static bool is_stream(ss_kind k)
{
    return k == SS_TCP || k == SS_UNIX_STREAM;
}

/* A client for p: dual-stack servers get an IPv4 client on purpose. */
static int client_for(const rt_param *p)
{
    if (p->addr == A_DUAL)
        return tl_connect_tcp("127.0.0.1", ss_server_port(F.s), 2000);
    return tl_connect_server(F.s);
}

static void start_server(const rt_param *p)
{
    if ((p->addr == A_IPV6 || p->addr == A_DUAL) && !have_ipv6())
        skip();
    ss_config c;
    tl_cfg_for(&c, p->kind, p->cc);
    if (p->addr == A_IPV6)
        c.host = "::1";
    if (p->addr == A_DUAL)
        c.host = "::";
    if (p->addr == A_UNIX_FILE)
        c.path = tl_unix_path(false);
    const ss_handler_class *h =
        is_stream(p->kind) ? &tl_echo_stream_handler : &tl_echo_dgram_handler;
    assert_int_equal(ss_server_create(&F.s, &c, h, NULL, NULL), 0);
    assert_non_null(F.s);
    tl_runner_start(&F.r, F.s, 50);
}

/* Sequential clients, two messages each, then (unless SS_SYNC, which serves
 * one stream at a time by design) two interleaved clients where the second
 * is answered while the first is still open. */
static void round_trips_data(void **state)
{
    const rt_param *p = *state;
    start_server(p);
    char buf[256], want[256];

    for (int i = 0; i < 3; i++) {
        int fd = tl_fx_fd(client_for(p));
        assert_true(fd >= 0);
        for (int j = 0; j < 2; j++) {
            snprintf(want, sizeof want, "client %d message %d%s", i, j,
                     is_stream(p->kind) ? "\n" : "");
            assert_int_equal(tl_send_str(fd, want), 0);
            ssize_t n = is_stream(p->kind)
                            ? tl_recv_line(fd, buf, sizeof buf, 3000)
                            : tl_recv_dgram(fd, buf, sizeof buf - 1, 3000);
            assert_int_equal(n, (ssize_t)strlen(want));
            buf[n] = '\0';
            assert_string_equal(buf, want);
        }
        if (is_stream(p->kind)) {
            /* shutdown, not just close: a forked child may hold a copy of
             * this client socket, and only shutdown() sends the FIN. */
            shutdown(fd, SHUT_WR);
            assert_int_equal(tl_wait_closed(fd, 3000), 1);
        }
        tl_fx_close(fd);
    }

    if (p->cc != SS_SYNC && is_stream(p->kind)) {
        int a = tl_fx_fd(client_for(p));
        int b = tl_fx_fd(client_for(p));
        assert_true(a >= 0 && b >= 0);
        assert_int_equal(tl_send_str(a, "first\n"), 0);
        assert_true(tl_recv_line(a, buf, sizeof buf, 3000) > 0);
        assert_string_equal(buf, "first\n");
        /* a stays open and idle; b must still be served. */
        assert_int_equal(tl_send_str(b, "second\n"), 0);
        assert_true(tl_recv_line(b, buf, sizeof buf, 3000) > 0);
        assert_string_equal(buf, "second\n");
        shutdown(a, SHUT_WR);
        shutdown(b, SHUT_WR);
        assert_int_equal(tl_wait_closed(a, 3000), 1);
        assert_int_equal(tl_wait_closed(b, 3000), 1);
        tl_fx_close(a);
        tl_fx_close(b);
    }
    assert_int_equal(tl_runner_stop(&F.r), 0);
}

/* ---- server_address ---------------------------------------------------- */

static void check_ip_address(const char *host, int family)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.host = host;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    uint16_t port = ss_server_port(F.s);
    assert_int_not_equal(port, 0);

    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(F.s, &len);
    assert_non_null(sa);
    assert_int_equal(sa->sa_family, family);

    struct sockaddr_storage real;
    socklen_t rlen = sizeof real;
    assert_int_equal(
        getsockname(ss_server_fileno(F.s), (struct sockaddr *)&real, &rlen), 0);
    assert_int_equal(len, rlen);
    assert_memory_equal(sa, &real, rlen);

    char want[64], got[64];
    if (family == AF_INET) {
        assert_int_equal(ntohs(((const struct sockaddr_in *)sa)->sin_port),
                         port);
        snprintf(want, sizeof want, "127.0.0.1:%u", port);
    } else {
        assert_int_equal(ntohs(((const struct sockaddr_in6 *)sa)->sin6_port),
                         port);
        snprintf(want, sizeof want, "[::1]:%u", port);
    }
    assert_true(ss_format_address(sa, len, got, sizeof got) >= 0);
    assert_string_equal(got, want);
}

static void server_address_is_real_bound_ipv4_address_after_port_0(void **st)
{
    (void)st;
    check_ip_address("127.0.0.1", AF_INET);
}

static void server_address_is_real_bound_ipv6_address_after_port_0(void **st)
{
    (void)st;
    if (!have_ipv6())
        skip();
    check_ip_address("::1", AF_INET6);
}

static void udp_server_address_has_the_bound_port(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UDP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_dgram_handler, NULL, NULL), 0);
    struct sockaddr_in real;
    socklen_t rlen = sizeof real;
    assert_int_equal(
        getsockname(ss_server_fileno(F.s), (struct sockaddr *)&real, &rlen), 0);
    assert_int_not_equal(ntohs(real.sin_port), 0);
    assert_int_equal(ss_server_port(F.s), ntohs(real.sin_port));
    socklen_t len = 0;
    const struct sockaddr_in *sa =
        (const struct sockaddr_in *)ss_server_address(F.s, &len);
    assert_int_equal(sa->sin_port, real.sin_port);
}

static void unix_server_address_is_the_path(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UNIX_STREAM, SS_SYNC);
    const char *path = tl_unix_path(false);
    c.path = path;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    assert_int_equal(ss_server_port(F.s), 0);
    socklen_t len = 0;
    const struct sockaddr_un *un =
        (const struct sockaddr_un *)ss_server_address(F.s, &len);
    assert_non_null(un);
    assert_int_equal(un->sun_family, AF_UNIX);
    assert_string_equal(un->sun_path, path);
    char got[128];
    assert_true(ss_format_address((const struct sockaddr *)un, len, got,
                                  sizeof got) >= 0);
    assert_string_equal(got, path);
}

static void unix_abstract_address_keeps_the_leading_nul(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UNIX_STREAM, SS_SYNC);
    const char *path = c.path; /* "@..." */
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    socklen_t len = 0;
    const struct sockaddr_un *un =
        (const struct sockaddr_un *)ss_server_address(F.s, &len);
    assert_int_equal(un->sun_path[0], '\0');
    size_t n = strlen(path) - 1;
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 1 + n);
    assert_memory_equal(un->sun_path + 1, path + 1, n);
}

static void unix_socket_file_is_removed_by_server_close(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UNIX_STREAM, SS_SYNC);
    const char *path = tl_unix_path(false);
    c.path = path;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(ss_server_close(F.s), 0);
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

/* Records what the handler saw of its client, then echoes one line. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_client[128];
static char seen_host[128];
static int seen_family;

static int record_client_handle(ss_request *r)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_request_client_address(r, &len);
    const char *str = ss_request_client_str(r);
    pthread_mutex_lock(&seen_mu);
    seen_family = sa ? sa->sa_family : -1;
    snprintf(seen_client, sizeof seen_client, "%s", str ? str : "(null)");
    snprintf(seen_host, sizeof seen_host, "%s", ss_request_client_host(r));
    pthread_mutex_unlock(&seen_mu);
    char line[128];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    return n > 0 ? ss_stream_write_all(r, line, (size_t)n) : (int)n;
}

static const ss_handler_class record_client_handler = {
    .name = "record-client", .handle = record_client_handle};

static void dual_stack_reports_ipv4_client_as_mapped_address(void **st)
{
    (void)st;
    if (!have_ipv6())
        skip();
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.host = "::";
    assert_int_equal(
        ss_server_create(&F.s, &c, &record_client_handler, NULL, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_tcp("127.0.0.1", ss_server_port(F.s), 2000));
    assert_true(fd >= 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    assert_int_equal(tl_send_str(fd, "v4 on v6\n"), 0);
    char buf[64];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    assert_string_equal(buf, "v4 on v6\n");

    char want[80];
    snprintf(want, sizeof want, "[::ffff:127.0.0.1]:%u", ntohs(me.sin_port));
    pthread_mutex_lock(&seen_mu);
    int fam = seen_family;
    char got[128];
    memcpy(got, seen_client, sizeof got);
    pthread_mutex_unlock(&seen_mu);
    assert_int_equal(fam, AF_INET6);
    assert_string_equal(got, want);
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_host, "::ffff:127.0.0.1");
    pthread_mutex_unlock(&seen_mu);
}

static void ipv4_client_str_is_address_colon_port(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &record_client_handler, NULL, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    assert_int_equal(tl_send_str(fd, "x\n"), 0);
    char buf[64];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    char want[80];
    snprintf(want, sizeof want, "127.0.0.1:%u", ntohs(me.sin_port));
    pthread_mutex_lock(&seen_mu);
    int fam = seen_family;
    char got[128];
    memcpy(got, seen_client, sizeof got);
    pthread_mutex_unlock(&seen_mu);
    assert_int_equal(fam, AF_INET);
    assert_string_equal(got, want);
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_host, "127.0.0.1"); /* client_address[0] */
    pthread_mutex_unlock(&seen_mu);
}

/* An unnamed Unix peer (every connect() without bind()): Python's
 * client_address is '' there, and so is the host. */
static void unix_unnamed_client_host_is_empty(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UNIX_STREAM, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &record_client_handler, NULL, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    assert_int_equal(tl_send_str(fd, "u\n"), 0);
    char buf[64];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_host, "");
    pthread_mutex_unlock(&seen_mu);
}

/* cfg.listen_fd: a socket bound and listening already (systemd socket
 * activation, a parent's) is served as it is; bind and listen are skipped. */
static int listening_socket(int type, uint16_t *port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void adopted_listening_socket_is_served(void **st)
{
    (void)st;
    uint16_t port;
    int fd = listening_socket(SOCK_STREAM, &port);
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.host = NULL;
    c.listen_fd = fd;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, NULL, NULL), 0);
    assert_int_equal(ss_server_fileno(F.s), fd);
    assert_int_equal(ss_server_port(F.s), port);
    tl_runner_start(&F.r, F.s, 50);
    assert_int_equal(tl_roundtrip_once(F.s, "adopted", true), 0);
    assert_int_equal(tl_runner_stop(&F.r), 0);
    assert_int_equal(ss_server_close(F.s), 0);
    assert_true(fcntl(fd, F_GETFD) < 0); /* taken over: closed with it */
}

static void adopting_a_socket_of_another_kind_is_refused(void **st)
{
    (void)st;
    uint16_t port;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    int udp = listening_socket(SOCK_DGRAM, &port);
    c.listen_fd = udp;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, NULL, NULL), -EINVAL);
    assert_null(F.s);
    assert_true(fcntl(udp, F_GETFD) >= 0); /* refused: still the caller's */
    close(udp);
    int quiet = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* no listen */
    assert_true(quiet >= 0);
    c.listen_fd = quiet;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_once_handler, NULL, NULL), -EINVAL);
    close(quiet);
    tl_cfg_for(&c, SS_UDP, SS_SYNC);
    int tcp = listening_socket(SOCK_STREAM, &port);
    c.listen_fd = tcp;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_dgram_handler, NULL, NULL),
        -EINVAL);
    close(tcp);
}

/* A create that fails after taking the socket over (here: no descriptor
 * left for the wake-up eventfd) gives it back open, as documented. */
static void adopting_then_failing_leaves_the_socket_open(void **st)
{
    (void)st;
    uint16_t port;
    int fd = listening_socket(SOCK_STREAM, &port);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)fd + 64, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[64], n = 0;
    while (n < 64) { /* every free number below the limit */
        int d = dup(fd);
        if (d < 0) {
            assert_int_equal(errno, EMFILE);
            break;
        }
        fill[n++] = d;
    }
    assert_true(n < 64);
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.listen_fd = fd;
    int rc = ss_server_create(&F.s, &c, &tl_echo_once_handler, NULL, NULL);
    for (int i = 0; i < n; i++)
        close(fill[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, -EMFILE);
    assert_null(F.s);
    assert_true(fcntl(fd, F_GETFD) >= 0); /* still open, still the caller's */
    int one = 0;
    socklen_t len = sizeof one;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &one, &len), 0);
    assert_int_equal(one, 1);
    close(fd);
}

static void create_on_a_busy_port_fails_with_eaddrinuse_and_null(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    c.port = ss_server_port(F.s);
    static char dummy;
    ss_server *second = (ss_server *)&dummy; /* must be overwritten */
    assert_int_equal(
        ss_server_create(&second, &c, &tl_echo_stream_handler, NULL, NULL),
        -EADDRINUSE);
    assert_null(second);
}

static void without_bind_and_activate_the_inherited_steps_bind_later(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.bind_and_activate = false;
    assert_int_equal(
        ss_server_create(&F.s, &c, &tl_echo_stream_handler, NULL, NULL), 0);
    assert_int_equal(ss_server_port(F.s), 0);
    const ss_server_ops *super = ss_server_inherited_ops(F.s);
    assert_non_null(super->server_bind);
    assert_non_null(super->server_activate);
    assert_int_equal(super->server_bind(F.s), 0);
    assert_int_equal(super->server_activate(F.s), 0);
    assert_int_not_equal(ss_server_port(F.s), 0);
    tl_runner_start(&F.r, F.s, 50);
    assert_int_equal(tl_roundtrip_once(F.s, "late bind", false), 0);
}

/* ---- the matrix ----------------------------------------------------------- */

#define RT(cc, kind, addr, name)                                               \
    {                                                                          \
        name "_round_trips_data", round_trips_data, NULL, tl_fx_teardown,      \
            &(rt_param)                                                        \
        {                                                                      \
            kind, SS_##cc, addr                                                \
        }                                                                      \
    }

#define MATRIX(cc, ccname)                                                     \
    RT(cc, SS_TCP, A_IPV4, ccname "tcp_ipv4"),                                 \
        RT(cc, SS_TCP, A_IPV6, ccname "tcp_ipv6"),                             \
        RT(cc, SS_TCP, A_DUAL, ccname "tcp_dual_stack_ipv4_client"),           \
        RT(cc, SS_UDP, A_IPV4, ccname "udp_ipv4"),                             \
        RT(cc, SS_UDP, A_IPV6, ccname "udp_ipv6"),                             \
        RT(cc, SS_UNIX_STREAM, A_UNIX_FILE, ccname "unix_stream_file"),        \
        RT(cc, SS_UNIX_STREAM, A_UNIX_ABSTRACT,                                \
           ccname "unix_stream_abstract"),                                     \
        RT(cc, SS_UNIX_DGRAM, A_UNIX_ABSTRACT, ccname "unix_dgram")

#define T(f) cmocka_unit_test_teardown(f, tl_fx_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        MATRIX(SYNC, "sync_"),
        MATRIX(THREADING, "threading_"),
        MATRIX(FORKING, "forking_"),
        T(server_address_is_real_bound_ipv4_address_after_port_0),
        T(server_address_is_real_bound_ipv6_address_after_port_0),
        T(udp_server_address_has_the_bound_port),
        T(unix_server_address_is_the_path),
        T(unix_abstract_address_keeps_the_leading_nul),
        T(unix_socket_file_is_removed_by_server_close),
        T(dual_stack_reports_ipv4_client_as_mapped_address),
        T(ipv4_client_str_is_address_colon_port),
        T(unix_unnamed_client_host_is_empty),
        T(adopted_listening_socket_is_served),
        T(adopting_a_socket_of_another_kind_is_refused),
        T(adopting_then_failing_leaves_the_socket_open),
        T(create_on_a_busy_port_fails_with_eaddrinuse_and_null),
        T(without_bind_and_activate_the_inherited_steps_bind_later),
    };
    return tl_run_selected("roundtrip", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
