/* fileio.h -- positioned file reads and writes that survive EINTR and short
 * transfers, so callers never hand-roll the retry loop. */
#ifndef SSFTP_PROTO_FILEIO_H
#define SSFTP_PROTO_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The buffer of proto_pread_chunks() (on the heap, for one call).  Bodies
 * moving over the wire use hasher.h's buffers instead. */
#define PROTO_FILE_CHUNK (256 * 1024)

/* Read up to n bytes at offset off, stopping early only at end of file.
 * Returns the count read (< n means the file ended), or a negative errno
 * (-EFBIG if off + n does not fit in off_t). */
ssize_t proto_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Write all n bytes at offset off.
 * Returns 0, or a negative errno (-EFBIG as above; -EIO if the kernel
 * accepts no bytes without giving a reason). */
int proto_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);

/* Called with each chunk in file order; a nonzero return stops the walk. */
typedef int (*proto_chunk_fn)(void *ctx, const void *buf, size_t n);

/* Read len bytes of fd starting at off, in chunks of at most PROTO_FILE_CHUNK
 * (one heap buffer, no bigger than len, freed before return), passing each to
 * fn.  Returns 0; fn's first nonzero return; -ENODATA if the file ends before
 * off + len; -ENOMEM; or a negative errno from pread(). */
int proto_pread_chunks(int fd, uint64_t off, uint64_t len, proto_chunk_fn fn,
                       void *ctx);

/* Early writeback for a long sequential write.  Every PROTO_WRITEBACK_STEP
 * bytes, proto_writeback_note() asks the kernel to start writing the new
 * bytes to disk (sync_file_range(SYNC_FILE_RANGE_WRITE), which does not
 * wait), so the fsync() that makes the file durable at the end finds little
 * left to do and the transfer does not pile up dirty pages.  It is a hint:
 * the final fsync() is what reports a write error. */
#define PROTO_WRITEBACK_STEP (8u << 20)

typedef struct proto_writeback {
    int fd;
    uint64_t from; /* first byte not yet handed to writeback */
} proto_writeback;

/* Start tracking fd, whose bytes before off are already written. */
void proto_writeback_init(proto_writeback *w, int fd, uint64_t off);

/* The file now holds bytes up to end: start writeback when a step is due. */
void proto_writeback_note(proto_writeback *w, uint64_t end);

#endif
