/* test_body.c -- raw bodies after a header: streaming, files, drain, errors. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

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
    int file;       /* >= 0: send from this file with proto_body_from_file */
    uint64_t n;     /* body length */
    int result;
    uint8_t digest[DIGEST_BYTES];
};

static void *send_body(void *arg)
{
    struct sender *s = arg;
    json_t *h = size_hdr(s->n);
    s->result = proto_send(s->io, h);
    json_decref(h);
    digest_state d;
    digest_init(&d);
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
            digest_update(&d, piece, k);
            s->result = proto_write_body(s->io, piece, k);
            off += k;
        }
    }
    digest_final(&d, s->digest);
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
    digest_state d;
    digest_init(&d);
    int file_err = 1;
    /* At an offset, as when a resumed upload appends to a partial. */
    assert_int_equal(proto_body_to_file(&c->a, dst, 5, &d, NULL, &file_err), 0);
    assert_int_equal(file_err, 0);
    finish(t, &s);

    uint8_t got[DIGEST_BYTES], want[DIGEST_BYTES];
    digest_final(&d, got);
    assert_int_equal(digest_file_prefix(src, BIG, want), 0);
    assert_memory_equal(got, want, DIGEST_BYTES);
    assert_memory_equal(s.digest, want, DIGEST_BYTES);
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
    assert_int_equal(
        proto_body_from_file(&c->b, src, 0, NULL, NULL, &file_err), -ENODATA);
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
    assert_int_equal(proto_body_to_file(&c->a, full, 0, NULL, NULL, &file_err), 0);
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

#define T(f) cmocka_unit_test_setup_teardown(f, tu_conn_setup, tu_conn_teardown)

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        T(body_streams_more_than_the_socket_buffer),
        T(read_body_refuses_more_than_announced),
        T(recv_discards_unread_body_before_next_frame),
        T(body_cut_short_by_the_peer_is_a_reset),
        T(body_read_times_out_on_silent_peer),
        T(body_write_times_out_when_peer_stops_reading),
        T(body_moves_file_to_file_with_matching_digests),
        T(body_from_file_fails_when_file_is_shorter),
        T(body_to_file_drains_body_when_disk_is_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
