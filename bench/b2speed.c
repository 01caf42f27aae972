/* b2speed.c -- single-core BLAKE2b-256 throughput.
 * Hashes a --mib MiB buffer (default 256) --reps times (default 4) in 1 MiB
 * updates, as the server does in chunks, and prints "mb_s=X" for the hash
 * ssftp uses (proto_digest: the faster of libsodium's and blake2b.c's on
 * this machine, named by impl=), then "sodium_mb_s=Y" for libsodium's
 * crypto_generichash alone (best rep each, MB = 10^6 bytes). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

static double rate(const unsigned char *buf, size_t n, int reps, bool sodium,
                   unsigned char out[32])
{
    const size_t chunk = 1 << 20;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = proto_mono_s();
        if (sodium) {
            crypto_generichash_state st;
            crypto_generichash_init(&st, NULL, 0, 32);
            for (size_t off = 0; off < n; off += chunk)
                crypto_generichash_update(&st, buf + off, chunk);
            crypto_generichash_final(&st, out, 32);
        } else {
            proto_digest_state d;
            proto_digest_init(&d);
            for (size_t off = 0; off < n; off += chunk)
                proto_digest_update(&d, buf + off, chunk);
            proto_digest_final(&d, out);
        }
        double mbs = n / (proto_mono_s() - t0) / 1e6;
        if (mbs > best)
            best = mbs;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t mib = 256;
    int reps = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mib"))
            mib = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (proto_init() != 0)
        return 1;
    size_t n = mib << 20;
    unsigned char *buf = malloc(n);
    if (!buf)
        return 1;
    randombytes_buf(buf, n);
    unsigned char ours[32], theirs[32];
    double used = rate(buf, n, reps, false, ours);
    double sodium = rate(buf, n, reps, true, theirs);
    printf("mb_s=%.1f impl=%s sodium_mb_s=%.1f digest0=%02x%s\n", used,
           proto_digest_impl(), sodium, ours[0],
           memcmp(ours, theirs, 32) ? " DIGESTS DIFFER" : "");
    free(buf);
    return memcmp(ours, theirs, 32) != 0;
}
