/* test_digest.c -- BLAKE2b-256 of buffers, running hashes and file prefixes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"

/* From Python's hashlib.blake2b(data, digest_size=32). */
#define ABC_HEX                                                                \
    "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
#define EMPTY_HEX                                                              \
    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"

static void hex_of(proto_digest_state *d, char hex[PROTO_DIGEST_HEX_SIZE])
{
    uint8_t out[PROTO_DIGEST_BYTES];
    proto_digest_final(d, out);
    proto_digest_to_hex(out, hex);
}

static void digest_matches_blake2b_256_vectors(void **state)
{
    (void)state;
    proto_digest_state d;
    char hex[PROTO_DIGEST_HEX_SIZE];
    proto_digest_init(&d);
    hex_of(&d, hex);
    assert_string_equal(hex, EMPTY_HEX);
    proto_digest_init(&d);
    proto_digest_update(&d, "abc", 3);
    hex_of(&d, hex);
    assert_string_equal(hex, ABC_HEX);
}

static void digest_in_pieces_equals_digest_at_once(void **state)
{
    (void)state;
    proto_digest_state d;
    char hex[PROTO_DIGEST_HEX_SIZE];
    proto_digest_init(&d);
    proto_digest_update(&d, "a", 1);
    proto_digest_update(&d, "", 0);
    proto_digest_update(&d, "bc", 2);
    hex_of(&d, hex);
    assert_string_equal(hex, ABC_HEX);
}

static void peek_leaves_running_hash_undisturbed(void **state)
{
    (void)state;
    proto_digest_state d;
    uint8_t mid[PROTO_DIGEST_BYTES], want[PROTO_DIGEST_BYTES];
    char hex[PROTO_DIGEST_HEX_SIZE];
    proto_digest_init(&d);
    proto_digest_update(&d, "ab", 2);
    proto_digest_peek(&d, mid);
    proto_digest_update(&d, "c", 1);
    hex_of(&d, hex);
    assert_string_equal(hex, ABC_HEX);
    proto_digest_init(&d);
    proto_digest_update(&d, "ab", 2);
    proto_digest_final(&d, want);
    assert_memory_equal(mid, want, PROTO_DIGEST_BYTES);
}

static void state_works_at_any_address(void **state)
{
    (void)state;
    /* A proto_digest_state embedded in a caller's struct need not be aligned. */
    unsigned char *raw = malloc(sizeof(proto_digest_state) + 64);
    assert_non_null(raw);
    for (size_t shift = 0; shift < 64; shift += 8) {
        proto_digest_state *d = (proto_digest_state *)(raw + shift);
        char hex[PROTO_DIGEST_HEX_SIZE];
        proto_digest_init(d);
        proto_digest_update(d, "abc", 3);
        hex_of(d, hex);
        assert_string_equal(hex, ABC_HEX);
    }
    free(raw);
}

static void file_prefix_hashes_exactly_the_first_len_bytes(void **state)
{
    (void)state;
    /* Longer than one 256 KiB read, so the prefix spans chunks. */
    const size_t n = 600 * 1024, len = 300001;
    int fd = tu_file_with_pattern(n);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = tu_pattern(i);
    proto_digest_state d;
    uint8_t want[PROTO_DIGEST_BYTES], got[PROTO_DIGEST_BYTES];
    proto_digest_init(&d);
    proto_digest_update(&d, buf, len);
    proto_digest_final(&d, want);
    assert_int_equal(tu_file_digest(fd, len, got), 0);
    assert_memory_equal(got, want, PROTO_DIGEST_BYTES);
    /* pread leaves the file offset alone. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)n);
    free(buf);
    close(fd);
}

static void file_prefix_of_zero_bytes_is_the_empty_digest(void **state)
{
    (void)state;
    int fd = tu_file_with_pattern(10);
    uint8_t got[PROTO_DIGEST_BYTES];
    char hex[PROTO_DIGEST_HEX_SIZE];
    assert_int_equal(tu_file_digest(fd, 0, got), 0);
    proto_digest_to_hex(got, hex);
    assert_string_equal(hex, EMPTY_HEX);
    close(fd);
}

static void file_prefix_reports_file_shorter_than_len(void **state)
{
    (void)state;
    int fd = tu_file_with_pattern(10);
    uint8_t got[PROTO_DIGEST_BYTES];
    assert_int_equal(tu_file_digest(fd, 11, got), -ENODATA);
    close(fd);
}

static void file_prefix_reports_read_errors(void **state)
{
    (void)state;
    uint8_t got[PROTO_DIGEST_BYTES];
    assert_int_equal(tu_file_digest(-1, 1, got), -EBADF);
}

static void digest_hex_round_trips_and_is_strict(void **state)
{
    (void)state;
    uint8_t d[PROTO_DIGEST_BYTES], back[PROTO_DIGEST_BYTES];
    char hex[PROTO_DIGEST_HEX_SIZE];
    assert_int_equal(proto_hex_decode(ABC_HEX, d, PROTO_DIGEST_BYTES), 0);
    proto_digest_to_hex(d, hex);
    assert_string_equal(hex, ABC_HEX);
    assert_int_equal(proto_hex_decode(hex, back, PROTO_DIGEST_BYTES), 0);
    assert_memory_equal(back, d, PROTO_DIGEST_BYTES);
    hex[0] = 'B';
    assert_int_equal(proto_hex_decode(hex, back, PROTO_DIGEST_BYTES), -EINVAL);
    hex[0] = 'b';
    hex[63] = '\0';
    assert_int_equal(proto_hex_decode(hex, back, PROTO_DIGEST_BYTES), -EINVAL);
}

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_matches_blake2b_256_vectors),
        cmocka_unit_test(digest_in_pieces_equals_digest_at_once),
        cmocka_unit_test(peek_leaves_running_hash_undisturbed),
        cmocka_unit_test(state_works_at_any_address),
        cmocka_unit_test(file_prefix_hashes_exactly_the_first_len_bytes),
        cmocka_unit_test(file_prefix_of_zero_bytes_is_the_empty_digest),
        cmocka_unit_test(file_prefix_reports_file_shorter_than_len),
        cmocka_unit_test(file_prefix_reports_read_errors),
        cmocka_unit_test(digest_hex_round_trips_and_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
