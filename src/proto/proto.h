/* proto.h -- the ssftp wire protocol, shared by ssftpd and ssftp.
 *
 * The design (docs/protocol.md is the normative spec; this is the map):
 *
 * A connection carries frames.  A frame is a 4-byte big-endian length, then
 * that many bytes of one compact JSON object (the header), then -- only when
 * the header has a top-level integer "size" -- exactly "size" raw body bytes.
 * Headers are small and capped (PROTO_HEADER_MAX); bodies carry file data and
 * are streamed, never held whole in memory.
 *
 *     frame.h   frames over a socket (proto_io), their deadlines
 *     body.h    the raw bytes after a frame, to and from memory and files
 *     reply.h   {"ok":...} replies, the stable error codes, errno -> code
 *     field.h   typed, validating access to header fields
 *     codec.h   strict fixed-length hex and base64
 *     digest.h  BLAKE2b-256 of buffers and file ranges
 *     blake2b.h BLAKE2b in portable C (digest.h uses it where it is faster)
 *     auth.h    SCRAM with argon2id: keys, proofs, signatures, fake users
 *     login.h   the client's half of the login, for every client
 *     partname.h  hidden names of resumable-upload partials
 *     path.h    what a user path is: normalize, split, join; UTF-8
 *     fileio.h  positioned file reads and writes (EINTR, short counts)
 *     sysutil.h every other system call wrapped once; the clock; be32
 *     addr.h    HOST:PORT as people type it
 *     size.h    byte counts ("10G", "95 MiB") and durations ("7d")
 *     kvfile.h  one line of a settings file, split into key and value
 *     hasher.h  hashing a body on a second thread while it moves
 *     tls.h     TLS 1.3 under it all: contexts, keys, fingerprints, the
 *               handshake, channel binding (OpenSSL 3)
 *
 * Memory: nothing is allocated per connection except while a call runs (the
 * header being read, a transfer buffer), so an idle session costs only its
 * proto_io (a few words).
 *
 * Conventions (as libsocketserver): functions return 0 (or a count) on
 * success and a negative errno on failure; nothing steals a json_t reference
 * unless its comment says so.  All functions are thread safe once
 * proto_init() has returned; a proto_io is used by one thread at a time.
 */
#ifndef SSFTP_PROTO_H
#define SSFTP_PROTO_H

#include "addr.h"
#include "auth.h"
#include "body.h"
#include "codec.h"
#include "digest.h"
#include "field.h"
#include "frame.h"
#include "kvfile.h"
#include "login.h"
#include "partname.h"
#include "path.h"
#include "reply.h"
#include "size.h"
#include "sysutil.h"
#include "tls.h"

/* The protocol version this code speaks (docs/protocol.md, "hello"). */
#define PROTO_VERSION 2

/* The protocol's numbers; docs/protocol.md, "Limits", says what each bounds. */
#define PROTO_PATH_MAX 4096        /* bytes in a "path" string */
#define PROTO_NAME_MAX 255         /* bytes in one path component */
#define PROTO_IDLE_TIMEOUT_S 300   /* server: wait for the next request */
#define PROTO_IO_TIMEOUT_S 30      /* silence allowed inside a body */
#define PROTO_BODY_MIN_RATE 500    /* server: body bytes/s, per idle window */
#define PROTO_REPLY_TIMEOUT_S 300  /* client: wait for a reply */
#define PROTO_LOGIN_TIMEOUT_S 60   /* connect to logged in */
#define PROTO_AUTH_MAX_FAILURES 3  /* failed proofs before the server closes */
#define PROTO_LS_PAGE_ENTRIES 1000 /* entries in one ls reply, at most */
#define PROTO_LS_PAGE_BYTES (48 * 1024) /* encoded entries in one ls reply */

/* The stack of an ssftpd worker thread, and so the least the protocol code
 * may assume.  Each session holds a worker for its life, so workers are many
 * and small: sessions keep their buffers on the heap only while a call runs.
 * Tests and fuzzers run hostile input on threads of this size. */
#define PROTO_WORKER_STACK (128 * 1024)

/* Initialise libsodium and seed jansson's hash function.  Call once from
 * main() before any thread starts; calling it again is harmless.
 * Returns 0, or -EIO when libsodium cannot initialise (no entropy source). */
int proto_init(void);

#endif
