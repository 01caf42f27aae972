/* digest.c -- BLAKE2b-256 over libsodium's crypto_generichash. */
#include "digest.h"

#include <string.h>

#include "codec.h"
#include "fileio.h"

/* The aligned libsodium state inside d->raw (see digest.h). */
static crypto_generichash_state *state(const proto_digest_state *d)
{
    const size_t a = _Alignof(crypto_generichash_state);
    uintptr_t p = ((uintptr_t)d->raw + a - 1) & ~(uintptr_t)(a - 1);
    return (crypto_generichash_state *)p;
}

/* The crypto_generichash calls below cannot fail: no key, and the output
 * length is a constant inside libsodium's range. */
void proto_digest_init(proto_digest_state *d)
{
    (void)crypto_generichash_init(state(d), NULL, 0, PROTO_DIGEST_BYTES);
}

void proto_digest_update(proto_digest_state *d, const void *buf, size_t n)
{
    (void)crypto_generichash_update(state(d), buf, n);
}

void proto_digest_final(proto_digest_state *d, uint8_t out[PROTO_DIGEST_BYTES])
{
    (void)crypto_generichash_final(state(d), out, PROTO_DIGEST_BYTES);
}

void proto_digest_peek(const proto_digest_state *d,
                       uint8_t out[PROTO_DIGEST_BYTES])
{
    crypto_generichash_state copy; /* the compiler aligns a local */
    memcpy(&copy, state(d), sizeof copy);
    (void)crypto_generichash_final(&copy, out, PROTO_DIGEST_BYTES);
}

static int add_chunk(void *d, const void *buf, size_t n)
{
    proto_digest_update(d, buf, n);
    return 0;
}

int proto_digest_update_file(proto_digest_state *d, int fd, uint64_t off,
                             uint64_t len)
{
    return proto_pread_chunks(fd, off, len, add_chunk, d);
}

void proto_digest_to_hex(const uint8_t d[PROTO_DIGEST_BYTES],
                         char hex[PROTO_DIGEST_HEX_SIZE])
{
    (void)proto_hex_encode(d, PROTO_DIGEST_BYTES, hex, PROTO_DIGEST_HEX_SIZE);
}
