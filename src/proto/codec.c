/* codec.c -- strict hex and base64 over libsodium's constant-time codecs. */
#include "codec.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

int proto_hex_encode(const void *bin, size_t n, char *out, size_t cap)
{
    if (cap < PROTO_HEX_SIZE(n))
        return -ENOBUFS;
    sodium_bin2hex(out, cap, bin, n);
    return 0;
}

int proto_hex_decode(const char *hex, void *bin, size_t n)
{
    size_t len = strlen(hex);
    size_t got = 0;
    /* sodium_hex2bin accepts uppercase; the protocol spells digests one way. */
    if (len != 2 * n || strspn(hex, "0123456789abcdef") != len)
        return -EINVAL;
    if (sodium_hex2bin(bin, n, hex, len, NULL, &got, NULL) != 0 || got != n)
        return -EINVAL;
    return 0;
}

int proto_b64_encode(const void *bin, size_t n, char *out, size_t cap)
{
    if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
        return -ENOBUFS;
    sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int proto_b64_decode(const char *b64, void *bin, size_t n)
{
    size_t len = strlen(b64);
    size_t got = 0;
    const char *end = NULL;
    /* The length check rules out missing padding; libsodium refuses bad
     * padding and non-zero unused bits.  The alphabet is checked here:
     * libsodium 1.0.18 maps some bytes outside it (0x80, UTF-8 letters) to
     * '/' instead of refusing them. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t body = strspn(b64, alphabet);
    if (len + 1 != PROTO_B64_SIZE(n) || strspn(b64 + body, "=") != len - body ||
        len - body > 2)
        return -EINVAL;
    if (sodium_base642bin(bin, n, b64, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != n || end != b64 + len)
        return -EINVAL;
    return 0;
}
