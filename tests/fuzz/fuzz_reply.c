/* fuzz_reply.c -- libFuzzer: the client's view of a hostile server: a
 * reply frame, its status, and the fields ssftp reads from login and
 * transfer replies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzzstack.h"
#include "proto.h"

static void one(const uint8_t *data, size_t size)
{
    int fd = fuzz_stream(data, size, false);
    proto_io io = {.fd = fd, .timeout_ms = 1000, .body_timeout_ms = 1000};
    for (int frames = 0; frames < 16; frames++) {
        json_t *r = NULL;
        if (proto_recv(&io, &r) != 0)
            break;
        const char *code = NULL, *error = NULL, *home;
        int rc = proto_reply_check(r, &code, &error);
        if (rc == -EREMOTEIO && (code == NULL || error == NULL))
            abort(); /* the header promises both on a failure */
        proto_auth_params p;
        uint8_t snonce[PROTO_AUTH_NONCE_BYTES], sig[PROTO_AUTH_KEY_BYTES],
            dg[32];
        uint64_t u;
        (void)proto_get_b64(r, "salt", p.salt, sizeof p.salt);
        (void)proto_get_u64(r, "opslimit", &p.opslimit);
        (void)proto_get_u64(r, "memlimit", &p.memlimit);
        (void)proto_get_b64(r, "snonce", snonce, sizeof snonce);
        (void)proto_get_b64(r, "server_signature", sig, sizeof sig);
        (void)proto_get_str(r, "home", &home);
        (void)proto_get_hex(r, "digest", dg, sizeof dg);
        (void)proto_get_hex(r, "prefix", dg, sizeof dg);
        (void)proto_get_u64(r, "offset", &u);
        (void)proto_get_u64(r, "used", &u);
        /* A body is read as a download reads it, into a small buffer. */
        char buf[256];
        while (io.body_in > 0 && proto_read_some(&io, buf, sizeof buf) > 0)
            ;
        json_decref(r);
    }
    close(fd);
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
