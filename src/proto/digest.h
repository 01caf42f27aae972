/* digest.h -- BLAKE2b-256 of buffers and files.
 *
 * Every digest on the wire is this one: 32 bytes, sent as 64 lowercase hex
 * digits (use proto_get_hex()/proto_set_hex() from field.h for JSON fields).
 *
 * Two implementations give the same digests: libsodium's crypto_generichash
 * and blake2b.c's portable code.  The first digest a process makes times
 * both on 128 KiB and keeps the faster for the life of the process
 * (libsodium's choice by CPU features can be the slower one: blake2b.h).
 */
#ifndef SSFTP_PROTO_DIGEST_H
#define SSFTP_PROTO_DIGEST_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blake2b.h"

#define PROTO_DIGEST_BYTES 32
#define PROTO_DIGEST_HEX_SIZE (2 * PROTO_DIGEST_BYTES + 1) /* with the NUL */

/* An incremental hash.  libsodium wants its state 64-byte aligned, which
 * malloc() does not promise, so its state lives at an aligned spot inside
 * raw.  Because of that a proto_digest_state must not be copied: use
 * proto_digest_peek() to read a running hash. */
typedef struct proto_digest_state {
    union {
        unsigned char raw[sizeof(crypto_generichash_state) +
                          _Alignof(crypto_generichash_state)];
        proto_b2_state b2;
    } u;
} proto_digest_state;

void proto_digest_init(proto_digest_state *d);
void proto_digest_update(proto_digest_state *d, const void *buf, size_t n);
/* The digest of everything added since proto_digest_init(); d is then spent. */
void proto_digest_final(proto_digest_state *d, uint8_t out[PROTO_DIGEST_BYTES]);
/* The digest of everything added so far; d carries on unchanged. */
void proto_digest_peek(const proto_digest_state *d,
                       uint8_t out[PROTO_DIGEST_BYTES]);

/* Add len bytes of file fd starting at offset off (pread; the file offset is
 * untouched).  Uses a heap buffer of up to 256 KiB, freed before return.
 * Returns 0; -ENODATA if the file ends before off + len; -ENOMEM; or a
 * negative errno from pread(). */
int proto_digest_update_file(proto_digest_state *d, int fd, uint64_t off,
                             uint64_t len);

/* Which implementation this process hashes with: "portable" or
 * "libsodium" (the first call may time them, as the first digest does). */
const char *proto_digest_impl(void);

/* Lowercase hex of a digest, NUL terminated. */
void proto_digest_to_hex(const uint8_t d[PROTO_DIGEST_BYTES],
                         char hex[PROTO_DIGEST_HEX_SIZE]);

#endif
