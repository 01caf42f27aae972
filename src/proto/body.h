/* body.h -- the raw bytes after a frame: to and from memory and files.
 *
 * A header with a top-level "size" is followed by exactly that many raw
 * bytes (frame.h); these functions move them, keeping io->body_in and
 * io->body_out true so framing cannot drift.  Reads wait under the body
 * timeout and the minimum-rate rule of proto_io, writes under the body
 * timeout; the session's hard deadline bounds both.
 */
#ifndef SSFTP_PROTO_BODY_H
#define SSFTP_PROTO_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "frame.h"

/* Read exactly n bytes of the current incoming body into buf.
 * Returns 0; -EINVAL if n exceeds io->body_in; -ECONNRESET if the peer closes
 * first; -ETIMEDOUT; or another negative errno. */
int proto_read_body(proto_io *io, void *buf, size_t n);

/* Read between 1 and min(cap, io->body_in) bytes of the current body.
 * Returns the count; 0 only when cap is 0 or the body is complete; or a
 * negative errno as proto_read_body(). */
ssize_t proto_read_some(proto_io *io, void *buf, size_t cap);

/* Send exactly n bytes of the announced outgoing body.
 * Returns 0; -EINVAL if n exceeds io->body_out; -EPIPE/-ECONNRESET;
 * -ETIMEDOUT; or another negative errno. */
int proto_write_body(proto_io *io, const void *buf, size_t n);

/* Streams without frames (FTP's control and data connections): one read of
 * what has arrived, up to cap bytes, through TLS when attached.  With wait
 * it waits up to io->timeout_ms (and io->deadline_ms) for the first byte,
 * else it returns -EAGAIN at once when nothing has arrived.  Returns the
 * count, 0 at end of stream, or a negative errno.  (proto_send_raw() is the
 * sending half.) */
ssize_t proto_stream_recv(proto_io *io, void *buf, size_t cap, bool wait);

/* A limit on the rate of bodies, in bytes a second (ssftp --limit-rate): a
 * token bucket that holds one slice, of a sixteenth of a second's bytes but
 * at most PROTO_RATE_SLICE, so a limited body moves a slice at a time, a
 * sixteenth of a second apart, not in bursts of a whole buffer.  Kept
 * across bodies, so that many small files are limited together.
 * Initialise with `proto_rate r = {.bytes_per_s = N};` (0: no limit). */
#define PROTO_RATE_SLICE (64u * 1024)
typedef struct proto_rate {
    uint64_t bytes_per_s;
    int64_t next_ns; /* private: when the next slice may go */
} proto_rate;

/* What a caller can add to the file helpers below. */
typedef struct proto_body_hooks {
    /* After each buffer, with the file offset the body has reached. */
    void (*progress)(void *ctx, uint64_t off);
    void *ctx;
    /* proto_body_to_file(): give up at the first failed file write (the
     * connection is then unusable) instead of draining the rest. */
    bool stop_on_file_error;
    /* proto_body_from_file() with d == NULL: hand the file to the socket
     * with sendfile(2), no copy through user memory.  sendfile() has no
     * MSG_NOSIGNAL, so only for processes that ignore SIGPIPE (every
     * libsocketserver server does).  Where the file cannot be sendfile'd
     * (EINVAL/ENOSYS before the first byte) it copies as usual. */
    bool zero_copy;
    /* A rate limit (NULL, or bytes_per_s 0: none): the body then moves a
     * slice at a time, and progress is called after each slice. */
    proto_rate *rate;
} proto_body_hooks;

/* The two file helpers below move the body through the buffers of a
 * proto_hasher (hasher.h): allocated for the call and freed before return,
 * and hashed on a second thread when the body is large. */

/* Send the whole announced outgoing body (io->body_out bytes) from file fd
 * starting at offset off, adding the bytes to d when d is not NULL.  hooks
 * may be NULL.
 * Returns 0, or a negative errno: from the socket, or -- with *file_err set
 * to the same value -- from the file (-ENODATA if it ends early).  Any error
 * leaves the connection unusable: the peer is owed bytes that cannot be
 * produced, so the caller must close it. */
int proto_body_from_file(proto_io *io, int fd, uint64_t off,
                         proto_digest_state *d, const proto_body_hooks *hooks,
                         int *file_err);

/* Receive the whole current incoming body (io->body_in bytes) into file fd at
 * offset off, adding the bytes to d when d is not NULL.  hooks may be NULL.
 * A failing file write does not stop the transfer (unless the hooks say so):
 * the rest of the body is read and discarded so the connection stays in
 * step, and *file_err is set to the first write's negative errno (else 0).
 * Returns 0 when the whole body was consumed (check *file_err); the write
 * error when stop_on_file_error gave up; or a negative errno from the socket
 * (the connection is then unusable).  Bytes received before a socket error
 * are written first, so a cut upload keeps all it got. */
int proto_body_to_file(proto_io *io, int fd, uint64_t off,
                       proto_digest_state *d, const proto_body_hooks *hooks,
                       int *file_err);

#endif
