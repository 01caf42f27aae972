/* test_field.c -- header field getters refuse what the peer got wrong. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto.h"

static json_t *hdr;

static int load(void **state)
{
    (void)state;
    hdr = json_loads("{\"s\":\"x\",\"i\":-3,\"u\":9007199254740993,"
                     "\"r\":1.0,\"b\":true,\"n\":null,"
                     "\"h\":\"00ff\",\"H\":\"00FF\",\"k\":\"AP8=\"}",
                     0, NULL);
    return hdr ? 0 : -1;
}

static int unload(void **state)
{
    (void)state;
    json_decref(hdr);
    return 0;
}

static void getters_read_fields_of_the_right_type(void **state)
{
    (void)state;
    const char *s;
    int64_t i;
    uint64_t u;
    bool b;
    assert_int_equal(proto_get_str(hdr, "s", &s), 0);
    assert_string_equal(s, "x");
    assert_int_equal(proto_get_i64(hdr, "i", &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(proto_get_u64(hdr, "u", &u), 0);
    assert_true(u == 9007199254740993ULL); /* beyond a double's precision */
    assert_int_equal(proto_get_bool(hdr, "b", &b), 0);
    assert_true(b);
}

static void getters_refuse_missing_fields(void **state)
{
    (void)state;
    const char *s;
    int64_t i;
    bool b;
    uint8_t bin[2];
    assert_int_equal(proto_get_str(hdr, "nope", &s), -EINVAL);
    assert_int_equal(proto_get_i64(hdr, "nope", &i), -EINVAL);
    assert_int_equal(proto_get_bool(hdr, "nope", &b), -EINVAL);
    assert_int_equal(proto_get_hex(hdr, "nope", bin, 2), -EINVAL);
    assert_int_equal(proto_get_b64(hdr, "nope", bin, 2), -EINVAL);
}

static void getters_refuse_wrong_types(void **state)
{
    (void)state;
    const char *s;
    int64_t i;
    uint64_t u;
    bool b;
    assert_int_equal(proto_get_str(hdr, "i", &s), -EINVAL);
    assert_int_equal(proto_get_str(hdr, "n", &s), -EINVAL);
    assert_int_equal(proto_get_i64(hdr, "r", &i), -EINVAL);
    assert_int_equal(proto_get_i64(hdr, "s", &i), -EINVAL);
    assert_int_equal(proto_get_u64(hdr, "i", &u), -EINVAL); /* negative */
    assert_int_equal(proto_get_bool(hdr, "i", &b), -EINVAL);
}

static void binary_getters_insist_on_exact_canonical_length(void **state)
{
    (void)state;
    uint8_t bin[3];
    assert_int_equal(proto_get_hex(hdr, "h", bin, 2), 0);
    assert_int_equal(bin[1], 0xff);
    assert_int_equal(proto_get_hex(hdr, "h", bin, 3), -EINVAL);
    assert_int_equal(proto_get_hex(hdr, "H", bin, 2), -EINVAL);
    assert_int_equal(proto_get_b64(hdr, "k", bin, 2), 0);
    assert_int_equal(bin[1], 0xff);
    assert_int_equal(proto_get_b64(hdr, "k", bin, 1), -EINVAL);
}

static void has_sees_null_valued_fields(void **state)
{
    (void)state;
    assert_true(proto_has(hdr, "n"));
    assert_false(proto_has(hdr, "nope"));
}

static void setters_write_what_getters_read(void **state)
{
    (void)state;
    uint8_t key[32], back[32];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 37);
    json_t *o = json_object();
    assert_int_equal(proto_set_hex(o, "digest", key, 32), 0);
    assert_int_equal(proto_set_b64(o, "salt", key, 16), 0);
    assert_int_equal(proto_get_hex(o, "digest", back, 32), 0);
    assert_memory_equal(back, key, 32);
    assert_int_equal(proto_get_b64(o, "salt", back, 16), 0);
    assert_memory_equal(back, key, 16);
    uint8_t huge[PROTO_FIELD_BIN_MAX + 1] = {0};
    assert_int_equal(proto_set_hex(o, "x", huge, sizeof huge), -EINVAL);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(getters_read_fields_of_the_right_type),
        cmocka_unit_test(getters_refuse_missing_fields),
        cmocka_unit_test(getters_refuse_wrong_types),
        cmocka_unit_test(binary_getters_insist_on_exact_canonical_length),
        cmocka_unit_test(has_sees_null_valued_fields),
        cmocka_unit_test(setters_write_what_getters_read),
    };
    if (proto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, load, unload);
}
