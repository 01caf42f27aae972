/* test_proxy.c -- the PROXY protocol (cfg.proxy_protocol): the header
 * parser on bytes, then servers behind a "proxy" on 127.0.0.1: the
 * client's address replaces the proxy's, bad or late headers are refused,
 * an untrusted peer's PROXY line is plain data, and admission counts the
 * header's address. */
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "../../src/server/proxyproto.h"

/* ---- the parser ------------------------------------------------------------- */

static int parse(const void *buf, size_t len, struct ss__proxy_hdr *h)
{
    return ss__proxy_parse(buf, len, h);
}

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 header: ver_cmd, fam, the address block, then tlv_len bytes of
 * TLVs (type 0x04 NOOP, which a receiver skips).  Returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *addrs,
                 size_t alen, size_t tlv_len)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    size_t plen = alen + tlv_len;
    out[14] = (uint8_t)(plen >> 8);
    out[15] = (uint8_t)plen;
    memcpy(out + 16, addrs, alen);
    if (tlv_len >= 3) {
        uint8_t *t = out + 16 + alen;
        t[0] = 0x04;
        t[1] = (uint8_t)((tlv_len - 3) >> 8);
        t[2] = (uint8_t)(tlv_len - 3);
        memset(t + 3, 'x', tlv_len - 3);
    }
    return 16 + plen;
}

static const uint8_t v4_addrs[12] = {203, 0, 113,  7,    192,  0,
                                     2,   1, 0x11, 0x5c, 0x00, 0x50};

static void host_port(const struct ss__proxy_hdr *h, char *buf, size_t cap)
{
    assert_int_equal(ss_format_address((const struct sockaddr *)&h->src,
                                       h->srclen, buf, cap) >= 0,
                     1);
}

static void parser_v1_tcp4_tcp6_unknown(void **st)
{
    (void)st;
    struct ss__proxy_hdr h;
    char a[64];
    const char *l4 = "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\r\nDATA";
    assert_int_equal(parse(l4, strlen(l4), &h), (int)strlen(l4) - 4);
    assert_true(h.has_addr);
    host_port(&h, a, sizeof a);
    assert_string_equal(a, "203.0.113.7:4444");
    const char *l6 = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
    assert_int_equal(parse(l6, strlen(l6), &h), (int)strlen(l6));
    host_port(&h, a, sizeof a);
    assert_string_equal(a, "[2001:db8::7]:65535");
    const char *lu = "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 9 9\r\n";
    assert_int_equal(parse(lu, strlen(lu), &h), (int)strlen(lu));
    assert_false(h.has_addr);
    assert_int_equal(parse("PROXY UNKNOWN\r\n", 15, &h), 15);
}

static void parser_v1_refuses_what_the_spec_does_not_allow(void **st)
{
    (void)st;
    struct ss__proxy_hdr h;
    const char *bad[] = {
        "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\n",     /* no CR */
        "PROXY TCP4 2001:db8::7 192.0.2.1 4444 80\r\n",   /* family */
        "PROXY TCP4 203.0.113.7 192.0.2.1 65536 80\r\n",  /* port */
        "PROXY TCP4 203.0.113.7 192.0.2.1 044 80\r\n",    /* leading 0 */
        "PROXY TCP4 203.0.113.7  192.0.2.1 4444 80\r\n",  /* two spaces */
        "PROXY TCP4 203.0.113.7 192.0.2.1 4444\r\n",      /* short */
        "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80 1\r\n", /* long */
        "PROXY UDP4 203.0.113.7 192.0.2.1 4444 80\r\n",   "GET / HTTP/1.0\r\n",
        "proxy TCP4 203.0.113.7 192.0.2.1 4444 80\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], strlen(bad[i]), &h);
        if (rc != -EPROTO)
            fail_msg("'%s' gave %d, not -EPROTO", bad[i], rc);
        assert_non_null(h.why);
    }
    char big[200];
    memset(big, 'a', sizeof big);
    memcpy(big, "PROXY ", 6);
    assert_int_equal(parse(big, 107, &h), -EMSGSIZE);
    assert_int_equal(parse(big, 106, &h), 0); /* may still end in time */
}

static void parser_v2_proxy_v4_v6_local_with_tlvs(void **st)
{
    (void)st;
    uint8_t b[SS__PROXY_MAX + 32];
    struct ss__proxy_hdr h;
    char a[64];
    size_t n = v2(b, 0x21, 0x11, v4_addrs, 12, 40);
    assert_int_equal(parse(b, n, &h), (int)n);
    assert_int_equal(h.version, 2);
    assert_true(h.has_addr);
    host_port(&h, a, sizeof a);
    assert_string_equal(a, "203.0.113.7:4444");

    uint8_t six[36] = {0x20, 0x01, 0x0d, 0xb8};
    six[15] = 7;
    six[32] = 0x15;
    six[33] = 0xb3; /* 5555 */
    n = v2(b, 0x21, 0x21, six, 36, 3);
    assert_int_equal(parse(b, n, &h), (int)n);
    host_port(&h, a, sizeof a);
    assert_string_equal(a, "[2001:db8::7]:5555");

    n = v2(b, 0x20, 0x00, "", 0, 0); /* LOCAL, as HAProxy's health check */
    assert_int_equal(parse(b, n, &h), 16);
    assert_false(h.has_addr);
    n = v2(b, 0x20, 0x11, v4_addrs, 12, 10); /* LOCAL ignores addresses */
    assert_int_equal(parse(b, n, &h), (int)n);
    assert_false(h.has_addr);
    n = v2(b, 0x21, 0x00, "", 0, 0); /* PROXY over AF_UNSPEC */
    assert_int_equal(parse(b, n, &h), 16);
    assert_false(h.has_addr);
}

static void parser_v2_is_whole_only_at_its_last_byte(void **st)
{
    (void)st;
    uint8_t b[128];
    struct ss__proxy_hdr h;
    size_t n = v2(b, 0x21, 0x11, v4_addrs, 12, 20);
    for (size_t i = 0; i < n; i++)
        if (parse(b, i, &h) != 0)
            fail_msg("%zu of %zu bytes: not 'need more'", i, n);
    const char *l = "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\r\n";
    for (size_t i = 0; i < strlen(l); i++)
        assert_int_equal(parse(l, i, &h), 0);
}

static void parser_v2_refuses_bad_versions_commands_families(void **st)
{
    (void)st;
    uint8_t b[SS__PROXY_MAX + 64];
    struct ss__proxy_hdr h;
    size_t n = v2(b, 0x11, 0x11, v4_addrs, 12, 0); /* version 1 */
    assert_int_equal(parse(b, n, &h), -ENOTSUP);
    n = v2(b, 0x22, 0x11, v4_addrs, 12, 0); /* command 2 */
    assert_int_equal(parse(b, n, &h), -ENOTSUP);
    n = v2(b, 0x21, 0x12, v4_addrs, 12, 0); /* UDP */
    assert_int_equal(parse(b, n, &h), -ENOTSUP);
    n = v2(b, 0x21, 0x31, v4_addrs, 12, 0); /* AF_UNIX */
    assert_int_equal(parse(b, n, &h), -ENOTSUP);
    n = v2(b, 0x21, 0x21, v4_addrs, 12, 0); /* v6 in 12 bytes */
    assert_int_equal(parse(b, n, &h), -EPROTO);
    n = v2(b, 0x21, 0x11, v4_addrs, 12, SS__PROXY_MAX - 16 - 12 + 1);
    assert_int_equal(parse(b, 16, &h), -EMSGSIZE); /* before it comes */
    b[3] = 'X';
    assert_int_equal(parse(b, 16, &h), -EPROTO);
}

static void cidr_lists_match_v4_v6_and_mapped_addresses(void **st)
{
    (void)st;
    struct ss__cidr l[4];
    size_t bad, badlen;
    assert_int_equal(ss__cidr_parse("127.0.0.1, 10.0.0.0/8,2001:db8::/32", l, 4,
                                    &bad, &badlen),
                     3);
    struct sockaddr_in in = {.sin_family = AF_INET};
    in.sin_addr.s_addr = htonl(0x0a010203); /* 10.1.2.3 */
    assert_true(ss__cidr_match(l, 3, (struct sockaddr *)&in));
    in.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
    assert_false(ss__cidr_match(l, 3, (struct sockaddr *)&in));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
    in6.sin6_addr.s6_addr[12] = 127;
    in6.sin6_addr.s6_addr[15] = 1; /* ::ffff:127.0.0.1 */
    assert_true(ss__cidr_match(l, 3, (struct sockaddr *)&in6));
    assert_int_equal(
        ss_proxy_from_check("127.0.0.1,10.0.0.0/33", &bad, &badlen), -EINVAL);
    assert_int_equal(bad, 10);
    assert_int_equal(badlen, 11);
    assert_int_equal(ss_proxy_from_check("", &bad, &badlen), -EINVAL);
    assert_int_equal(ss_proxy_from_check("1.2.3.4,", &bad, &badlen), -EINVAL);
    assert_int_equal(ss_proxy_from_check("example.com", &bad, &badlen),
                     -EINVAL);
    assert_int_equal(ss_proxy_from_check("::1/128, ::/0", NULL, NULL), 0);
}

/* ---- servers ------------------------------------------------------------------ */

/* Each request: reads a line, answers "<client_str>|<line>", then waits
 * at the gate if the line is "hold\n". */
static tl_gate gate;
static tl_ev entered;
static tl_err_log errs;
static char last_what[256];
static pthread_mutex_t what_mu = PTHREAD_MUTEX_INITIALIZER;

static int who_handle(ss_request *r)
{
    char line[256], out[512];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : 0;
    snprintf(out, sizeof out, "%s|%s", ss_request_client_str(r), line);
    tl_ev_post(&entered);
    int rc = ss_stream_write_all(r, out, strlen(out));
    if (strcmp(line, "hold\n") == 0)
        (void)tl_gate_wait(&gate, 10000);
    return rc;
}

static const ss_handler_class who_handler = {.name = "who",
                                             .handle = who_handle};

static void log_err(ss_server *s, const ss_conn *conn, int err,
                    const char *what)
{
    (void)s;
    tl_err_log_add(&errs, conn, err, what);
    pthread_mutex_lock(&what_mu);
    snprintf(last_what, sizeof last_what, "%s", what);
    pthread_mutex_unlock(&what_mu);
}

static const ss_server_ops log_ops = {.handle_error = log_err};

static int px_setup(void **st)
{
    (void)st;
    tl_gate_init(&gate);
    tl_ev_init(&entered);
    tl_err_log_init(&errs);
    last_what[0] = '\0';
    return 0;
}

static int px_teardown(void **st)
{
    tl_gate_open(&gate);
    tl_fx_teardown(st);
    tl_gate_destroy(&gate);
    tl_ev_destroy(&entered);
    return 0;
}

static void start(const char *from, int timeout_ms, unsigned per_addr,
                  unsigned workers)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = workers;
    c.proxy_protocol = true;
    c.proxy_from = from;
    c.proxy_timeout_ms = timeout_ms;
    c.max_per_address = per_addr;
    assert_int_equal(ss_server_create(&F.s, &c, &who_handler, &log_ops, NULL),
                     0);
    tl_runner_start(&F.r, F.s, 50);
}

/* A client from 127.0.0.1 (the trusted "proxy" unless said otherwise). */
static int dial(const char *src)
{
    int fd = tl_connect_tcp_from(src, "127.0.0.1", ss_server_port(F.s), 2000);
    assert_true(fd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
                     0);
    return tl_fx_fd(fd);
}

/* The answer must be "<client>|<line>", the client starting with
 * want_client (a host alone leaves the port open). */
static void expect(int fd, const char *want_client, const char *line)
{
    char buf[512], want[512];
    snprintf(want, sizeof want, "|%s", line);
    ssize_t n = tl_recv_line(fd, buf, sizeof buf, 5000);
    if (n <= 0)
        fail_msg("no answer (%zd) where '%s...%s' was due", n, want_client,
                 want);
    char *bar = strchr(buf, '|');
    if (strncmp(buf, want_client, strlen(want_client)) != 0 || bar == NULL ||
        strcmp(bar, want) != 0)
        fail_msg("got '%s', want '%s...%s'", buf, want_client, want);
}

static void expect_refused(int fd, int err, const char *what)
{
    assert_int_equal(tl_wait_closed(fd, 5000), 1);
    bool ok;
    WAIT_UNTIL(ok, tl_err_log_count(&errs, err, 1) == 1, 3000);
    pthread_mutex_lock(&what_mu);
    char got[256];
    snprintf(got, sizeof got, "%s", last_what);
    pthread_mutex_unlock(&what_mu);
    if (!ok || strstr(got, what) == NULL)
        fail_msg("handle_error: want %d '%s', last was '%s'", err, what, got);
    assert_int_equal(tl_ev_count(&entered), 0);
}

static void
v1_header_and_data_in_one_segment_give_the_handler_the_data(void **st)
{
    (void)st;
    start("127.0.0.1", 2000, 0, 4);
    int fd = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(fd, "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\r\nhi\n"), 0);
    expect(fd, "203.0.113.7:4444", "hi\n");
    int f6 = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(f6, "PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\nsix\n"),
        0);
    expect(f6, "[2001:db8::7]:5555", "six\n");
    int fu = dial("127.0.0.1");
    assert_int_equal(tl_send_str(fu, "PROXY UNKNOWN\r\nunknown\n"), 0);
    expect(fu, "127.0.0.1:", "unknown\n");
    assert_int_equal(tl_err_log_total(&errs), 0);
}

static void v2_proxy_and_local_with_tlvs_split_over_many_writes(void **st)
{
    (void)st;
    start("127.0.0.1", 3000, 0, 4);
    uint8_t b[256];
    size_t n = v2(b, 0x21, 0x11, v4_addrs, 12, 60);
    memcpy(b + n, "split\n", 6);
    n += 6;
    int fd = dial("127.0.0.1");
    /* One byte, then a few at a time: every cut must wait, none misread. */
    for (size_t i = 0; i < n;) {
        size_t k = i == 0 ? 1 : (i % 7) + 1;
        if (k > n - i)
            k = n - i;
        assert_int_equal(tl_send_all(fd, b + i, k), 0);
        i += k;
        tl_nap_ms(3);
    }
    expect(fd, "203.0.113.7:4444", "split\n");
    n = v2(b, 0x20, 0x00, "", 0, 0);
    memcpy(b + n, "local\n", 6);
    int fl = dial("127.0.0.1");
    assert_int_equal(tl_send_all(fl, b, n + 6), 0);
    expect(fl, "127.0.0.1:", "local\n");
}

static void garbage_from_a_trusted_proxy_is_refused_and_reported(void **st)
{
    (void)st;
    start("127.0.0.1", 2000, 0, 4);
    int fd = dial("127.0.0.1");
    assert_int_equal(tl_send_str(fd, "GET / HTTP/1.0\r\n\r\n"), 0);
    expect_refused(fd, -EPROTO, "PROXY header: neither a v1 nor a v2 header");
}

static void an_oversize_v1_line_is_refused_with_emsgsize(void **st)
{
    (void)st;
    start("127.0.0.1", 2000, 0, 4);
    int fd = dial("127.0.0.1");
    char big[300];
    memset(big, '1', sizeof big - 1);
    memcpy(big, "PROXY TCP4 ", 11);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tl_send_str(fd, big), 0);
    expect_refused(fd, -EMSGSIZE, "PROXY header: v1 line longer than 107");
}

/* The stalled proxy holds no worker and does not stop the accept loop:
 * with one worker, another client is served while it stalls. */
static void a_stalled_header_times_out_holding_no_worker(void **st)
{
    (void)st;
    start("127.0.0.1", 1000, 0, 1);
    int slow = dial("127.0.0.1");
    assert_int_equal(tl_send_str(slow, "PROXY TCP4 203.0"), 0);
    int64_t t0 = tl_now_ms();
    int fast = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(fast, "PROXY TCP4 198.51.100.1 192.0.2.1 1 80\r\nx\n"), 0);
    expect(fast, "198.51.100.1:1", "x\n");
    /* served while the stalled one still waits */
    assert_int_equal(tl_wait_closed(slow, 0), 0);
    assert_int_equal(tl_ev_count(&entered), 1);
    assert_int_equal(tl_wait_closed(slow, 5000), 1);
    int64_t took = tl_now_ms() - t0;
    assert_true(took >= 900 && took < 5000);
    bool ok;
    WAIT_UNTIL(ok, tl_err_log_count(&errs, -ETIMEDOUT, 1) == 1, 3000);
    assert_true(ok);
    pthread_mutex_lock(&what_mu);
    assert_non_null(strstr(last_what, "PROXY header: none within 1000 ms"));
    pthread_mutex_unlock(&what_mu);
}

/* A SS_SYNC server trusting 127.0.0.0/8, for ss_server_handle_request(). */
static void start_sync(void)
{
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.proxy_protocol = true;
    c.proxy_from = "127.0.0.0/8";
    c.timeout_ms = 5000;
    assert_int_equal(ss_server_create(&F.s, &c, &who_handler, &log_ops, NULL),
                     0);
}

/* The rest of a split header, 300 ms later. */
static void *send_rest_later(void *arg)
{
    int fd = *(int *)arg;
    struct timespec ts = {.tv_nsec = 300 * 1000000L};
    nanosleep(&ts, NULL);
    (void)tl_send_str(fd, "192.0.2.1 7 80\r\nsync\n");
    return NULL;
}

/* A part of a header, then the end: refused at once as cut (reset), not
 * after the whole timeout. */
static void a_header_cut_short_is_refused_at_once(void **st)
{
    (void)st;
    start("127.0.0.1", 20000, 0, 1);
    int fd = dial("127.0.0.1");
    assert_int_equal(tl_send_str(fd, "PROXY TCP4 203.0"), 0);
    int64_t t0 = tl_now_ms();
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    expect_refused(fd, -ECONNRESET, "closed before a whole header");
    assert_true(tl_now_ms() - t0 < 5000);
}

/* ss_server_handle_request() waits for the rest of a split header in
 * place without spinning, and sees a cut one as cut. */
static void handle_request_waits_for_a_split_header_and_sees_a_cut(void **st)
{
    (void)st;
    start_sync();
    int fd = dial("127.0.0.1");
    assert_int_equal(tl_send_str(fd, "PROXY TCP4 203.0.113.9 "), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_rest_later, &fd), 0);
    assert_int_equal(ss_server_handle_request(F.s), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    expect(fd, "203.0.113.9:7", "sync\n");
    /* 300 ms of waiting took a few ms of CPU, not 300 of spinning */
    double cpu = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(cpu < 0.15);
    int cut = dial("127.0.0.1");
    assert_int_equal(tl_send_str(cut, "PROXY TCP4 203.0"), 0);
    assert_int_equal(shutdown(cut, SHUT_WR), 0);
    int64_t t2 = tl_now_ms();
    assert_int_equal(ss_server_handle_request(F.s), 0); /* handle_error */
    assert_true(tl_now_ms() - t2 < 2500); /* not the 5 s timeout */
    assert_int_equal(tl_err_log_count(&errs, -ECONNRESET, 1), 1);
    assert_int_equal(close(cut), 0);
}

static void an_untrusted_peers_proxy_line_reaches_the_handler_as_data(void **st)
{
    (void)st;
    start("127.0.0.2", 2000, 0, 4); /* the "proxy" is 127.0.0.2 only */
    int fd = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(fd, "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\r\n"), 0);
    /* its own address, and the line is data */
    expect(fd, "127.0.0.1:", "PROXY TCP4 203.0.113.7 192.0.2.1 4444 80\r\n");
    assert_int_equal(tl_err_log_total(&errs), 0);
}

/* max_per_address 1: two clients behind the one proxy address are both
 * admitted; a second connection of the same client is not. */
static void per_address_limit_counts_the_header_address(void **st)
{
    (void)st;
    start("127.0.0.1", 2000, 1, 4);
    int a = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(a, "PROXY TCP4 203.0.113.7 192.0.2.1 1000 80\r\nhold\n"),
        0);
    expect(a, "203.0.113.7:1000", "hold\n");
    int b = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(b, "PROXY TCP4 203.0.113.8 192.0.2.1 1001 80\r\nhold\n"),
        0);
    expect(b, "203.0.113.8:1001", "hold\n");
    int c = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(c, "PROXY TCP4 203.0.113.7 192.0.2.1 1002 80\r\nhold\n"),
        0);
    assert_int_equal(tl_wait_closed(c, 5000), 1);
    bool ok;
    WAIT_UNTIL(ok, tl_err_log_count(&errs, -EMLINK, 1) == 1, 3000);
    assert_true(ok);
    assert_int_equal(tl_ev_count(&entered), 2);
}

/* Headers that come while the pool's queue is full (SS_QUEUE_FULL_BLOCK)
 * wait in the socket, as new connections wait in the backlog: the loop
 * never blocks on a queue slot, and every client is served in turn. */
static void a_burst_of_headers_behind_a_full_queue_is_served_in_turn(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_THREADING);
    c.max_workers = 2;
    c.queue_capacity = 2;
    c.proxy_protocol = true;
    c.proxy_from = "127.0.0.1";
    assert_int_equal(ss_server_create(&F.s, &c, &who_handler, &log_ops, NULL),
                     0);
    tl_runner_start(&F.r, F.s, 50);
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        char h[96];
        snprintf(h, sizeof h,
                 "PROXY TCP4 198.51.100.%d 192.0.2.1 %d 80\r\nn%d\n", i + 1,
                 1000 + i, i);
        fds[i] = dial("127.0.0.1");
        assert_int_equal(tl_send_str(fds[i], h), 0);
    }
    for (int i = 0; i < N; i++) {
        char who[32], line[16];
        snprintf(who, sizeof who, "198.51.100.%d:%d", i + 1, 1000 + i);
        snprintf(line, sizeof line, "n%d\n", i);
        expect(fds[i], who, line);
    }
    assert_int_equal(tl_err_log_total(&errs), 0);
}

static void handle_request_waits_for_the_header_in_place(void **st)
{
    (void)st;
    start_sync();
    int fd = dial("127.0.0.1");
    assert_int_equal(
        tl_send_str(fd, "PROXY TCP4 203.0.113.9 192.0.2.1 7 80\r\nsync\n"), 0);
    assert_int_equal(ss_server_handle_request(F.s), 0);
    expect(fd, "203.0.113.9:7", "sync\n");
}

static void create_refuses_bad_proxy_configurations(void **st)
{
    (void)st;
    ss_server *s = NULL;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_SYNC);
    c.proxy_protocol = true;
    assert_int_equal(ss_server_create(&s, &c, &who_handler, NULL, NULL),
                     -EINVAL); /* no proxy_from */
    c.proxy_from = "127.0.0.1,nonsense";
    assert_int_equal(ss_server_create(&s, &c, &who_handler, NULL, NULL),
                     -EINVAL);
    tl_cfg_for(&c, SS_UDP, SS_SYNC);
    c.proxy_protocol = true;
    c.proxy_from = "127.0.0.1";
    assert_int_equal(ss_server_create(&s, &c, &who_handler, NULL, NULL),
                     -EINVAL);
    assert_null(s);
}

#define P(f) cmocka_unit_test(f)
#define T(f) cmocka_unit_test_setup_teardown(f, px_setup, px_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        P(parser_v1_tcp4_tcp6_unknown),
        P(parser_v1_refuses_what_the_spec_does_not_allow),
        P(parser_v2_proxy_v4_v6_local_with_tlvs),
        P(parser_v2_is_whole_only_at_its_last_byte),
        P(parser_v2_refuses_bad_versions_commands_families),
        P(cidr_lists_match_v4_v6_and_mapped_addresses),
        T(v1_header_and_data_in_one_segment_give_the_handler_the_data),
        T(v2_proxy_and_local_with_tlvs_split_over_many_writes),
        T(garbage_from_a_trusted_proxy_is_refused_and_reported),
        T(an_oversize_v1_line_is_refused_with_emsgsize),
        T(a_stalled_header_times_out_holding_no_worker),
        T(an_untrusted_peers_proxy_line_reaches_the_handler_as_data),
        T(per_address_limit_counts_the_header_address),
        T(a_burst_of_headers_behind_a_full_queue_is_served_in_turn),
        T(handle_request_waits_for_the_header_in_place),
        T(handle_request_waits_for_a_split_header_and_sees_a_cut),
        T(a_header_cut_short_is_refused_at_once),
        T(create_refuses_bad_proxy_configurations),
    };
    return tl_run_selected("proxy", tests, sizeof tests / sizeof tests[0], argc,
                           argv);
}
