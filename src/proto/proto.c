/* proto.c -- one-time start-up of the libraries the protocol module uses. */
#include "proto.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>

int proto_init(void)
{
    /* sodium_init() picks the fastest implementations and opens the random
     * source; until it has run, randombytes and crypto_pwhash are unsafe. */
    if (sodium_init() < 0)
        return -EIO;
    /* jansson seeds its hash tables lazily on first use; doing it here, before
     * threads exist, avoids relying on that lazy path being race free.  Seed
     * 0 asks jansson for a random seed (from /dev/urandom). */
    json_object_seed(0);
    return 0;
}
