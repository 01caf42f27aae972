/* test_body.c -- raw bodies after a header: streaming, files, drain, errors. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "proto.h"
#include "testutil.h"

/* Bigger than any socket buffer, and not a multiple of PROTO_FILE_CHUNK, so
 * the writer really blocks and the last chunk is short. */
#define BIG (3 * PROTO_FILE_CHUNK + 12345)

/* No cmocka assert here: it also runs on the sender thread.  A NULL from
 * json_pack makes proto_send() fail, which the test then sees. */
static json_t *size_hdr(uint64_t n)
{
    return json_pack("{s:s, s:I}", "cmd", "put_data", "size", (json_int_t)n);
}

/* The peer's side of a transfer, run on a thread because the body does not
 * fit in the socket buffer. */
struct sender {
    proto_io *io;
    int file;   /* >= 0: send from this file with proto_body_from_file */
    uint64_t n; /* body length */
    int result;
    uint8_t digest[PROTO_DIGEST_BYTES];
};

static void *send_body(void *arg)
{
    struct sender *s = arg;
    json_t *h = size_hdr(s->n);
    s->result = proto_send(s->io, h);
    json_decref(h);
    proto_digest_state d;
    proto_digest_init(&d);
    if (s->result == 0 && s->file >= 0) {
        int file_err;
        s->result =
            proto_body_from_file(s->io, s->file, 0, &d, NULL, &file_err);
    } else {
        /* Odd-sized pieces so writes straddle the reader's buffers. */
        uint8_t piece[7777];
        for (uint64_t off = 0; s->result == 0 && off < s->n;) {
            size_t k = s->n - off < sizeof piece ? s->n - off : sizeof piece;
            for (size_t i = 0; i < k; i++)
                piece[i] = tu_pattern(off + i);
            proto_digest_update(&d, piece, k);
            s->result = proto_write_body(s->io, piece, k);
            off += k;
        }
    }
    proto_digest_final(&d, s->digest);
    return NULL;
}

static void start(pthread_t *t, struct sender *s)
{
    assert_int_equal(pthread_create(t, NULL, send_body, s), 0);
}

static void finish(pthread_t t, struct sender *s)
{
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s->result, 0);
}

static json_t *recv_ok(proto_io *io)
{
    json_t *h;
    assert_int_equal(proto_recv(io, &h), 0);
    return h;
}

static void body_streams_more_than_the_socket_buffer(void **state)
{
    struct tu_conn *c = *state;
    struct sender s = {.io = &c->b, .file = -1, .n = BIG};
    pthread_t t;
    start(&t, &s);
    json_t *h = recv_ok(&c->a);
    assert_int_equal(c->a.body_in, BIG);
    uint8_t buf[5000];
    uint64_t off = 0;
    while (c->a.body_in > 0) {
        ssize_t k = proto_read_some(&c->a, buf, sizeof buf);
        assert_true(k > 0);
        for (ssize_t i = 0; i < k; i++)
            assert_int_equal(buf[i], tu_pattern(off + (uint64_t)i));
        off += (uint64_t)k;
    }
    assert_int_equal(off, BIG);
    assert_int_equal(proto_read_some(&c->a, buf, sizeof buf), 0);
    finish(t, &s);
    json_decref(h);
}

static void read_body_refuses_more_than_announced(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = size_hdr(4);
    assert_int_equal(proto_send(&c->b, h), 0);
    assert_int_equal(proto_write_body(&c->b, "wxyz", 4), 0);
    json_decref(h);
    h = recv_ok(&c->a);
    char buf[8];
    assert_int_equal(proto_read_body(&c->a, buf, 5), -EINVAL);
    assert_int_equal(proto_read_body(&c->a, buf, 4), 0);
    assert_memory_equal(buf, "wxyz", 4);
    json_decref(h);
}

static void recv_discards_unread_body_before_next_frame(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = size_hdr(10);
    json_t *next = json_pack("{s:s}", "cmd", "put_end");
    assert_int_equal(proto_send(&c->b, h), 0);
    assert_int_equal(proto_write_body(&c->b, "0123456789", 10), 0);
    assert_int_equal(proto_send(&c->b, next), 0);
    json_decref(h);

    h = recv_ok(&c->a);
    char two[2];
    assert_int_equal(proto_read_body(&c->a, two, 2), 0);
    json_t *in = recv_ok(&c->a); /* 8 body bytes were still unread */
    assert_true(json_equal(in, next));
    assert_int_equal(c->a.body_in, 0);
    json_decref(in);
    json_decref(h);
    json_decref(next);
}

static void body_cut_short_by_the_peer_is_a_reset(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = size_hdr(100);
    assert_int_equal(proto_send(&c->b, h), 0);
    assert_int_equal(proto_write_body(&c->b, "only ten..", 10), 0);
    json_decref(h);
    tu_conn_close(c, 1);
    h = recv_ok(&c->a);
    char buf[100];
    assert_int_equal(proto_read_body(&c->a, buf, 100), -ECONNRESET);
    json_decref(h);
}

static void body_read_times_out_on_silent_peer(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = size_hdr(100);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    h = recv_ok(&c->a);
    /* The body limit applies on its own: frames may wait forever. */
    c->a.timeout_ms = 0;
    c->a.body_timeout_ms = 50;
    char buf[100];
    assert_int_equal(proto_read_some(&c->a, buf, sizeof buf), -ETIMEDOUT);
    json_decref(h);
}

static void body_write_times_out_when_peer_stops_reading(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = size_hdr(BIG);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    c->b.timeout_ms = 50; /* no body_timeout_ms: bodies inherit this */
    uint8_t *buf = calloc(1, BIG);
    assert_non_null(buf);
    assert_int_equal(proto_write_body(&c->b, buf, BIG), -ETIMEDOUT);
    free(buf);
}

/* Reads fd slowly, SLOW_BYTES every SLOW_MS, until n bytes have come. */
#define SLOW_BYTES 8192
#define SLOW_MS 20
struct slow_reader {
    int fd;
    size_t n;
};

static void *read_slowly(void *arg)
{
    struct slow_reader *r = arg;
    char buf[SLOW_BYTES];
    for (size_t got = 0; got < r->n;) {
        struct timespec ts = {.tv_nsec = SLOW_MS * 1000000L};
        nanosleep(&ts, NULL);
        ssize_t k = recv(r->fd, buf, sizeof buf, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return NULL;
}

/* A connected TCP pair over 127.0.0.1, both buffers small: acknowledgements
 * are what say a peer reads, and a Unix socket has none (its queue shrinks
 * only when a whole buffer has been read). */
static void tcp_pair(int sv[2])
{
    int small = 16 << 10;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    assert_int_equal(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small),
                     0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv[1] >= 0);
    int big = 128 << 10;
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big),
                     0);
    assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof a), 0);
    sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(sv[0] >= 0);
    assert_int_equal(close(l), 0);
}

/* A reader at 100 KiB/s lets a full socket become writable again more
 * slowly than the body timeout: the send goes on, since its queue shrinks
 * within every wait (a client under --limit-rate was cut after 30 s).  A
 * reader that stops is the test above. */
static void body_write_goes_on_while_a_slow_peer_reads(void **state)
{
    struct tu_conn *c = *state;
    for (int i = 0; i < 2; i++)
        assert_int_equal(close(c->sv[i]), 0);
    tcp_pair(c->sv);
    c->a.fd = c->sv[0];
    c->b.fd = c->sv[1];
    const size_t n = 512 << 10;
    json_t *h = size_hdr(n);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    c->b.body_timeout_ms = 150;
    struct slow_reader r = {.fd = c->sv[0], .n = n};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_slowly, &r), 0);
    uint8_t *buf = calloc(1, n);
    assert_non_null(buf);
    double t0 = proto_mono_s();
    assert_int_equal(proto_write_body(&c->b, buf, n), 0);
    /* Slower than a body timeout: the wait was really extended. */
    assert_true(proto_mono_s() - t0 > 0.3);
    free(buf);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void body_moves_file_to_file_with_matching_digests(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(BIG);
    struct sender s = {.io = &c->b, .file = src, .n = BIG};
    pthread_t t;
    start(&t, &s);
    json_t *h = recv_ok(&c->a);
    int dst = memfd_create("dst", 0);
    assert_true(dst >= 0);
    proto_digest_state d;
    proto_digest_init(&d);
    int file_err = 1;
    /* At an offset, as when a resumed upload appends to a partial. */
    assert_int_equal(proto_body_to_file(&c->a, dst, 5, &d, NULL, &file_err), 0);
    assert_int_equal(file_err, 0);
    finish(t, &s);

    uint8_t got[PROTO_DIGEST_BYTES], want[PROTO_DIGEST_BYTES];
    proto_digest_final(&d, got);
    assert_int_equal(tu_file_digest(src, BIG, want), 0);
    assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
    assert_memory_equal(s.digest, want, PROTO_DIGEST_BYTES);
    uint8_t *copy = malloc(BIG);
    assert_non_null(copy);
    assert_int_equal(pread(dst, copy, BIG, 5), BIG);
    for (size_t i = 0; i < BIG; i++)
        assert_int_equal(copy[i], tu_pattern(i));
    free(copy);
    close(dst);
    close(src);
    json_decref(h);
}

static void body_from_file_fails_when_file_is_shorter(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(100);
    json_t *h = size_hdr(101);
    int file_err = 0;
    assert_int_equal(proto_send(&c->b, h), 0);
    assert_int_equal(proto_body_from_file(&c->b, src, 0, NULL, NULL, &file_err),
                     -ENODATA);
    assert_int_equal(file_err, -ENODATA);
    close(src);
    json_decref(h);
}

static void body_to_file_drains_body_when_disk_is_full(void **state)
{
    struct tu_conn *c = *state;
    struct sender s = {.io = &c->b, .file = -1, .n = BIG};
    pthread_t t;
    start(&t, &s);
    json_t *h = recv_ok(&c->a);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    int file_err = 0;
    assert_int_equal(proto_body_to_file(&c->a, full, 0, NULL, NULL, &file_err),
                     0);
    assert_int_equal(file_err, -ENOSPC);
    assert_int_equal(c->a.body_in, 0);
    finish(t, &s);
    close(full);
    json_decref(h);

    /* The connection is still in step: the next frame reads cleanly. */
    json_t *next = json_pack("{s:s}", "cmd", "put_end");
    assert_int_equal(proto_send(&c->b, next), 0);
    json_t *in = recv_ok(&c->a);
    assert_true(json_equal(in, next));
    json_decref(in);
    json_decref(next);
}

/* ---- zero copy: proto_body_from_file() with d == NULL and zero_copy ---- */

/* 3 MiB + 5 bytes: many sendfile() calls through a full socket buffer, and
 * not a multiple of any page or chunk size. */
#define ZC_SIZE ((3u << 20) + 5)
#define ZC_OFF 4099u /* a nonzero, unaligned file offset */

static bool is_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    return (fl & O_NONBLOCK) != 0;
}

static void set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
    assert_true(is_nonblocking(fd) == on);
}

/* A zero-copy sender, run on a thread.  No cmocka assert in here: what the
 * hook sees is recorded and checked by the test afterwards. */
struct zc_sender {
    proto_io *io;
    int file;
    uint64_t off, n;
    int result, file_err;
    /* progress hook */
    size_t calls;
    uint64_t last;      /* the last offset reported */
    bool increasing;    /* every offset above the one before (and off) */
    bool in_range;      /* every offset <= off + n */
    bool nonblock_seen; /* the socket was O_NONBLOCK at every call */
};

static void zc_progress(void *ctx, uint64_t off)
{
    struct zc_sender *s = ctx;
    if (off <= s->last)
        s->increasing = false;
    if (off > s->off + s->n)
        s->in_range = false;
    int fl = fcntl(s->io->fd, F_GETFL);
    if (fl < 0 || !(fl & O_NONBLOCK))
        s->nonblock_seen = false;
    s->last = off;
    s->calls++;
}

/* Send the body of s with zero copy; the header must be out already. */
static void zc_body(struct zc_sender *s)
{
    proto_body_hooks hooks = {
        .progress = zc_progress, .ctx = s, .zero_copy = true};
    s->last = s->off;
    s->increasing = s->in_range = s->nonblock_seen = true;
    s->file_err = 12345;
    s->result = proto_body_from_file(s->io, s->file, s->off, NULL, &hooks,
                                     &s->file_err);
}

static void *zc_send(void *arg)
{
    struct zc_sender *s = arg;
    json_t *h = size_hdr(s->n);
    s->result = proto_send(s->io, h);
    json_decref(h);
    if (s->result == 0)
        zc_body(s);
    return NULL;
}

static void zc_round_trip(struct tu_conn *c, bool nonblocking)
{
    set_nonblocking(c->sv[1], nonblocking);
    int src = tu_file_with_pattern(ZC_OFF + ZC_SIZE);
    struct zc_sender s = {
        .io = &c->b, .file = src, .off = ZC_OFF, .n = ZC_SIZE};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, zc_send, &s), 0);
    json_t *h = recv_ok(&c->a);
    assert_int_equal(c->a.body_in, ZC_SIZE);
    uint8_t *got = malloc(ZC_SIZE);
    assert_non_null(got);
    uint64_t n = 0;
    while (c->a.body_in > 0) {
        ssize_t k = proto_read_some(&c->a, got + n, ZC_SIZE - n);
        assert_true(k > 0);
        n += (uint64_t)k;
    }
    assert_int_equal(n, ZC_SIZE);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(s.result, 0);
    assert_int_equal(s.file_err, 0);
    assert_int_equal(c->b.body_out, 0);
    for (size_t i = 0; i < ZC_SIZE; i++)
        if (got[i] != tu_pattern(ZC_OFF + i))
            fail_msg("byte %zu: got %u, want %u", i, got[i],
                     tu_pattern(ZC_OFF + i));
    /* Progress: rising, never past the end, ending at off + size. */
    assert_true(s.calls >= 1);
    assert_true(s.increasing);
    assert_true(s.in_range);
    assert_int_equal(s.last, ZC_OFF + ZC_SIZE);
    /* The copying path never touches the socket's flags; sendfile(2) has
     * no MSG_DONTWAIT, so the zero-copy path must make the socket
     * non-blocking while it sends ... */
    assert_true(s.nonblock_seen);
    /* ... and put the flag back as it was. */
    assert_true(is_nonblocking(c->sv[1]) == nonblocking);
    /* The connection is in step: the next frame reads cleanly. */
    json_t *next = json_pack("{s:s}", "cmd", "done");
    assert_int_equal(proto_send(&c->b, next), 0);
    json_t *in = recv_ok(&c->a);
    assert_true(json_equal(in, next));
    json_decref(in);
    json_decref(next);
    free(got);
    assert_int_equal(close(src), 0);
    json_decref(h);
}

static void zero_copy_round_trip_blocking_socket(void **state)
{
    zc_round_trip(*state, false);
}

static void zero_copy_round_trip_nonblocking_socket(void **state)
{
    zc_round_trip(*state, true);
}

static void zero_copy_fails_when_file_is_shorter(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(100);
    /* Runs dry part-way (the 100 bytes go out first) ... */
    struct zc_sender s = {.io = &c->b, .file = src, .off = 0, .n = 101};
    json_t *h = size_hdr(101);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    zc_body(&s);
    assert_int_equal(s.result, -ENODATA);
    assert_int_equal(s.file_err, -ENODATA);
    assert_false(is_nonblocking(c->sv[1]));
    h = recv_ok(&c->a);
    uint8_t got[100];
    assert_int_equal(proto_read_body(&c->a, got, sizeof got), 0);
    for (size_t i = 0; i < sizeof got; i++)
        assert_int_equal(got[i], tu_pattern(i));
    json_decref(h);
    tu_conn_close(c, 0);
    tu_conn_close(c, 1);

    /* ... and at an offset at or past the end, before the first byte. */
    for (uint64_t off = 100; off <= 150; off += 50) {
        tu_pair(c->sv);
        c->a = (proto_io){.fd = c->sv[0], .timeout_ms = 5000};
        c->b = (proto_io){.fd = c->sv[1], .timeout_ms = 5000};
        s = (struct zc_sender){.io = &c->b, .file = src, .off = off, .n = 1};
        h = size_hdr(1);
        assert_int_equal(proto_send(&c->b, h), 0);
        json_decref(h);
        zc_body(&s);
        assert_int_equal(s.result, -ENODATA);
        assert_int_equal(s.file_err, -ENODATA);
        assert_int_equal(s.calls, 0);
        assert_false(is_nonblocking(c->sv[1]));
        tu_conn_close(c, 0);
        tu_conn_close(c, 1);
    }
    assert_int_equal(close(src), 0);
}

static void zero_copy_unreadable_file_is_a_file_error(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(1000);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", src);
    int wr = open(path, O_WRONLY | O_CLOEXEC); /* no read access */
    assert_true(wr >= 0);
    set_nonblocking(c->sv[1], true);
    struct zc_sender s = {.io = &c->b, .file = wr, .off = 0, .n = 1000};
    json_t *h = size_hdr(1000);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    zc_body(&s);
    assert_int_equal(s.result, -EBADF);
    assert_int_equal(s.file_err, -EBADF);
    assert_true(is_nonblocking(c->sv[1]));
    assert_int_equal(close(wr), 0);
    assert_int_equal(close(src), 0);
}

static void zero_copy_to_a_closed_peer_is_a_socket_error(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(ZC_SIZE);
    /* Closed before the body: the first sendfile() fails.  SIGPIPE is
     * ignored by main(), else this would kill the test. */
    json_t *h = size_hdr(ZC_SIZE);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    tu_conn_close(c, 0);
    struct zc_sender s = {.io = &c->b, .file = src, .off = 0, .n = ZC_SIZE};
    zc_body(&s);
    assert_true(s.result == -EPIPE || s.result == -ECONNRESET);
    assert_int_equal(s.file_err, 0);
    assert_false(is_nonblocking(c->sv[1]));
    tu_conn_close(c, 1);

    /* Closed part-way through: the sender is blocked on a full buffer
     * (or about to be) when the reader goes away. */
    tu_pair(c->sv);
    c->a = (proto_io){.fd = c->sv[0], .timeout_ms = 5000};
    c->b = (proto_io){.fd = c->sv[1], .timeout_ms = 5000};
    s = (struct zc_sender){.io = &c->b, .file = src, .off = 0, .n = ZC_SIZE};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, zc_send, &s), 0);
    h = recv_ok(&c->a);
    uint8_t buf[65536];
    assert_int_equal(proto_read_body(&c->a, buf, sizeof buf), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], tu_pattern(i));
    json_decref(h);
    tu_conn_close(c, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(s.result == -EPIPE || s.result == -ECONNRESET);
    assert_int_equal(s.file_err, 0);
    assert_true(s.last < ZC_SIZE);
    assert_false(is_nonblocking(c->sv[1]));
    assert_int_equal(close(src), 0);
}

/* Watchdog for a call that must end by itself: a hang is a failure with a
 * message, not a wait for the harness's timeout. */
static void watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: zero-copy send still blocked after "
                              "20 s; the body deadline did not end it\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void zero_copy_times_out_when_peer_stops_reading(void **state)
{
    struct tu_conn *c = *state;
    int src = tu_file_with_pattern(ZC_SIZE);
    /* A blocking socket, as a caller may hand over.  The send timeout is
     * only a safety net so a sendfile() that blocks cannot hang the test:
     * the body deadline must end the call long before it. */
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(
        setsockopt(c->sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    json_t *h = size_hdr(ZC_SIZE);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
    c->b.timeout_ms = 50; /* no body_timeout_ms: bodies inherit this */
    struct zc_sender s = {.io = &c->b, .file = src, .off = 0, .n = ZC_SIZE};
    struct sigaction sa = {.sa_handler = watchdog_fired}, prev;
    assert_int_equal(sigemptyset(&sa.sa_mask), 0);
    assert_int_equal(sigaction(SIGALRM, &sa, &prev), 0);
    alarm(20);
    double t0 = proto_mono_s();
    zc_body(&s);
    double took = proto_mono_s() - t0;
    alarm(0);
    assert_int_equal(sigaction(SIGALRM, &prev, NULL), 0);
    assert_int_equal(s.result, -ETIMEDOUT);
    assert_int_equal(s.file_err, 0);
    assert_true(took < 2.5);
    assert_true(s.last > 0 && s.last < ZC_SIZE); /* some went, not all */
    assert_false(is_nonblocking(c->sv[1]));
    assert_int_equal(close(src), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_conn_setup, tu_conn_teardown)

int main(void)
{
    assert_int_equal(proto_init(), 0);
    /* sendfile(2) has no MSG_NOSIGNAL: like every server using the
     * zero-copy path, this process must ignore SIGPIPE. */
    assert_true(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    const struct CMUnitTest tests[] = {
        T(body_streams_more_than_the_socket_buffer),
        T(read_body_refuses_more_than_announced),
        T(recv_discards_unread_body_before_next_frame),
        T(body_cut_short_by_the_peer_is_a_reset),
        T(body_read_times_out_on_silent_peer),
        T(body_write_times_out_when_peer_stops_reading),
        T(body_write_goes_on_while_a_slow_peer_reads),
        T(body_moves_file_to_file_with_matching_digests),
        T(body_from_file_fails_when_file_is_shorter),
        T(body_to_file_drains_body_when_disk_is_full),
        T(zero_copy_round_trip_blocking_socket),
        T(zero_copy_round_trip_nonblocking_socket),
        T(zero_copy_fails_when_file_is_shorter),
        T(zero_copy_unreadable_file_is_a_file_error),
        T(zero_copy_to_a_closed_peer_is_a_socket_error),
        T(zero_copy_times_out_when_peer_stops_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
