/* test_reply.c -- ok/error replies, error codes, and reading a reply back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"

static json_t *recv_ok(proto_io *io)
{
    json_t *h;
    assert_int_equal(proto_recv(io, &h), 0);
    return h;
}

static void send_ok_adds_ok_true_to_extra(void **state)
{
    struct tu_conn *c = *state;
    json_t *extra = json_pack("{s:s}", "cwd", "/docs");
    assert_int_equal(proto_send_ok(&c->b, extra), 0);
    json_decref(extra);
    json_t *in = recv_ok(&c->a);
    json_t *want = json_pack("{s:b, s:s}", "ok", 1, "cwd", "/docs");
    assert_true(json_equal(in, want));
    assert_int_equal(proto_reply_check(in, NULL, NULL), 0);
    json_decref(in);
    json_decref(want);
}

static void send_ok_without_extra_is_bare_ok(void **state)
{
    struct tu_conn *c = *state;
    assert_int_equal(proto_send_ok(&c->b, NULL), 0);
    json_t *in = recv_ok(&c->a);
    json_t *want = json_pack("{s:b}", "ok", 1);
    assert_true(json_equal(in, want));
    json_decref(in);
    json_decref(want);
}

static void send_error_carries_code_and_formatted_text(void **state)
{
    struct tu_conn *c = *state;
    assert_int_equal(
        proto_send_error(&c->b, PROTO_E_NOT_FOUND, "no %s (%d)", "/a", 2), 0);
    json_t *in = recv_ok(&c->a);
    const char *code, *error;
    assert_int_equal(proto_reply_check(in, &code, &error), -EREMOTEIO);
    assert_string_equal(code, "not_found");
    assert_string_equal(error, "no /a (2)");
    assert_int_equal(json_object_size(in), 3);
    json_decref(in);
}

static void send_error_replaces_invalid_utf8(void **state)
{
    struct tu_conn *c = *state;
    assert_int_equal(
        proto_send_error(&c->b, PROTO_E_INTERNAL, "name %s", "caf\xe9"), 0);
    json_t *in = recv_ok(&c->a);
    assert_string_equal(json_string_value(json_object_get(in, "error")),
                        "name caf?");
    json_decref(in);
}

static void send_error_cuts_long_text_to_the_limit(void **state)
{
    struct tu_conn *c = *state;
    char long_text[PROTO_ERROR_MAX * 2];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_int_equal(proto_send_error(&c->b, PROTO_E_BAD_PATH, "%s", long_text),
                     0);
    json_t *in = recv_ok(&c->a);
    assert_int_equal(json_string_length(json_object_get(in, "error")),
                     PROTO_ERROR_MAX);
    json_decref(in);
}

static void errno_code_maps_file_system_errors(void **state)
{
    (void)state;
    static const struct {
        int err;
        const char *code;
    } table[] = {
        {-ENOENT, "not_found"},
        {-EEXIST, "exists"},
        {-ENOTDIR, "not_a_directory"},
        {-EISDIR, "is_a_directory"},
        {-ENOTEMPTY, "not_empty"},
        {-EACCES, "permission_denied"},
        {-EPERM, "permission_denied"},
        {-EROFS, "permission_denied"},
        {-ENAMETOOLONG, "bad_path"},
        {-ELOOP, "bad_path"},
        {-EXDEV, "bad_path"},
        {-EDQUOT, "quota_exceeded"},
        {-ENOSPC, "no_space"},
        {-EFBIG, "too_large"},
        {-EBUSY, "busy"},
        {-EWOULDBLOCK, "busy"},
        {-EINVAL, "bad_request"},
        {-EBADMSG, "bad_frame"},
        {-EMSGSIZE, "bad_frame"},
        {-EIO, "internal"},
        {-ENOMEM, "busy"}, /* the server's resources: try later */
        {-EMFILE, "busy"},
        {-ENFILE, "busy"},
        {-EUSERS, "busy"},
        {ENOENT, "not_found"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        assert_string_equal(proto_errno_code(table[i].err), table[i].code);
}

static void reply_check_refuses_malformed_replies(void **state)
{
    (void)state;
    const char *bad[] = {
        "{}",                        /* no ok */
        "{\"ok\":1}",                /* ok not boolean */
        "{\"ok\":false}",            /* failure without code */
        "{\"ok\":false,\"code\":7}", /* code not a string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *r = json_loads(bad[i], 0, NULL);
        assert_non_null(r);
        assert_int_equal(proto_reply_check(r, NULL, NULL), -EBADMSG);
        json_decref(r);
    }
}

static void reply_check_tolerates_missing_error_text(void **state)
{
    (void)state;
    json_t *r = json_loads("{\"ok\":false,\"code\":\"busy\"}", 0, NULL);
    const char *code, *error;
    assert_int_equal(proto_reply_check(r, &code, &error), -EREMOTEIO);
    assert_string_equal(code, "busy");
    assert_string_equal(error, "");
    json_decref(r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_conn_setup, tu_conn_teardown)

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        T(send_ok_adds_ok_true_to_extra),
        T(send_ok_without_extra_is_bare_ok),
        T(send_error_carries_code_and_formatted_text),
        T(send_error_replaces_invalid_utf8),
        T(send_error_cuts_long_text_to_the_limit),
        cmocka_unit_test(errno_code_maps_file_system_errors),
        cmocka_unit_test(reply_check_refuses_malformed_replies),
        cmocka_unit_test(reply_check_tolerates_missing_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
