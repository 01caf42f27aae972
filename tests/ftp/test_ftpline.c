/* test_ftpline.c -- the FTP control-line parser: lines in pieces, CRLF and
 * LF, Telnet sequences, overlong lines dropped and reported once, several
 * lines in one read, and verb/argument splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ftpline.h"

/* Feeds all of in, one byte at a time when bytewise; collects the lines
 * (LONG ones as "<LONG>") joined by '|'. */
static void lines(const char *in, size_t n, bool bytewise, char *out,
                  size_t cap)
{
    ftpline *lp = malloc(sizeof *lp);
    assert_non_null(lp);
    ftpline_init(lp);
    out[0] = '\0';
    size_t off = 0;
    while (off < n) {
        size_t len = bytewise ? 1 : n - off, used;
        int r = ftpline_feed(lp, (const unsigned char *)in + off, len, &used);
        assert_true(used <= len);
        off += used;
        if (r == FTPLINE_READY) {
            assert_int_equal(strlen(lp->line), lp->len);
            strncat(out, lp->line, cap - strlen(out) - 1);
            strncat(out, "|", cap - strlen(out) - 1);
        } else if (r == FTPLINE_LONG) {
            strncat(out, "<LONG>|", cap - strlen(out) - 1);
        } else {
            assert_int_equal(used, len);
        }
    }
    free(lp);
}

static void lines_telnet_and_pieces(void **state)
{
    (void)state;
    static const char in[] = "USER a\r\nNOOP\n\xff\xf4\xff\xf2"
                             "ABOR\r\n"
                             "PASS x\xff\xffy\r\n"
                             "\xff\xfb\x01SYST\r\n"
                             "\r\n";
    char out[256];
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        lines(in, sizeof in - 1, bytewise, out, sizeof out);
        assert_string_equal(out, "USER a|NOOP|ABOR|PASS x\xffy|SYST||");
    }
}

static void an_overlong_line_is_dropped_and_reported_once(void **state)
{
    (void)state;
    size_t n = 3 * FTPLINE_MAX;
    char *in = malloc(n + 16);
    assert_non_null(in);
    memset(in, 'a', n);
    memcpy(in + n, "\r\nNOOP\r\n", 8);
    char out[256];
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        lines(in, n + 8, bytewise, out, sizeof out);
        assert_string_equal(out, "<LONG>|NOOP|");
    }
    /* Exactly FTPLINE_MAX bytes still fit. */
    memset(in, 'b', FTPLINE_MAX);
    memcpy(in + FTPLINE_MAX, "\n", 1);
    ftpline lp;
    ftpline_init(&lp);
    size_t used;
    assert_int_equal(
        ftpline_feed(&lp, (unsigned char *)in, FTPLINE_MAX + 1, &used),
        FTPLINE_READY);
    assert_int_equal(lp.len, FTPLINE_MAX);
    free(in);
}

static void split_verbs_and_arguments(void **state)
{
    (void)state;
    char verb[FTPLINE_VERB_MAX + 1];
    const char *arg;
    size_t n;
    const char *l = "retr  two  spaces";
    assert_int_equal(ftpline_split(l, strlen(l), verb, &arg, &n), 0);
    assert_string_equal(verb, "RETR");
    assert_int_equal(n, strlen(" two  spaces"));
    assert_memory_equal(arg, " two  spaces", n);
    assert_int_equal(ftpline_split("PWD", 3, verb, &arg, &n), 0);
    assert_string_equal(verb, "PWD");
    assert_int_equal(n, 0);
    assert_int_equal(ftpline_split("", 0, verb, &arg, &n), -1);
    assert_int_equal(ftpline_split(" NOOP", 5, verb, &arg, &n), -1);
    assert_int_equal(ftpline_split("NO0P", 4, verb, &arg, &n), -1);
    assert_int_equal(ftpline_split("ABCDEFGHI", 9, verb, &arg, &n), -1);
    assert_int_equal(ftpline_split("ABCDEFGH x", 10, verb, &arg, &n), 0);
    assert_int_equal(ftpline_split("RETR a\0b", 8, verb, &arg, &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_telnet_and_pieces),
        cmocka_unit_test(an_overlong_line_is_dropped_and_reported_once),
        cmocka_unit_test(split_verbs_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
