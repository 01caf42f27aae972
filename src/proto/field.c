/* field.c -- typed, validating getters and setters for header fields. */
#include "field.h"

#include <errno.h>

#include "codec.h"

bool proto_has(const json_t *obj, const char *key)
{
    return json_object_get(obj, key) != NULL;
}

int proto_get_str(const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return -EINVAL;
    *out = json_string_value(v);
    return 0;
}

int proto_get_i64(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return -EINVAL;
    *out = json_integer_value(v);
    return 0;
}

int proto_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
    int64_t v;
    int r = proto_get_i64(obj, key, &v);
    if (r == 0 && v < 0)
        r = -EINVAL;
    if (r == 0)
        *out = (uint64_t)v;
    return r;
}

int proto_get_bool(const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return -EINVAL;
    *out = json_is_true(v);
    return 0;
}

/* Hex and base64 fields differ only in the codec. */
typedef int (*decode_fn)(const char *s, void *bin, size_t n);
typedef int (*encode_fn)(const void *bin, size_t n, char *out, size_t cap);

static int get_coded(const json_t *obj, const char *key, void *out, size_t n,
                     decode_fn decode)
{
    const char *s;
    int r = n <= PROTO_FIELD_BIN_MAX ? proto_get_str(obj, key, &s) : -EINVAL;
    return r ? r : decode(s, out, n);
}

int proto_get_hex(const json_t *obj, const char *key, void *out, size_t n)
{
    return get_coded(obj, key, out, n, proto_hex_decode);
}

int proto_get_b64(const json_t *obj, const char *key, void *out, size_t n)
{
    return get_coded(obj, key, out, n, proto_b64_decode);
}

static int set_coded(json_t *obj, const char *key, const void *bin, size_t n,
                     encode_fn encode)
{
    /* Hex is the longer spelling, so this holds either. */
    char s[PROTO_HEX_SIZE(PROTO_FIELD_BIN_MAX)];
    if (n > PROTO_FIELD_BIN_MAX || !json_is_object(obj))
        return -EINVAL;
    (void)encode(bin, n, s, sizeof s);
    /* json_object_set_new() takes the new string even when it fails, so
     * nothing leaks on either path. */
    return json_object_set_new(obj, key, json_string(s)) == 0 ? 0 : -ENOMEM;
}

int proto_set_hex(json_t *obj, const char *key, const void *bin, size_t n)
{
    return set_coded(obj, key, bin, n, proto_hex_encode);
}

int proto_set_b64(json_t *obj, const char *key, const void *bin, size_t n)
{
    return set_coded(obj, key, bin, n, proto_b64_encode);
}
