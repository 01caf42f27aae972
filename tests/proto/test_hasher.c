/* test_hasher.c -- proto_hasher: digests in inline and threaded mode, the
 * threaded buffer ring, d == NULL, empty bodies, and a large file round trip
 * through proto_body_from_file()/proto_body_to_file(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hasher.h"
#include "proto.h"
#include "testutil.h"

#define MIB (1u << 20)

/* n random bytes (libsodium; main() has run proto_init()). */
static unsigned char *random_data(size_t n)
{
    unsigned char *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    randombytes_buf(p, n);
    return p;
}

/* The one-shot digest every hasher run is compared with. */
static void reference(const unsigned char *data, size_t n,
                      uint8_t out[PROTO_DIGEST_BYTES])
{
    proto_digest_state d;
    proto_digest_init(&d);
    proto_digest_update(&d, data, n);
    proto_digest_final(&d, out);
}

/* Piece sizes for feed(), cycled; 0 is a zero-length put, and anything
 * larger than cap or than what is left is cut down to it. */
#define CAP ((size_t)-1)
static const size_t piece_sizes[] = {
    CAP, 1, 0, 4097, CAP / 2, 65537, CAP, 0, 7, CAP, 333333, 2, 0, CAP,
};

static size_t piece_size(size_t step, size_t cap)
{
    size_t n = piece_sizes[step % (sizeof piece_sizes / sizeof *piece_sizes)];
    if (n == CAP / 2)
        return cap / 2 + 3; /* just over half: never divides cap */
    return n < cap ? n : cap;
}

/* Put data[0..n) through h the way the body helpers do -- ask for a buffer,
 * fill it, put a piece -- in the uneven pieces of piece_sizes.  The whole cap
 * of every buffer is written (with junk past the piece), so ASan catches a
 * cap larger than the buffer and a junk byte wrongly hashed changes the
 * digest.
 *
 * With ring != NULL, *ring says whether the buffers that carried data were
 * distinct across every PROTO_HASHER_NBUF consecutive proto_hasher_buf()
 * calls: a buffer put with n > 0 may still be queued for the helper, so
 * handing it out again within the ring would let the caller overwrite bytes
 * not yet hashed.  (A zero-length put hands nothing to the helper, so that
 * buffer may come straight back.)
 *
 * Nothing here asserts: a failed assert would leave the helper thread
 * running on this test's stack.  Returns the largest cap seen, or 0 if a
 * buffer was NULL or empty (the caller ends the hasher, then asserts). */
static size_t feed(proto_hasher *h, const unsigned char *data, size_t n,
                   bool *ring)
{
    /* The buffers of the last NBUF - 1 puts, NULL where the put was empty. */
    unsigned char *recent[PROTO_HASHER_NBUF - 1] = {NULL};
    size_t max_cap = 0;
    if (ring != NULL)
        *ring = true;
    for (size_t step = 0, off = 0; off < n; step++) {
        size_t cap = 0;
        unsigned char *buf = proto_hasher_buf(h, &cap);
        if (buf == NULL || cap == 0)
            return 0;
        if (cap > max_cap)
            max_cap = cap;
        for (size_t i = 0; ring != NULL && i < PROTO_HASHER_NBUF - 1; i++)
            if (buf == recent[i])
                *ring = false;
        size_t k = piece_size(step, cap);
        if (k > n - off)
            k = n - off;
        memset(buf, 0xa5, cap);
        memcpy(buf, data + off, k);
        proto_hasher_put(h, buf, k);
        off += k;
        recent[step % (PROTO_HASHER_NBUF - 1)] = k > 0 ? buf : NULL;
    }
    return max_cap;
}

/* Inline mode (total < PROTO_HASHER_THREADED): uneven pieces, including
 * zero-length puts, hash to exactly the one-shot digest; no helper thread is
 * started; and the buffer is never larger than the body, so a small file does
 * not cost a full PROTO_HASHER_BUF. */
static void inline_mode_digest_matches_and_buffer_fits_body(void **state)
{
    (void)state;
    static const size_t totals[] = {
        1, 100, 4096 + 3, MIB - 1, MIB, 3 * MIB + 17, PROTO_HASHER_THREADED - 1,
    };
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++) {
        size_t total = totals[t];
        unsigned char *data = random_data(total);
        uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
        reference(data, total, want);

        proto_digest_state d;
        proto_digest_init(&d);
        proto_hasher h;
        assert_int_equal(proto_hasher_begin(&h, &d, total), 0);
        bool threaded = h.pipe != NULL;
        size_t cap = feed(&h, data, total, NULL);
        proto_hasher_end(&h);
        proto_digest_final(&d, got);

        assert_false(threaded); /* "small files cost no thread" */
        assert_true(cap > 0);
        assert_true(cap <= total);
        assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
        free(data);
    }
}

/* proto_hasher_to_file(): in both modes every byte put lands in the file at
 * its offset (after the off given), in uneven pieces, digest unchanged; a
 * write that fails (a read-only descriptor) is reported by
 * proto_hasher_file_err() and proto_hasher_end(), and the digest still
 * covers every byte put (the caller goes on reading the body). */
static void to_file_writes_every_byte_in_order_and_reports_errors(void **state)
{
    (void)state;
    static const size_t totals[] = {3 * MIB + 17, 20 * MIB + 123};
    for (size_t t = 0; t < 2; t++) {
        size_t total = totals[t];
        unsigned char *data = random_data(total);
        uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
        reference(data, total, want);
        char path[] = "/tmp/test_hasher_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        const uint64_t at = 5;
        assert_int_equal(pwrite(fd, "HEAD!", at, 0), (ssize_t)at);

        proto_digest_state d;
        proto_digest_init(&d);
        proto_hasher h;
        assert_int_equal(proto_hasher_begin(&h, &d, total), 0);
        bool threaded = h.pipe != NULL;
        proto_hasher_to_file(&h, fd, at);
        size_t cap = feed(&h, data, total, NULL);
        int err = proto_hasher_end(&h);
        proto_digest_final(&d, got);
        assert_true(cap > 0);
        assert_int_equal(err, 0);
        assert_int_equal(threaded, total >= PROTO_HASHER_THREADED);
        assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, (off_t)(at + total));
        unsigned char *back = malloc(total);
        assert_non_null(back);
        assert_int_equal(pread(fd, back, total, at), (ssize_t)total);
        assert_memory_equal(back, data, total);
        free(back);
        close(fd);

        /* A file without early writeback (sync_file_range() refuses a
         * character device: the hint stops) is still written whole. */
        int dev = open("/dev/null", O_WRONLY);
        assert_true(dev >= 0);
        proto_digest_init(&d);
        assert_int_equal(proto_hasher_begin(&h, &d, total), 0);
        proto_hasher_to_file(&h, dev, 0);
        cap = feed(&h, data, total, NULL);
        err = proto_hasher_end(&h);
        assert_true(cap > 0);
        assert_int_equal(err, 0);
        close(dev);

        /* A descriptor that cannot be written: -EBADF, digest intact. */
        int ro = open("/dev/null", O_RDONLY);
        assert_true(ro >= 0);
        proto_digest_init(&d);
        assert_int_equal(proto_hasher_begin(&h, &d, total), 0);
        proto_hasher_to_file(&h, ro, 0);
        cap = feed(&h, data, total, NULL);
        err = proto_hasher_end(&h);
        proto_digest_final(&d, got);
        assert_true(cap > 0);
        assert_int_equal(err, -EBADF);
        assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
        close(ro);
        free(data);
    }
}

/* Threaded mode (total >= PROTO_HASHER_THREADED): the helper thread really
 * runs, buffers are PROTO_HASHER_BUF, pieces of every size (tiny, half, full,
 * zero-length) hash in order to exactly the one-shot digest, and the buffers
 * carrying data are distinct across every PROTO_HASHER_NBUF consecutive
 * calls (a ring: none is handed out again while it may still be queued). */
static void threaded_mode_digest_matches_and_buffers_rotate(void **state)
{
    (void)state;
    const size_t total = 20 * MIB + 123;
    unsigned char *data = random_data(total);
    uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
    reference(data, total, want);

    proto_digest_state d;
    proto_digest_init(&d);
    proto_hasher h;
    assert_int_equal(proto_hasher_begin(&h, &d, total), 0);
    bool threaded = h.pipe != NULL;
    bool ring;
    size_t cap = feed(&h, data, total, &ring);
    proto_hasher_end(&h);
    proto_digest_final(&d, got);

    /* Without the helper this would quietly test inline mode again. */
    assert_true(threaded);
    assert_int_equal(cap, PROTO_HASHER_BUF);
    assert_true(ring);
    assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
    free(data);
}

/* d == NULL ("move bytes, hash nothing"): begin, buf, put and end work for
 * empty, small and large bodies, every buffer is as big as its cap (ASan),
 * the cap still fits a small body, and nothing leaks (LSan). */
static void null_digest_moves_bytes_and_hashes_nothing(void **state)
{
    (void)state;
    static const size_t totals[] = {0, 1000, PROTO_HASHER_THREADED,
                                    20 * MIB + 123};
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++) {
        size_t total = totals[t];
        unsigned char *data = random_data(total);
        proto_hasher h;
        assert_int_equal(proto_hasher_begin(&h, NULL, total), 0);
        size_t cap = feed(&h, data, total, NULL);
        /* A buffer asked for but never put, as on an error path. */
        size_t spare = 0;
        unsigned char *buf = proto_hasher_buf(&h, &spare);
        if (buf != NULL)
            memset(buf, 0xa5, spare);
        proto_hasher_end(&h);

        if (total > 0) {
            assert_true(cap > 0);
            assert_true(cap <= total);
        }
        assert_non_null(buf);
        assert_true(spare > 0);
        free(data);
    }
}

/* Ending with nothing put leaves d holding the digest of empty input, in
 * both modes: straight after begin, after a buffer was taken but not put (a
 * failed read), and after only zero-length puts of a buffer full of junk. */
static void end_with_nothing_put_gives_empty_digest(void **state)
{
    (void)state;
    uint8_t empty[PROTO_DIGEST_BYTES];
    reference((const unsigned char *)"", 0, empty);
    static const uint64_t totals[] = {0, 1, 5000, PROTO_HASHER_THREADED,
                                      20 * MIB};
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++) {
        for (int how = 0; how < 3; how++) {
            proto_digest_state d;
            proto_digest_init(&d);
            proto_hasher h;
            assert_int_equal(proto_hasher_begin(&h, &d, totals[t]), 0);
            bool threaded = h.pipe != NULL;
            bool bufs_ok = true;
            for (int i = 0; i < how; i++) {
                size_t cap = 0;
                unsigned char *buf = proto_hasher_buf(&h, &cap);
                if (buf == NULL || cap == 0) {
                    bufs_ok = false;
                    break;
                }
                memset(buf, 0x5a, cap); /* junk that must not count */
                if (how == 2)
                    proto_hasher_put(&h, buf, 0);
            }
            proto_hasher_end(&h);
            uint8_t got[PROTO_DIGEST_BYTES];
            proto_digest_final(&d, got);

            assert_int_equal(threaded, totals[t] >= PROTO_HASHER_THREADED);
            assert_true(bufs_ok);
            assert_memory_equal(got, empty, PROTO_DIGEST_BYTES);
        }
    }
}

/* What a progress hook saw: the last offset, how many calls, and whether
 * every offset was above the one before (the first above the start). */
struct progress {
    uint64_t last;
    unsigned long calls;
    bool increasing;
};

/* No cmocka assert here: it also runs on the sender thread. */
/* Helpers are capped process-wide at twice the cores: past the cap a large
 * body is hashed inline -- still right -- and a slot freed is reused. */
static void helpers_are_capped_and_the_rest_hash_inline(void **state)
{
    (void)state;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(cores >= 1);
    size_t max = cores > 64 ? 128 : 2 * (size_t)cores;
    size_t n = max + 2;
    proto_hasher *h = calloc(n, sizeof *h);
    proto_digest_state *d = calloc(n, sizeof *d);
    assert_non_null(h);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        proto_digest_init(&d[i]);
        assert_int_equal(
            proto_hasher_begin(&h[i], &d[i], PROTO_HASHER_THREADED), 0);
    }
    size_t threaded = 0;
    for (size_t i = 0; i < n; i++)
        threaded += h[i].pipe != NULL;
    bool last_inline = h[n - 1].pipe == NULL;
    /* Every one hashes correctly, threaded or not. */
    unsigned char msg[] = "capped";
    for (size_t i = 0; i < n; i++) {
        size_t cap;
        unsigned char *buf = proto_hasher_buf(&h[i], &cap);
        assert_true(cap >= sizeof msg);
        memcpy(buf, msg, sizeof msg);
        proto_hasher_put(&h[i], buf, sizeof msg);
    }
    /* A freed slot is taken by the next large body. */
    proto_hasher_end(&h[0]);
    proto_hasher again;
    proto_digest_state d2;
    proto_digest_init(&d2);
    assert_int_equal(proto_hasher_begin(&again, &d2, PROTO_HASHER_THREADED), 0);
    bool reused = again.pipe != NULL;
    proto_hasher_end(&again);
    uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
    reference(msg, sizeof msg, want);
    for (size_t i = 1; i < n; i++)
        proto_hasher_end(&h[i]);
    for (size_t i = 0; i < n; i++) {
        proto_digest_final(&d[i], got);
        assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
    }
    free(h);
    free(d);
    assert_int_equal(threaded, max);
    assert_true(last_inline);
    assert_true(reused);
}

static void on_progress(void *ctx, uint64_t off)
{
    struct progress *p = ctx;
    if (off <= p->last)
        p->increasing = false;
    p->last = off;
    p->calls++;
}

/* The sending end of the round trip, on a thread because the body does not
 * fit in the socket buffer. */
struct sender {
    proto_io *io;
    int fd;
    uint64_t off, n;
    int result, file_err;
    struct progress prog;
    uint8_t digest[PROTO_DIGEST_BYTES];
};

static void *send_file(void *arg)
{
    struct sender *s = arg;
    json_t *hdr =
        json_pack("{s:s, s:I}", "cmd", "put_data", "size", (json_int_t)s->n);
    s->result = proto_send(s->io, hdr); /* NULL hdr: fails, test sees it */
    json_decref(hdr);
    proto_digest_state d;
    proto_digest_init(&d);
    proto_body_hooks hooks = {.progress = on_progress, .ctx = &s->prog};
    if (s->result == 0)
        s->result = proto_body_from_file(s->io, s->fd, s->off, &d, &hooks,
                                         &s->file_err);
    proto_digest_final(&d, s->digest);
    return NULL;
}

static size_t first_difference(const unsigned char *a, const unsigned char *b,
                               size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* A large (threaded-mode) body read from a file at an offset, sent over a
 * socket and written to another file at another offset arrives byte for
 * byte; both ends' digests equal the one-shot digest; and each end's progress
 * hook saw increasing offsets, at least one per buffer, ending exactly at the
 * body's end in its own file. */
static void large_body_round_trips_through_files(void **state)
{
    struct tu_conn *c = *state;
    const size_t n = 12 * MIB + 7;
    const uint64_t src_off = 11, dst_off = 5;
    unsigned char *data = random_data(n);
    uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
    reference(data, n, want);

    int src = memfd_create("hasher-src", MFD_CLOEXEC);
    assert_true(src >= 0);
    tu_write_raw(src, "junk before", src_off);
    tu_write_raw(src, data, n);
    int dst = memfd_create("hasher-dst", MFD_CLOEXEC);
    assert_true(dst >= 0);

    struct sender s = {
        .io = &c->b,
        .fd = src,
        .off = src_off,
        .n = n,
        .prog = {.last = src_off, .increasing = true},
    };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_file, &s), 0);

    /* No assert until the sender is joined: it works on this stack.  Should
     * the receiving side fail, the sender gives up within its timeout. */
    json_t *hdr = NULL;
    int rr = proto_recv(&c->a, &hdr);
    uint64_t announced = c->a.body_in;
    proto_digest_state d;
    proto_digest_init(&d);
    struct progress prog = {.last = dst_off, .increasing = true};
    proto_body_hooks hooks = {.progress = on_progress, .ctx = &prog};
    int file_err = 1;
    int r = rr != 0 ? rr
                    : proto_body_to_file(&c->a, dst, dst_off, &d, &hooks,
                                         &file_err);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rr, 0);
    assert_int_equal(announced, n);
    assert_int_equal(r, 0);
    assert_int_equal(file_err, 0);
    assert_int_equal(s.result, 0);
    assert_int_equal(s.file_err, 0);
    assert_int_equal(c->a.body_in, 0);
    assert_int_equal(c->b.body_out, 0);

    proto_digest_final(&d, got);
    assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
    assert_memory_equal(s.digest, want, PROTO_DIGEST_BYTES);

    struct stat st;
    assert_int_equal(fstat(dst, &st), 0);
    assert_int_equal(st.st_size, dst_off + n);
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    assert_int_equal(pread(dst, copy, n, (off_t)dst_off), (ssize_t)n);
    assert_int_equal(first_difference(copy, data, n), n);

    /* "After each buffer", and no buffer holds more than PROTO_HASHER_BUF. */
    const unsigned long min_calls =
        (n + PROTO_HASHER_BUF - 1) / PROTO_HASHER_BUF;
    assert_true(prog.increasing);
    assert_int_equal(prog.last, dst_off + n);
    assert_true(prog.calls >= min_calls);
    assert_true(s.prog.increasing);
    assert_int_equal(s.prog.last, src_off + n);
    assert_true(s.prog.calls >= min_calls);

    free(copy);
    json_decref(hdr);
    assert_int_equal(close(dst), 0);
    assert_int_equal(close(src), 0);
    free(data);
}

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inline_mode_digest_matches_and_buffer_fits_body),
        cmocka_unit_test(threaded_mode_digest_matches_and_buffers_rotate),
        cmocka_unit_test(to_file_writes_every_byte_in_order_and_reports_errors),
        cmocka_unit_test(null_digest_moves_bytes_and_hashes_nothing),
        cmocka_unit_test(end_with_nothing_put_gives_empty_digest),
        cmocka_unit_test(helpers_are_capped_and_the_rest_hash_inline),
        cmocka_unit_test_setup_teardown(large_body_round_trips_through_files,
                                        tu_conn_setup, tu_conn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
