/* digest.c -- BLAKE2b-256 over libsodium's crypto_generichash. */
#include "digest.h"

#include <string.h>

#include "codec.h"
#include "fileio.h"

/* The aligned libsodium state inside d->raw (see digest.h). */
static crypto_generichash_state *state(const digest_state *d)
{
    const size_t a = _Alignof(crypto_generichash_state);
    uintptr_t p = ((uintptr_t)d->raw + a - 1) & ~(uintptr_t)(a - 1);
    return (crypto_generichash_state *)p;
}

/* The crypto_generichash calls below cannot fail: no key, and the output
 * length is a constant inside libsodium's range. */
void digest_init(digest_state *d)
{
    (void)crypto_generichash_init(state(d), NULL, 0, DIGEST_BYTES);
}

void digest_update(digest_state *d, const void *buf, size_t n)
{
    (void)crypto_generichash_update(state(d), buf, n);
}

void digest_final(digest_state *d, uint8_t out[DIGEST_BYTES])
{
    (void)crypto_generichash_final(state(d), out, DIGEST_BYTES);
}

void digest_peek(const digest_state *d, uint8_t out[DIGEST_BYTES])
{
    crypto_generichash_state copy; /* the compiler aligns a local */
    memcpy(&copy, state(d), sizeof copy);
    (void)crypto_generichash_final(&copy, out, DIGEST_BYTES);
}

static int add_chunk(void *d, const void *buf, size_t n)
{
    digest_update(d, buf, n);
    return 0;
}

int digest_update_file(digest_state *d, int fd, uint64_t off, uint64_t len)
{
    return proto_pread_chunks(fd, off, len, add_chunk, d);
}

int digest_file_prefix(int fd, uint64_t len, uint8_t out[DIGEST_BYTES])
{
    digest_state d;
    digest_init(&d);
    int r = digest_update_file(&d, fd, 0, len);
    if (r == 0)
        digest_final(&d, out);
    return r;
}

void digest_to_hex(const uint8_t d[DIGEST_BYTES], char hex[DIGEST_HEX_SIZE])
{
    (void)proto_hex_encode(d, DIGEST_BYTES, hex, DIGEST_HEX_SIZE);
}

int digest_from_hex(const char *hex, uint8_t d[DIGEST_BYTES])
{
    return proto_hex_decode(hex, d, DIGEST_BYTES);
}
