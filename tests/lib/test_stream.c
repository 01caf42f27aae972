/* test_stream.c -- the StreamRequestHandler and DatagramRequestHandler
 * helpers: lines, exact reads, buffering, EPIPE without SIGPIPE, Nagle, and
 * the datagram reply buffer. */
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tl_ev done;
static atomic_int result;

static int st_setup(void **state)
{
    (void)state;
    tl_ev_init(&done);
    atomic_store(&result, 12345);
    return 0;
}

static int st_teardown(void **state)
{
    tl_fx_teardown(state);
    tl_ev_destroy(&done);
    return 0;
}

static int start(ss_kind kind, const ss_handler_class *h, size_t max_packet)
{
    ss_config c;
    tl_cfg_for(&c, kind, SS_SYNC);
    if (max_packet)
        c.max_packet_size = max_packet;
    assert_int_equal(ss_server_create(&F.s, &c, h, NULL, NULL), 0);
    tl_runner_start(&F.r, F.s, 50);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_true(fd >= 0);
    return fd;
}

/* Reads the whole reply up to EOF into buf (NUL-terminated). */
static void recv_to_eof(int fd, char *buf, size_t cap)
{
    ssize_t n = tl_recv_n(fd, buf, cap - 1, 3000);
    assert_true(n >= 0);
    buf[n] = '\0';
}

static int reply(ss_request *r, const char *text)
{
    return ss_stream_write_all(r, text, strlen(text));
}

/* ---- readline ----------------------------------------------------------------- */

/* Transcript: "<rc>|<line>|" per readline (cap 8) until 0 or an error. */
static int transcript_handle(ss_request *r)
{
    char out[512] = "", line[8], piece[64];
    for (int i = 0; i < 10; i++) {
        ssize_t n = ss_stream_readline(r, line, sizeof line);
        snprintf(piece, sizeof piece, "%zd|%s|", n, n > 0 ? line : "");
        strncat(out, piece, sizeof out - strlen(out) - 1);
        if (n == 0 || (n < 0 && n != -EMSGSIZE))
            break;
    }
    return reply(r, out);
}

static const ss_handler_class transcript_handler = {
    .name = "transcript", .handle = transcript_handle};

static void readline_returns_each_line_with_its_newline(void **st)
{
    (void)st;
    int fd = start(SS_TCP, &transcript_handler, 0);
    assert_int_equal(tl_send_str(fd, "abc\nde\nlast"), 0);
    shutdown(fd, SHUT_WR);
    char buf[512];
    recv_to_eof(fd, buf, sizeof buf);
    assert_string_equal(buf, "4|abc\n|3|de\n|4|last|0||");
}

static void
readline_fills_cap_minus_1_and_rejects_longer_with_emsgsize(void **st)
{
    (void)st;
    int fd = start(SS_TCP, &transcript_handler, 0);
    /* cap 8: 7 bytes with the newline fit; a 16-byte line does not. */
    assert_int_equal(tl_send_str(fd, "123456\n0123456789abcde\n"), 0);
    shutdown(fd, SHUT_WR);
    char buf[512], want[64];
    recv_to_eof(fd, buf, sizeof buf);
    snprintf(want, sizeof want, "7|123456\n|%d||", -EMSGSIZE);
    assert_true(strncmp(buf, want, strlen(want)) == 0);
}

static void readline_works_on_unix_streams(void **st)
{
    (void)st;
    int fd = start(SS_UNIX_STREAM, &transcript_handler, 0);
    assert_int_equal(tl_send_str(fd, "u1\nu2\n"), 0);
    shutdown(fd, SHUT_WR);
    char buf[512];
    recv_to_eof(fd, buf, sizeof buf);
    assert_string_equal(buf, "3|u1\n|3|u2\n|0||");
}

/* ---- read_exact / read / buffering ---------------------------------------------- */

enum { BIG = 100000 };

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 31 + 7);
}

static int exact_handle(ss_request *r)
{
    unsigned char *buf = malloc(BIG);
    if (!buf)
        return -ENOMEM;
    int rc = ss_stream_read_exact(r, buf, BIG);
    bool good = rc == 0;
    for (size_t i = 0; good && i < BIG; i++)
        good = buf[i] == pattern(i);
    free(buf);
    char out[32];
    snprintf(out, sizeof out, "rc=%d %s", rc, good ? "intact" : "corrupt");
    return reply(r, out);
}

static const ss_handler_class exact_handler = {.name = "exact",
                                               .handle = exact_handle};

static void read_exact_reassembles_a_message_sent_in_pieces(void **st)
{
    (void)st;
    int fd = start(SS_TCP, &exact_handler, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char *msg = malloc(BIG);
    assert_non_null(msg);
    for (size_t i = 0; i < BIG; i++)
        msg[i] = pattern(i);
    for (size_t off = 0; off < BIG; off += 997) {
        size_t n = BIG - off < 997 ? BIG - off : 997;
        assert_int_equal(tl_send_all(fd, msg + off, n), 0);
    }
    free(msg);
    char buf[64];
    recv_to_eof(fd, buf, sizeof buf);
    assert_string_equal(buf, "rc=0 intact");
}

static void read_exact_fails_with_econnreset_if_the_peer_closes_first(void **s)
{
    (void)s;
    int fd = start(SS_TCP, &exact_handler, 0);
    assert_int_equal(tl_send_str(fd, "short"), 0);
    shutdown(fd, SHUT_WR);
    char buf[64], want[64];
    recv_to_eof(fd, buf, sizeof buf);
    snprintf(want, sizeof want, "rc=%d corrupt", -ECONNRESET);
    assert_string_equal(buf, want);
}

/* readline, then read_exact and read must see the bytes readline buffered. */
static int mixed_handle(ss_request *r)
{
    char line[32], body[8] = "", rest[32] = "";
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    size_t buffered = ss_stream_buffered(r);
    int rc = ss_stream_read_exact(r, body, 5);
    ssize_t k = ss_stream_read(r, rest, sizeof rest - 1);
    ssize_t eof = ss_stream_read(r, rest + 20, 4);
    char out[128];
    snprintf(out, sizeof out, "%s|%zu|%d:%.5s|%zd:%.*s|%zd", line,
             buffered <= 10 ? buffered : 999, rc, body, k, (int)(k > 0 ? k : 0),
             rest, eof);
    return reply(r, out);
}

static const ss_handler_class mixed_handler = {.name = "mixed",
                                               .handle = mixed_handle};

static void readline_buffer_is_shared_with_read_exact_and_read(void **st)
{
    (void)st;
    int fd = start(SS_TCP, &mixed_handler, 0);
    /* One segment, so readline's first recv() takes it all. */
    assert_int_equal(tl_send_str(fd, "LEN 5\nhelloEXTRA"), 0);
    shutdown(fd, SHUT_WR);
    char buf[128];
    recv_to_eof(fd, buf, sizeof buf);
    /* buffered is whatever readline had left over (0..10 bytes); the
     * content must be right either way. */
    char *bar = strchr(buf, '|');
    assert_non_null(bar);
    char *bar2 = strchr(bar + 1, '|');
    assert_non_null(bar2);
    assert_string_equal(bar2, "|0:hello|5:EXTRA|0");
    assert_true(strncmp(buf, "LEN 5\n|", 7) == 0);
}

/* ---- writes ----------------------------------------------------------------------- */

static int big_write_handle(ss_request *r)
{
    enum { N = 1 << 20 };
    unsigned char *buf = malloc(N);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < N; i++)
        buf[i] = pattern(i);
    int rc = ss_stream_write_all(r, buf, N);
    free(buf);
    return rc;
}

static const ss_handler_class big_write_handler = {.name = "big-write",
                                                   .handle = big_write_handle};

static void write_all_sends_a_megabyte_intact(void **st)
{
    (void)st;
    enum { N = 1 << 20 };
    int fd = start(SS_TCP, &big_write_handler, 0);
    unsigned char *buf = malloc(N + 1);
    assert_non_null(buf);
    ssize_t n = tl_recv_n(fd, buf, N + 1, 5000);
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)(n > 0 ? n : 0) && i < N; i++)
        bad += buf[i] != pattern(i);
    free(buf);
    assert_int_equal(n, N);
    assert_int_equal(bad, 0);
}

/* Waits for the client's EOF, then writes until the write fails. */
static int write_to_gone_peer_handle(ss_request *r)
{
    static const char chunk[65536];
    char line[16];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = ss_stream_write_all(r, chunk, sizeof chunk);
    atomic_store(&result, n == 0 ? rc : 777);
    tl_ev_post(&done);
    return 0;
}

static const ss_handler_class write_to_gone_peer_handler = {
    .name = "write-to-gone-peer", .handle = write_to_gone_peer_handle};

/* If a helper let SIGPIPE through, this process would die. */
static void write_all_to_a_closed_peer_returns_epipe_without_sigpipe(void **s)
{
    (void)s;
    int fd = start(SS_TCP, &write_to_gone_peer_handler, 0);
    /* After create: the library may ignore SIGPIPE process-wide there, but
     * the helpers themselves must not depend on it. */
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    tl_fx_close(fd);
    bool ok = tl_ev_wait(&done, 1, 3000);
    signal(SIGPIPE, old);
    assert_true(ok);
    assert_int_equal(atomic_load(&result), -EPIPE);
}

static void unix_write_all_to_a_closed_peer_returns_epipe(void **st)
{
    (void)st;
    int fd = start(SS_UNIX_STREAM, &write_to_gone_peer_handler, 0);
    /* After create: the library may ignore SIGPIPE process-wide there, but
     * the helpers themselves must not depend on it. */
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    tl_fx_close(fd);
    bool ok = tl_ev_wait(&done, 1, 3000);
    signal(SIGPIPE, old);
    assert_true(ok);
    assert_int_equal(atomic_load(&result), -EPIPE);
}

static int nagle_handle(ss_request *r)
{
    int rc = ss_stream_disable_nagle(r);
    int on = -1;
    socklen_t len = sizeof on;
    if (getsockopt(ss_request_fd(r), IPPROTO_TCP, TCP_NODELAY, &on, &len))
        on = -2; /* not TCP */
    char out[32];
    snprintf(out, sizeof out, "rc=%d nodelay=%d", rc, on);
    return reply(r, out);
}

static const ss_handler_class nagle_handler = {.name = "nagle",
                                               .handle = nagle_handle};

static void disable_nagle_sets_tcp_nodelay(void **st)
{
    (void)st;
    int fd = start(SS_TCP, &nagle_handler, 0);
    char buf[64];
    recv_to_eof(fd, buf, sizeof buf);
    assert_string_equal(buf, "rc=0 nodelay=1");
}

static void disable_nagle_is_a_harmless_no_op_on_unix(void **st)
{
    (void)st;
    int fd = start(SS_UNIX_STREAM, &nagle_handler, 0);
    char buf[64];
    recv_to_eof(fd, buf, sizeof buf);
    assert_true(strncmp(buf, "rc=0 ", 5) == 0);
}

/* ---- datagrams ----------------------------------------------------------------------- */

static int dg_handle(ss_request *r)
{
    size_t n = 0;
    const char *p = ss_request_packet(r, &n);
    socklen_t al = 0;
    const struct sockaddr_in *from =
        (const struct sockaddr_in *)ss_request_client_address(r, &al);
    char head[64];
    snprintf(head, sizeof head, "len=%zu port=%u:", n,
             from && from->sin_family == AF_INET ? ntohs(from->sin_port) : 0);
    int rc = ss_dgram_reply(r, head, strlen(head));
    if (rc == 0)
        rc = ss_dgram_reply(r, p, n < 8 ? n : 8);
    return rc;
}

static int dg_finish(ss_request *r)
{
    return ss_dgram_reply(r, "!", 1);
}

static const ss_handler_class dg_handler = {
    .name = "dgram", .handle = dg_handle, .finish = dg_finish};

static void dgram_reply_buffer_is_sent_once_after_finish(void **st)
{
    (void)st;
    int fd = start(SS_UDP, &dg_handler, 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    char pkt[1000];
    memset(pkt, 'p', sizeof pkt);
    assert_int_equal(tl_send_all(fd, pkt, sizeof pkt), 0);
    char buf[256], want[128];
    ssize_t n = tl_recv_dgram(fd, buf, sizeof buf - 1, 3000);
    assert_true(n > 0);
    buf[n] = '\0';
    snprintf(want, sizeof want, "len=1000 port=%u:pppppppp!",
             ntohs(me.sin_port));
    assert_string_equal(buf, want);
    /* One datagram per request, not one per ss_dgram_reply(). */
    assert_int_equal(tl_recv_dgram(fd, buf, sizeof buf, 100), -ETIMEDOUT);
}

static int dg_limit_handle(ss_request *r)
{
    char big[64];
    memset(big, 'x', sizeof big);
    int a = ss_dgram_reply(r, big, 60);
    int b = ss_dgram_reply(r, big, 10);
    atomic_store(&result, a == 0 ? b : 999);
    return 0;
}

static const ss_handler_class dg_limit_handler = {.name = "dgram-limit",
                                                  .handle = dg_limit_handle};

static void dgram_reply_past_max_packet_size_fails_with_emsgsize(void **st)
{
    (void)st;
    int fd = start(SS_UDP, &dg_limit_handler, 64);
    assert_int_equal(tl_send_str(fd, "go"), 0);
    char buf[256];
    ssize_t n = tl_recv_dgram(fd, buf, sizeof buf, 3000);
    assert_int_equal(atomic_load(&result), -EMSGSIZE);
    assert_int_equal(n, 60); /* what fitted is still sent */
}

static void unix_dgram_reply_reaches_the_autobound_client(void **st)
{
    (void)st;
    int fd = start(SS_UNIX_DGRAM, &dg_handler, 0);
    assert_int_equal(tl_send_str(fd, "hello unix"), 0);
    char buf[256];
    ssize_t n = tl_recv_dgram(fd, buf, sizeof buf - 1, 3000);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "len=10 port=0:hello un!");
}

#define T(f) cmocka_unit_test_setup_teardown(f, st_setup, st_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(readline_returns_each_line_with_its_newline),
        T(readline_fills_cap_minus_1_and_rejects_longer_with_emsgsize),
        T(readline_works_on_unix_streams),
        T(read_exact_reassembles_a_message_sent_in_pieces),
        T(read_exact_fails_with_econnreset_if_the_peer_closes_first),
        T(readline_buffer_is_shared_with_read_exact_and_read),
        T(write_all_sends_a_megabyte_intact),
        T(write_all_to_a_closed_peer_returns_epipe_without_sigpipe),
        T(unix_write_all_to_a_closed_peer_returns_epipe),
        T(disable_nagle_sets_tcp_nodelay),
        T(disable_nagle_is_a_harmless_no_op_on_unix),
        T(dgram_reply_buffer_is_sent_once_after_finish),
        T(dgram_reply_past_max_packet_size_fails_with_emsgsize),
        T(unix_dgram_reply_reaches_the_autobound_client),
    };
    return tl_run_selected("stream", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
