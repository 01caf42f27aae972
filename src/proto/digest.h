/* digest.h -- BLAKE2b-256 (libsodium crypto_generichash) of buffers and files.
 *
 * Every digest on the wire is this one: 32 bytes, sent as 64 lowercase hex
 * digits (use proto_get_hex()/proto_set_hex() from field.h for JSON fields).
 */
#ifndef SSFTP_PROTO_DIGEST_H
#define SSFTP_PROTO_DIGEST_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_BYTES 32
#define DIGEST_HEX_SIZE (2 * DIGEST_BYTES + 1) /* with the NUL */

/* An incremental hash.  libsodium wants its state 64-byte aligned, which
 * malloc() does not promise, so the state lives at an aligned spot inside
 * raw.  Because of that a digest_state must not be copied: use digest_peek()
 * to read a running hash. */
typedef struct digest_state {
    unsigned char raw[sizeof(crypto_generichash_state) +
                      _Alignof(crypto_generichash_state)];
} digest_state;

void digest_init(digest_state *d);
void digest_update(digest_state *d, const void *buf, size_t n);
/* The digest of everything added since digest_init(); d is then spent. */
void digest_final(digest_state *d, uint8_t out[DIGEST_BYTES]);
/* The digest of everything added so far; d carries on unchanged. */
void digest_peek(const digest_state *d, uint8_t out[DIGEST_BYTES]);

/* Add len bytes of file fd starting at offset off (pread; the file offset is
 * untouched).  Uses a heap buffer of up to 256 KiB, freed before return.
 * Returns 0; -ENODATA if the file ends before off + len; -ENOMEM; or a
 * negative errno from pread(). */
int digest_update_file(digest_state *d, int fd, uint64_t off, uint64_t len);

/* The digest of the first len bytes of fd: what a resuming peer compares.
 * Returns as digest_update_file(). */
int digest_file_prefix(int fd, uint64_t len, uint8_t out[DIGEST_BYTES]);

/* Lowercase hex of a digest, NUL terminated. */
void digest_to_hex(const uint8_t d[DIGEST_BYTES], char hex[DIGEST_HEX_SIZE]);
/* Parse exactly 64 lowercase hex digits.  Returns 0 or -EINVAL. */
int digest_from_hex(const char *hex, uint8_t d[DIGEST_BYTES]);

#endif
