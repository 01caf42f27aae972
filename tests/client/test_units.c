/* test_units.c -- the client modules that need no server: escaping of
 * remote names, size formatting, the key cache, the command-line splitter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "hostkey.h"
#include "keycache.h"
#include "shell.h"
#include "text.h"

static void expect_escape(const char *in, const char *want)
{
    char *got = text_escape(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void escape_shows_control_characters_as_hex(void **state)
{
    (void)state;
    expect_escape("a\x1b[31mb\x07", "a\\x1b[31mb\\x07");
    expect_escape("tab\there\x7f", "tab\\x09here\\x7f");
    expect_escape("back\\slash", "back\\\\slash");
}

static void escape_shows_c1_and_bidi_as_code_points(void **state)
{
    (void)state;
    expect_escape("x\xc2\x9by", "x\\u009by");             /* CSI */
    expect_escape("rtl\xe2\x80\xaetxt", "rtl\\u202etxt"); /* RLO */
    expect_escape("caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5");
}

static void escape_shows_invalid_utf8_as_hex(void **state)
{
    (void)state;
    expect_escape("a\xff"
                  "b",
                  "a\\xffb");
    expect_escape("\xc0\xaf", "\\xc0\\xaf"); /* overlong '/' */
    expect_escape("\xe2\x80", "\\xe2\\x80"); /* cut short */
}

static void keycache_derives_once_per_user_password_and_params(void **state)
{
    (void)state;
    proto_auth_params p = {.opslimit = PROTO_AUTH_MIN_OPSLIMIT,
                           .memlimit = PROTO_AUTH_MIN_MEMLIMIT};
    memset(p.salt, 7, sizeof p.salt);
    uint8_t ck1[32], sk1[32], ck2[32], sk2[32];
    unsigned before = keycache_misses();
    assert_int_equal(keycache_derive("alice", "pw", &p, ck1, sk1), 0);
    assert_int_equal(keycache_derive("alice", "pw", &p, ck2, sk2), 0);
    assert_int_equal(keycache_misses(), before + 1);
    assert_memory_equal(ck1, ck2, 32);
    assert_memory_equal(sk1, sk2, 32);
    assert_int_equal(keycache_derive("alice", "other", &p, ck2, sk2), 0);
    assert_memory_not_equal(ck1, ck2, 32);
    p.salt[0] ^= 1;
    assert_int_equal(keycache_derive("alice", "pw", &p, ck2, sk2), 0);
    assert_int_equal(keycache_misses(), before + 3);
    keycache_clear();
    assert_int_equal(keycache_derive("alice", "other", &p, ck2, sk2), 0);
    assert_int_equal(keycache_misses(), before + 4);
}

static void keycache_refuses_costs_below_the_minimum(void **state)
{
    (void)state;
    proto_auth_params p = {.opslimit = 1, .memlimit = PROTO_AUTH_MIN_MEMLIMIT};
    uint8_t ck[32], sk[32];
    assert_int_equal(keycache_derive("alice", "pw", &p, ck, sk), -EPROTO);
    p.opslimit = PROTO_AUTH_MIN_OPSLIMIT;
    p.memlimit = PROTO_AUTH_MIN_MEMLIMIT / 2;
    assert_int_equal(keycache_derive("alice", "pw", &p, ck, sk), -EPROTO);
}

static void split_handles_quotes_and_backslashes(void **state)
{
    (void)state;
    char line[] = "put 'my file.txt' \"a b\"\\ c x\\ y\n";
    char *argv[8];
    assert_int_equal(shell_split(line, argv, 8), 4);
    assert_string_equal(argv[0], "put");
    assert_string_equal(argv[1], "my file.txt");
    assert_string_equal(argv[2], "a b c");
    assert_string_equal(argv[3], "x y");
    char bad[] = "ls 'open";
    assert_int_equal(shell_split(bad, argv, 8), -EINVAL);
    char blank[] = "   \t\n";
    assert_int_equal(shell_split(blank, argv, 8), 0);
}

/* ---- the connection ------------------------------------------------------ */

/* A server that answers hello over TLS, then waits for the client to go. */
static SSL_CTX *hello_tls;

static void *hello_server(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    proto_io io = {.fd = fd, .timeout_ms = 5000};
    json_t *req = NULL;
    if (proto_tls_attach(&io, hello_tls, true, NULL) == 0 &&
        proto_tls_handshake(&io, true) == 0 && proto_recv(&io, &req) == 0) {
        json_t *ok = json_pack("{s:i}", "version", PROTO_VERSION);
        (void)proto_send_ok(&io, ok);
        json_decref(ok);
        char sink[64];
        while (read(fd, sink, sizeof sink) > 0)
            ;
    }
    json_decref(req);
    proto_tls_detach(&io);
    close(fd);
    return NULL;
}

/* Small frames back to back (a put_data header, then its body; one small
 * file after another) must not wait on Nagle and the peer's delayed ACK. */
static void connection_disables_nagle(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hello_server, &lfd), 0);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
    char dir[] = "/tmp/ssftp-units-XXXXXX", key[64], cert[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    assert_int_equal(proto_tls_make_self_signed(key, cert, "units"), 0);
    assert_int_equal(
        proto_tls_server_ctx(cert, key, &hello_tls, err, sizeof err), 0);
    char fp[PROTO_TLS_FP_SIZE];
    assert_int_equal(proto_tls_cert_file_fingerprint(cert, fp), 0);
    hostkey_opts hk = {.pin = fp};
    client_conn c;
    assert_int_equal(conn_open(&c, "127.0.0.1", port, &hk), 0);
    int v = 0;
    socklen_t vl = sizeof v;
    assert_int_equal(getsockopt(c.io.fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
    assert_int_not_equal(v, 0);
    conn_close(&c);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(lfd);
    SSL_CTX_free(hello_tls);
    unlink(key);
    unlink(cert);
    rmdir(dir);
}

int main(void)
{
    if (proto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_shows_control_characters_as_hex),
        cmocka_unit_test(escape_shows_c1_and_bidi_as_code_points),
        cmocka_unit_test(escape_shows_invalid_utf8_as_hex),
        cmocka_unit_test(keycache_derives_once_per_user_password_and_params),
        cmocka_unit_test(keycache_refuses_costs_below_the_minimum),
        cmocka_unit_test(split_handles_quotes_and_backslashes),
        cmocka_unit_test(connection_disables_nagle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
