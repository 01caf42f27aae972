/* fileio.c -- pread/pwrite loops that retry EINTR and resume short counts. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* pread/pwrite take a signed off_t; an offset past INT64_MAX would turn
 * negative and land somewhere else entirely. */
static int range_ok(size_t n, uint64_t off)
{
    return n <= (uint64_t)INT64_MAX && off <= (uint64_t)INT64_MAX - n;
}

ssize_t proto_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    if (!range_ok(n, off) || n > SSIZE_MAX)
        return -EFBIG;
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

int proto_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    if (!range_ok(n, off))
        return -EFBIG;
    size_t done = 0;
    while (done < n) {
        ssize_t k =
            pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        /* A regular file never accepts 0 bytes of a non-empty write unless
         * something is wrong; looping would spin forever. */
        if (k == 0)
            return -EIO;
        done += (size_t)k;
    }
    return 0;
}

int proto_pread_chunks(int fd, uint64_t off, uint64_t len, proto_chunk_fn fn,
                       void *ctx)
{
    if (len == 0)
        return 0;
    /* Small ranges must not cost a full chunk. */
    size_t cap = len < PROTO_FILE_CHUNK ? (size_t)len : PROTO_FILE_CHUNK;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    while (r == 0 && len > 0) {
        size_t want = len < cap ? (size_t)len : cap;
        ssize_t got = proto_pread_full(fd, buf, want, off);
        if (got < 0)
            r = (int)got;
        else if ((size_t)got < want)
            r = -ENODATA;
        else
            r = fn(ctx, buf, want);
        off += want;
        len -= want;
    }
    free(buf);
    return r;
}

void proto_writeback_init(proto_writeback *w, int fd, uint64_t off)
{
    w->fd = fd;
    w->from = off;
}

void proto_writeback_note(proto_writeback *w, uint64_t end)
{
    if (w->fd < 0 || end < w->from || end - w->from < PROTO_WRITEBACK_STEP ||
        !range_ok(0, end))
        return;
    /* A failure here (EIO, or a file system without the call) changes
     * nothing for correctness: fsync() still writes and reports. */
    if (sync_file_range(w->fd, (off_t)w->from, (off_t)(end - w->from),
                        SYNC_FILE_RANGE_WRITE) != 0 &&
        errno != EIO)
        w->fd = -1; /* unsupported here (ESPIPE, EINVAL): stop asking */
    w->from = end;
}
