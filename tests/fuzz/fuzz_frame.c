/* fuzz_frame.c -- libFuzzer: the frame decoder and every field getter, as
 * ssftpd reads a request off the wire.
 *
 * The first input byte picks the mode: even, the rest is the raw byte
 * stream; odd, the rest is one header's JSON, sent with its correct length
 * (so mutations of the JSON are not lost to a stale length prefix). */
#include <stdbool.h>
#include <unistd.h>

#include "fuzzstack.h"
#include "proto.h"

static void one(const uint8_t *data, size_t size)
{
    bool framed = size > 0 && (data[0] & 1);
    int fd = fuzz_stream(size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0,
                         framed);
    proto_io io = {.fd = fd, .timeout_ms = 1000, .body_timeout_ms = 1000};
    fuzz_recv_frames(&io);
    close(fd);
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
