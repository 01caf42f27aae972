/* hasher.h -- the digest of a body while it moves, on a second core when it
 * is large.
 *
 * A verified transfer does three things to every byte: moves it (recv/send),
 * stores or loads it (pwrite/pread) and hashes it.  Done in one thread they
 * add up; BLAKE2b alone is most of a core.  A hasher owns the transfer's
 * buffers: the I/O thread asks for an empty one, fills it, does its I/O, and
 * hands it back with proto_hasher_put(); for a body of at least
 * PROTO_HASHER_THREADED bytes a helper thread hashes the buffers in order
 * while the I/O thread is already filling the next.  Smaller bodies are
 * hashed inline from one buffer no bigger than the body, so a session moving
 * small files costs no thread; so are large ones when twice as many helpers
 * as there are cores are already running (more would not hash any faster,
 * and memory would grow with the number of transfers), or when a thread
 * cannot be started.
 *
 *     proto_hasher h;
 *     if (proto_hasher_begin(&h, d, total) != 0) ...      // -ENOMEM
 *     while (more) {
 *         size_t cap;
 *         unsigned char *buf = proto_hasher_buf(&h, &cap);
 *         ... fill buf[0..n), n <= cap, and write it out ...
 *         proto_hasher_put(&h, buf, n);
 *     }
 *     proto_hasher_end(&h);   // d now holds every byte put, in order
 *
 * A receiver that stores the body names its file with proto_hasher_to_file()
 * before the first buffer: each buffer put is then also written to the file,
 * in order, by the helper (so the I/O thread only receives while the helper
 * hashes and writes), or inline by proto_hasher_put().
 */
#ifndef SSFTP_PROTO_HASHER_H
#define SSFTP_PROTO_HASHER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "fileio.h"

/* Bodies this large get the helper thread. */
#define PROTO_HASHER_THREADED (8u << 20)
/* Buffer size and count in threaded mode (memory: their product). */
#define PROTO_HASHER_BUF (1u << 20)
#define PROTO_HASHER_NBUF 4
/* The one buffer of inline mode (smaller for smaller bodies). */
#define PROTO_HASHER_INLINE (256u * 1024)

struct hashpipe;

/* Where a receiver's buffers go after hashing (see proto_hasher_to_file). */
typedef struct proto_hasher_file {
    int fd; /* < 0: no file */
    proto_writeback wb;
    uint64_t off; /* where the next buffer goes */
    int err;      /* the first write error, or 0 */
} proto_hasher_file;

typedef struct proto_hasher {
    proto_digest_state *d; /* NULL: move bytes, hash nothing */
    proto_hasher_file
        file; /* inline mode's file; threaded mode's is the helper's */
    struct hashpipe *pipe; /* threaded mode, or NULL */
    unsigned char *buf;    /* inline mode's one buffer */
    size_t cap;            /* inline mode's buffer size */
} proto_hasher;

/* Prepare to hash a body of total bytes into d (d may be NULL).  Returns 0
 * or -ENOMEM. */
int proto_hasher_begin(proto_hasher *h, proto_digest_state *d, uint64_t total);

/* Write every buffer put from now on to fd, the first at offset off, then
 * the next after it, with early writeback (fileio.h).  After the first write
 * error the rest are not written; proto_hasher_file_err() reports it. */
void proto_hasher_to_file(proto_hasher *h, int fd, uint64_t off);

/* The first error writing the file so far (a negative errno), or 0.  In
 * threaded mode it may lag by the buffers not yet written; the return of
 * proto_hasher_end() is final. */
int proto_hasher_file_err(proto_hasher *h);

/* An empty buffer of *cap bytes to fill next; in threaded mode this waits
 * until the helper has finished with one. */
unsigned char *proto_hasher_buf(proto_hasher *h, size_t *cap);

/* Hash buf[0..n), the buffer proto_hasher_buf() gave; the caller must not
 * touch buf afterwards. */
void proto_hasher_put(proto_hasher *h, unsigned char *buf, size_t n);

/* Wait until every byte put is in d (and in the file), stop the helper,
 * free the buffers.  Returns the file's first write error, or 0.  Safe to
 * call once after a successful begin, also on error paths. */
int proto_hasher_end(proto_hasher *h);

#endif
