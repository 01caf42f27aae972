/* fuzz_blake2b.c -- libFuzzer: blake2b.c against libsodium's BLAKE2b.
 *
 * The first input byte picks the digest length (1 to 64), the second the
 * size of the pieces the rest is fed in (1 to 256 bytes, so block
 * boundaries fall everywhere); the digest must be libsodium's. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzstack.h"
#include "proto.h"

static void one(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t outlen = 1 + data[0] % PROTO_B2_OUT_MAX;
    size_t piece = 1 + (size_t)data[1];
    data += 2;
    size -= 2;
    unsigned char want[PROTO_B2_OUT_MAX], got[PROTO_B2_OUT_MAX];
    if (crypto_generichash(want, outlen, data, size, NULL, 0) != 0)
        abort();
    proto_b2_state s;
    proto_b2_init(&s, outlen);
    for (size_t off = 0; off < size; off += piece)
        proto_b2_update(&s, data + off,
                        size - off < piece ? size - off : piece);
    proto_b2_final(&s, got);
    if (memcmp(want, got, outlen) != 0)
        abort();
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
