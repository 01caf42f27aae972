/* sessions_load.c -- hold N logged-in ssftp sessions open, then put+get on each.
 *
 *   sessions_load --port P --user U --password PW [--sessions N] [--bytes B]
 *
 * Keys are derived once (proto_auth_derive) from the first session's challenge and
 * reused for every session (cached client keys; every user has one salt).
 * Phase 1: connect + hello + auth + auth_proof (checking the server
 * signature) on all N sockets, all held open.  Phase 2: on each session, put
 * a B-byte file "/sN" then get it back and check the trailer digest and the
 * bytes.  Prints key=value: sessions, login_ok, xfer_ok, errors, login_s,
 * total_s.  Single-threaded on purpose: it measures the server, not us.
 *
 *   --hold: after phase 1, print "ready login_ok=.. errors=.. login_s=.." and
 *   wait for a line (or EOF) on stdin with every session idle, then close
 *   them all (no phase 2): the idle sessions of bench/sessions.py.
 *   --latency R: phase 2 is R put+get rounds on the first session, printed
 *   as lat_ms=a,b,... (the extra user's transfer beside the idle ones). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

static uint8_t g_ck[PROTO_AUTH_KEY_BYTES], g_sk[PROTO_AUTH_KEY_BYTES];
static proto_auth_params g_params;
static int g_have_keys;

static int reply_ok(json_t *r)
{
    bool ok = false;
    if (proto_get_bool(r, "ok", &ok) < 0 || !ok) {
        const char *c = "?";
        proto_get_str(r, "code", &c);
        fprintf(stderr, "reply not ok: %s\n", c);
        return -1;
    }
    return 0;
}

static int rpc(proto_io *io, json_t *req, json_t **out)
{
    int rc = proto_send(io, req);
    json_decref(req);
    if (rc < 0)
        return rc;
    rc = proto_recv(io, out);
    if (rc < 0)
        return rc;
    if (reply_ok(*out) < 0) {
        json_decref(*out);
        return -1;
    }
    return 0;
}

/* The keys of the first login, reused: the bench measures sessions, not
 * argon2id.  The costs must not change between sessions. */
static int derive_once(void *ctx, const char *user, const char *password,
                       const proto_auth_params *p, uint8_t ck[32],
                       uint8_t sk[32])
{
    (void)ctx;
    (void)user;
    if (!g_have_keys) {
        if (proto_auth_derive(password, p, g_ck, g_sk) < 0)
            return -EINVAL;
        g_params = *p;
        g_have_keys = 1;
    } else if (memcmp(p, &g_params, sizeof *p) != 0) {
        fprintf(stderr, "params changed\n");
        return -EINVAL;
    }
    memcpy(ck, g_ck, 32);
    memcpy(sk, g_sk, 32);
    return 0;
}

/* Every session is TLS, as ssftp's; the server's key is not checked here
 * (the load measures the server, it does not guard a password). */
static SSL_CTX *tls;

static int login(proto_io *io, const char *user, const char *pw)
{
    json_t *r = NULL;
    if (proto_tls_attach(io, tls, false, NULL) != 0 ||
        proto_tls_handshake(io, true) != 0)
        return -1;
    if (rpc(io,
            json_pack("{s:s,s:i,s:s}", "cmd", "hello", "version", PROTO_VERSION,
                      "client", "sessions_load/1"),
            &r) < 0)
        return -1;
    json_decref(r);
    struct proto_login l;
    int rc = proto_login(io, user, pw, derive_once, NULL, &l);
    json_decref(l.reply);
    return rc == 0 ? 0 : -1;
}

static int put_get(proto_io *io, int i, const uint8_t *data, size_t n,
                   uint8_t *back)
{
    char path[32], hex[PROTO_DIGEST_HEX_SIZE];
    snprintf(path, sizeof path, "/s%d", i);
    uint8_t d[PROTO_DIGEST_BYTES];
    crypto_generichash(d, sizeof d, data, n, NULL, 0);
    proto_digest_to_hex(d, hex);
    json_t *r = NULL;
    if (rpc(io,
            json_pack("{s:s,s:s,s:I}", "cmd", "put", "path", path, "total",
                      (json_int_t)n),
            &r) < 0)
        return -1;
    json_decref(r);
    json_t *q = json_pack("{s:s,s:i,s:I}", "cmd", "put_data", "offset", 0,
                          "size", (json_int_t)n);
    int rc = proto_send(io, q);
    json_decref(q);
    if (rc < 0 || proto_write_body(io, data, n) < 0)
        return -1;
    if (rpc(io, json_pack("{s:s,s:s}", "cmd", "put_end", "digest", hex), &r) <
        0)
        return -1;
    json_decref(r);
    if (rpc(io,
            json_pack("{s:s,s:s,s:i}", "cmd", "get", "path", path, "offset", 0),
            &r) < 0)
        return -1;
    uint64_t sz = proto_body_size(r);
    json_decref(r);
    if (sz != n || proto_read_body(io, back, n) < 0)
        return -1;
    if (proto_recv(io, &r) < 0)
        return -1;
    uint8_t td[PROTO_DIGEST_BYTES];
    rc = reply_ok(r) < 0 || proto_get_hex(r, "digest", td, sizeof td) < 0;
    json_decref(r);
    if (rc || memcmp(td, d, sizeof d) || memcmp(back, data, n)) {
        fprintf(stderr, "session %d: digest/bytes mismatch\n", i);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = 0, n = 1000;
    size_t bytes = 4096;
    const char *user = "bench", *pw = NULL;
    int hold = 0, latency = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--hold")) {
            hold = 1;
            memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
            argc--;
            break;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--latency"))
            latency = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--sessions"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bytes"))
            bytes = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--user"))
            user = argv[i + 1];
        else if (!strcmp(argv[i], "--password"))
            pw = argv[i + 1];
    }
    if (!port || !pw || n < 1) {
        fprintf(stderr, "usage: sessions_load --port P --password PW [--user "
                        "U] [--sessions N] [--bytes B]\n");
        return 2;
    }
    if (proto_init() < 0 || proto_tls_client_ctx(&tls) != 0)
        return 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    /* Derive the keys before the clock starts: that is the cached part. */
    proto_io *io = calloc(n, sizeof *io);
    if (io == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int errors = 0, login_ok = 0, xfer_ok = 0;
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        proto_io w = {.fd = fd, .timeout_ms = 60000, .body_timeout_ms = 30000};
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            login(&w, user, pw) < 0) {
            fprintf(stderr, "warm-up login failed\n");
            return 1;
        }
        proto_tls_detach(&w);
        close(fd);
    }
    double t0 = proto_mono_s();
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        io[i] =
            (proto_io){.fd = fd, .timeout_ms = 60000, .body_timeout_ms = 30000};
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            login(&io[i], user, pw) < 0) {
            fprintf(stderr, "session %d: connect/login failed (%s)\n", i,
                    strerror(errno));
            errors++;
            proto_tls_detach(&io[i]);
            if (fd >= 0)
                close(fd);
            io[i].fd = -1;
        } else {
            login_ok++;
        }
    }
    double t1 = proto_mono_s();
    if (hold) {
        printf("ready login_ok=%d errors=%d login_s=%.3f\n", login_ok, errors,
               t1 - t0);
        fflush(stdout);
        char line[16];
        if (fgets(line, sizeof line, stdin) == NULL && ferror(stdin))
            perror("stdin"); /* a line, EOF or an error: done all the same */
        for (int i = 0; i < n; i++)
            if (io[i].fd >= 0) {
                proto_tls_detach(&io[i]);
                close(io[i].fd);
            }
        return 0;
    }
    uint8_t *data = malloc(bytes + 1), *back = malloc(bytes + 1);
    if (data == NULL || back == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    randombytes_buf(data, bytes);
    if (latency > 0 && io[0].fd >= 0) {
        printf("lat_ms=");
        for (int k = 0; k < latency; k++) {
            double a = proto_mono_s();
            if (put_get(&io[0], 0, data, bytes, back) < 0)
                errors++;
            printf("%s%.3f", k ? "," : "", (proto_mono_s() - a) * 1000.0);
        }
        printf(" errors=%d\n", errors);
        close(io[0].fd);
        return errors ? 1 : 0;
    }
    for (int i = 0; i < n; i++) {
        if (io[i].fd < 0)
            continue;
        if (put_get(&io[i], i, data, bytes, back) < 0) {
            errors++;
        } else {
            xfer_ok++;
        }
    }
    double t2 = proto_mono_s();
    for (int i = 0; i < n; i++)
        if (io[i].fd >= 0) {
            proto_tls_detach(&io[i]);
            close(io[i].fd);
        }
    printf("sessions=%d login_ok=%d xfer_ok=%d errors=%d login_s=%.3f "
           "xfer_s=%.3f total_s=%.3f\n",
           n, login_ok, xfer_ok, errors, t1 - t0, t2 - t1, t2 - t0);
    return errors ? 1 : 0;
}
