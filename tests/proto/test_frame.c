/* test_frame.c -- frame headers: encoding, limits, and every failure mode. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"

/* Receive on a and expect error want. */
static void expect_recv_error(struct tu_conn *c, int want)
{
    json_t *h = (json_t *)1;
    assert_int_equal(proto_recv(&c->a, &h), want);
    assert_null(h);
}

static void send_then_recv_round_trips_header(void **state)
{
    struct tu_conn *c = *state;
    json_t *out = json_pack("{s:s, s:I, s:s}", "cmd", "ls", "n", (json_int_t)-7,
                            "path", "caf\xc3\xa9/\"q\"");
    assert_int_equal(proto_send(&c->b, out), 0);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    assert_true(json_equal(in, out));
    assert_int_equal(c->a.body_in, 0);
    json_decref(in);
    json_decref(out);
}

static void send_writes_big_endian_length_then_compact_json(void **state)
{
    struct tu_conn *c = *state;
    json_t *out = json_pack("{s:s, s:b}", "cmd", "quit", "x", 1);
    assert_int_equal(proto_send(&c->b, out), 0);
    json_decref(out);
    const char want[] = "\0\0\0\x17{\"cmd\":\"quit\",\"x\":true}";
    char got[sizeof want - 1];
    assert_int_equal(read(c->sv[0], got, sizeof got), sizeof got);
    assert_memory_equal(got, want, sizeof got);
}

static void recv_reads_big_endian_length(void **state)
{
    struct tu_conn *c = *state;
    /* 0x0000012c = 300: read little-endian it would be far over the cap. */
    char json[300];
    memset(json, ' ', sizeof json);
    memcpy(json, "{\"k\":1}", 7);
    tu_write_frame(c->sv[1], json, sizeof json);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    assert_int_equal(json_integer_value(json_object_get(in, "k")), 1);
    json_decref(in);
}

static void recv_accepts_header_of_exactly_the_cap(void **state)
{
    struct tu_conn *c = *state;
    char *json = malloc(PROTO_HEADER_MAX);
    assert_non_null(json);
    memset(json, ' ', PROTO_HEADER_MAX);
    memcpy(json, "{}", 2);
    /* A writer thread is not needed: the pair buffers this much. */
    int sz = 4 * PROTO_HEADER_MAX;
    assert_int_equal(
        setsockopt(c->sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    tu_write_frame(c->sv[1], json, PROTO_HEADER_MAX);
    free(json);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
}

static void recv_rejects_oversize_length_without_reading_payload(void **state)
{
    struct tu_conn *c = *state;
    uint32_t n = PROTO_HEADER_MAX + 1;
    uint8_t len[4];
    proto_be32_put(len, n);
    tu_write_raw(c->sv[1], len, 4);
    tu_write_raw(c->sv[1], "NEXT", 4);
    expect_recv_error(c, -EMSGSIZE);
    char rest[4];
    assert_int_equal(read(c->sv[0], rest, 4), 4);
    assert_memory_equal(rest, "NEXT", 4);
}

static void recv_rejects_zero_length(void **state)
{
    struct tu_conn *c = *state;
    tu_write_raw(c->sv[1], "\0\0\0\0", 4);
    expect_recv_error(c, -EMSGSIZE);
}

static void send_refuses_header_over_the_cap(void **state)
{
    struct tu_conn *c = *state;
    char *big = malloc(PROTO_HEADER_MAX);
    assert_non_null(big);
    memset(big, 'a', PROTO_HEADER_MAX - 1);
    big[PROTO_HEADER_MAX - 1] = '\0';
    json_t *out = json_pack("{s:s}", "v", big);
    free(big);
    assert_int_equal(proto_send(&c->b, out), -EMSGSIZE);
    json_decref(out);
}

static void recv_reports_clean_eof_as_nodata(void **state)
{
    struct tu_conn *c = *state;
    tu_conn_close(c, 1);
    expect_recv_error(c, -ENODATA);
}

static void recv_reports_eof_inside_length_as_reset(void **state)
{
    struct tu_conn *c = *state;
    tu_write_raw(c->sv[1], "\0\0", 2);
    tu_conn_close(c, 1);
    expect_recv_error(c, -ECONNRESET);
}

static void recv_reports_eof_inside_json_as_reset(void **state)
{
    struct tu_conn *c = *state;
    tu_write_raw(c->sv[1], "\0\0\0\x0a{\"a\":", 9);
    tu_conn_close(c, 1);
    expect_recv_error(c, -ECONNRESET);
}

static void expect_bad(struct tu_conn *c, const char *json)
{
    tu_write_frame(c->sv[1], json, (uint32_t)strlen(json));
    expect_recv_error(c, -EBADMSG);
}

static void recv_rejects_invalid_json(void **state)
{
    expect_bad(*state, "{\"a\":");
    expect_bad(*state, "{\"a\":1} {}"); /* trailing data */
}

static void recv_rejects_non_object(void **state)
{
    expect_bad(*state, "[1,2]");
    expect_bad(*state, "\"cmd\"");
    expect_bad(*state, "42");
}

static void recv_rejects_invalid_utf8(void **state)
{
    expect_bad(*state, "{\"a\":\"\xc3\x28\"}");
    expect_bad(*state, "{\"a\":\"\xed\xa0\x80\"}"); /* encoded surrogate */
    expect_bad(*state, "{\"a\":\"\\ud800\"}");      /* lone surrogate escape */
}

static void recv_rejects_nul_in_string(void **state)
{
    expect_bad(*state, "{\"path\":\"a\\u0000b\"}");
}

static void recv_rejects_duplicate_keys(void **state)
{
    expect_bad(*state, "{\"size\":1,\"size\":2}");
}

static void recv_rejects_size_that_is_not_a_count(void **state)
{
    expect_bad(*state, "{\"size\":-1}");
    expect_bad(*state, "{\"size\":1.0}");
    expect_bad(*state, "{\"size\":\"3\"}");
    expect_bad(*state, "{\"size\":null}");
    expect_bad(*state, "{\"size\":99999999999999999999}");
}

static void recv_rejects_nesting_too_deep_for_the_parser(void **state)
{
    /* jansson stops at 2048 levels instead of recursing off the stack. */
    enum { DEPTH = 5000 };
    char *json = malloc(2 * DEPTH + 8);
    assert_non_null(json);
    size_t n = 0;
    json[n++] = '{';
    memcpy(json + n, "\"a\":", 4);
    n += 4;
    memset(json + n, '[', DEPTH);
    n += DEPTH;
    memset(json + n, ']', DEPTH);
    n += DEPTH;
    json[n++] = '}';
    json[n] = '\0';
    expect_bad(*state, json);
    free(json);
}

/* n levels of [ inside the top-level object: depth n + 1. */
static char *nested(size_t n)
{
    char *json = malloc(2 * n + 8);
    assert_non_null(json);
    size_t k = 0;
    memcpy(json, "{\"a\":", 5);
    k += 5;
    memset(json + k, '[', n);
    k += n;
    memset(json + k, ']', n);
    k += n;
    json[k++] = '}';
    json[k] = '\0';
    return json;
}

static void
recv_refuses_nesting_deeper_than_the_limit_before_parsing(void **state)
{
    struct tu_conn *c = *state;
    char *ok = nested(PROTO_DEPTH_MAX - 1), *deep = nested(PROTO_DEPTH_MAX);
    tu_write_frame(c->sv[1], ok, (uint32_t)strlen(ok));
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
    expect_bad(c, deep);
    free(ok);
    free(deep);
}

static void brackets_inside_strings_do_not_count_as_nesting(void **state)
{
    struct tu_conn *c = *state;
    char json[256];
    char brackets[100];
    memset(brackets, '[', sizeof brackets - 1);
    brackets[sizeof brackets - 1] = '\0';
    /* An escaped quote must not end the string early either. */
    snprintf(json, sizeof json, "{\"p\":\"\\\"%s\"}", brackets);
    tu_write_frame(c->sv[1], json, (uint32_t)strlen(json));
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
    assert_false(proto_json_depth_ok("\"\\\"\"[[[", 8, 2));
    assert_true(proto_json_depth_ok("[\"]]]]\"[]]]", 12, 2));
}

struct deep_arg {
    struct tu_conn *c;
    int rc;
};

static void *recv_on_worker(void *p)
{
    struct deep_arg *a = p;
    json_t *in = NULL;
    a->rc = proto_recv(&a->c->a, &in);
    json_decref(in);
    return NULL;
}

static void deep_frame_does_not_overflow_a_worker_stack(void **state)
{
    /* 1600 levels: under jansson's own limit of 2048, over what its
     * recursion fits in a 128 KiB worker stack (the server died of this). */
    struct tu_conn *c = *state;
    char *json = nested(1600);
    int sz = 1 << 20;
    assert_int_equal(
        setsockopt(c->sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    tu_write_frame(c->sv[1], json, (uint32_t)strlen(json));
    free(json);
    pthread_attr_t at;
    pthread_t t;
    struct deep_arg a = {.c = c};
    assert_int_equal(pthread_attr_init(&at), 0);
    assert_int_equal(pthread_attr_setstacksize(&at, PROTO_WORKER_STACK), 0);
    assert_int_equal(pthread_create(&t, &at, recv_on_worker, &a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&at);
    assert_int_equal(a.rc, -EBADMSG);
}

/* The peer announces a 1000-byte body and a has read the header. */
static void announce_1000_byte_body(struct tu_conn *c)
{
    tu_write_frame(c->sv[1], "{\"size\":1000}", 13);
    json_t *in;
    assert_int_equal(proto_recv(&c->a, &in), 0);
    json_decref(in);
}

static int64_t ms_now(void)
{
    return proto_mono_ms();
}

static void hard_deadline_bounds_a_trickled_body(void **state)
{
    struct tu_conn *c = *state;
    announce_1000_byte_body(c);
    tu_write_raw(c->sv[1], "x", 1);
    /* Each wait alone could last 5 s; the deadline says 200 ms in all. */
    int64_t start = ms_now();
    c->a.deadline_ms = start + 200;
    char buf[1000];
    assert_int_equal(proto_read_body(&c->a, buf, sizeof buf), -ETIMEDOUT);
    int64_t took = ms_now() - start;
    assert_true(took >= 190 && took < 2000);
}

static void hard_deadline_bounds_a_header_wait(void **state)
{
    struct tu_conn *c = *state;
    c->a.deadline_ms = ms_now() + 100;
    expect_recv_error(c, -ETIMEDOUT);
}

/* Sends `bytes` chunks of `chunk` bytes (1 if 0), one each every_ms. */
struct trickle {
    int fd;
    int bytes;
    int chunk;
    int every_ms;
};

static void *trickler(void *p)
{
    struct trickle *t = p;
    for (int i = 0; i < t->bytes; i++) {
        struct timespec ts = {0, (long)t->every_ms * 1000000L};
        nanosleep(&ts, NULL);
        char y[64];
        size_t n = t->chunk > 0 ? (size_t)t->chunk : 1;
        memset(y, 'y', sizeof y);
        if (send(t->fd, y, n, MSG_NOSIGNAL) != (ssize_t)n)
            break;
    }
    return NULL;
}

static void body_below_the_minimum_rate_is_cut_after_one_window(void **state)
{
    struct tu_conn *c = *state;
    c->a.body_min_rate = 1000; /* 200 bytes per 200 ms window */
    c->a.body_window_ms = 200;
    announce_1000_byte_body(c);
    /* A byte every 20 ms: every wait is far under the 5 s body timeout. */
    struct trickle tr = {.fd = c->sv[1], .bytes = 30, .every_ms = 20};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, trickler, &tr), 0);
    int64_t start = ms_now();
    char buf[1000];
    assert_int_equal(proto_read_body(&c->a, buf, sizeof buf), -ETIMEDOUT);
    int64_t took = ms_now() - start;
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(took >= 190 && took < 2000);
}

static void body_above_the_minimum_rate_completes_across_windows(void **state)
{
    struct tu_conn *c = *state;
    c->a.body_min_rate = 1000; /* 100 bytes per 100 ms window */
    c->a.body_window_ms = 100;
    announce_1000_byte_body(c);
    /* 50 bytes each 20 ms: 2500 bytes/s, over 400 ms, four windows. */
    struct trickle tr = {
        .fd = c->sv[1], .bytes = 20, .chunk = 50, .every_ms = 20};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, trickler, &tr), 0);
    char buf[1000];
    assert_int_equal(proto_read_body(&c->a, buf, sizeof buf), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(c->a.body_in, 0);
}

static void recv_times_out_on_silent_peer(void **state)
{
    struct tu_conn *c = *state;
    c->a.timeout_ms = 50;
    expect_recv_error(c, -ETIMEDOUT);
}

static void recv_times_out_on_partial_frame(void **state)
{
    struct tu_conn *c = *state;
    c->a.timeout_ms = 50;
    tu_write_raw(c->sv[1], "\0\0\0\x09{\"a\"", 8);
    expect_recv_error(c, -ETIMEDOUT);
}

static void send_to_closed_peer_returns_epipe_without_signal(void **state)
{
    struct tu_conn *c = *state;
    /* With the default action SIGPIPE would kill this test process. */
    signal(SIGPIPE, SIG_DFL);
    tu_conn_close(c, 0);
    json_t *out = json_pack("{s:s}", "cmd", "pwd");
    assert_int_equal(proto_send(&c->b, out), -EPIPE);
    json_decref(out);
}

static void send_refuses_non_object_and_bad_size(void **state)
{
    struct tu_conn *c = *state;
    json_t *arr = json_array();
    json_t *neg = json_pack("{s:I}", "size", (json_int_t)-1);
    json_t *str = json_pack("{s:s}", "size", "9");
    assert_int_equal(proto_send(&c->b, arr), -EINVAL);
    assert_int_equal(proto_send(&c->b, neg), -EINVAL);
    assert_int_equal(proto_send(&c->b, str), -EINVAL);
    json_decref(arr);
    json_decref(neg);
    json_decref(str);
}

static void send_refuses_new_frame_while_body_owed(void **state)
{
    struct tu_conn *c = *state;
    json_t *h = json_pack("{s:I}", "size", (json_int_t)3);
    assert_int_equal(proto_send(&c->b, h), 0);
    assert_int_equal(c->b.body_out, 3);
    assert_int_equal(proto_send(&c->b, h), -EINVAL);
    assert_int_equal(proto_write_body(&c->b, "abcd", 4), -EINVAL);
    assert_int_equal(proto_write_body(&c->b, "abc", 3), 0);
    assert_int_equal(proto_send(&c->b, h), 0);
    json_decref(h);
}

static void body_size_reads_only_valid_counts(void **state)
{
    (void)state;
    json_t *h = json_pack("{s:I}", "size", (json_int_t)12);
    json_t *neg = json_pack("{s:I}", "size", (json_int_t)-5);
    json_t *none = json_object();
    assert_int_equal(proto_body_size(h), 12);
    assert_int_equal(proto_body_size(neg), 0);
    assert_int_equal(proto_body_size(none), 0);
    json_decref(h);
    json_decref(neg);
    json_decref(none);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_conn_setup, tu_conn_teardown)

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        T(send_then_recv_round_trips_header),
        T(send_writes_big_endian_length_then_compact_json),
        T(recv_reads_big_endian_length),
        T(recv_accepts_header_of_exactly_the_cap),
        T(recv_rejects_oversize_length_without_reading_payload),
        T(recv_rejects_zero_length),
        T(send_refuses_header_over_the_cap),
        T(recv_reports_clean_eof_as_nodata),
        T(recv_reports_eof_inside_length_as_reset),
        T(recv_reports_eof_inside_json_as_reset),
        T(recv_rejects_invalid_json),
        T(recv_rejects_non_object),
        T(recv_rejects_invalid_utf8),
        T(recv_rejects_nul_in_string),
        T(recv_rejects_duplicate_keys),
        T(recv_rejects_size_that_is_not_a_count),
        T(recv_rejects_nesting_too_deep_for_the_parser),
        T(recv_refuses_nesting_deeper_than_the_limit_before_parsing),
        T(brackets_inside_strings_do_not_count_as_nesting),
        T(deep_frame_does_not_overflow_a_worker_stack),
        T(hard_deadline_bounds_a_trickled_body),
        T(hard_deadline_bounds_a_header_wait),
        T(body_below_the_minimum_rate_is_cut_after_one_window),
        T(body_above_the_minimum_rate_completes_across_windows),
        T(recv_times_out_on_silent_peer),
        T(recv_times_out_on_partial_frame),
        T(send_to_closed_peer_returns_epipe_without_signal),
        T(send_refuses_non_object_and_bad_size),
        T(send_refuses_new_frame_while_body_owed),
        T(body_size_reads_only_valid_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
