/* codec.h -- strict hex and base64 for fixed-length binary fields.
 *
 * Decoding is strict because every encoded field in the protocol has exactly
 * one valid spelling: a decoder that tolerated case, whitespace, missing
 * padding or stray bits would let two different strings name the same bytes.
 */
#ifndef SSFTP_PROTO_CODEC_H
#define SSFTP_PROTO_CODEC_H

#include <stddef.h>

/* Buffer sizes for n bytes, including the NUL. */
#define PROTO_HEX_SIZE(n) (2 * (n) + 1)
#define PROTO_B64_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Lowercase hex of n bytes into out (cap bytes).  Returns 0, or -ENOBUFS if
 * cap < PROTO_HEX_SIZE(n). */
int proto_hex_encode(const void *bin, size_t n, char *out, size_t cap);

/* Parse exactly 2n lowercase hex digits into n bytes.  Returns 0, or -EINVAL
 * for any other length, an uppercase or non-hex character. */
int proto_hex_decode(const char *hex, void *bin, size_t n);

/* Standard base64 (RFC 4648 section 4, '+' '/', '=' padding).  Returns 0, or
 * -ENOBUFS if cap < PROTO_B64_SIZE(n). */
int proto_b64_encode(const void *bin, size_t n, char *out, size_t cap);

/* Parse the one canonical base64 spelling of exactly n bytes: padded, no
 * whitespace, unused bits zero.  Returns 0 or -EINVAL. */
int proto_b64_decode(const char *b64, void *bin, size_t n);

#endif
