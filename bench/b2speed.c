/* b2speed.c -- single-core BLAKE2b-256 throughput with libsodium.
 * Hashes a --mib MiB buffer (default 256) --reps times (default 4) with
 * crypto_generichash (32-byte output, in 1 MiB updates as the server does
 * in chunks) and prints "mb_s=X" (best rep, MB = 10^6 bytes). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sysutil.h"

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
    if (sodium_init() < 0)
        return 1;
    size_t n = mib << 20, chunk = 1 << 20;
    unsigned char *buf = malloc(n);
    if (!buf)
        return 1;
    randombytes_buf(buf, n);
    double best = 0;
    unsigned char out[32];
    for (int r = 0; r < reps; r++) {
        double t0 = proto_mono_s();
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof out);
        for (size_t off = 0; off < n; off += chunk)
            crypto_generichash_update(&st, buf + off, chunk);
        crypto_generichash_final(&st, out, sizeof out);
        double mbs = n / (proto_mono_s() - t0) / 1e6;
        if (mbs > best)
            best = mbs;
    }
    printf("mb_s=%.1f digest0=%02x\n", best, out[0]);
    free(buf);
    return 0;
}
