/* test_logesc.c -- peer text in the log: controls, C1, bidi, bad UTF-8. */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "logesc.h"

static void expect(const char *in, const char *want)
{
    char out[256];
    log_escape(in, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_printable_text_and_utf8_pass_through(void **state)
{
    (void)state;
    expect("alice", "alice");
    expect("caf\xc3\xa9 \xe6\x96\x87\xe4\xbb\xb6 \xf0\x9f\x93\x81",
           "caf\xc3\xa9 \xe6\x96\x87\xe4\xbb\xb6 \xf0\x9f\x93\x81");
}

static void test_c0_controls_and_del_are_escaped(void **state)
{
    (void)state;
    expect("a\nforged line\r\x1b[2J\x7f",
           "a\\x0aforged line\\x0d\\x1b[2J\\x7f");
}

static void test_c1_controls_are_escaped(void **state)
{
    (void)state;
    /* U+009B is CSI: some terminals act on it like ESC [. */
    expect("x\xc2\x9b"
           "2Jy\xc2\x85",
           "x\\u{009b}2Jy\\u{0085}");
}

static void test_bidi_overrides_are_escaped(void **state)
{
    (void)state;
    expect("report\xe2\x80\xaetxt.exe", "report\\u{202e}txt.exe");
    expect("\xe2\x81\xa6\xe2\x80\x8f\xd8\x9c\xe2\x80\xa8",
           "\\u{2066}\\u{200f}\\u{061c}\\u{2028}");
}

static void test_invalid_utf8_is_escaped_byte_by_byte(void **state)
{
    (void)state;
    /* A lone continuation, an overlong '/', a surrogate, a cut sequence. */
    expect("\x80|\xc0\xaf|\xed\xa0\x80|\xe6\x96",
           "\\x80|\\xc0\\xaf|\\xed\\xa0\\x80|\\xe6\\x96");
}

static void test_backslash_is_doubled_so_escapes_cannot_be_forged(void **state)
{
    (void)state;
    expect("a\\x0ab", "a\\\\x0ab");
}

static void test_a_small_buffer_cuts_between_characters(void **state)
{
    (void)state;
    char out[8];
    log_escape("ab\ncd", out, sizeof out); /* "ab\x0a" is 6, "c" fits */
    assert_string_equal(out, "ab\\x0ac");
    log_escape("\xe6\x96\x87\xe6\x96\x87\xe6\x96\x87", out, sizeof out);
    assert_string_equal(out, "\xe6\x96\x87\xe6\x96\x87");
    char one[1];
    log_escape("abc", one, sizeof one);
    assert_string_equal(one, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_text_and_utf8_pass_through),
        cmocka_unit_test(test_c0_controls_and_del_are_escaped),
        cmocka_unit_test(test_c1_controls_are_escaped),
        cmocka_unit_test(test_bidi_overrides_are_escaped),
        cmocka_unit_test(test_invalid_utf8_is_escaped_byte_by_byte),
        cmocka_unit_test(test_backslash_is_doubled_so_escapes_cannot_be_forged),
        cmocka_unit_test(test_a_small_buffer_cuts_between_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
