/* driver.c -- end-to-end scenarios against a real ssftpd.
 *
 * Usage: e2e_driver PATH/TO/ssftpd SCENARIO [process]
 *
 * With "process" the server runs with --isolation process (each session a
 * forked child), so the same scenarios prove that mode too.
 *
 * Each run makes a fresh data root, adds users with `ssftpd user add` (cheap
 * argon2id costs, password on stdin), starts `ssftpd --listen 127.0.0.1:0`,
 * reads the real port from its "listening on" line, runs one scenario over
 * TCP with src/proto as the client, then sends SIGTERM and expects exit 0.
 * Any failed check prints where and exits 1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            stop_server();                                                     \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define CHECK_CODE(got, want)                                                  \
    do {                                                                       \
        const char *g_ = (got), *w_ = (want);                                  \
        if ((g_ == NULL) != (w_ == NULL) ||                                    \
            (g_ != NULL && strcmp(g_, w_) != 0)) {                             \
            fprintf(stderr, "%s:%d: got %s, want %s\n", __FILE__, __LINE__,    \
                    g_ ? g_ : "ok", w_ ? w_ : "ok");                           \
            stop_server();                                                     \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static const char *ssftpd;
static bool isolate_process; /* run ssftpd --isolation process */
static char root[256];
static pid_t server_pid;
static uint16_t port;

/* ---- the server ----------------------------------------------------- */

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static void add_user(const char *name, const char *password, const char *quota)
{
    int in[2];
    CHECK(pipe(in) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        close(in[0]);
        close(in[1]);
        const char *argv[16] = {ssftpd,      "user",   "add",       name,
                                "--root",    root,     "--kdf-ops", "2",
                                "--kdf-mem", "8388608"};
        int n = 10;
        if (quota != NULL) {
            argv[n++] = "--quota";
            argv[n++] = quota;
        }
        argv[n] = NULL;
        execv(ssftpd, (char **)argv);
        _exit(127);
    }
    close(in[0]);
    dprintf(in[1], "%s\n", password);
    close(in[1]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Starts ssftpd on 127.0.0.1:0 in root, with the options in extra (NULL,
 * or a NULL-terminated list) after the usual ones. */
static void start_server_args(const char *const *extra)
{
    const char *argv[32] = {ssftpd, "--root", root, "--listen", "127.0.0.1:0"};
    size_t argc = 5;
    if (isolate_process) {
        argv[argc++] = "--isolation";
        argv[argc++] = "process";
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        CHECK(argc < sizeof argv / sizeof argv[0] - 1);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    int out[2];
    CHECK(pipe(out) == 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* If this driver dies (a failed CHECK, a sanitizer abort), the
         * server goes with it instead of holding the test's pipes open. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(ssftpd, (char **)argv);
        _exit(127);
    }
    close(out[1]);
    server_pid = pid;
    char line[256];
    size_t n = 0;
    /* Wait for the line, not for a fixed time. */
    while (n < sizeof line - 1) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        CHECK(poll(&p, 1, 20000) == 1);
        ssize_t r = read(out[0], line + n, 1);
        CHECK(r == 1);
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    unsigned p;
    CHECK(sscanf(line, "listening on 127.0.0.1:%u", &p) == 1);
    port = (uint16_t)p;
    close(out[0]);
}

static void start_server(void)
{
    start_server_args(NULL);
}

/* SIGTERM: the server must drain and exit 0. */
static void term_server(void)
{
    CHECK(kill(server_pid, SIGTERM) == 0);
    int st;
    CHECK(waitpid(server_pid, &st, 0) == server_pid);
    server_pid = 0;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* After SIGTERM: wait (bounded) until the server has stopped accepting --
 * its listener is closed first, so connects are refused -- instead of
 * sleeping and hoping the signal has been handled. */
static void wait_not_accepting(void)
{
    int64_t t0 = proto_mono_ms();
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = connect(fd, (struct sockaddr *)&a, sizeof a);
        int e = errno;
        close(fd);
        if (r != 0 && e == ECONNREFUSED)
            return;
        CHECK(proto_mono_ms() - t0 < 10000);
        sched_yield();
    }
}

/* ---- a minimal client ------------------------------------------------ */

struct cli {
    proto_io io;
    int handshake; /* the TLS handshake's result */
};

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Every connection is TLS; the driver checks no key (hostkey.h is the
 * client's business, tested with it). */
static SSL_CTX *tls_ctx;

/* TLS on c's connected socket.  A server that closes at once (admission
 * control) fails the handshake: the calls after it then read "closed". */
static void cli_tls(struct cli *c)
{
    CHECK(proto_tls_attach(&c->io, tls_ctx, false, NULL) == 0);
    c->handshake = proto_tls_handshake(&c->io, true);
}

static void cli_open(struct cli *c)
{
    c->io = (proto_io){
        .fd = tcp_connect(), .timeout_ms = 60000, .body_timeout_ms = 30000};
    cli_tls(c);
}

static void cli_close(struct cli *c)
{
    proto_tls_detach(&c->io);
    close(c->io.fd);
    c->io.fd = -1;
}

/* Bytes as they are, inside the TLS session. */
static void raw(struct cli *c, const void *buf, size_t n)
{
    CHECK(proto_send_raw(&c->io, buf, n) == 0);
}

/* Sends req (stolen) and returns the reply; NULL if the connection ended. */
static json_t *call(struct cli *c, json_t *req)
{
    CHECK(req != NULL);
    int rc = proto_send(&c->io, req);
    json_decref(req);
    if (rc != 0)
        return NULL;
    json_t *reply;
    return proto_recv(&c->io, &reply) == 0 ? reply : NULL;
}

/* The code of a reply (NULL for ok), remembered in a static buffer. */
static const char *code_of(json_t *reply)
{
    static __thread char buf[64];
    if (reply == NULL)
        return "closed";
    const char *code = NULL;
    int rc = proto_reply_check(reply, &code, NULL);
    if (rc == 0)
        return NULL;
    snprintf(buf, sizeof buf, "%s", code ? code : "bad_reply");
    return buf;
}

/* call() and keep only the code. */
static const char *call_code(struct cli *c, json_t *req)
{
    json_t *r = call(c, req);
    const char *code = code_of(r);
    json_decref(r);
    return code;
}

static void hello(struct cli *c)
{
    json_t *r = call(c, json_pack("{s:s, s:i, s:s}", "cmd", "hello", "version",
                                  PROTO_VERSION, "client", "e2e"));
    CHECK_CODE(code_of(r), NULL);
    json_int_t v = json_integer_value(json_object_get(r, "version"));
    CHECK(v == PROTO_VERSION);
    json_decref(r);
}

/* The whole SCRAM login; returns NULL on success or the failure code. */
static const char *login(struct cli *c, const char *user, const char *pw)
{
    struct proto_login l;
    int r = proto_login(&c->io, user, pw, NULL, NULL, &l);
    const char *code = r == -EREMOTEIO ? code_of(l.reply) : NULL;
    CHECK(r == 0 || code != NULL);
    if (r == 0) {
        const char *home;
        CHECK(proto_get_str(l.reply, "home", &home) == 0);
        CHECK(strcmp(home, "/") == 0);
    }
    json_decref(l.reply);
    return code;
}

static void connect_login(struct cli *c, const char *user, const char *pw)
{
    cli_open(c);
    hello(c);
    CHECK_CODE(login(c, user, pw), NULL);
}

static const char *simple(struct cli *c, const char *cmd, const char *path)
{
    return call_code(c, path ? json_pack("{s:s, s:s}", "cmd", cmd, "path", path)
                             : json_pack("{s:s}", "cmd", cmd));
}

static void digest_buf(const void *buf, size_t n, uint8_t out[32])
{
    proto_digest_state d;
    proto_digest_init(&d);
    proto_digest_update(&d, buf, n);
    proto_digest_final(&d, out);
}

/* put of data[0..n); cut_at >= 0 closes the connection after that many
 * body bytes.  local_prefix, if not NULL, is what the client believes its
 * first bytes are (to simulate a changed local file for the prefix check).
 * Returns the code (NULL ok), "cut" after a cut. */
static const char *put_ex(struct cli *c, const char *path, const uint8_t *data,
                          size_t n, long cut_at, uint64_t *resumed_from)
{
    json_t *r = call(c, json_pack("{s:s, s:s, s:I}", "cmd", "put", "path", path,
                                  "total", (json_int_t)n));
    const char *code = code_of(r);
    if (code != NULL) {
        json_decref(r);
        return code;
    }
    uint64_t k;
    CHECK(proto_get_u64(r, "offset", &k) == 0);
    uint64_t off = 0;
    if (k > 0 && k <= n) {
        uint8_t want[32], mine[32];
        CHECK(proto_get_hex(r, "prefix", want, 32) == 0);
        digest_buf(data, (size_t)k, mine);
        if (memcmp(want, mine, 32) == 0)
            off = k;
    } else {
        CHECK(!proto_has(r, "prefix"));
    }
    json_decref(r);
    if (resumed_from != NULL)
        *resumed_from = off;
    json_t *hdr = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                            (json_int_t)off, "size", (json_int_t)(n - off));
    CHECK(proto_send(&c->io, hdr) == 0);
    json_decref(hdr);
    size_t len = n - (size_t)off;
    if (cut_at >= 0 && (size_t)cut_at < len) {
        CHECK(proto_write_body(&c->io, data + off, (size_t)cut_at) == 0);
        cli_close(c);
        return "cut";
    }
    CHECK(proto_write_body(&c->io, data + off, len) == 0);
    uint8_t sum[32];
    digest_buf(data, n, sum);
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    CHECK(proto_set_hex(end, "digest", sum, 32) == 0);
    r = call(c, end);
    code = code_of(r);
    if (code == NULL) {
        uint8_t got[32];
        uint64_t bytes;
        CHECK(proto_get_hex(r, "digest", got, 32) == 0);
        CHECK(memcmp(got, sum, 32) == 0);
        CHECK(proto_get_u64(r, "bytes", &bytes) == 0 && bytes == n);
    }
    json_decref(r);
    return code;
}

static const char *put(struct cli *c, const char *path, const uint8_t *data,
                       size_t n)
{
    return put_ex(c, path, data, n, -1, NULL);
}

/* get into *out (malloc'd, *n bytes), resuming from the first have bytes
 * of *out when have > 0.  *from gets the offset the server chose.  With
 * digest_ok NULL, a trailer digest that does not match the bytes fails the
 * check; else *digest_ok says whether it matched (and *out holds the bytes
 * either way, as a client would before discarding them). */
static const char *get_verify(struct cli *c, const char *path, uint8_t **out,
                              size_t *n, size_t have, uint64_t *from,
                              bool *digest_ok)
{
    json_t *req = json_pack("{s:s, s:s, s:I}", "cmd", "get", "path", path,
                            "offset", (json_int_t)have);
    if (have > 0) {
        uint8_t pre[32];
        digest_buf(*out, have, pre);
        CHECK(proto_set_hex(req, "prefix", pre, 32) == 0);
    }
    json_t *r = call(c, req);
    const char *code = code_of(r);
    if (code != NULL) {
        json_decref(r);
        return code;
    }
    uint64_t total, off;
    CHECK(proto_get_u64(r, "total", &total) == 0);
    CHECK(proto_get_u64(r, "offset", &off) == 0);
    CHECK(proto_body_size(r) == total - off);
    json_decref(r);
    uint8_t *buf = malloc(total + 1);
    CHECK(buf != NULL);
    if (off > 0)
        memcpy(buf, *out, off);
    CHECK(proto_read_body(&c->io, buf + off, (size_t)(total - off)) == 0);
    json_t *t;
    CHECK(proto_recv(&c->io, &t) == 0);
    CHECK_CODE(code_of(t), NULL);
    uint8_t want[32], mine[32];
    CHECK(proto_get_hex(t, "digest", want, 32) == 0);
    json_decref(t);
    digest_buf(buf, total, mine);
    if (digest_ok != NULL)
        *digest_ok = memcmp(want, mine, 32) == 0;
    else
        CHECK(memcmp(want, mine, 32) == 0);
    free(*out);
    *out = buf;
    *n = total;
    if (from != NULL)
        *from = off;
    return NULL;
}

static const char *get_ex(struct cli *c, const char *path, uint8_t **out,
                          size_t *n, size_t have, uint64_t *from)
{
    return get_verify(c, path, out, n, have, from, NULL);
}

static const char *get(struct cli *c, const char *path, uint8_t **out,
                       size_t *n)
{
    free(*out); /* *out is NULL or an earlier get's buffer */
    *out = NULL;
    return get_ex(c, path, out, n, 0, NULL);
}

static uint8_t *random_data(size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    randombytes_buf(b, n);
    return b;
}

static void round_trip(struct cli *c, const char *path, size_t n)
{
    uint8_t *data = random_data(n), *back = NULL;
    size_t got;
    CHECK_CODE(put(c, path, data, n), NULL);
    CHECK_CODE(get(c, path, &back, &got), NULL);
    CHECK(got == n && memcmp(back, data, n) == 0);
    free(data);
    free(back);
}

static uint64_t quota_used(struct cli *c, uint64_t *limit)
{
    json_t *r = call(c, json_pack("{s:s}", "cmd", "quota"));
    CHECK_CODE(code_of(r), NULL);
    uint64_t used;
    CHECK(proto_get_u64(r, "used", &used) == 0);
    if (limit != NULL) {
        *limit = UINT64_MAX;
        if (proto_has(r, "limit"))
            CHECK(proto_get_u64(r, "limit", limit) == 0);
    }
    json_decref(r);
    return used;
}

static char *home_file(const char *user, const char *rel)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/homes/%s/%s", root, user, rel);
    return p;
}

/* Sends a whole put (put, put_data at offset 0, put_end) without reading
 * anything; bad_digest sends a wrong digest, and off is put_data's
 * offset. */
static void send_whole(struct cli *c, const char *path, const uint8_t *data,
                       size_t n, bool bad_digest, uint64_t off)
{
    json_t *req = json_pack("{s:s, s:s, s:I, s:b}", "cmd", "put", "path", path,
                            "total", (json_int_t)n, "whole", 1);
    CHECK(proto_send(&c->io, req) == 0);
    json_decref(req);
    json_t *hdr = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                            (json_int_t)off, "size", (json_int_t)(n - off));
    CHECK(proto_send(&c->io, hdr) == 0);
    json_decref(hdr);
    CHECK(proto_write_body(&c->io, data + off, n - off) == 0);
    uint8_t sum[32];
    digest_buf(data, n, sum);
    sum[0] ^= bad_digest;
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    CHECK(proto_set_hex(end, "digest", sum, 32) == 0);
    CHECK(proto_send(&c->io, end) == 0);
    json_decref(end);
}

/* The next reply's code (NULL: ok); on ok its bytes and digest are n and
 * data's. */
static const char *whole_reply(struct cli *c, const uint8_t *data, size_t n)
{
    json_t *r = NULL;
    CHECK(proto_recv(&c->io, &r) == 0);
    const char *code = code_of(r);
    if (code == NULL && data != NULL) {
        uint8_t got[32], sum[32];
        uint64_t bytes;
        digest_buf(data, n, sum);
        CHECK(proto_get_hex(r, "digest", got, 32) == 0);
        CHECK(memcmp(got, sum, 32) == 0);
        CHECK(proto_get_u64(r, "bytes", &bytes) == 0 && bytes == n);
    }
    json_decref(r);
    return code;
}

static void check_home_file(const char *user, const char *rel,
                            const uint8_t *data, size_t n)
{
    int fd = open(home_file(user, rel), O_RDONLY);
    CHECK(fd >= 0);
    uint8_t *back = malloc(n + 1);
    CHECK(back != NULL);
    CHECK(read(fd, back, n + 1) == (ssize_t)n);
    CHECK(memcmp(back, data, n) == 0);
    free(back);
    close(fd);
}

#define WHOLE_FILES 80

static void wait_partial_of(const char *user, const char *rel, size_t len);

/* Whole puts sent back to back: every one answered, in order, each exactly
 * as if alone (a refusal, a bad digest, a bad offset among them), replies
 * to other requests after theirs; an old partial is simply overwritten; a
 * stray request abandons the put with two answers; uploads verified before
 * the client vanished are published. */
static void scenario_whole(void)
{
    add_user("wes", "pw", NULL);
    start_server();
    struct cli c;
    connect_login(&c, "wes", "pw");
    CHECK_CODE(simple(&c, "mkdir", "w"), NULL);
    uint8_t *d[WHOLE_FILES];
    size_t len[WHOLE_FILES];
    char name[WHOLE_FILES][32];
    for (int i = 0; i < WHOLE_FILES; i++) {
        len[i] = (size_t)(i * 997) % 9000;
        d[i] = random_data(len[i]);
        snprintf(name[i], sizeof name[i], "w/f%02d", i);
    }
    for (int i = 0; i < WHOLE_FILES; i++) {
        if (i == 7) /* no such directory */
            send_whole(&c, "nodir/x", d[i], len[i], false, 0);
        else if (i == 21) /* a digest that does not match */
            send_whole(&c, name[i], d[i], len[i], true, 0);
        else if (i == 33) /* whole means from offset 0 */
            send_whole(&c, name[i], d[i], len[i], false, 1);
        else
            send_whole(&c, name[i], d[i], len[i], false, 0);
    }
    json_t *ls = json_pack("{s:s, s:s}", "cmd", "ls", "path", "w");
    CHECK(proto_send(&c.io, ls) == 0);
    json_decref(ls);
    for (int i = 0; i < WHOLE_FILES; i++) {
        const char *want = i == 7    ? "not_found"
                           : i == 21 ? "digest_mismatch"
                           : i == 33 ? "bad_request"
                                     : NULL;
        CHECK_CODE(whole_reply(&c, d[i], len[i]), want);
    }
    json_t *r = NULL;
    CHECK(proto_recv(&c.io, &r) == 0);
    CHECK_CODE(code_of(r), NULL);
    size_t listed = json_array_size(json_object_get(r, "entries"));
    json_decref(r);
    /* 7 went nowhere, 21 was discarded, 33 is kept as a partial (which
     * ls does not show). */
    CHECK(listed == WHOLE_FILES - 3);
    for (int i = 0; i < WHOLE_FILES; i++)
        if (i != 7 && i != 21 && i != 33)
            check_home_file("wes", name[i], d[i], len[i]);

    /* A whole put over a partial a cut upload left: overwritten. */
    uint8_t *big = random_data(300000), *other = random_data(300000);
    CHECK_CODE(put_ex(&c, "w/cut", big, 300000, 100000, NULL), "cut");
    wait_partial_of("wes", "w/.cut.ssftp-part", 100000);
    connect_login(&c, "wes", "pw");
    send_whole(&c, "w/cut", other, 300000, false, 0);
    CHECK_CODE(whole_reply(&c, other, 300000), NULL);
    check_home_file("wes", "w/cut", other, 300000);

    /* A request where put_data is due: the put and the request are both
     * answered bad_request, and the session goes on. */
    json_t *req = json_pack("{s:s, s:s, s:I, s:b}", "cmd", "put", "path",
                            "w/stray", "total", (json_int_t)5, "whole", 1);
    CHECK(proto_send(&c.io, req) == 0);
    json_decref(req);
    CHECK_CODE(simple(&c, "pwd", NULL), "bad_request");
    CHECK_CODE(whole_reply(&c, NULL, 0), "bad_request");
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    CHECK_CODE(
        call_code(&c, json_pack("{s:s, s:s, s:I, s:b}", "cmd", "put", "path",
                                "w/x", "total", (json_int_t)1, "whole", 0)),
        "bad_request");

    /* Sent, then a torn frame and gone (the session ends on it while the
     * uploads before are held): the verified uploads are published all the
     * same.  (Shut for writing only: closing with replies unread would
     * reset the connection, and the server could lose what it had not
     * read yet.) */
    for (int i = 0; i < 10; i++) {
        char n2[32];
        snprintf(n2, sizeof n2, "w/gone%d", i);
        send_whole(&c, n2, d[i + 40], len[i + 40], false, 0);
    }
    raw(&c, "\0\0", 2);
    CHECK(shutdown(c.io.fd, SHUT_WR) == 0);
    for (int i = 0; i < 10; i++) {
        char n2[32];
        snprintf(n2, sizeof n2, "w/gone%d", i);
        struct stat st;
        for (int k = 0; k < 1000 && stat(home_file("wes", n2), &st) != 0; k++)
            usleep(10000);
        check_home_file("wes", n2, d[i + 40], len[i + 40]);
    }
    cli_close(&c);
    for (int i = 0; i < WHOLE_FILES; i++)
        free(d[i]);
    free(big);
    free(other);
    stop_server();
}

/* ---- scenarios ------------------------------------------------------- */

static void scenario_login(void)
{
    add_user("alice", "right horse", NULL);
    start_server();
    struct cli c;
    cli_open(&c);
    /* Before hello: bad_request, then closed. */
    CHECK_CODE(simple(&c, "pwd", NULL), PROTO_E_BAD_REQUEST);
    CHECK_CODE(simple(&c, "pwd", NULL), "closed");
    cli_close(&c);
    /* Versions the server does not speak: the next, and version 1 (no
     * channel binding), which a client of before TLS would send. */
    static const int other[] = {PROTO_VERSION + 1, 1};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        int v = other[i];
        cli_open(&c);
        CHECK_CODE(call_code(&c, json_pack("{s:s, s:i}", "cmd", "hello",
                                           "version", v)),
                   PROTO_E_VERSION);
        cli_close(&c);
    }

    cli_open(&c);
    hello(&c);
    CHECK_CODE(simple(&c, "pwd", NULL), PROTO_E_AUTH_REQUIRED);
    CHECK_CODE(simple(&c, "frobnicate", NULL), PROTO_E_UNKNOWN_COMMAND);
    /* Proof without a challenge. */
    json_t *pr = json_pack("{s:s}", "cmd", "auth_proof");
    uint8_t zero[32] = {0};
    proto_set_b64(pr, "proof", zero, 32);
    CHECK_CODE(call_code(&c, pr), PROTO_E_AUTH_FAILED);
    CHECK_CODE(login(&c, "alice", "wrong"), PROTO_E_AUTH_FAILED);
    CHECK_CODE(login(&c, "mallory", "whatever"), PROTO_E_AUTH_FAILED);
    /* Third failure: the server closes. */
    CHECK_CODE(simple(&c, "pwd", NULL), "closed");
    cli_close(&c);

    /* An unknown user gets a challenge of the same shape and costs. */
    cli_open(&c);
    hello(&c);
    CHECK_CODE(login(&c, "nobody-here", "x"), PROTO_E_AUTH_FAILED);
    CHECK_CODE(login(&c, "alice", "right horse"), NULL);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    CHECK_CODE(call_code(&c, json_pack("{s:s, s:i}", "cmd", "hello", "version",
                                       PROTO_VERSION)),
               PROTO_E_BAD_REQUEST);
    CHECK_CODE(simple(&c, "quit", NULL), NULL);
    cli_close(&c);
    term_server();
}

static void check_cwd(struct cli *c, json_t *req, const char *want)
{
    json_t *r = call(c, req);
    CHECK_CODE(code_of(r), NULL);
    const char *cwd;
    CHECK(proto_get_str(r, "cwd", &cwd) == 0);
    if (strcmp(cwd, want) != 0) {
        fprintf(stderr, "cwd %s, want %s\n", cwd, want);
        CHECK(0);
    }
    json_decref(r);
}

static void scenario_commands(void)
{
    add_user("bob", "pw", "10M");
    start_server();
    struct cli c;
    connect_login(&c, "bob", "pw");
    check_cwd(&c, json_pack("{s:s}", "cmd", "pwd"), "/");
    CHECK_CODE(simple(&c, "mkdir", "docs"), NULL);
    CHECK_CODE(simple(&c, "mkdir", "docs"), PROTO_E_EXISTS);
    CHECK_CODE(simple(&c, "mkdir", "nope/x"), PROTO_E_NOT_FOUND);
    check_cwd(&c, json_pack("{s:s, s:s}", "cmd", "cd", "path", "docs"),
              "/docs");
    check_cwd(&c, json_pack("{s:s, s:s}", "cmd", "cd", "path", "../../.."),
              "/");
    check_cwd(&c, json_pack("{s:s, s:s}", "cmd", "cd", "path", "/docs/./"),
              "/docs");
    CHECK_CODE(simple(&c, "cd", "/missing"), PROTO_E_NOT_FOUND);
    check_cwd(&c, json_pack("{s:s, s:s}", "cmd", "cd", "path", "/"), "/");
    uint8_t *d = random_data(1000);
    CHECK_CODE(put(&c, "a.txt", d, 1000), NULL);
    CHECK_CODE(put(&c, "/docs/b.txt", d, 10), NULL);
    CHECK_CODE(simple(&c, "cd", "a.txt"), PROTO_E_NOT_A_DIRECTORY);
    free(d);
    /* ls: sorted, typed, sized. */
    CHECK_CODE(simple(&c, "mkdir", "/docs/sub"), NULL);
    json_t *r = call(&c, json_pack("{s:s}", "cmd", "ls"));
    CHECK_CODE(code_of(r), NULL);
    json_t *e = json_object_get(r, "entries");
    CHECK(json_array_size(e) == 2);
    CHECK(
        strcmp(json_string_value(json_object_get(json_array_get(e, 0), "name")),
               "a.txt") == 0);
    CHECK(json_integer_value(json_object_get(json_array_get(e, 0), "size")) ==
          1000);
    CHECK(
        strcmp(json_string_value(json_object_get(json_array_get(e, 1), "type")),
               "dir") == 0);
    CHECK(json_is_false(json_object_get(r, "more")));
    json_decref(r);
    r = call(&c, json_pack("{s:s, s:s, s:s}", "cmd", "ls", "path", "/docs",
                           "after", "a.txt"));
    CHECK_CODE(code_of(r), NULL);
    CHECK(json_array_size(json_object_get(r, "entries")) == 2);
    json_decref(r);
    CHECK_CODE(simple(&c, "ls", "/a.txt"), PROTO_E_NOT_A_DIRECTORY);
    CHECK_CODE(simple(&c, "ls", "/none"), PROTO_E_NOT_FOUND);
    /* ls paging over 2500 entries. */
    CHECK_CODE(simple(&c, "mkdir", "/many"), NULL);
    for (int i = 0; i < 2500; i++) {
        char p[64];
        snprintf(p, sizeof p, "/many/d%04d", i);
        CHECK_CODE(simple(&c, "mkdir", p), NULL);
    }
    int seen = 0, pages = 0;
    char after[256] = "";
    for (;;) {
        json_t *q = json_pack("{s:s, s:s}", "cmd", "ls", "path", "/many");
        if (after[0] != '\0')
            json_object_set_new(q, "after", json_string(after));
        r = call(&c, q);
        CHECK_CODE(code_of(r), NULL);
        e = json_object_get(r, "entries");
        for (size_t i = 0; i < json_array_size(e); i++) {
            char want[64];
            snprintf(want, sizeof want, "d%04d", seen++);
            CHECK(strcmp(json_string_value(
                             json_object_get(json_array_get(e, i), "name")),
                         want) == 0);
        }
        pages++;
        bool more = json_is_true(json_object_get(r, "more"));
        if (json_array_size(e) > 0)
            snprintf(after, sizeof after, "%s",
                     json_string_value(json_object_get(
                         json_array_get(e, json_array_size(e) - 1), "name")));
        json_decref(r);
        if (!more)
            break;
    }
    CHECK(seen == 2500 && pages >= 3);
    /* rm, rmdir. */
    CHECK_CODE(simple(&c, "rm", "/docs"), PROTO_E_IS_A_DIRECTORY);
    CHECK_CODE(simple(&c, "rmdir", "/docs"), PROTO_E_NOT_EMPTY);
    CHECK_CODE(simple(&c, "rmdir", "/a.txt"), PROTO_E_NOT_A_DIRECTORY);
    CHECK_CODE(simple(&c, "rmdir", "/"), PROTO_E_PERMISSION_DENIED);
    CHECK_CODE(simple(&c, "rm", "/docs/b.txt"), NULL);
    CHECK_CODE(simple(&c, "rm", "/docs/b.txt"), PROTO_E_NOT_FOUND);
    CHECK_CODE(simple(&c, "rmdir", "/docs/sub"), NULL);
    CHECK_CODE(simple(&c, "rmdir", "/docs"), NULL);
    /* quota: used counts a.txt, limit is 10M. */
    uint64_t limit;
    CHECK(quota_used(&c, &limit) == 1000);
    CHECK(limit == 10u << 20);
    CHECK_CODE(simple(&c, "rm", "a.txt"), NULL);
    CHECK(quota_used(&c, NULL) == 0);
    /* Bad requests. */
    CHECK_CODE(call_code(&c, json_pack("{s:s, s:i}", "cmd", "cd", "path", 5)),
               PROTO_E_BAD_REQUEST);
    CHECK_CODE(call_code(&c, json_pack("{s:i}", "cmd", 5)),
               PROTO_E_BAD_REQUEST);
    CHECK_CODE(simple(&c, "put_end", NULL), PROTO_E_BAD_REQUEST);
    CHECK_CODE(simple(&c, "mkdir", "x.ssftp-part"), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    cli_close(&c);
    term_server();
}

static void scenario_put_get(void)
{
    add_user("carol", "pw", NULL);
    start_server();
    struct cli c;
    connect_login(&c, "carol", "pw");
    round_trip(&c, "empty", 0);
    round_trip(&c, "one", 1);
    round_trip(&c, "big.bin", (3u << 20) + 12345);
    round_trip(&c, "big.bin", 777); /* replaces */
    CHECK(quota_used(&c, NULL) == 1 + 777);
    /* A wrong digest: discarded, the old file stays. */
    uint8_t *d = random_data(5000);
    json_t *r = call(&c, json_pack("{s:s, s:s, s:i}", "cmd", "put", "path",
                                   "one", "total", 5000));
    CHECK_CODE(code_of(r), NULL);
    json_decref(r);
    json_t *h = json_pack("{s:s, s:i, s:i}", "cmd", "put_data", "offset", 0,
                          "size", 5000);
    CHECK(proto_send(&c.io, h) == 0);
    json_decref(h);
    CHECK(proto_write_body(&c.io, d, 5000) == 0);
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    uint8_t bogus[32] = {1};
    proto_set_hex(end, "digest", bogus, 32);
    CHECK_CODE(call_code(&c, end), PROTO_E_DIGEST_MISMATCH);
    CHECK(quota_used(&c, NULL) == 1 + 777);
    free(d);
    /* An abandoned upload: the stray request gets bad_request. */
    r = call(&c, json_pack("{s:s, s:s, s:i}", "cmd", "put", "path", "x",
                           "total", 10));
    CHECK_CODE(code_of(r), NULL);
    json_decref(r);
    CHECK_CODE(simple(&c, "pwd", NULL), PROTO_E_BAD_REQUEST);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    /* get failures. */
    uint8_t *back = NULL;
    size_t n;
    CHECK_CODE(get(&c, "/missing", &back, &n), PROTO_E_NOT_FOUND);
    CHECK_CODE(simple(&c, "mkdir", "dir"), NULL);
    CHECK_CODE(get(&c, "dir", &back, &n), PROTO_E_IS_A_DIRECTORY);
    CHECK_CODE(put(&c, "dir", (const uint8_t *)"x", 1), PROTO_E_IS_A_DIRECTORY);
    CHECK_CODE(call_code(&c, json_pack("{s:s, s:s, s:i}", "cmd", "get", "path",
                                       "one", "offset", 3)),
               PROTO_E_BAD_REQUEST);
    cli_close(&c);
    term_server();
}

static void scenario_escapes(void)
{
    add_user("dave", "pw", NULL);
    char outside[512];
    snprintf(outside, sizeof outside, "%s/outside", root);
    CHECK(mkdir(outside, 0700) == 0);
    char secret[600];
    snprintf(secret, sizeof secret, "%s/secret.txt", outside);
    FILE *f = fopen(secret, "w");
    CHECK(f != NULL);
    fputs("top secret\n", f);
    fclose(f);
    CHECK(symlink(outside, home_file("dave", "link")) == 0);
    CHECK(symlink(secret, home_file("dave", "flink")) == 0);
    start_server();
    struct cli c;
    connect_login(&c, "dave", "pw");
    uint8_t *back = NULL;
    size_t n;
    const uint8_t data[] = "evil";
    /* ".." above the home stays at the home. */
    CHECK_CODE(get(&c, "../../outside/secret.txt", &back, &n),
               PROTO_E_NOT_FOUND);
    CHECK_CODE(get(&c, "/../secret.txt", &back, &n), PROTO_E_NOT_FOUND);
    CHECK_CODE(put(&c, "../../outside/secret.txt", data, 4), PROTO_E_NOT_FOUND);
    /* Through or at a symlink: bad_path. */
    CHECK_CODE(get(&c, "link/secret.txt", &back, &n), PROTO_E_BAD_PATH);
    CHECK_CODE(get(&c, "flink", &back, &n), PROTO_E_BAD_PATH);
    CHECK_CODE(put(&c, "link/secret.txt", data, 4), PROTO_E_BAD_PATH);
    CHECK_CODE(put(&c, "link/new.txt", data, 4), PROTO_E_BAD_PATH);
    CHECK_CODE(put(&c, "flink", data, 4), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "cd", "link"), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "ls", "link"), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "mkdir", "link/d"), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "rm", "link/secret.txt"), PROTO_E_BAD_PATH);
    CHECK_CODE(simple(&c, "rmdir", "link"), PROTO_E_BAD_PATH);
    /* rm of the link itself removes the link, not its target. */
    CHECK_CODE(simple(&c, "rm", "flink"), NULL);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    cli_close(&c);
    term_server();
    struct stat st;
    CHECK(stat(secret, &st) == 0 && st.st_size == 11);
    CHECK(stat(home_file("dave", "flink"), &st) != 0);
    char extra[700];
    snprintf(extra, sizeof extra, "%s/new.txt", outside);
    CHECK(stat(extra, &st) != 0);
    f = fopen(secret, "r");
    char buf[64] = "";
    CHECK(f != NULL && fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    CHECK(strcmp(buf, "top secret\n") == 0);
}

static void scenario_quota(void)
{
    add_user("erin", "pw", "1M");
    start_server();
    struct cli c;
    connect_login(&c, "erin", "pw");
    uint8_t *d = random_data(2u << 20);
    CHECK_CODE(put(&c, "big", d, 2u << 20), PROTO_E_QUOTA_EXCEEDED);
    CHECK_CODE(put(&c, "half", d, 600000), NULL);
    CHECK_CODE(put(&c, "half2", d, 600000), PROTO_E_QUOTA_EXCEEDED);
    /* Replacing counts the old file until the end. */
    CHECK_CODE(put(&c, "half", d, 500000), PROTO_E_QUOTA_EXCEEDED);
    CHECK_CODE(put(&c, "small", d, 400000), NULL);
    CHECK(quota_used(&c, NULL) == 1000000);
    CHECK_CODE(simple(&c, "rm", "half"), NULL);
    CHECK_CODE(put(&c, "half2", d, 600000), NULL);
    free(d);
    cli_close(&c);
    term_server();
}

/* After a cut put: waits until the server has written all the body it got
 * to fred's partial (writes go in order, so the full length means the last
 * is done) and the cut session has let go of it (its flock is released). */
/* Waits until user's partial (rel) has len bytes and no upload holds it. */
static void wait_partial_of(const char *user, const char *rel, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", home_file(user, rel));
    struct stat st = {0};
    for (int i = 0; i < 1000; i++) {
        if (stat(path, &st) == 0 && (size_t)st.st_size == len)
            break;
        usleep(10000);
    }
    CHECK((size_t)st.st_size == len);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    int i = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0 && i++ < 1000)
        usleep(10000);
    CHECK(i < 1000);
    flock(fd, LOCK_UN);
    close(fd);
}

static void wait_partial(const char *name, size_t len)
{
    wait_partial_of("fred", name, len);
}

static void scenario_resume(void)
{
    add_user("fred", "pw", NULL);
    start_server();
    size_t n = (4u << 20) + 99;
    uint8_t *d = random_data(n);
    struct cli c;
    /* Cut mid-body, then resume. */
    connect_login(&c, "fred", "pw");
    uint64_t from = 1;
    CHECK_CODE(put_ex(&c, "f.bin", d, n, (long)(n / 2), &from), "cut");
    CHECK(from == 0);
    wait_partial(".f.bin.ssftp-part", n / 2);
    connect_login(&c, "fred", "pw");
    uint8_t *back = NULL;
    size_t got;
    CHECK_CODE(get(&c, "f.bin", &back, &got), PROTO_E_NOT_FOUND);
    CHECK_CODE(put_ex(&c, "f.bin", d, n, -1, &from), NULL);
    CHECK(from == n / 2);
    CHECK_CODE(get(&c, "f.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, d, n) == 0);
    /* get resume from a good prefix, and from a bad one. */
    size_t have = 1000000;
    memcpy(back, d, have);
    CHECK_CODE(get_ex(&c, "f.bin", &back, &got, have, &from), NULL);
    CHECK(from == have && got == n && memcmp(back, d, n) == 0);
    back[5] ^= 1;
    CHECK_CODE(get_ex(&c, "f.bin", &back, &got, have, &from), NULL);
    CHECK(from == 0 && got == n && memcmp(back, d, n) == 0);
    /* A "prefix" longer than the file: the server starts over. */
    uint8_t *longer = realloc(back, n + 5);
    CHECK(longer != NULL);
    back = longer;
    memset(back + n, 'x', 5);
    CHECK_CODE(get_ex(&c, "f.bin", &back, &got, n + 5, &from), NULL);
    CHECK(from == 0);
    cli_close(&c);

    /* A corrupted resume prefix: the client's file changed, so it restarts
     * from 0 and the result is still right. */
    connect_login(&c, "fred", "pw");
    CHECK_CODE(put_ex(&c, "g.bin", d, n, (long)(n / 3), &from), "cut");
    wait_partial(".g.bin.ssftp-part", n / 3);
    connect_login(&c, "fred", "pw");
    uint8_t *d2 = malloc(n);
    memcpy(d2, d, n);
    d2[10] ^= 0xff;
    CHECK_CODE(put_ex(&c, "g.bin", d2, n, -1, &from), NULL);
    CHECK(from == 0);
    CHECK_CODE(get(&c, "g.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, d2, n) == 0);
    /* A partial on disk corrupted behind the server's back. */
    CHECK_CODE(put_ex(&c, "h.bin", d, n, (long)(n / 3), &from), "cut");
    wait_partial(".h.bin.ssftp-part", n / 3);
    int fd = open(home_file("fred", ".h.bin.ssftp-part"), O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "XXXX", 4, 100) == 4);
    close(fd);
    connect_login(&c, "fred", "pw");
    CHECK_CODE(put_ex(&c, "h.bin", d, n, -1, &from), NULL);
    CHECK(from == 0);
    CHECK_CODE(get(&c, "h.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, d, n) == 0);
    /* Partials are hidden and counted; rm discards one. */
    CHECK_CODE(put_ex(&c, "p.bin", d, n, 1000, &from), "cut");
    wait_partial(".p.bin.ssftp-part", 1000);
    connect_login(&c, "fred", "pw");
    json_t *r = call(&c, json_pack("{s:s}", "cmd", "ls"));
    CHECK(json_array_size(json_object_get(r, "entries")) == 3);
    json_decref(r);
    CHECK(quota_used(&c, NULL) >= 3 * (uint64_t)n);
    CHECK_CODE(simple(&c, "rm", "p.bin"), NULL);
    CHECK(quota_used(&c, NULL) == 3 * (uint64_t)n);
    free(d);
    free(d2);
    free(back);
    cli_close(&c);
    term_server();
}

struct qjob {
    int i;
    char *code;
};

static void *quota_worker(void *arg)
{
    struct qjob *j = arg;
    struct cli c;
    connect_login(&c, "gina", "pw");
    size_t n = 300000;
    uint8_t *d = random_data(n);
    char path[32];
    snprintf(path, sizeof path, "f%d", j->i);
    const char *code = put(&c, path, d, n);
    j->code = code == NULL ? NULL : strdup(code);
    free(d);
    cli_close(&c);
    return NULL;
}

static void scenario_quota_concurrent(void)
{
    add_user("gina", "pw", "1M");
    start_server();
    enum { N = 10 };
    pthread_t t[N];
    struct qjob jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i].i = i;
        CHECK(pthread_create(&t[i], NULL, quota_worker, &jobs[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].code == NULL)
            ok++;
        else
            CHECK(strcmp(jobs[i].code, PROTO_E_QUOTA_EXCEEDED) == 0);
        free(jobs[i].code);
    }
    CHECK(ok >= 1 && ok <= 3);
    struct cli c;
    connect_login(&c, "gina", "pw");
    CHECK(quota_used(&c, NULL) == (uint64_t)ok * 300000);
    cli_close(&c);
    term_server();
    /* Refused uploads leave no empty partials behind. */
    int files = 0;
    DIR *dir = opendir(home_file("gina", ""));
    CHECK(dir != NULL);
    for (struct dirent *de; (de = readdir(dir)) != NULL;)
        files += de->d_name[0] != '.';
    int hidden = 0;
    rewinddir(dir);
    for (struct dirent *de; (de = readdir(dir)) != NULL;)
        hidden += strstr(de->d_name, ".ssftp-part") != NULL;
    closedir(dir);
    CHECK(files == ok && hidden == 0);
}

static void *many_worker(void *arg)
{
    int i = *(int *)arg;
    char user[32];
    snprintf(user, sizeof user, "u%02d", i);
    struct cli c;
    connect_login(&c, user, "pw");
    for (int k = 0; k < 3; k++) {
        char path[32];
        snprintf(path, sizeof path, "f%d", k);
        round_trip(&c, path, 65536 + (size_t)i * 100 + (size_t)k);
    }
    json_t *r = call(&c, json_pack("{s:s}", "cmd", "ls"));
    CHECK(json_array_size(json_object_get(r, "entries")) == 3);
    json_decref(r);
    CHECK_CODE(simple(&c, "quit", NULL), NULL);
    cli_close(&c);
    return NULL;
}

static void scenario_many_users(void)
{
    enum { N = 50 };
    for (int i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof user, "u%02d", i);
        add_user(user, "pw", NULL);
    }
    start_server();
    pthread_t t[N];
    int ids[N];
    for (int i = 0; i < N; i++) {
        ids[i] = i;
        CHECK(pthread_create(&t[i], NULL, many_worker, &ids[i]) == 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    term_server();
}

/* buf inside a TLS session; or, every other time, on the bare socket
 * (a client that does not speak TLS at all). */
static void send_raw(const void *buf, size_t n, bool read_reply)
{
    static unsigned turn;
    struct cli c;
    if (turn++ % 2 == 0) {
        cli_open(&c);
        (void)proto_send_raw(&c.io, buf, n);
    } else {
        c.io = (proto_io){.fd = tcp_connect(), .timeout_ms = 5000};
        ssize_t w = write(c.io.fd, buf, n);
        (void)w;
    }
    if (read_reply) {
        shutdown(c.io.fd, SHUT_WR);
        char sink[4096];
        struct pollfd p = {.fd = c.io.fd, .events = POLLIN};
        while (poll(&p, 1, 5000) == 1 && read(c.io.fd, sink, sizeof sink) > 0)
            ;
    }
    cli_close(&c);
}

static void scenario_fuzz(void)
{
    add_user("hank", "pw", NULL);
    start_server();
    static const char *const bad[] = {
        "\x00\x00\x00\x00",
        "\xff\xff\xff\xff",
        "\x00\x01\x00\x01{",
        "\x00\x00\x00\x02[]",
        "\x00\x00\x00\x05hello",
        "\x00\x00\x00\x0d{\"a\":1,\"a\":2}",
        "\x00\x00\x00\x0a{\"size\":-1}",
        "\x00\x00\x00\x0b{\"size\":1.5}",
        "\x00\x00\x00\x04\"\xff\xfe\"",
        "\x00\x00\x00\x0d{\"cmd\":\"pwd\"}",
        "\x00\x00\x00\x0e{\"cmd\":\"auth\"}",
        "\x00\x00\x00",
    };
    static const size_t lens[] = {4, 4, 5, 6, 9, 17, 14, 15, 8, 17, 18, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        send_raw(bad[i], lens[i], true);
    /* Random bytes, and a valid hello followed by garbage. */
    for (int i = 0; i < 200; i++) {
        uint8_t buf[512];
        size_t n = 1 + randombytes_uniform(sizeof buf);
        randombytes_buf(buf, n);
        if (i % 2 == 0) {
            proto_be32_put(buf, randombytes_uniform(600));
        }
        send_raw(buf, n, i % 10 == 0);
    }
    for (int i = 0; i < 50; i++) {
        struct cli c;
        cli_open(&c);
        hello(&c);
        json_t *req;
        switch (i % 5) {
        case 0:
            req = json_pack("{s:s, s:s}", "cmd", "auth", "user", "hank");
            break;
        case 1:
            req = json_pack("{s:s, s:s, s:s}", "cmd", "auth", "user", "",
                            "cnonce", "AAAA");
            break;
        case 2:
            req = json_pack("{s:s, s:s}", "cmd", "auth_proof", "proof", "!!!");
            break;
        case 3:
            req = json_pack("{s:s, s:i}", "cmd", "put_data", "size", 10);
            break;
        default:
            req = json_pack("{s:[i]}", "cmd", 1);
            break;
        }
        CHECK(proto_send(&c.io, req) == 0);
        json_decref(req);
        uint8_t junk[64];
        randombytes_buf(junk, sizeof junk);
        (void)proto_send_raw(&c.io, junk, (size_t)(i % 3) * 20);
        cli_close(&c);
    }
    /* The server still serves a normal user. */
    struct cli c;
    connect_login(&c, "hank", "pw");
    round_trip(&c, "after-fuzz", 100000);
    cli_close(&c);
    term_server();
}

/* Starts a put of d[0..n) to path on c and sends half the body: an upload
 * caught in flight. */
static void put_half(struct cli *c, const char *path, const uint8_t *d,
                     size_t n)
{
    json_t *r = call(c, json_pack("{s:s, s:s, s:I}", "cmd", "put", "path", path,
                                  "total", (json_int_t)n));
    CHECK_CODE(code_of(r), NULL);
    json_decref(r);
    json_t *h = json_pack("{s:s, s:i, s:I}", "cmd", "put_data", "offset", 0,
                          "size", (json_int_t)n);
    CHECK(proto_send(&c->io, h) == 0);
    json_decref(h);
    CHECK(proto_write_body(&c->io, d, n / 2) == 0);
}

static void scenario_sigterm(void)
{
    add_user("ivy", "pw", NULL);
    start_server();
    /* An idle session does not hold the exit up. */
    struct cli idle;
    connect_login(&idle, "ivy", "pw");
    int64_t t0 = proto_mono_ms();
    term_server();
    long ms = (long)(proto_mono_ms() - t0);
    printf("sigterm: exit with an idle session took %ld ms\n", ms);
    CHECK(ms < 5000); /* not the 10 s drain */
    cli_close(&idle);

    /* An upload in flight when SIGTERM comes completes cleanly. */
    start_server();
    struct cli c;
    connect_login(&c, "ivy", "pw");
    size_t n = 2u << 20;
    uint8_t *d = random_data(n);
    put_half(&c, "inflight", d, n);
    CHECK(kill(server_pid, SIGTERM) == 0);
    wait_not_accepting();
    CHECK(proto_write_body(&c.io, d + n / 2, n - n / 2) == 0);
    uint8_t sum[32];
    digest_buf(d, n, sum);
    json_t *end = json_pack("{s:s}", "cmd", "put_end");
    proto_set_hex(end, "digest", sum, 32);
    CHECK_CODE(call_code(&c, end), NULL);
    cli_close(&c);
    int st;
    CHECK(waitpid(server_pid, &st, 0) == server_pid);
    server_pid = 0;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct stat sb;
    CHECK(stat(home_file("ivy", "inflight"), &sb) == 0 &&
          (size_t)sb.st_size == n);

    /* An upload that stalls past the drain is cut; its partial survives
     * the restart and the next put resumes it. */
    start_server();
    connect_login(&c, "ivy", "pw");
    put_half(&c, "stall", d, n);
    term_server(); /* waits out the drain, then exit 0 */
    cli_close(&c);
    CHECK(stat(home_file("ivy", ".stall.ssftp-part"), &sb) == 0 &&
          (size_t)sb.st_size == n / 2);
    start_server();
    connect_login(&c, "ivy", "pw");
    uint64_t from = 0;
    CHECK_CODE(put_ex(&c, "stall", d, n, -1, &from), NULL);
    CHECK(from == n / 2);
    cli_close(&c);
    term_server();
    free(d);
}

/* The digest cache (src/handler/digestcache.h): the xattr a put leaves,
 * what a change behind the server's back does to it, and a file that
 * never had one. */

#define DC_XATTR "user.ssftp.blake2b"
#define DC_RECORD 64 /* "b2c1" | digest (32) | size | mtime | ino */

static void rm_tree(const char *dir);

/* The record on path: its length (DC_RECORD expected) or -errno. */
static ssize_t dc_record(const char *path, uint8_t rec[DC_RECORD + 16])
{
    ssize_t n = getxattr(path, DC_XATTR, rec, DC_RECORD + 16);
    return n < 0 ? -errno : n;
}

/* The record on path must hold exactly the digest of data[0..n). */
static void dc_check_record(const char *path, const uint8_t *data, size_t n)
{
    uint8_t rec[DC_RECORD + 16], sum[32];
    CHECK(dc_record(path, rec) == DC_RECORD);
    CHECK(memcmp(rec, "b2c1", 4) == 0);
    digest_buf(data, n, sum);
    CHECK(memcmp(rec + 4, sum, 32) == 0);
}

/* Change the file behind the server's back: flip a few bytes of data (the
 * copy in memory too) in place -- same size, same inode -- then set its
 * mtime to *mtime, or to 7 s after the old one when mtime is NULL. */
static void dc_tamper(const char *path, uint8_t *data, size_t n,
                      const struct timespec *mtime)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    struct stat before, after;
    CHECK(fstat(fd, &before) == 0 && (size_t)before.st_size == n);
    static const size_t at[] = {0, 4095, 1u << 20, (5u << 20) + 3};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        size_t o = at[i] < n ? at[i] : n - 1;
        data[o] ^= 0x5a;
        CHECK(pwrite(fd, &data[o], 1, (off_t)o) == 1);
    }
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, before.st_mtim};
    if (mtime != NULL)
        ts[1] = *mtime;
    else
        ts[1].tv_sec += 7;
    CHECK(futimens(fd, ts) == 0);
    CHECK(fstat(fd, &after) == 0);
    CHECK(after.st_size == before.st_size && after.st_ino == before.st_ino);
    CHECK(after.st_mtim.tv_sec == ts[1].tv_sec &&
          after.st_mtim.tv_nsec == ts[1].tv_nsec);
    CHECK(close(fd) == 0);
}

static void scenario_digest_cache(void)
{
    add_user("jack", "pw", NULL);
    /* Nothing to test where the data root's file system has no user
     * extended attributes: the server just hashes every time there. */
    const char *probe = home_file("jack", "xattr-probe");
    int pf = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHECK(pf >= 0);
    if (fsetxattr(pf, "user.ssftp.probe", "1", 1, 0) != 0) {
        CHECK(errno == ENOTSUP || errno == EOPNOTSUPP);
        close(pf);
        printf("digest_cache: skipped: %s has no user extended attributes\n",
               root);
        rm_tree(root);
        exit(77); /* meson: skipped */
    }
    CHECK(close(pf) == 0);
    CHECK(unlink(probe) == 0);

    start_server();
    struct cli c;
    connect_login(&c, "jack", "pw");
    /* Above 8 MiB: the server hashes on its second thread as well. */
    size_t n = (9u << 20) + 777;
    uint8_t *data = random_data(n), *back = NULL;
    size_t got;
    char path[1024];
    snprintf(path, sizeof path, "%s", home_file("jack", "big.bin"));

    /* A put records the verified digest beside the file. */
    CHECK_CODE(put(&c, "big.bin", data, n), NULL);
    dc_check_record(path, data, n);
    CHECK_CODE(get(&c, "big.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, data, n) == 0);
    /* The record a put leaves is one a get trusts as it is: with the bytes
     * changed under the same size, mtime and inode, the get sends the
     * recorded digest (and the client sees the change). */
    size_t sn = (1u << 20) + 1;
    uint8_t *small = random_data(sn);
    char spath[1024];
    snprintf(spath, sizeof spath, "%s", home_file("jack", "small.bin"));
    CHECK_CODE(put(&c, "small.bin", small, sn), NULL);
    struct stat put_state;
    CHECK(stat(spath, &put_state) == 0);
    dc_tamper(spath, small, sn, &put_state.st_mtim);
    bool ok = true;
    CHECK_CODE(get_verify(&c, "small.bin", &back, &got, 0, NULL, &ok), NULL);
    CHECK(got == sn && memcmp(back, small, sn) == 0 && !ok);
    free(small);

    /* Changed behind the server's back, with a new mtime: the record no
     * longer counts, the get hashes the new bytes -- and records them. */
    dc_tamper(path, data, n, NULL);
    CHECK_CODE(get(&c, "big.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, data, n) == 0);
    dc_check_record(path, data, n);

    /* Changed again, with the old mtime put back exactly: the stale record
     * is sent, and the client's check catches it.  (This is also how the
     * test knows a get takes the recorded digest without hashing.) */
    uint8_t *old = malloc(n);
    CHECK(old != NULL);
    memcpy(old, data, n); /* the bytes the record is for */
    struct stat recorded;
    CHECK(stat(path, &recorded) == 0);
    dc_tamper(path, data, n, &recorded.st_mtim);
    ok = true;
    CHECK_CODE(get_verify(&c, "big.bin", &back, &got, 0, NULL, &ok), NULL);
    CHECK(got == n && memcmp(back, data, n) == 0); /* the bytes on disk */
    CHECK(!ok); /* ... under the digest of the bytes before */
    dc_check_record(path, old, n);
    free(old);
    /* The session is still in step, and a new mtime repairs it. */
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    dc_tamper(path, data, n, NULL);
    CHECK_CODE(get(&c, "big.bin", &back, &got), NULL);
    CHECK(got == n && memcmp(back, data, n) == 0);
    dc_check_record(path, data, n);

    /* A file put in the home directly has no record: the get hashes it
     * (also above 8 MiB) and leaves one. */
    size_t m = (10u << 20) + 3;
    uint8_t *direct = random_data(m);
    char dpath[1024];
    snprintf(dpath, sizeof dpath, "%s", home_file("jack", "direct.bin"));
    int fd = open(dpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    for (size_t done = 0; done < m;) {
        ssize_t w = write(fd, direct + done, m - done);
        CHECK(w > 0);
        done += (size_t)w;
    }
    CHECK(close(fd) == 0);
    uint8_t rec[DC_RECORD + 16];
    CHECK(dc_record(dpath, rec) == -ENODATA);
    CHECK_CODE(get(&c, "direct.bin", &back, &got), NULL);
    CHECK(got == m && memcmp(back, direct, m) == 0);
    dc_check_record(dpath, direct, m);
    /* ... and the next get, now from the record, is as good. */
    CHECK_CODE(get(&c, "direct.bin", &back, &got), NULL);
    CHECK(got == m && memcmp(back, direct, m) == 0);
    /* A resumed get from the record: the trailer is the whole file's. */
    uint64_t from = 0;
    memcpy(back, direct, 1000000);
    CHECK_CODE(get_ex(&c, "direct.bin", &back, &got, 1000000, &from), NULL);
    CHECK(from == 1000000 && got == m && memcmp(back, direct, m) == 0);

    free(direct);
    free(data);
    free(back);
    cli_close(&c);
    term_server();
}

/* ---- limits: --max-clients, --max-per-ip, --idle-timeout,
 * --login-timeout and the header cap.  Every wait for the server to act is
 * a bounded read, never a sleep. */

/* cli_open() from the local address src (any of 127/8 on Linux). */
static void cli_open_from(struct cli *c, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    CHECK(inet_pton(AF_INET, src, &a.sin_addr) == 1);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->io = (proto_io){.fd = fd, .timeout_ms = 60000, .body_timeout_ms = 30000};
    cli_tls(c);
}

/* The next frame from the server within max_ms: proto_recv()'s result,
 * with the frame (if any) in *out. */
static int recv_within(struct cli *c, int max_ms, json_t **out)
{
    int saved = c->io.timeout_ms;
    c->io.timeout_ms = max_ms;
    int rc = proto_recv(&c->io, out);
    c->io.timeout_ms = saved;
    return rc;
}

/* The server closes c within max_ms without another frame (a clean end of
 * stream: -ENODATA).  Returns when it did, in proto_mono_ms() time. */
static int64_t expect_closed(struct cli *c, int max_ms)
{
    json_t *r = NULL;
    if (c->handshake != 0) /* closed before TLS could even start */
        return proto_mono_ms();
    int rc = recv_within(c, max_ms, &r);
    int64_t at = proto_mono_ms();
    if (rc != -ENODATA) {
        char *text = rc == 0 ? json_dumps(r, JSON_COMPACT) : NULL;
        fprintf(stderr, "expected a close within %d ms, got %s%s\n", max_ms,
                rc == 0 ? "a frame: " : strerror(-rc), text ? text : "");
        free(text);
        json_decref(r);
        CHECK(rc == -ENODATA);
    }
    return at;
}

/* Nothing at all (no frame, no close) arrives on c for ms. */
static void expect_quiet(struct cli *c, int ms)
{
    struct pollfd p = {.fd = c->io.fd, .events = POLLIN};
    int64_t end = proto_mono_ms() + ms;
    for (int64_t left = ms; left > 0; left = end - proto_mono_ms()) {
        int n = proto_poll(&p, 1, (int)left);
        CHECK(n >= 0);
        CHECK(n <= 0);
    }
}

static const char *hello_code(struct cli *c)
{
    return call_code(c, json_pack("{s:s, s:i, s:s}", "cmd", "hello", "version",
                                  PROTO_VERSION, "client", "e2e"));
}

/* Quits c and waits until the server has ended that session. */
static void quit_and_wait(struct cli *c)
{
    CHECK_CODE(simple(c, "quit", NULL), NULL);
    expect_closed(c, 5000);
    cli_close(c);
}

/* connect_login(c, user, "pw") once a place is free.  With threads a
 * session leaves the count before its socket closes, so the place is free
 * at once; a session process leaves it when the parent reaps the child, just
 * after: retry a busy hello then (bounded).  A refused try is a child too,
 * counted until it is reaped, so the tries back off rather than keep the
 * place taken (a sanitizer's child takes a while to exit). */
static void connect_when_room(struct cli *c, const char *user)
{
    int64_t end = proto_mono_ms() + 10000;
    useconds_t pause = 10000;
    for (;;) {
        cli_open(c);
        const char *code = hello_code(c);
        if (code == NULL)
            break;
        CHECK(isolate_process && strcmp(code, PROTO_E_BUSY) == 0 &&
              proto_mono_ms() < end);
        cli_close(c);
        usleep(pause);
        if (pause < 320000)
            pause *= 2;
    }
    CHECK_CODE(login(c, user, "pw"), NULL);
}

/* --max-clients 2: the third session gets "busy" to its hello and is
 * closed; a quit frees a place. */
static void limits_max_clients(void)
{
    static const char *const args[] = {"--max-clients", "2", NULL};
    start_server_args(args);
    struct cli a, b, c;
    connect_login(&a, "lim", "pw");
    connect_login(&b, "lim", "pw");
    cli_open(&c);
    CHECK_CODE(hello_code(&c), PROTO_E_BUSY);
    expect_closed(&c, 5000);
    cli_close(&c);
    CHECK_CODE(simple(&a, "pwd", NULL), NULL);
    CHECK_CODE(simple(&b, "pwd", NULL), NULL);
    /* The server ends a's session before its end of stream reaches us, so
     * the place is free by then. */
    quit_and_wait(&a);
    connect_when_room(&c, "lim");
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    /* Full again. */
    cli_open(&a);
    CHECK_CODE(hello_code(&a), PROTO_E_BUSY);
    expect_closed(&a, 5000);
    cli_close(&a);
    cli_close(&b);
    cli_close(&c);
    term_server();
}

/* --max-per-ip 2: the third connection from 127.0.0.1 is closed at once,
 * without a frame (libsocketserver's admission control, before ssftpd sees
 * it); another address is not affected. */
static void limits_per_ip(void)
{
    static const char *const args[] = {"--max-per-ip", "2", NULL};
    start_server_args(args);
    struct cli a, b, c;
    connect_login(&a, "lim", "pw");
    connect_login(&b, "lim", "pw");
    cli_open(&c); /* the kernel accepts; the server closes */
    expect_closed(&c, 5000);
    cli_close(&c);
    CHECK_CODE(simple(&a, "pwd", NULL), NULL);
    CHECK_CODE(simple(&b, "pwd", NULL), NULL);
    cli_open_from(&c, "127.0.0.2");
    hello(&c);
    CHECK_CODE(login(&c, "lim", "pw"), NULL);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    cli_close(&c);
    /* After a quit, 127.0.0.1 gets a place back.  The server releases it
     * just after closing, so retry (bounded) until a hello is answered. */
    quit_and_wait(&a);
    int64_t end = proto_mono_ms() + 5000;
    for (;;) {
        cli_open(&a);
        const char *code = hello_code(&a);
        if (code == NULL)
            break;
        CHECK(strcmp(code, "closed") == 0 && proto_mono_ms() < end);
        cli_close(&a);
        usleep(10000);
    }
    CHECK_CODE(login(&a, "lim", "pw"), NULL);
    CHECK_CODE(simple(&a, "pwd", NULL), NULL);
    CHECK_CODE(simple(&b, "pwd", NULL), NULL);
    cli_close(&a);
    cli_close(&b);
    term_server();
}

/* --idle-timeout 1: a silent session is closed without a reply after about
 * 1 s; one that sends pwd every 200 ms over twice that stays up. */
static void limits_idle(void)
{
    static const char *const args[] = {"--idle-timeout", "1", NULL};
    start_server_args(args);
    struct cli idle, busy;
    connect_login(&idle, "lim", "pw");
    /* The server starts idle's wait after answering this pwd, so t0 is
     * before it and the time measured is never short. */
    int64_t t0 = proto_mono_ms();
    CHECK_CODE(simple(&idle, "pwd", NULL), NULL);
    connect_login(&busy, "lim", "pw");
    struct pollfd p = {.fd = idle.io.fd, .events = POLLIN};
    int64_t closed_at = 0;
    while (proto_mono_ms() - t0 < 2500) {
        int n = proto_poll(&p, 1, 200);
        CHECK(n >= 0);
        if (n == 1 && closed_at == 0)
            closed_at = expect_closed(&idle, 1);
        CHECK(closed_at != 0 || proto_mono_ms() - t0 < 5000);
        CHECK_CODE(simple(&busy, "pwd", NULL), NULL);
        if (closed_at != 0)
            p.fd = -1; /* poll() ignores it: the loop is busy's clock now */
    }
    if (closed_at == 0) /* not by 2.5 s: give it to 5 s, then fail */
        closed_at = expect_closed(&idle, 2500);
    long idle_ms = (long)(closed_at - t0);
    printf("limits: idle session closed after %ld ms\n", idle_ms);
    CHECK(idle_ms >= 990 && idle_ms < 2500); /* 990: ms truncation */
    CHECK_CODE(simple(&busy, "pwd", NULL), NULL);
    cli_close(&idle);
    cli_close(&busy);
    term_server();
}

/* --login-timeout 1: connections that do not log in (silent, or greeted
 * only) are closed without a reply 1..3 s after connecting; a session that
 * logged in at once outlives that deadline. */
static void limits_login(void)
{
    static const char *const args[] = {"--login-timeout", "1", NULL};
    start_server_args(args);
    struct cli silent, greeted, in;
    int64_t t0 = proto_mono_ms();
    cli_open(&silent);
    cli_open(&greeted);
    hello(&greeted);
    connect_login(&in, "lim", "pw");
    long ms = (long)(expect_closed(&greeted, 5000) - t0);
    printf("limits: greeted-only connection closed after %ld ms\n", ms);
    CHECK(ms >= 990 && ms <= 3000);
    ms = (long)(expect_closed(&silent, 5000) - t0);
    printf("limits: silent connection closed after %ld ms\n", ms);
    CHECK(ms >= 990 && ms <= 3000);
    cli_close(&silent);
    cli_close(&greeted);
    /* Past the login deadline the logged-in session is neither closed nor
     * refused. */
    int64_t left = t0 + 1500 - proto_mono_ms();
    if (left > 0)
        expect_quiet(&in, (int)left);
    CHECK_CODE(simple(&in, "pwd", NULL), NULL);
    cli_close(&in);
    term_server();
}

/* A header of exactly PROTO_HEADER_MAX bytes is served; a length above it
 * gets bad_frame and a close (before hello and after login), and the server
 * goes on serving. */
static void limits_header(void)
{
    start_server();
    struct cli c;
    connect_login(&c, "lim", "pw");
    json_t *req = json_pack("{s:s, s:s}", "cmd", "pwd", "pad", "");
    size_t base = json_dumpb(req, NULL, 0, JSON_COMPACT);
    CHECK(base > 0 && base < PROTO_HEADER_MAX);
    char *pad = malloc(PROTO_HEADER_MAX - base + 1);
    CHECK(pad != NULL);
    memset(pad, 'x', PROTO_HEADER_MAX - base);
    pad[PROTO_HEADER_MAX - base] = '\0';
    CHECK(json_object_set_new(req, "pad", json_string(pad)) == 0);
    free(pad);
    CHECK(json_dumpb(req, NULL, 0, JSON_COMPACT) == PROTO_HEADER_MAX);
    CHECK_CODE(call_code(&c, req), NULL);

    /* Only the length goes out: unread bytes at the server's close would
     * turn its end of stream into a reset that can eat the reply. */
    static const uint8_t over[4] = {0x00, 0x01, 0x00, 0x01}; /* 65537 */
    CHECK(PROTO_HEADER_MAX + 1 == 0x00010001);
    struct cli pre;
    cli_open(&pre);
    for (int k = 0; k < 2; k++) {
        struct cli *x = k == 0 ? &c : &pre;
        raw(x, over, sizeof over);
        json_t *r = NULL;
        CHECK(recv_within(x, 5000, &r) == 0);
        CHECK_CODE(code_of(r), PROTO_E_BAD_FRAME);
        json_decref(r);
        expect_closed(x, 5000);
        cli_close(x);
    }
    connect_login(&c, "lim", "pw");
    round_trip(&c, "after-cap", 1000);
    cli_close(&c);
    term_server();
}

/* ssftpd refuses a --login-timeout of 0 or not a number (exit 2). */
static void limits_bad_option(const char *value)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(126);
        execl(ssftpd, ssftpd, "--root", root, "--listen", "127.0.0.1:0",
              "--login-timeout", value, (char *)NULL);
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

static void scenario_limits(void)
{
    add_user("lim", "pw", NULL);
    limits_bad_option("0");
    limits_bad_option("1x");
    limits_bad_option("86401");
    limits_max_clients();
    limits_per_ip();
    limits_idle();
    limits_login();
    limits_header();
}

/* ---- attacks: hostile frames and slow peers (issue 8) ---------------- */

/* Sends a raw frame of json on c and expects the reply code want, then a
 * close. */
static void expect_refused_then_closed(struct cli *c, const char *json,
                                       size_t n, const char *want)
{
    uint8_t len[4];
    proto_be32_put(len, (uint32_t)n);
    raw(c, len, 4);
    raw(c, json, n);
    json_t *r = NULL;
    CHECK(recv_within(c, 5000, &r) == 0);
    CHECK_CODE(code_of(r), want);
    json_decref(r);
    expect_closed(c, 5000);
    cli_close(c);
}

/* A first frame nesting 30,000 "[" (or 1,600 {"a": ...) deep: jansson's
 * recursion overflowed a 128 KiB worker stack and killed the server.  Now it
 * is bad_frame, and everyone else goes on. */
static void attack_deep_nesting(void)
{
    static const char *const open_[] = {"[", "{\"a\":"};
    static const char *const close_[] = {"]", "}"};
    static const size_t depth[] = {30000, 1600};
    for (int k = 0; k < 2; k++) {
        size_t lo = strlen(open_[k]);
        size_t n = depth[k] * (lo + 1);
        char *json = malloc(n);
        CHECK(json != NULL);
        for (size_t i = 0; i < depth[k]; i++) {
            memcpy(json + i * lo, open_[k], lo);
            json[depth[k] * lo + i] = close_[k][0];
        }
        for (int when = 0; when < 2; when++) { /* first frame; logged in */
            struct cli c;
            if (when == 0)
                cli_open(&c);
            else
                connect_login(&c, "eve", "pw");
            expect_refused_then_closed(&c, json, n, PROTO_E_BAD_FRAME);
        }
        free(json);
    }
    printf("attacks: deep nesting refused, server up\n");
}

/* A body where none belongs ("size" 2^63 - 1 on hello, on pwd) would be read
 * to the end to find the next frame: refused and closed at once. */
static void attack_body_where_none_belongs(void)
{
    static const char hello_big[] =
        "{\"cmd\":\"hello\",\"version\":1,\"size\":9223372036854775807}";
    static const char pwd_big[] = "{\"cmd\":\"pwd\",\"size\":5}";
    struct cli c;
    cli_open(&c);
    expect_refused_then_closed(&c, hello_big, sizeof hello_big - 1,
                               PROTO_E_BAD_REQUEST);
    connect_login(&c, "eve", "pw");
    expect_refused_then_closed(&c, pwd_big, sizeof pwd_big - 1,
                               PROTO_E_BAD_REQUEST);
    cli_open(&c);
    hello(&c);
    static const char data_big[] =
        "{\"cmd\":\"put_data\",\"offset\":0,\"size\":9223372036854775807}";
    expect_refused_then_closed(&c, data_big, sizeof data_big - 1,
                               PROTO_E_BAD_REQUEST);
}

/* Writes a byte to c every 100 ms until the server closes it; returns the
 * ms from the first byte to the close, or -1 if still open after max_ms. */
static long trickle_until_closed(struct cli *c, int max_ms)
{
    int64_t t0 = proto_mono_ms();
    while (proto_mono_ms() - t0 < max_ms) {
        if (proto_send_raw(&c->io, "t", 1) != 0)
            return (long)(proto_mono_ms() - t0);
        struct pollfd p = {.fd = c->io.fd, .events = POLLIN};
        int n = proto_poll(&p, 1, 100);
        CHECK(n >= 0);
        if (n == 1) {
            char b[256];
            ssize_t k = recv(c->io.fd, b, sizeof b, MSG_DONTWAIT);
            if (k <= 0)
                return (long)(proto_mono_ms() - t0);
        }
    }
    return -1;
}

/* A put_data body trickled at 10 bytes/s: each wait is far under the 30 s
 * body timeout, but the body is below PROTO_BODY_MIN_RATE over the 1 s idle
 * window, so it is cut after about one window. */
static void attack_trickled_body(void)
{
    static const char *const args[] = {"--idle-timeout", "1", NULL};
    start_server_args(args);
    struct cli c, other;
    connect_login(&c, "eve", "pw");
    json_t *r = call(&c, json_pack("{s:s, s:s, s:I}", "cmd", "put", "path",
                                   "slow", "total", (json_int_t)1000000));
    CHECK_CODE(code_of(r), NULL);
    json_decref(r);
    json_t *hdr = json_pack("{s:s, s:I, s:I}", "cmd", "put_data", "offset",
                            (json_int_t)0, "size", (json_int_t)1000000);
    CHECK(proto_send(&c.io, hdr) == 0);
    json_decref(hdr);
    long ms = trickle_until_closed(&c, 8000);
    printf("attacks: trickled body cut after %ld ms\n", ms);
    CHECK(ms >= 900 && ms < 4000);
    cli_close(&c);
    connect_login(&other, "eve", "pw");
    round_trip(&other, "after-trickle", 1000);
    cli_close(&other);
    term_server();
}

/* Before login nothing outlasts --login-timeout: a put_data body after
 * hello is refused at once, and a header trickled a byte at a time is cut
 * at the deadline. */
static void attack_trickle_before_login(void)
{
    static const char *const args[] = {"--login-timeout", "1", NULL};
    start_server_args(args);
    struct cli c;
    cli_open(&c);
    hello(&c);
    static const uint8_t len[4] = {0, 0, 0x40, 0}; /* a 16 KiB header */
    raw(&c, len, 4);
    long ms = trickle_until_closed(&c, 8000);
    printf("attacks: trickled header before login cut after %ld ms\n", ms);
    CHECK(ms >= 0 && ms < 3000);
    cli_close(&c);
    term_server();
}

static void scenario_attacks(void)
{
    add_user("eve", "pw", NULL);
    start_server();
    attack_deep_nesting();
    attack_body_where_none_belongs();
    struct cli c;
    connect_login(&c, "eve", "pw");
    round_trip(&c, "after-attacks", 100000);
    cli_close(&c);
    term_server();
    attack_trickled_body();
    attack_trickle_before_login();
}

/* ---- the failed-login budget (issue 8, defect 8) -------------------- */

/* n connections, the i-th from 127.0.0.(src0 + i * src_step), each sends
 * auth for users[i % nusers] and then a wrong proof; all are in flight at
 * once (the server holds each auth_failed back up to BACKOFF_MAX_MS), and
 * every one must be auth_failed. */
static void wrong_proofs(int n, int src0, int src_step,
                         const char *const *users, int nusers)
{
    struct cli c[16];
    CHECK(n <= 16);
    for (int i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", src0 + i * src_step);
        cli_open_from(&c[i], src);
        hello(&c[i]);
        uint8_t cnonce[32];
        randombytes_buf(cnonce, sizeof cnonce);
        json_t *req =
            json_pack("{s:s, s:s}", "cmd", "auth", "user", users[i % nusers]);
        CHECK(proto_set_b64(req, "cnonce", cnonce, 32) == 0);
        CHECK_CODE(call_code(&c[i], req), NULL);
    }
    for (int i = 0; i < n; i++) {
        uint8_t proof[32];
        randombytes_buf(proof, sizeof proof);
        json_t *req = json_pack("{s:s}", "cmd", "auth_proof");
        CHECK(proto_set_b64(req, "proof", proof, 32) == 0);
        CHECK(proto_send(&c[i].io, req) == 0);
        json_decref(req);
    }
    for (int i = 0; i < n; i++) {
        json_t *r = NULL;
        CHECK(proto_recv(&c[i].io, &r) == 0);
        CHECK_CODE(code_of(r), PROTO_E_AUTH_FAILED);
        json_decref(r);
        cli_close(&c[i]);
    }
}

/* An auth of user from src is refused with busy and a retry_after of 1..6
 * s, at once: returns the ms it took. */
static long expect_auth_busy(const char *src, const char *user)
{
    struct cli c;
    cli_open_from(&c, src);
    hello(&c);
    uint8_t cnonce[32];
    randombytes_buf(cnonce, sizeof cnonce);
    json_t *req = json_pack("{s:s, s:s}", "cmd", "auth", "user", user);
    CHECK(proto_set_b64(req, "cnonce", cnonce, 32) == 0);
    int64_t t0 = proto_mono_ms();
    json_t *r = call(&c, req);
    long ms = (long)(proto_mono_ms() - t0);
    CHECK_CODE(code_of(r), PROTO_E_BUSY);
    json_t *retry = json_object_get(r, "retry_after");
    CHECK(json_is_integer(retry));
    CHECK(json_integer_value(retry) >= 1 && json_integer_value(retry) <= 6);
    json_decref(r);
    /* Refused, not closed: the session may go on (say, as another user). */
    CHECK_CODE(simple(&c, "quit", NULL), NULL);
    cli_close(&c);
    return ms;
}

/* A good login from src: returns the ms of the whole login. */
static long login_from(const char *src, const char *user)
{
    struct cli c;
    cli_open_from(&c, src);
    hello(&c);
    int64_t t0 = proto_mono_ms();
    CHECK_CODE(login(&c, user, "pw"), NULL);
    long ms = (long)(proto_mono_ms() - t0);
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    cli_close(&c);
    return ms;
}

/* 10 wrong proofs from one address (each against another name), then that
 * address's auth is busy at once whatever the name; 10 from ten addresses
 * against one name, then that name's auth is busy from anywhere.  Another
 * user from another address logs in, unslowed, all along.  127.0.0.1 is
 * left alone, so other checks may follow on the same server. */
static void login_budget_checks(void)
{
    static const char *const guesses[] = {"g0", "g1", "g2", "g3", "g4",
                                          "g5", "g6", "g7", "g8", "g9"};
    static const char *const carol[] = {"carol"};
    wrong_proofs(10, 5, 0, guesses, 10); /* all from 127.0.0.5 */
    long busy_ms = expect_auth_busy("127.0.0.5", "alice");
    long ok_ms = login_from("127.0.0.2", "bob");
    printf("login_budget: rotating names: 11th auth busy in %ld ms; bob "
           "from another address logged in in %ld ms\n",
           busy_ms, ok_ms);
    CHECK(busy_ms < 500);
    wrong_proofs(10, 10, 1, carol, 1); /* 127.0.0.10 .. 127.0.0.19 */
    busy_ms = expect_auth_busy("127.0.0.20", "carol");
    ok_ms = login_from("127.0.0.3", "alice");
    printf("login_budget: rotating addresses: carol busy in %ld ms; alice "
           "logged in in %ld ms\n",
           busy_ms, ok_ms);
    CHECK(busy_ms < 500);
    /* A login does not spend its address's budget: bob again and again. */
    for (int i = 0; i < 15; i++)
        login_from("127.0.0.2", "bob");
}

static void scenario_login_budget(void)
{
    add_user("alice", "pw", NULL);
    add_user("bob", "pw", NULL);
    add_user("carol", "pw", NULL);
    start_server();
    login_budget_checks();
    term_server();
}

/* ---- --isolation process: a crash costs one session ----------------- */

/* The pids whose parent is ppid (from /proc/PID/stat), at most max. */
static int children_of(pid_t ppid, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* gone meanwhile */
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
            continue;
        buf[k] = '\0';
        /* "pid (comm) state ppid ...": comm may hold spaces, so from ')' */
        char *rp = strrchr(buf, ')');
        char state;
        long pp;
        /* The server's "ssftpd who" helper (its name) is no session. */
        bool helper = strstr(buf, " (ssftpd-who) ") != NULL;
        if (rp != NULL && sscanf(rp + 1, " %c %ld", &state, &pp) == 2 &&
            pp == ppid && state != 'Z' && n < max && !helper)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* The session process of the only session open.  Sessions that just quit
 * may take a moment to exit: wait for them (bounded). */
static pid_t session_pid(void)
{
    pid_t kids[4];
    int64_t end = proto_mono_ms() + 5000;
    int n;
    while ((n = children_of(server_pid, kids, 4)) > 1 && proto_mono_ms() < end)
        usleep(10000);
    CHECK(n == 1);
    return kids[0];
}

/* Kills the session of victim with sig in the middle of an upload; other
 * (logged in) keeps working, and a new login succeeds. */
static void crash_one_session(int sig)
{
    struct cli victim, other, fresh;
    connect_login(&victim, "kim", "pw");
    pid_t pid = session_pid();
    connect_login(&other, "lee", "pw");
    size_t n = 1u << 20;
    uint8_t *d = random_data(n);
    put_half(&victim, "torn", d, n);
    CHECK(kill(pid, sig) == 0);
    /* The victim's connection ends (a close or a reset)... */
    json_t *none = NULL;
    CHECK(recv_within(&victim, 10000, &none) != 0);
    cli_close(&victim);
    /* ...and nothing else does. */
    CHECK(kill(server_pid, 0) == 0);
    round_trip(&other, "after-crash", 300000);
    connect_login(&fresh, "kim", "pw");
    round_trip(&fresh, "after-crash-fresh", 300000);
    cli_close(&fresh);
    cli_close(&other);
    free(d);
    printf("isolation: signal %d ended one session; the others went on\n", sig);
}

/* Sessions in turn on four connections at once, each its own process. */
static void concurrent_sessions(void)
{
    struct cli c[4];
    static const char *const users[] = {"kim", "lee"};
    for (int i = 0; i < 4; i++)
        connect_login(&c[i], users[i % 2], "pw");
    pid_t kids[8];
    CHECK(children_of(server_pid, kids, 8) == 4);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++) {
            char path[32];
            snprintf(path, sizeof path, "c%d-%d", i, round);
            round_trip(&c[i], path, 100000 + (size_t)i);
        }
    for (int i = 0; i < 4; i++)
        quit_and_wait(&c[i]);
}

/* --max-clients 2 across processes: a third hello is busy; a session killed
 * with SIGKILL (it never says goodbye) gives its place back. */
static void max_clients_survives_a_kill(void)
{
    static const char *const args[] = {"--max-clients", "2", NULL};
    start_server_args(args);
    struct cli a, b, c;
    connect_login(&a, "kim", "pw");
    pid_t pid_a = session_pid();
    connect_login(&b, "lee", "pw");
    cli_open(&c);
    CHECK_CODE(hello_code(&c), PROTO_E_BUSY);
    cli_close(&c);
    CHECK(kill(pid_a, SIGKILL) == 0);
    json_t *none = NULL;
    CHECK(recv_within(&a, 10000, &none) != 0);
    cli_close(&a);
    connect_when_room(&c, "kim");
    CHECK_CODE(simple(&c, "pwd", NULL), NULL);
    CHECK_CODE(simple(&b, "pwd", NULL), NULL);
    cli_open(&a);
    CHECK_CODE(hello_code(&a), PROTO_E_BUSY); /* full again */
    cli_close(&a);
    cli_close(&b);
    cli_close(&c);
    term_server();
}

/* The server's threads ("Threads:" of /proc/PID/status) and descriptors. */
static int server_threads(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)server_pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int server_fds(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)server_pid);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Idle logged-in sessions are parked: no thread and no descriptor but the
 * socket each (the home is opened again per request), and a transfer of
 * another user while they sit there works; each is still served. */
static void scenario_parked(void)
{
    enum { N = 150 };
    add_user("idle", "pw", NULL);
    add_user("active", "pw", NULL);
    start_server();
    int fds0 = server_fds();
    struct cli *c = calloc(N, sizeof *c);
    CHECK(c != NULL);
    for (int i = 0; i < N; i++) {
        connect_login(&c[i], "idle", "pw");
        CHECK_CODE(simple(&c[i], "pwd", NULL), NULL);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int limit = 2 * (int)(cores > 0 ? cores : 1) + 4;
    /* Workers left from the logins retire after 2 s of nothing to do. */
    int64_t t0 = proto_mono_ms();
    int threads;
    while ((threads = server_threads()) > limit &&
           proto_mono_ms() - t0 < 10000) {
        struct pollfd none = {.fd = -1};
        (void)proto_poll(&none, 1, 100);
    }
    int fds = server_fds();
    printf("parked: %d idle sessions: %d server threads (limit %d), %d "
           "descriptors (%d before)\n",
           N, threads, limit, fds, fds0);
    CHECK(threads <= limit);
    CHECK(fds <= fds0 + N + 2);
    struct cli a;
    connect_login(&a, "active", "pw");
    round_trip(&a, "/one-mib", 1u << 20);
    cli_close(&a);
    for (int i = 0; i < N; i++) {
        CHECK_CODE(simple(&c[i], "pwd", NULL), NULL);
        cli_close(&c[i]);
    }
    free(c);
    term_server();
}

static void scenario_isolation(void)
{
    isolate_process = true;
    add_user("kim", "pw", NULL);
    add_user("lee", "pw", NULL);
    start_server();
    concurrent_sessions();
    crash_one_session(SIGKILL);
    crash_one_session(SIGSEGV);
    term_server();
    max_clients_survives_a_kill();
}

/* ---- ssftpd who -------------------------------------------------------- */

/* "ssftpd who --root ROOT" (and extra, may be NULL): its stdout in out,
 * its exit status returned. */
static int who_run(const char *extra, char *out, size_t cap)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(ssftpd, ssftpd, "who", "--root", root, extra, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    close(p[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Asks who until its output has want (or, if gone, has it no more):
 * the session's state reaches the server a moment after the client's. */
static void who_until(const char *want, bool gone, char *out, size_t cap)
{
    for (int i = 0; i < 2000; i++) {
        CHECK(who_run(NULL, out, cap) == 0);
        if ((strstr(out, want) == NULL) == gone)
            return;
        proto_sleep_ms(10);
    }
    fprintf(stderr, "ssftpd who never %s \"%s\"; it said:\n%s",
            gone ? "dropped" : "showed", want, out);
    CHECK(false);
}

/* A native put held half-way shows its name, bytes and percent; the user
 * and protocol; the session is gone once the client is.  Both --isolation
 * modes (the registry is shared with session children). */
static void scenario_who_put(void)
{
    add_user("alice", "pw-alice", NULL);
    start_server();
    struct cli c;
    connect_login(&c, "alice", "pw-alice");
    size_t n = 1 << 20;
    uint8_t *d = random_data(n);
    put_half(&c, "half.bin", d, n);
    char out[8192];
    who_until("put /half.bin 512 KiB/1 MiB 50% ", false, out, sizeof out);
    CHECK(strncmp(out, "USER ", 5) == 0);
    CHECK(strstr(out, "\nalice ssftp 127.0.0.1:") != NULL);
    CHECK(who_run("--json", out, sizeof out) == 0);
    CHECK(strstr(out, "\"done\": 524288") != NULL);
    CHECK(strstr(out, "\"total\": 1048576") != NULL);
    cli_close(&c);
    who_until("alice", true, out, sizeof out);
    free(d);
    term_server();
}

static const struct {
    const char *name;
    void (*fn)(void);
} scenarios[] = {
    {"login", scenario_login},
    {"commands", scenario_commands},
    {"put_get", scenario_put_get},
    {"escapes", scenario_escapes},
    {"quota", scenario_quota},
    {"resume", scenario_resume},
    {"quota_concurrent", scenario_quota_concurrent},
    {"many_users", scenario_many_users},
    {"fuzz", scenario_fuzz},
    {"sigterm", scenario_sigterm},
    {"digest_cache", scenario_digest_cache},
    {"limits", scenario_limits},
    {"attacks", scenario_attacks},
    {"login_budget", scenario_login_budget},
    {"isolation", scenario_isolation},
    {"parked", scenario_parked},
    {"whole", scenario_whole},
    {"who_put", scenario_who_put},
};

static void rm_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "process") == 0)) {
        fprintf(stderr, "usage: e2e_driver SSFTPD SCENARIO [process]\n");
        return 2;
    }
    ssftpd = argv[1];
    isolate_process = argc == 4;
    /* Under ThreadSanitizer every exiting process sleeps 1 s (its
     * atexit_sleep_ms) -- a session child too, which stays counted against
     * --max-clients until reaped.  The server's children need not. */
    const char *tsan = getenv("TSAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%satexit_sleep_ms=0", tsan ? tsan : "",
             tsan && *tsan ? ":" : "");
    CHECK(setenv("TSAN_OPTIONS", opts, 1) == 0);
    CHECK(proto_init() == 0);
    CHECK(proto_tls_client_ctx(&tls_ctx) == 0);
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/ssftp-e2e-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(root) != NULL);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(argv[2], scenarios[i].name) == 0) {
            scenarios[i].fn();
            rm_tree(root);
            printf("%s: ok\n", argv[2]);
            return 0;
        }
    }
    fprintf(stderr, "unknown scenario %s\n", argv[2]);
    rm_tree(root);
    return 2;
}
