/* reply.h -- {"ok":...} replies and the stable error codes.
 *
 * Every reply has a boolean "ok".  A failure also has "code" (one of the
 * strings below; programs switch on it and it never changes meaning) and
 * "error" (a sentence for humans; never parse it).  docs/protocol.md,
 * "Error codes", is the normative list.
 */
#ifndef SSFTP_PROTO_REPLY_H
#define SSFTP_PROTO_REPLY_H

#include <jansson.h>

#include "frame.h"

#define PROTO_E_BAD_FRAME "bad_frame"             /* unreadable frame; closes */
#define PROTO_E_BAD_REQUEST "bad_request"         /* bad field or wrong state */
#define PROTO_E_UNKNOWN_COMMAND "unknown_command" /* "cmd" not known */
#define PROTO_E_AUTH_REQUIRED "auth_required"     /* log in first */
#define PROTO_E_AUTH_FAILED "auth_failed"         /* unknown user, bad proof */
#define PROTO_E_NOT_FOUND "not_found"             /* ENOENT */
#define PROTO_E_EXISTS "exists"                   /* EEXIST */
#define PROTO_E_NOT_A_DIRECTORY "not_a_directory" /* ENOTDIR */
#define PROTO_E_IS_A_DIRECTORY "is_a_directory"   /* EISDIR */
#define PROTO_E_NOT_EMPTY "not_empty"             /* ENOTEMPTY */
#define PROTO_E_PERMISSION_DENIED "permission_denied" /* EACCES, EPERM */
#define PROTO_E_BAD_PATH "bad_path"               /* malformed/forbidden path */
#define PROTO_E_QUOTA_EXCEEDED "quota_exceeded"   /* user quota, EDQUOT */
#define PROTO_E_NO_SPACE "no_space"               /* server disk full, ENOSPC */
#define PROTO_E_DIGEST_MISMATCH "digest_mismatch" /* upload corrupted */
#define PROTO_E_TOO_LARGE "too_large"             /* above a size limit */
#define PROTO_E_BUSY "busy"                       /* in use / try later */
#define PROTO_E_INTERNAL "internal"               /* server fault */
#define PROTO_E_VERSION "version"                 /* unsupported version */

/* Longest "error" text sent; longer text is cut. */
#define PROTO_ERROR_MAX 512

/* Send {"ok":true} plus the fields of extra (NULL for none).  "ok":true is
 * set in extra itself; the caller keeps its reference.  A top-level "size" in
 * extra announces a body, as for proto_send().  Returns as proto_send(). */
int proto_send_ok(proto_io *io, json_t *extra);

/* Send {"ok":false,"code":code,"error":<printf fmt, ...>}.  Text that is not
 * valid UTF-8 (a raw file name, a cut multibyte character) has its non-ASCII
 * bytes replaced by '?' rather than failing.  Returns as proto_send(). */
int proto_send_error(proto_io *io, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* proto_send_error() with the fields of extra added (the caller keeps its
 * reference), for a failure that says more than its text, such as
 * "retry_after" on busy.  "ok", "code" and "error" in extra are
 * ignored. */
int proto_send_error_with(proto_io *io, const char *code, json_t *extra,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The code for a negative errno from a file system call or a proto_get_*
 * helper (-EINVAL: bad_request); PROTO_E_INTERNAL for anything unexpected. */
const char *proto_errno_code(int err);

/* Read a reply's status.  Returns 0 when "ok" is true; -EREMOTEIO when it is
 * false, with *code and *error (each may be NULL) borrowed from reply
 * ("" for a missing error text); -EBADMSG when the reply has no boolean "ok"
 * or a failure lacks a string "code". */
int proto_reply_check(const json_t *reply, const char **code,
                      const char **error);

#endif
