/* test_partname.c -- names of upload partials, and which names are reserved. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void part_name_hides_name_behind_dot_and_suffix(void **state)
{
    (void)state;
    char out[PROTO_NAME_MAX + 1];
    assert_int_equal(proto_part_name("report.pdf", out, sizeof out), 0);
    assert_string_equal(out, ".report.pdf.ssftp-part");
    assert_true(proto_is_part_name(out));
}

static void part_name_fits_the_longest_uploadable_name(void **state)
{
    (void)state;
    char name[PROTO_NAME_MAX + 2], out[PROTO_NAME_MAX + 1];
    size_t longest = PROTO_NAME_MAX - PROTO_PART_EXTRA;
    assert_int_equal(longest, 243);
    memset(name, 'n', longest);
    name[longest] = '\0';
    assert_int_equal(proto_part_name(name, out, sizeof out), 0);
    assert_int_equal(strlen(out), PROTO_NAME_MAX);
    name[longest] = 'n';
    name[longest + 1] = '\0';
    assert_int_equal(proto_part_name(name, out, sizeof out), -ENAMETOOLONG);
    assert_int_equal(proto_part_name("abc", out, 15), -ENOBUFS);
}

static void part_name_refuses_names_that_cannot_be_uploaded(void **state)
{
    (void)state;
    const char *bad[] = {"", ".", "..", "a/b", "x.ssftp-part"};
    char out[PROTO_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_part_name(bad[i], out, sizeof out), -EINVAL);
}

static void reserved_names_are_exactly_those_ending_in_the_suffix(void **state)
{
    (void)state;
    assert_true(proto_is_part_name(".ssftp-part"));
    assert_true(proto_is_part_name("anything.ssftp-part"));
    assert_false(proto_is_part_name("x.ssftp-part.txt"));
    assert_false(proto_is_part_name("ssftp-part"));
    assert_false(proto_is_part_name(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(part_name_hides_name_behind_dot_and_suffix),
        cmocka_unit_test(part_name_fits_the_longest_uploadable_name),
        cmocka_unit_test(part_name_refuses_names_that_cannot_be_uploaded),
        cmocka_unit_test(reserved_names_are_exactly_those_ending_in_the_suffix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
