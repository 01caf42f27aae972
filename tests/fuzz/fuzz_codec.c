/* fuzz_codec.c -- libFuzzer: the strict hex and base64 decoders.  A string
 * that decodes must be the one spelling the encoder makes of those bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzzstack.h"
#include "proto.h"

static void one(const uint8_t *data, size_t size)
{
    char s[256];
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy(s, data, size);
    s[size] = '\0';
    uint8_t bin[128];
    char again[PROTO_B64_SIZE(128) > PROTO_HEX_SIZE(128) ? PROTO_B64_SIZE(128)
                                                         : PROTO_HEX_SIZE(128)];
    for (size_t n = 1; n <= sizeof bin; n++) {
        if (proto_hex_decode(s, bin, n) == 0) {
            if (proto_hex_encode(bin, n, again, sizeof again) != 0 ||
                strcmp(again, s) != 0)
                abort();
        }
        if (proto_b64_decode(s, bin, n) == 0) {
            if (proto_b64_encode(bin, n, again, sizeof again) != 0 ||
                strcmp(again, s) != 0)
                abort();
        }
    }
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
