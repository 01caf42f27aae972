/* test_kvfile.c -- settings lines split by one rule for ssftpd and ssftp. */
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kvfile.h"

/* Splits text (copied) with sep; the key and value, joined by '|', into
 * out, or "" when there is no pair.  Returns the result. */
static enum proto_kv split(const char *text, char sep, char out[128])
{
    char line[128], *k = NULL, *v = NULL;
    strcpy(line, text);
    enum proto_kv r = proto_kv_split(line, sep, &k, &v);
    out[0] = '\0';
    if (r == PROTO_KV_PAIR)
        snprintf(out, 128, "%s|%s", k, v);
    return r;
}

static void test_equals_lines_split_at_the_first_equals(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(split("listen = 0.0.0.0:2121\n", '=', out), PROTO_KV_PAIR);
    assert_string_equal(out, "listen|0.0.0.0:2121");
    assert_int_equal(split("\t a=b=c \r\n", '=', out), PROTO_KV_PAIR);
    assert_string_equal(out, "a|b=c");
    assert_int_equal(split("key =", '=', out), PROTO_KV_PAIR);
    assert_string_equal(out, "key|");
    assert_int_equal(split("just words", '=', out), PROTO_KV_NO_SEP);
    assert_int_equal(split("  = value", '=', out), PROTO_KV_NO_KEY);
    assert_int_equal(split("", '=', out), PROTO_KV_SKIP);
    assert_int_equal(split(" \t\r\n", '=', out), PROTO_KV_SKIP);
    assert_int_equal(split("  # a = comment", '=', out), PROTO_KV_SKIP);
}

static void test_blank_lines_split_at_the_first_blank(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(split("bookmark w  host:22 bob\n", ' ', out),
                     PROTO_KV_PAIR);
    assert_string_equal(out, "bookmark|w  host:22 bob");
    assert_int_equal(split("\tuser\talice\r\n", ' ', out), PROTO_KV_PAIR);
    assert_string_equal(out, "user|alice");
    assert_int_equal(split("user\n", ' ', out), PROTO_KV_PAIR);
    assert_string_equal(out, "user|");
    assert_int_equal(split("#user alice", ' ', out), PROTO_KV_SKIP);
    assert_int_equal(split("   ", ' ', out), PROTO_KV_SKIP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_lines_split_at_the_first_equals),
        cmocka_unit_test(test_blank_lines_split_at_the_first_blank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
