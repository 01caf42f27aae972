/* testutil.c -- socket pairs, raw writes and scratch files for proto tests. */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

void tu_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

int tu_conn_setup(void **state)
{
    struct tu_conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    tu_pair(c->sv);
    c->a = (proto_io){.fd = c->sv[0], .timeout_ms = 5000};
    c->b = (proto_io){.fd = c->sv[1], .timeout_ms = 5000};
    *state = c;
    return 0;
}

int tu_conn_teardown(void **state)
{
    struct tu_conn *c = *state;
    for (int i = 0; i < 2; i++)
        if (c->sv[i] >= 0)
            tu_conn_close(c, i);
    free(c);
    return 0;
}

void tu_conn_close(struct tu_conn *c, int side)
{
    assert_int_equal(close(c->sv[side]), 0);
    c->sv[side] = -1;
}

void tu_write_raw(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        assert_true(k > 0);
        p += k;
        n -= (size_t)k;
    }
}

void tu_write_frame(int fd, const char *json, uint32_t n)
{
    uint8_t len[4];
    proto_be32_put(len, n);
    tu_write_raw(fd, len, 4);
    tu_write_raw(fd, json, n);
}

uint8_t tu_pattern(uint64_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

int tu_file_with_pattern(size_t n)
{
    int fd = memfd_create("proto-test", 0);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = tu_pattern(i);
    tu_write_raw(fd, buf, n);
    free(buf);
    return fd;
}

int tu_file_digest(int fd, uint64_t len, uint8_t out[PROTO_DIGEST_BYTES])
{
    proto_digest_state d;
    proto_digest_init(&d);
    int r = proto_digest_update_file(&d, fd, 0, len);
    if (r == 0)
        proto_digest_final(&d, out);
    return r;
}
