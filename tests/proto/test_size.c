/* test_sizes.c -- size strings parse strictly and format for people. */
#include <errno.h>
#include <stdint.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "size.h"

static uint64_t parsed(const char *s)
{
    uint64_t v = 12345;
    assert_int_equal(proto_size_parse(s, &v), 0);
    return v;
}

static void test_parse_accepts_bytes_and_binary_suffixes(void **state)
{
    (void)state;
    assert_int_equal(parsed("0"), 0);
    assert_int_equal(parsed("123"), 123);
    assert_int_equal(parsed("1K"), 1024);
    assert_int_equal(parsed("1k"), 1024);
    assert_int_equal(parsed("10M"), 10ull << 20);
    assert_int_equal(parsed("3G"), 3ull << 30);
    assert_int_equal(parsed("2t"), 2ull << 40);
    assert_int_equal(parsed("007"), 7);
}

static void test_parse_refuses_everything_else_and_keeps_out(void **state)
{
    (void)state;
    const char *bad[] = {"",    "K",    "-1", "+1", " 1",   "1 ",  "1.5G",
                         "1KB", "1KiB", "1B", "1P", "0x10", "1GG", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 99;
        assert_int_equal(proto_size_parse(bad[i], &v), -EINVAL);
        assert_int_equal(v, 99);
    }
}

static void test_parse_detects_overflow(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parsed("18446744073709551615"), UINT64_MAX);
    assert_int_equal(proto_size_parse("18446744073709551616", &v), -ERANGE);
    assert_int_equal(proto_size_parse("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(parsed("16777215T"), 16777215ull << 40);
    assert_int_equal(proto_size_parse("16777216T", &v), -ERANGE);
    assert_int_equal(proto_size_parse("17179869184G", &v), -ERANGE);
}

/* One rule for the server's admin commands and the client (they used to
 * disagree: "1.0 GiB" against "1 GiB"). */
static void test_format_is_whole_when_exact_else_one_decimal(void **state)
{
    (void)state;
    assert_string_equal(proto_size_format(0).s, "0 B");
    assert_string_equal(proto_size_format(1023).s, "1023 B");
    assert_string_equal(proto_size_format(1024).s, "1 KiB");
    assert_string_equal(proto_size_format(1536).s, "1.5 KiB");
    assert_string_equal(proto_size_format(95ull << 20).s, "95 MiB");
    assert_string_equal(proto_size_format((95ull << 20) | 1).s, "95.0 MiB");
    assert_string_equal(proto_size_format((10ull << 30) + (1ull << 29)).s,
                        "10.5 GiB");
    /* Rounding up to 1024 moves to the next unit. */
    assert_string_equal(proto_size_format((1ull << 20) - 1).s, "1.0 MiB");
    assert_string_equal(proto_size_format(UINT64_MAX).s, "16.0 EiB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_bytes_and_binary_suffixes),
        cmocka_unit_test(test_parse_refuses_everything_else_and_keeps_out),
        cmocka_unit_test(test_parse_detects_overflow),
        cmocka_unit_test(test_format_is_whole_when_exact_else_one_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
