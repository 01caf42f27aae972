/* testutil.h -- socket pairs, raw writes and scratch files for proto tests. */
#ifndef SSFTP_TESTS_PROTO_TESTUTIL_H
#define SSFTP_TESTS_PROTO_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* A connected pair as two proto_io ends: a on sv[0], b on sv[1], each with a
 * 5 s timeout.  A closed side has its sv set to -1. */
struct tu_conn {
    int sv[2];
    proto_io a, b;
};

/* cmocka setup/teardown making *state a struct tu_conn. */
int tu_conn_setup(void **state);
int tu_conn_teardown(void **state);

/* Close one side (0 or 1) of the pair now. */
void tu_conn_close(struct tu_conn *c, int side);

/* A connected AF_UNIX stream pair; fails the test if it cannot be made. */
void tu_pair(int sv[2]);

/* Write all n bytes to fd, bypassing the code under test. */
void tu_write_raw(int fd, const void *buf, size_t n);

/* Write a frame by hand: u32 BE length n, then the n bytes of json. */
void tu_write_frame(int fd, const char *json, uint32_t n);

/* An anonymous read/write file holding n bytes of tu_pattern(). */
int tu_file_with_pattern(size_t n);

/* A deterministic, non-repeating-looking byte at position i. */
uint8_t tu_pattern(uint64_t i);

/* The digest of the first len bytes of fd (proto_digest_update_file()). */
int tu_file_digest(int fd, uint64_t len, uint8_t out[PROTO_DIGEST_BYTES]);

#endif
