/* digestcache.c -- see digestcache.h.  The attribute's value is 64 bytes:
 *
 *     "b2c1" | digest (32) | size (8) | mtime s (8) | mtime ns (4) | ino (8)
 *
 * integers big-endian, so the record means the same on any host. */
#include "digestcache.h"

#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "sysutil.h"

#define MAGIC "b2c1"
#define RECORD 64

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The record for digest d of a file with stat st. */
static void encode(uint8_t rec[RECORD], const uint8_t d[PROTO_DIGEST_BYTES],
                   const struct stat *st)
{
    memcpy(rec, MAGIC, 4);
    memcpy(rec + 4, d, PROTO_DIGEST_BYTES);
    put_be(rec + 36, (uint64_t)st->st_size, 8);
    put_be(rec + 44, (uint64_t)st->st_mtim.tv_sec, 8);
    put_be(rec + 52, (uint64_t)st->st_mtim.tv_nsec, 4);
    put_be(rec + 56, (uint64_t)st->st_ino, 8);
}

static int same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_ino == b->st_ino &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int digestcache_load(int fd, const struct stat *st,
                     uint8_t out[PROTO_DIGEST_BYTES])
{
    uint8_t got[RECORD + 1], want[RECORD];
    ssize_t n = proto_fgetxattr(fd, DIGESTCACHE_XATTR, got, sizeof got);
    if (n != RECORD)
        return -ENODATA; /* none, unsupported, or not ours */
    /* Compare the whole record but the digest: the stamp must match. */
    encode(want, got + 4, st);
    if (memcmp(got, want, RECORD) != 0)
        return -ENODATA;
    memcpy(out, got + 4, PROTO_DIGEST_BYTES);
    return 0;
}

int digestcache_store(int fd, const uint8_t digest[PROTO_DIGEST_BYTES],
                      const struct stat *expect)
{
    struct stat now;
    if (fstat(fd, &now) != 0)
        return -errno;
    if (expect != NULL && !same_file_state(&now, expect))
        return -ESTALE;
    uint8_t rec[RECORD];
    encode(rec, digest, &now);
    return proto_fsetxattr(fd, DIGESTCACHE_XATTR, rec, sizeof rec);
}
