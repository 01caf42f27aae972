/* blake2b.h -- BLAKE2b (RFC 7693), unkeyed, in portable C.
 *
 * libsodium has BLAKE2b too, and digest.c uses whichever of the two is
 * faster on the machine it runs on (proto_digest_impl()): libsodium picks
 * its implementation by the CPU's features, and on some CPUs its AVX2 code
 * hashes at half the speed of plain 64-bit code (measured on an AMD EPYC:
 * 640 against 1 170 MB/s).  Both give the same digests; tests/proto/
 * test_blake2b.c and tests/fuzz/fuzz_blake2b.c check this one against
 * libsodium's.
 */
#ifndef SSFTP_PROTO_BLAKE2B_H
#define SSFTP_PROTO_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_B2_BLOCK 128
#define PROTO_B2_OUT_MAX 64

typedef struct proto_b2_state {
    uint64_t h[8];
    uint64_t t[2];                     /* bytes compressed so far */
    unsigned char buf[PROTO_B2_BLOCK]; /* the last, partial or full block */
    size_t len;                        /* bytes in buf */
    size_t outlen;
} proto_b2_state;

/* outlen: 1 to PROTO_B2_OUT_MAX bytes of digest. */
void proto_b2_init(proto_b2_state *s, size_t outlen);
void proto_b2_update(proto_b2_state *s, const void *in, size_t n);
/* Writes s->outlen bytes; s is then spent.  A copy of a state may be
 * finalised on its own (a running digest). */
void proto_b2_final(proto_b2_state *s, unsigned char *out);

#endif
