/* fuzzstack.h -- run a fuzz input on a thread with ssftpd's worker stack.
 *
 * ssftpd parses peer input on pool workers of PROTO_WORKER_STACK bytes; a
 * harness running on libFuzzer's 8 MiB main stack would never find what
 * overflows those (a deeply nested frame did).  Each harness hands its body
 * to fuzz_on_worker_stack().
 */
#ifndef SSFTP_TESTS_FUZZ_FUZZSTACK_H
#define SSFTP_TESTS_FUZZ_FUZZSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef void (*fuzz_fn)(const uint8_t *data, size_t size);

/* Runs fn(data, size) on a new thread of PROTO_WORKER_STACK bytes and waits
 * for it; aborts if the thread cannot be made. */
void fuzz_on_worker_stack(fuzz_fn fn, const uint8_t *data, size_t size);

/* A connected AF_UNIX stream pair whose buffers (both ways) hold an input
 * of the fuzzer's -max_len with room to spare, so a peer on the same
 * thread can write it all before the other end reads. */
void fuzz_pair(int sv[2]);

/* A stream socket whose peer has sent the n bytes (framed: behind their
 * u32 big-endian length, as one header) and closed: every read completes
 * without waiting.  The caller closes it. */
int fuzz_stream(const uint8_t *data, size_t n, bool framed);

/* Reads up to 64 frames from io, as ssftpd reads requests, and runs every
 * field getter on every top-level key of each, as handlers probe them.
 * The whole input has arrived and the peer is gone, so nothing may wait:
 * aborts on -ETIMEDOUT, on a header left behind by a failed read, on a
 * header that is not an object, and on a getter that returns more than a
 * header can hold. */
void fuzz_recv_frames(proto_io *io);

/* The libFuzzer entry points of a harness whose body is fn: proto_init()
 * once, then each input through fuzz_on_worker_stack(). */
#define FUZZ_HARNESS(fn)                                                       \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                          \
    {                                                                          \
        (void)argc;                                                            \
        (void)argv;                                                            \
        return proto_init() == 0 && fuzz_setup() == 0 ? 0 : -1;                \
    }                                                                          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)               \
    {                                                                          \
        fuzz_on_worker_stack(fn, data, size);                                  \
        return 0;                                                              \
    }

/* Each harness defines its one-time setup (0, or -1 to give up). */
int fuzz_setup(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
