/* blake2b.c -- BLAKE2b (RFC 7693), unkeyed, in portable C (blake2b.h). */
#include "blake2b.h"

#include <stdbool.h>
#include <string.h>

static const uint64_t iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t load64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t rotr64(uint64_t x, unsigned n)
{
    return x >> n | x << (64 - n);
}

/* RFC 7693, 3.1 and 3.2, with every round spelled out so that the message
 * words are picked by constant indexes. */
#define G(r, i, a, b, c, d)                                                    \
    do {                                                                       \
        a = a + b + m[sigma[r][2 * (i)]];                                      \
        d = rotr64(d ^ a, 32);                                                 \
        c = c + d;                                                             \
        b = rotr64(b ^ c, 24);                                                 \
        a = a + b + m[sigma[r][2 * (i) + 1]];                                  \
        d = rotr64(d ^ a, 16);                                                 \
        c = c + d;                                                             \
        b = rotr64(b ^ c, 63);                                                 \
    } while (0)

#define ROUND(r)                                                               \
    do {                                                                       \
        G(r, 0, v[0], v[4], v[8], v[12]);                                      \
        G(r, 1, v[1], v[5], v[9], v[13]);                                      \
        G(r, 2, v[2], v[6], v[10], v[14]);                                     \
        G(r, 3, v[3], v[7], v[11], v[15]);                                     \
        G(r, 4, v[0], v[5], v[10], v[15]);                                     \
        G(r, 5, v[1], v[6], v[11], v[12]);                                     \
        G(r, 6, v[2], v[7], v[8], v[13]);                                      \
        G(r, 7, v[3], v[4], v[9], v[14]);                                      \
    } while (0)

static void compress(proto_b2_state *s, const unsigned char *block, bool last)
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = iv[i];
    }
    v[12] ^= s->t[0];
    v[13] ^= s->t[1];
    if (last)
        v[14] = ~v[14];
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
    for (int i = 0; i < 8; i++)
        s->h[i] ^= v[i] ^ v[i + 8];
}

static void count(proto_b2_state *s, size_t n)
{
    s->t[0] += n;
    if (s->t[0] < n)
        s->t[1]++;
}

void proto_b2_init(proto_b2_state *s, size_t outlen)
{
    memset(s, 0, sizeof *s);
    memcpy(s->h, iv, sizeof s->h);
    s->h[0] ^= 0x01010000u ^ outlen; /* depth 1, fanout 1, no key */
    s->outlen = outlen;
}

void proto_b2_update(proto_b2_state *s, const void *in, size_t n)
{
    const unsigned char *p = in;
    if (n == 0)
        return; /* in may be NULL */
    /* The last block is compressed only by final() (its flag), so a full
     * buffer waits until more input comes. */
    if (n > PROTO_B2_BLOCK - s->len) {
        size_t fill = PROTO_B2_BLOCK - s->len;
        memcpy(s->buf + s->len, p, fill);
        count(s, PROTO_B2_BLOCK);
        compress(s, s->buf, false);
        s->len = 0;
        p += fill;
        n -= fill;
        while (n > PROTO_B2_BLOCK) { /* straight from the input */
            count(s, PROTO_B2_BLOCK);
            compress(s, p, false);
            p += PROTO_B2_BLOCK;
            n -= PROTO_B2_BLOCK;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

void proto_b2_final(proto_b2_state *s, unsigned char *out)
{
    count(s, s->len);
    memset(s->buf + s->len, 0, PROTO_B2_BLOCK - s->len);
    compress(s, s->buf, true);
    unsigned char full[PROTO_B2_OUT_MAX];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            full[8 * i + j] = (unsigned char)(s->h[i] >> (8 * j));
    memcpy(out, full, s->outlen);
}
