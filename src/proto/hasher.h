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
 */
#ifndef SSFTP_PROTO_HASHER_H
#define SSFTP_PROTO_HASHER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

/* Bodies this large get the helper thread. */
#define PROTO_HASHER_THREADED (8u << 20)
/* Buffer size and count in threaded mode (memory: their product). */
#define PROTO_HASHER_BUF (1u << 20)
#define PROTO_HASHER_NBUF 4
/* The one buffer of inline mode (smaller for smaller bodies). */
#define PROTO_HASHER_INLINE (256u * 1024)

struct hashpipe;

typedef struct proto_hasher {
    proto_digest_state *d; /* NULL: move bytes, hash nothing */
    struct hashpipe *pipe; /* threaded mode, or NULL */
    unsigned char *buf;    /* inline mode's one buffer */
    size_t cap;            /* inline mode's buffer size */
} proto_hasher;

/* Prepare to hash a body of total bytes into d (d may be NULL).  Returns 0
 * or -ENOMEM. */
int proto_hasher_begin(proto_hasher *h, proto_digest_state *d, uint64_t total);

/* An empty buffer of *cap bytes to fill next; in threaded mode this waits
 * until the helper has finished with one. */
unsigned char *proto_hasher_buf(proto_hasher *h, size_t *cap);

/* Hash buf[0..n), the buffer proto_hasher_buf() gave; the caller must not
 * touch buf afterwards. */
void proto_hasher_put(proto_hasher *h, unsigned char *buf, size_t n);

/* Wait until every byte put is in d, stop the helper, free the buffers.
 * Safe to call once after a successful begin, also on error paths. */
void proto_hasher_end(proto_hasher *h);

#endif
