/* test_path.c -- the protocol's one rule for user paths (src/proto/path.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "proto.h"

static void norm_is(const char *cwd, const char *path, const char *want)
{
    char out[PROTO_PATH_BUF];
    assert_int_equal(proto_path_normalize(cwd, path, strlen(path), out), 0);
    assert_string_equal(out, want);
}

static int norm_err(const char *cwd, const char *path, size_t len)
{
    char out[PROTO_PATH_BUF];
    return proto_path_normalize(cwd, path, len, out);
}

/* Each of the NULL-terminated paths fails to normalize against cwd with err. */
static void refused(int err, const char *cwd, const char *const *paths)
{
    for (; *paths != NULL; paths++)
        assert_int_equal(norm_err(cwd, *paths, strlen(*paths)), err);
}
#define REFUSED(err, cwd, ...)                                                 \
    refused(err, cwd, (const char *const[]){__VA_ARGS__, NULL})

static void test_normalize_joins_relative_paths_to_cwd(void **state)
{
    (void)state;
    norm_is("/a", "b", "/a/b");
    norm_is("/a", "", "/a");
    norm_is("/a", "./b//c/", "/a/b/c");
    norm_is("/a", "b/../c", "/a/c");
    norm_is("/a", "..", "/");
    norm_is("/", ".", "/");
    norm_is("/a/b", "/x/./y", "/x/y");
}

/* docs/protocol.md: ".." removes the previous component and, at "/",
 * stays at "/".  (The jail once refused it instead, a rule the wire, which
 * the session normalized first, could never reach.) */
static void test_dotdot_at_root_stays_at_root(void **state)
{
    (void)state;
    norm_is("/", "..", "/");
    norm_is("/", "/../etc/passwd", "/etc/passwd");
    norm_is("/", "a/../../x", "/x");
    norm_is("/a", "../../etc", "/etc");
    norm_is("/a", "../b/../..", "/");
    norm_is("/..", "x", "/x"); /* a cwd goes through the same rule */
    assert_int_equal(norm_err("relative", "x", 1), -EINVAL);
}

static void test_nul_inside_a_path_is_refused(void **state)
{
    (void)state;
    assert_int_equal(norm_err("/", "a\0b", 3), -EINVAL);
    assert_int_equal(norm_err("/", "\0", 1), -EINVAL);
}

static void test_overlong_names_and_paths_are_refused(void **state)
{
    (void)state;
    char name[PROTO_NAME_MAX + 1]; /* lengths are passed, no NUL needed */
    memset(name, 'n', sizeof name);
    assert_int_equal(norm_err("/", name, PROTO_NAME_MAX), 0);
    assert_int_equal(norm_err("/", name, PROTO_NAME_MAX + 1), -ENAMETOOLONG);

    static char path[2 * PROTO_PATH_BUF];
    size_t n = 0;
    while (n + 200 < sizeof path - 1) { /* 40 components of 199 bytes */
        memset(path + n, 'p', 199);
        path[n + 199] = '/';
        n += 200;
    }
    assert_int_equal(norm_err("/", path, n), -ENAMETOOLONG);

    n = 0;
    for (int i = 0; i <= PROTO_PATH_DEPTH_MAX; i++)
        n += (size_t)sprintf(path + n, "d/");
    assert_int_equal(norm_err("/", path, n), -ENAMETOOLONG);
    assert_int_equal(norm_err("/", path, n - 2), 0);
}

static void test_invalid_utf8_and_control_characters_are_refused(void **state)
{
    (void)state;
    REFUSED(-EXDEV, "/", "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
            "\xf4\x90\x80\x80", "caf\xc3", "a\x01", "\x7f", "\xc2\x9b",
            "tab\there", "new\nline");
    norm_is("/", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac",
            "/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac");
    norm_is("/", "\xf0\x9f\x98\x80", "/\xf0\x9f\x98\x80");
}

static void test_hidden_partial_names_are_refused(void **state)
{
    (void)state;
    REFUSED(-EXDEV, "/", ".f.ssftp-part", "d/.x.ssftp-part/y", ".ssftp-part",
            "f.ssftp-part");
    norm_is("/", "f.ssftp-partial", "/f.ssftp-partial");
    norm_is("/", ".profile", "/.profile");
}

static void test_utf8_decoder_takes_valid_sequences_only(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(proto_utf8_next((const unsigned char *)"a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(proto_utf8_next((const unsigned char *)"\xc3\xa9", 2, &cp),
                     2);
    assert_int_equal(cp, 0xe9);
    assert_int_equal(
        proto_utf8_next((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    /* truncated by the length, overlong, surrogate, above U+10FFFF */
    assert_int_equal(proto_utf8_next((const unsigned char *)"\xc3\xa9", 1, &cp),
                     0);
    assert_int_equal(proto_utf8_next((const unsigned char *)"\xc0\xaf", 2, &cp),
                     0);
    assert_int_equal(
        proto_utf8_next((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);
    assert_int_equal(
        proto_utf8_next((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0);
    assert_int_equal(proto_utf8_next((const unsigned char *)"", 0, &cp), 0);
}

static void base_is(const char *path, const char *want)
{
    char out[PROTO_NAME_MAX + 1];
    assert_int_equal(proto_path_base(path, out, sizeof out), 0);
    assert_string_equal(out, want);
}

static void test_base_dir_and_join_split_as_a_shell_does(void **state)
{
    (void)state;
    base_is("a/b/c", "c");
    base_is("a/b/c//", "c");
    base_is("c", "c");
    base_is("/", "/");
    base_is("", "");
    char small[2];
    assert_int_equal(proto_path_base("abc", small, sizeof small),
                     -ENAMETOOLONG);
    assert_int_equal(proto_path_dir_len("a"), 0);
    assert_int_equal(proto_path_dir_len("/a"), 1);
    assert_int_equal(proto_path_dir_len("a/b"), 2);
    char out[16];
    assert_int_equal(proto_path_join(out, sizeof out, "d", "n"), 0);
    assert_string_equal(out, "d/n");
    assert_int_equal(proto_path_join(out, sizeof out, "d/", "n"), 0);
    assert_string_equal(out, "d/n");
    assert_int_equal(proto_path_join(out, 4, "dir", "name"), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_joins_relative_paths_to_cwd),
        cmocka_unit_test(test_dotdot_at_root_stays_at_root),
        cmocka_unit_test(test_nul_inside_a_path_is_refused),
        cmocka_unit_test(test_overlong_names_and_paths_are_refused),
        cmocka_unit_test(test_invalid_utf8_and_control_characters_are_refused),
        cmocka_unit_test(test_hidden_partial_names_are_refused),
        cmocka_unit_test(test_utf8_decoder_takes_valid_sequences_only),
        cmocka_unit_test(test_base_dir_and_join_split_as_a_shell_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
