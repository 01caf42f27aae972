/* test_codec.c -- strict hex and base64: round trips and refused spellings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto.h"

static const uint8_t BYTES[5] = {0x00, 0x9f, 0xa0, 0xff, 0x10};

static void hex_round_trips_in_lowercase(void **state)
{
    (void)state;
    char hex[PROTO_HEX_SIZE(5)];
    uint8_t back[5];
    assert_int_equal(proto_hex_encode(BYTES, 5, hex, sizeof hex), 0);
    assert_string_equal(hex, "009fa0ff10");
    assert_int_equal(proto_hex_decode(hex, back, 5), 0);
    assert_memory_equal(back, BYTES, 5);
}

static void hex_encode_refuses_small_buffer(void **state)
{
    (void)state;
    char hex[PROTO_HEX_SIZE(5) - 1];
    assert_int_equal(proto_hex_encode(BYTES, 5, hex, sizeof hex), -ENOBUFS);
}

static void hex_decode_refuses_every_other_spelling(void **state)
{
    (void)state;
    const char *bad[] = {
        "009FA0FF10",   /* uppercase */
        "009fa0ff1",    /* odd length */
        "009fa0ff",     /* too short */
        "009fa0ff1000", /* too long */
        "009fa0ff1g",   /* not hex */
        " 09fa0ff10",   /* space */
        "009fa0:f10",   /* separator */
        "",
    };
    uint8_t out[5];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_hex_decode(bad[i], out, 5), -EINVAL);
}

static void b64_round_trips_with_padding(void **state)
{
    (void)state;
    char b64[PROTO_B64_SIZE(5)];
    uint8_t back[5];
    assert_int_equal(proto_b64_encode(BYTES, 5, b64, sizeof b64), 0);
    assert_string_equal(b64, "AJ+g/xA=");
    assert_int_equal(proto_b64_decode(b64, back, 5), 0);
    assert_memory_equal(back, BYTES, 5);
}

static void b64_encode_refuses_small_buffer(void **state)
{
    (void)state;
    char b64[PROTO_B64_SIZE(5) - 1];
    assert_int_equal(proto_b64_encode(BYTES, 5, b64, sizeof b64), -ENOBUFS);
}

static void b64_decode_refuses_every_other_spelling(void **state)
{
    (void)state;
    const char *bad[] = {
        "AJ+g/xA",    /* padding missing */
        "AJ+g/xB=",   /* unused bits set: same bytes, second spelling */
        "AJ-g_xA=",   /* URL-safe alphabet */
        "AJ+g /xA=",  /* whitespace */
        "AJ+g/xA=\n", /* trailing newline */
        "AJ+g/w==",   /* 4 bytes, not 5 */
        "AJ+g/xAA",   /* 6 bytes, not 5 */
        "",
    };
    uint8_t out[5];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_b64_decode(bad[i], out, 5), -EINVAL);
}

static void b64_decode_refuses_bytes_outside_the_alphabet(void **state)
{
    (void)state;
    /* libsodium 1.0.18 alone decodes the first two as if they held '/'. */
    const char *bad[] = {
        "AJ+g\x80xA=", "AJ+\xc3\xa9xA=", "AJ+g.xA=", "AJ+g=xA=", "AJ+g/x==",
    };
    uint8_t out[5];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_b64_decode(bad[i], out, 5), -EINVAL);
}

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_round_trips_in_lowercase),
        cmocka_unit_test(hex_encode_refuses_small_buffer),
        cmocka_unit_test(hex_decode_refuses_every_other_spelling),
        cmocka_unit_test(b64_round_trips_with_padding),
        cmocka_unit_test(b64_encode_refuses_small_buffer),
        cmocka_unit_test(b64_decode_refuses_every_other_spelling),
        cmocka_unit_test(b64_decode_refuses_bytes_outside_the_alphabet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
