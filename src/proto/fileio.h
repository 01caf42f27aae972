/* fileio.h -- positioned file reads and writes that survive EINTR and short
 * transfers, so callers never hand-roll the retry loop. */
#ifndef SSFTP_PROTO_FILEIO_H
#define SSFTP_PROTO_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest buffer a file transfer allocates (on the heap, for one call). */
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

#endif
