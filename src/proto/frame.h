/* frame.h -- length-prefixed JSON frames over a socket (bodies: body.h).
 *
 * Wire format (docs/protocol.md, "Framing"):
 *
 *     +----------------+---------------------------+------------------------+
 *     | N: u32 big end | N bytes: UTF-8 JSON object | "size" raw body bytes |
 *     +----------------+---------------------------+------------------------+
 *                                                    only if the object has a
 *                                                    top-level integer "size"
 *
 * I/O is unbuffered: a call reads exactly the bytes of its frame, so nothing
 * of ours is held between calls (under TLS the session may hold records it
 * read ahead: proto_tls_pending(); tls.h).  The fd must be
 * a connected stream socket; its O_NONBLOCK flag does not matter (each call
 * uses MSG_DONTWAIT and waits with poll()).  SIGPIPE is never raised: writing
 * to a closed peer returns -EPIPE.
 *
 * A proto_io also tracks the body owed in each direction, so framing cannot
 * drift out of step: proto_recv() first discards whatever is left of the
 * previous incoming body, and proto_send() refuses to start a frame while an
 * announced outgoing body is unfinished.
 */
#ifndef SSFTP_PROTO_FRAME_H
#define SSFTP_PROTO_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest header, in bytes of JSON.  A length of 0 or above this is refused
 * before any of it is read. */
#define PROTO_HEADER_MAX (64 * 1024)

/* One end of a connection.  Initialise with a designated initialiser, e.g.
 * `proto_io io = { .fd = fd, .timeout_ms = 300000, .body_timeout_ms = 30000 };`
 * (the body counters must start at 0).  The caller owns fd; nothing here
 * closes it.
 *
 * timeout_ms bounds a whole proto_recv() or proto_send() call, so a peer
 * trickling one byte at a time cannot hold a header open; for proto_recv()
 * that includes waiting for the frame to start (the idle timeout).
 * body_timeout_ms bounds each wait inside the body functions (an inactivity
 * timeout, so a large body on a slow link still completes); 0 means "same as
 * timeout_ms".  A timeout <= 0 (body: < 0) waits forever.  Expiry returns
 * -ETIMEDOUT; the connection is then out of step and must be closed.
 *
 * deadline_ms, when above 0, is an absolute proto_mono_ms() time that bounds
 * every wait of every call, bodies included (a server sets it to the login
 * deadline until the peer has logged in).
 *
 * body_min_rate, when above 0, is the least a body must bring, in bytes a
 * second, measured over each window of body_window_ms from the body's first
 * read: a window that closes short fails the read with -ETIMEDOUT.  A peer
 * trickling a byte every few seconds is thus cut after one window, though
 * each single wait is shorter than body_timeout_ms (Apache's mod_reqtimeout
 * MinRate is the same rule). */
typedef struct proto_io {
    int fd;
    int timeout_ms;
    int body_timeout_ms;
    int64_t deadline_ms;
    uint32_t body_min_rate;
    int body_window_ms;
    uint64_t body_in;    /* bytes of the current incoming body not yet read */
    uint64_t body_out;   /* bytes of the announced outgoing body not yet sent */
    int64_t pace_start;  /* private: the current pacing window's start */
    uint64_t pace_bytes; /* private: body bytes read in it */
    void *tls;           /* private: the TLS session (SSL *), or NULL; tls.h */
    /* Optional (NULL: none): a second descriptor every wait also watches,
     * as FTP's control connection during a transfer on its data
     * connection.  When watch_fd is readable (or hung up), watch(watch_ctx)
     * is called: nonzero ends the wait with -ECANCELED; 0 waits on, so it
     * must have taken what made watch_fd readable, or set watch to NULL. */
    int (*watch)(void *ctx);
    void *watch_ctx;
    int watch_fd;
} proto_io;

/* Deepest nesting of arrays and objects a header may have.  No header of
 * the protocol needs more than 4; jansson's recursive parser needs stack for
 * each level, so the limit is what keeps a hostile frame off the stack. */
#define PROTO_DEPTH_MAX 32

/* Whether the n bytes of JSON text nest arrays and objects at most max deep
 * (brackets inside strings do not count).  A scan only: the text need not be
 * valid JSON. */
bool proto_json_depth_ok(const char *json, size_t n, unsigned max);

/* Send hdr (a JSON object; the reference is not stolen) as one frame, in one
 * send() where the socket allows.  If hdr has a top-level "size" it must be a
 * non-negative integer, and the caller then owes exactly that many bytes via
 * proto_write_body()/proto_body_from_file().
 * Returns 0; -EINVAL if hdr is not an object, has a bad "size", or a body is
 * still owed; -EMSGSIZE if the encoding exceeds PROTO_HEADER_MAX; -ENOMEM;
 * -EPIPE/-ECONNRESET if the peer is gone; -ETIMEDOUT. */
int proto_send(proto_io *io, json_t *hdr);

/* Receive one frame's header into *out (a new reference the caller must
 * json_decref).  Any unread rest of the previous incoming body is discarded
 * first.  Afterwards io->body_in is the body that follows (0 if none).
 * Returns 0;
 *   -ENODATA     the peer closed cleanly between frames;
 *   -ECONNRESET  the peer closed (or reset) part-way through a frame or body;
 *   -EMSGSIZE    the length is 0 or above PROTO_HEADER_MAX (nothing read);
 *   -EBADMSG     the header is not valid UTF-8 JSON, nests deeper than
 *                PROTO_DEPTH_MAX, is not an object, has a duplicate key, or has a "size" that is not a non-negative
 *                integer;
 *   -ETIMEDOUT, -ENOMEM, or another negative errno from recv()/poll().
 * After any error the connection is out of step or gone: close it (a server
 * first replies PROTO_E_BAD_FRAME to -EMSGSIZE and -EBADMSG). */
int proto_recv(proto_io *io, json_t **out);

/* The body length a header announces: its "size" when that is a non-negative
 * integer, else 0. */
uint64_t proto_body_size(const json_t *hdr);

/* Sends n bytes as they are (through TLS when attached): for tests and
 * tools that must send what is not a frame.  Returns as proto_send(). */
int proto_send_raw(proto_io *io, const void *buf, size_t n);

#endif
