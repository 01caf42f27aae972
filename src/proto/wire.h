/* wire.h -- deadlines and socket waits that frames and bodies share.
 *
 * Internal to src/proto (frame.c, body.c); not part of proto.h.  Every
 * socket call of the protocol goes through these: EINTR and short counts
 * are handled here once, MSG_DONTWAIT keeps a socket's own blocking mode
 * from defeating a deadline, MSG_NOSIGNAL keeps SIGPIPE away, and the
 * session's hard deadline (proto_io.deadline_ms) bounds every wait.
 */
#ifndef SSFTP_PROTO_WIRE_H
#define SSFTP_PROTO_WIRE_H

#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "sysutil.h"

/* Deadlines are absolute CLOCK_MONOTONIC milliseconds.  NO_DEADLINE waits
 * forever; PER_WAIT means "the body timeout from the start of each wait" (the
 * inactivity timeout used for bodies); NO_WAIT does not wait at all (-EAGAIN
 * where a wait would start). */
#define NO_DEADLINE (-1)
#define PER_WAIT INT64_MIN
#define NO_WAIT (INT64_MIN + 1)

/* timeout_ms from now as a deadline (NO_DEADLINE when <= 0). */
int proto_wire_deadline_in(int timeout_ms, int64_t *deadline);
/* PER_WAIT made absolute: the body timeout from now. */
int proto_wire_per_wait(const proto_io *io, int64_t *deadline);
/* Waits until io->fd is ready for events (or has an error or hangup for the
 * next call to report), or the deadline passes (-ETIMEDOUT). */
int proto_wire_wait(const proto_io *io, short events, int64_t deadline);
/* One recv of up to n bytes: the count, 0 at end of stream, or -errno. */
ssize_t proto_wire_recv_some(const proto_io *io, void *buf, size_t n,
                             int64_t deadline);
/* Exactly n bytes; end of stream part-way is -ECONNRESET. */
int proto_wire_recv_exact(const proto_io *io, void *buf, size_t n,
                          int64_t deadline);
/* All n bytes, or -EPIPE/-ECONNRESET if the peer is gone. */
int proto_wire_send_all(const proto_io *io, const void *buf, size_t n,
                        int64_t deadline);

/* The same two over the TLS session (tls.c), when io->tls is set. */
ssize_t proto_tls_recv_some(const proto_io *io, void *buf, size_t n,
                            int64_t deadline);
int proto_tls_send_all(const proto_io *io, const void *buf, size_t n,
                       int64_t deadline);

#endif
