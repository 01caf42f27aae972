/* test_blake2b.c -- blake2b.c against RFC 7693's vector and libsodium. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto.h"
#include "testutil.h"

/* RFC 7693, Appendix A: BLAKE2b-512("abc"). */
static void matches_the_rfc_7693_vector(void **state)
{
    (void)state;
    static const unsigned char want[64] = {
        0xBA, 0x80, 0xA5, 0x3F, 0x98, 0x1C, 0x4D, 0x0D, 0x6A, 0x27, 0x97,
        0xB6, 0x9F, 0x12, 0xF6, 0xE9, 0x4C, 0x21, 0x2F, 0x14, 0x68, 0x5A,
        0xC4, 0xB7, 0x4B, 0x12, 0xBB, 0x6F, 0xDB, 0xFF, 0xA2, 0xD1, 0x7D,
        0x87, 0xC5, 0x39, 0x2A, 0xAB, 0x79, 0x2D, 0xC2, 0x52, 0xD5, 0xDE,
        0x45, 0x33, 0xCC, 0x95, 0x18, 0xD3, 0x8A, 0xA8, 0xDB, 0xF1, 0x92,
        0x5A, 0xB9, 0x23, 0x86, 0xED, 0xD4, 0x00, 0x99, 0x23};
    proto_b2_state s;
    proto_b2_init(&s, 64);
    proto_b2_update(&s, "abc", 3);
    unsigned char out[64];
    proto_b2_final(&s, out);
    assert_memory_equal(out, want, 64);
}

/* Every length from 0 to 1 100 bytes (empty, partial, exact and
 * multiple blocks), at every output length we could ask for, fed in one
 * piece and in uneven pieces: the same digest as libsodium's. */
static void equals_libsodium_at_every_length_and_split(void **state)
{
    (void)state;
    enum { N = 1100 };
    unsigned char *in = malloc(N);
    assert_non_null(in);
    for (size_t i = 0; i < N; i++)
        in[i] = tu_pattern(i);
    static const size_t outs[] = {1, 16, 20, 32, 48, 64};
    for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        size_t outlen = outs[o];
        for (size_t n = 0; n <= N; n++) {
            unsigned char want[64], whole[64], pieces[64];
            assert_int_equal(crypto_generichash(want, outlen, in, n, NULL, 0),
                             0);
            proto_b2_state s;
            proto_b2_init(&s, outlen);
            proto_b2_update(&s, in, n);
            proto_b2_final(&s, whole);
            assert_memory_equal(whole, want, outlen);
            /* Pieces of 1, 127, 128, 129, 0, 255, ... bytes in turn. */
            static const size_t step[] = {1, 127, 128, 129, 0, 255, 3, 256};
            proto_b2_init(&s, outlen);
            for (size_t off = 0, k = 0; off < n; k++) {
                size_t m = step[k % 8] < n - off ? step[k % 8] : n - off;
                proto_b2_update(&s, in + off, m);
                off += m;
            }
            proto_b2_final(&s, pieces);
            assert_memory_equal(pieces, want, outlen);
        }
    }
    free(in);
}

/* out is libsodium's BLAKE2b-256 of the string text. */
static void assert_is_digest_of(const unsigned char out[32], const char *text)
{
    unsigned char want[32];
    assert_int_equal(crypto_generichash(want, 32, (const unsigned char *)text,
                                        strlen(text), NULL, 0),
                     0);
    assert_memory_equal(out, want, 32);
}

/* A copy of a running state gives the digest so far, and the original
 * goes on (proto_digest_peek() relies on it). */
static void a_copied_state_finalises_on_its_own(void **state)
{
    (void)state;
    proto_b2_state s;
    proto_b2_init(&s, 32);
    proto_b2_update(&s, "running", 7);
    proto_b2_state copy = s;
    unsigned char out[32];
    proto_b2_final(&copy, out);
    assert_is_digest_of(out, "running");
    proto_b2_update(&s, " on", 3);
    proto_b2_final(&s, out);
    assert_is_digest_of(out, "running on");
}

/* The process hashes with one of the two, whichever was faster here. */
static void the_digest_names_its_implementation(void **state)
{
    (void)state;
    const char *impl = proto_digest_impl();
    assert_true(strcmp(impl, "portable") == 0 ||
                strcmp(impl, "libsodium") == 0);
    assert_string_equal(proto_digest_impl(), impl);
}

int main(void)
{
    if (proto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_the_rfc_7693_vector),
        cmocka_unit_test(equals_libsodium_at_every_length_and_split),
        cmocka_unit_test(a_copied_state_finalises_on_its_own),
        cmocka_unit_test(the_digest_names_its_implementation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
