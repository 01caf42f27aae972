/* path.h -- what a user path is: the protocol's one rule, for both ends.
 *
 * docs/protocol.md, "Paths": a path is bytes (1..PROTO_PATH_MAX), split on
 * '/'; a leading '/' makes it absolute, else it is relative to the cwd.
 * Empty components and "." are skipped; ".." removes the previous component
 * and, at "/", stays at "/" (as a shell's cd does).  Each component is at
 * most PROTO_NAME_MAX bytes of valid UTF-8 without control characters (C0,
 * DEL, C1: they rewrite terminals and logs), and not reserved for partial
 * uploads (proto_is_part_name()).  The normalized path is "/" or "/" and
 * components joined by single '/', at most PROTO_PATH_BUF - 1 bytes and
 * PROTO_PATH_DEPTH_MAX components.
 *
 * The server normalizes each request's path exactly once, in the jail
 * (jail_resolve(), jail_cd()); the client uses the same helpers to name
 * local files after remote ones.  The UTF-8 decoder here is the project's
 * only one.
 *
 * Errors are negative errnos chosen so that proto_errno_code() gives the
 * protocol's code: -EINVAL (a NUL inside the bytes), -ENAMETOOLONG (a
 * component, the path or its depth too long) and -EXDEV (a component that
 * is not allowed) are bad_path or bad_request.
 *
 * All functions are pure and thread safe.
 */
#ifndef SSFTP_PROTO_PATH_H
#define SSFTP_PROTO_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A normalized path with its NUL fits in this many bytes. */
#define PROTO_PATH_BUF 4096
/* Components of a normalized path, at most. */
#define PROTO_PATH_DEPTH_MAX 64

/* The valid UTF-8 sequence at s (at most n bytes): its length (1..4) with
 * its code point in *cp, or 0 when the bytes there are not one (overlong,
 * surrogate, above U+10FFFF, truncated). */
size_t proto_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Code points a terminal or log viewer acts on rather than shows, so that
 * text would display as something it is not: C1 controls (ESC's single-byte
 * cousins), the bidi marks, embeddings, overrides and isolates (U+202E
 * turns "gpj.exe" around), and the line and paragraph separators.  Names
 * may hold the bidi ones; whoever prints them escapes them. */
bool proto_cp_misleading(uint32_t cp);

/* Whether n bytes at s are valid UTF-8 without C0, DEL or C1 controls. */
bool proto_text_ok(const char *s, size_t n);

/* Whether n bytes at s may be one component of a path (not "." or "..",
 * which the caller handles): 0, -ENAMETOOLONG, or -EXDEV. */
int proto_path_component_ok(const char *s, size_t n);

/* Normalizes path (len bytes; NULL or 0 for the cwd itself) against cwd (a
 * normalized absolute path, checked again all the same) into out. */
int proto_path_normalize(const char *cwd, const char *path, size_t len,
                         char out[PROTO_PATH_BUF]);

/* The last component of path, trailing slashes ignored ("/" for "/", "" for
 * ""), into out: 0, or -ENAMETOOLONG if it does not fit in cap. */
int proto_path_base(const char *path, char *out, size_t cap);

/* How many leading bytes of path are its directory, the last '/' included:
 * 0 for a bare name ("a"), 1 for "/a", 2 for "a/b". */
size_t proto_path_dir_len(const char *path);

/* dir + "/" + name into out (no second '/' when dir ends with one): 0, or
 * -ENAMETOOLONG if it does not fit in cap. */
int proto_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
