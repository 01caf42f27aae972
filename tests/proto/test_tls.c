/* test_tls.c -- TLS under the protocol: keys and fingerprints, a handshake
 * over a socket pair, frames and bodies through it, channel binding, and a
 * record altered or a peer speaking plaintext. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <regex.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"
#include "tls.h"

static char dir[64], key[128], cert[128];
static SSL_CTX *server_ctx, *client_ctx;

static int group_setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ssftp-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    char err[256];
    if (proto_tls_make_self_signed(key, cert, "ssftpd test") != 0 ||
        proto_tls_server_ctx(cert, key, &server_ctx, err, sizeof err) != 0 ||
        proto_tls_client_ctx(&client_ctx) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    unlink(key);
    unlink(cert);
    rmdir(dir);
    return 0;
}

/* ---- keys ------------------------------------------------------------------ */

static void self_signed_key_is_private_and_never_overwritten(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(proto_tls_make_self_signed(key, cert, "again"), -EEXIST);
    char fp[PROTO_TLS_FP_SIZE];
    assert_int_equal(proto_tls_cert_file_fingerprint(cert, fp), 0);
    regex_t re;
    assert_int_equal(
        regcomp(&re, "^SHA256:[A-Za-z0-9+/]{43}$", REG_EXTENDED | REG_NOSUB),
        0);
    assert_int_equal(regexec(&re, fp, 0, NULL, 0), 0);
    regfree(&re);
}

static void fingerprint_is_the_sha256_of_the_public_key_info(void **state)
{
    (void)state;
    FILE *f = fopen(cert, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
    assert_true(n > 0);
    unsigned char md[32], b64[48];
    unsigned int mdlen;
    assert_true(EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL));
    EVP_EncodeBlock(b64, md, 32); /* 43 characters and one '=' */
    b64[43] = '\0';
    char want[64], got[PROTO_TLS_FP_SIZE];
    snprintf(want, sizeof want, "SHA256:%s", (char *)b64);
    assert_int_equal(proto_tls_cert_file_fingerprint(cert, got), 0);
    assert_string_equal(got, want);
    OPENSSL_free(der);
    X509_free(x);
}

/* ---- a session over a socket pair ------------------------------------------ */

struct side {
    proto_io *io;
    int rc;
};

static void *server_handshake(void *arg)
{
    struct side *s = arg;
    s->rc = proto_tls_handshake(s->io, true);
    return NULL;
}

struct sender {
    proto_io *io;
    int fd, rc;
};

/* The whole file as the announced body; zero_copy must not mean sendfile
 * over TLS. */
static void *send_file(void *arg)
{
    struct sender *s = arg;
    proto_body_hooks zero_copy = {.zero_copy = true};
    int file_err = 0;
    s->rc = proto_body_from_file(s->io, s->fd, 0, NULL, &zero_copy, &file_err);
    return NULL;
}

/* Both ends of c through TLS: a the server, b the client. */
static void handshake(struct tu_conn *c)
{
    assert_int_equal(proto_tls_attach(&c->a, server_ctx, true, NULL), 0);
    assert_int_equal(proto_tls_attach(&c->b, client_ctx, false, "localhost"),
                     0);
    /* The server must not wait: with nothing from the client yet, it says
     * so. */
    assert_int_equal(proto_tls_handshake(&c->a, false), -EAGAIN);
    struct side srv = {.io = &c->a};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, server_handshake, &srv), 0);
    assert_int_equal(proto_tls_handshake(&c->b, true), 0);
    pthread_join(t, NULL);
    assert_int_equal(srv.rc, 0);
    assert_string_equal(proto_tls_version(&c->b), "TLSv1.3");
}

static void detach(struct tu_conn *c)
{
    proto_tls_detach(&c->a);
    proto_tls_detach(&c->b);
    assert_null(c->a.tls);
}

static void frames_and_bodies_go_through_and_nothing_is_in_clear(void **state)
{
    struct tu_conn *c = *state;
    handshake(c);
    /* What the client sends reaches the server intact ... */
    json_t *out = json_pack("{s:s, s:s}", "cmd", "put", "path", "MARKER-42");
    assert_int_equal(proto_send(&c->b, out), 0);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    assert_true(json_equal(in, out));
    json_decref(in);
    json_decref(out);
    /* ... and a body of 1 MiB, both ways in turn. */
    size_t n = 1u << 20;
    int fd = tu_file_with_pattern(n);
    json_t *hdr =
        json_pack("{s:s, s:I}", "cmd", "put_data", "size", (json_int_t)n);
    assert_int_equal(proto_send(&c->a, hdr), 0);
    json_decref(hdr);
    struct sender snd = {.io = &c->a, .fd = fd};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_file, &snd), 0);
    assert_int_equal(proto_recv(&c->b, &in), 0);
    assert_int_equal(c->b.body_in, n);
    json_decref(in);
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(proto_read_body(&c->b, buf, n), 0);
    for (size_t i = 0; i < n; i += 4099)
        assert_int_equal(buf[i], tu_pattern(i));
    free(buf);
    pthread_join(t, NULL);
    assert_int_equal(snd.rc, 0);
    close(fd);
    detach(c);
}

/* Frames sent back to back come off the socket together (read ahead): the
 * second is then held in the session, not in the socket, and only
 * proto_tls_pending() tells a server about to park the connection. */
static void a_frame_read_ahead_is_pending_and_not_in_the_socket(void **state)
{
    struct tu_conn *c = *state;
    handshake(c);
    json_t *req = json_pack("{s:s}", "cmd", "pwd");
    assert_int_equal(proto_send(&c->b, req), 0);
    assert_int_equal(proto_send(&c->b, req), 0);
    json_decref(req);
    json_t *in;
    assert_false(proto_tls_pending(&c->a));
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
    assert_true(proto_tls_pending(&c->a));
    struct pollfd p = {.fd = c->a.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
    assert_false(proto_tls_pending(&c->a));
    detach(c);
}

struct body_sender {
    proto_io *io;
    size_t n;
    int rc;
};

/* n bytes of tu_pattern() as one announced body, in one call. */
static void *send_body(void *arg)
{
    struct body_sender *s = arg;
    unsigned char *buf = malloc(s->n);
    assert_non_null(buf);
    for (size_t i = 0; i < s->n; i++)
        buf[i] = tu_pattern(i);
    s->io->body_out = s->n;
    s->rc = proto_write_body(s->io, buf, s->n);
    free(buf);
    return NULL;
}

/* A large send gathers records; a reader slower than the socket makes it
 * wait for room again and again, and every byte arrives in order. */
static void a_large_send_to_a_slow_reader_arrives_whole(void **state)
{
    struct tu_conn *c = *state;
    handshake(c);
    int small = 4096;
    assert_int_equal(
        setsockopt(c->a.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    struct body_sender snd = {.io = &c->a, .n = 3u << 20};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_body, &snd), 0);
    c->b.body_in = snd.n;
    unsigned char buf[777];
    for (size_t off = 0; off < snd.n;) {
        ssize_t k = proto_read_some(&c->b, buf, sizeof buf);
        assert_true(k > 0);
        for (ssize_t i = 0; i < k; i++)
            if (buf[i] != tu_pattern(off + (size_t)i))
                fail_msg("byte %zu differs", off + (size_t)i);
        off += (size_t)k;
    }
    pthread_join(t, NULL);
    assert_int_equal(snd.rc, 0);
    detach(c);
}

/* A reader that leaves in the middle of a gathered send: the sender gets
 * an error at once, not a wait for the timeout. */
static void a_reader_leaving_mid_send_fails_the_sender(void **state)
{
    struct tu_conn *c = *state;
    handshake(c);
    c->a.timeout_ms = c->a.body_timeout_ms = 60000;
    struct body_sender snd = {.io = &c->a, .n = 8u << 20};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_body, &snd), 0);
    c->b.body_in = snd.n;
    unsigned char buf[4096];
    assert_true(proto_read_some(&c->b, buf, sizeof buf) > 0);
    proto_tls_detach(&c->b);
    tu_conn_close(c, 1);
    pthread_join(t, NULL);
    assert_true(snd.rc == -EPIPE || snd.rc == -ECONNRESET);
    proto_tls_detach(&c->a);
}

static void both_ends_compute_the_same_channel_binding(void **state)
{
    struct tu_conn *c = *state;
    uint8_t a[PROTO_TLS_CBIND_MAX], b[PROTO_TLS_CBIND_MAX];
    size_t na = 0, nb = 0;
    assert_int_equal(proto_tls_cbind(&c->a, a, &na), -ENOTCONN);
    handshake(c);
    assert_int_equal(proto_tls_cbind(&c->a, a, &na), 0);
    assert_int_equal(proto_tls_cbind(&c->b, b, &nb), 0);
    assert_int_equal(na, 32); /* an ECDSA-with-SHA256 certificate */
    assert_int_equal(nb, na);
    assert_memory_equal(a, b, na);
    /* tls-server-end-point: SHA-256 of the certificate's DER. */
    FILE *f = fopen(cert, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char *der = NULL, md[32];
    unsigned int mdlen;
    int n = i2d_X509(x, &der);
    assert_true(EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL));
    assert_memory_equal(a, md, 32);
    OPENSSL_free(der);
    X509_free(x);
    /* The client sees the server's key, and a self-signed certificate
     * does not verify against the CA store. */
    char fp[PROTO_TLS_FP_SIZE], want[PROTO_TLS_FP_SIZE];
    assert_int_equal(proto_tls_peer_fingerprint(&c->b, fp), 0);
    assert_int_equal(proto_tls_cert_file_fingerprint(cert, want), 0);
    assert_string_equal(fp, want);
    assert_false(proto_tls_verified(&c->b));
    detach(c);
}

/* Copies from one socket to another; when armed, flips one byte of the
 * next chunk. */
struct relay {
    int from, to;
    atomic_bool armed;
};

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    unsigned char buf[65536];
    for (;;) {
        ssize_t n = read(r->from, buf, sizeof buf);
        if (n <= 0)
            break;
        if (atomic_exchange(&r->armed, false))
            buf[n / 2] ^= 0x20;
        if (write(r->to, buf, (size_t)n) != n)
            break;
    }
    shutdown(r->to, SHUT_WR);
    return NULL;
}

static void an_altered_record_ends_the_connection(void **state)
{
    struct tu_conn *c = *state;
    /* The client talks to the server through two relays, one each way. */
    int p[2];
    tu_pair(p);
    c->b.fd = p[0];
    struct relay up = {.from = p[1], .to = c->sv[1]};
    struct relay down = {.from = c->sv[1], .to = p[1]};
    pthread_t tu, td;
    assert_int_equal(pthread_create(&tu, NULL, relay_main, &up), 0);
    assert_int_equal(pthread_create(&td, NULL, relay_main, &down), 0);
    handshake(c);
    json_t *req = json_pack("{s:s}", "cmd", "pwd");
    assert_int_equal(proto_send(&c->b, req), 0);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
    /* One bit changed on the way: the record fails its tag. */
    atomic_store(&up.armed, true);
    assert_int_equal(proto_send(&c->b, req), 0);
    json_decref(req);
    assert_int_equal(proto_recv(&c->a, &in), -EPROTO);
    char why[128];
    assert_string_not_equal(proto_tls_error(why, sizeof why), "");
    proto_tls_detach(&c->a);
    proto_tls_detach(&c->b);
    shutdown(p[0], SHUT_RDWR);
    shutdown(c->sv[0], SHUT_RDWR);
    pthread_join(tu, NULL);
    pthread_join(td, NULL);
    close(p[0]);
    close(p[1]);
}

static void a_plaintext_peer_fails_the_handshake_at_once(void **state)
{
    struct tu_conn *c = *state;
    assert_int_equal(proto_tls_attach(&c->a, server_ctx, true, NULL), 0);
    json_t *hello = json_pack("{s:s, s:i}", "cmd", "hello", "version", 1);
    assert_int_equal(proto_send(&c->b, hello), 0);
    json_decref(hello);
    assert_int_equal(proto_tls_handshake(&c->a, true), -EPROTO);
    char why[128];
    proto_tls_error(why, sizeof why);
    proto_tls_detach(&c->a);
}

int main(void)
{
    /* The relay writes to sockets the test may have shut: an error, not a
     * signal. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_signed_key_is_private_and_never_overwritten),
        cmocka_unit_test(fingerprint_is_the_sha256_of_the_public_key_info),
        cmocka_unit_test_setup_teardown(
            frames_and_bodies_go_through_and_nothing_is_in_clear, tu_conn_setup,
            tu_conn_teardown),
        cmocka_unit_test_setup_teardown(
            a_frame_read_ahead_is_pending_and_not_in_the_socket, tu_conn_setup,
            tu_conn_teardown),
        cmocka_unit_test_setup_teardown(
            a_large_send_to_a_slow_reader_arrives_whole, tu_conn_setup,
            tu_conn_teardown),
        cmocka_unit_test_setup_teardown(
            a_reader_leaving_mid_send_fails_the_sender, tu_conn_setup,
            tu_conn_teardown),
        cmocka_unit_test_setup_teardown(
            both_ends_compute_the_same_channel_binding, tu_conn_setup,
            tu_conn_teardown),
        cmocka_unit_test_setup_teardown(an_altered_record_ends_the_connection,
                                        tu_conn_setup, tu_conn_teardown),
        cmocka_unit_test_setup_teardown(
            a_plaintext_peer_fails_the_handshake_at_once, tu_conn_setup,
            tu_conn_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
