/* quota.h -- per-user byte quotas shared by all of a user's sessions.
 *
 * A registry maps user name -> account {used, reserved}.  The first session
 * of a user computes "used" by walking the home (jail_usage()); later
 * sessions share the account, and it is dropped with the last of them, so
 * the next login walks again and picks up changes made outside the server.
 *
 * Bytes are st_size, not st_blocks * 512: st_size is what the client sent
 * and what ls shows, so a reservation made from a transfer's size matches
 * exactly what a later walk counts.  Blocks depend on the filesystem
 * (compression, delayed allocation, block rounding), would make the same
 * upload cost different amounts, and could not be reserved ahead.
 *
 * The limit is re-read from the user's record on every reserve and report
 * (userdb reloads users.json when it changes): record quota, or the
 * registry's default when that is 0.  QUOTA_UNLIMITED means no limit.
 *
 * How a session stores a file (put, docs/protocol.md) of total bytes, n =
 * total - off more from offset off (0, or the partial's length K when the
 * client's prefix digest matched; a partial longer than total is cut to 0):
 *
 *     jail_upload_begin(path, &u)          -EAGAIN: another session is on it
 *     jail_upload_truncate(u, off, &cut); quota_free(q, cut)
 *     quota_reserve(q, n)                  -EDQUOT: jail_upload_close(u),
 * refuse receive the body into jail_upload_fd(u) at offset off
 *     jail_upload_size(u, &end); quota_commit(q, n, end - off)
 *         (complete or not: whatever reached the partial is on disk)
 *     complete:  jail_upload_commit(u, &replaced); quota_free(q, replaced)
 *     otherwise: jail_upload_close(u), keeping the partial for a resume, or
 *                jail_upload_discard(u, &freed); quota_free(q, freed)
 *
 * and for rm and rmdir: jail_unlink(path, &freed) or jail_rmdir(path,
 * &freed), then quota_free(q, freed).
 *
 * reserve checks used + reserved + n against the limit under the account's
 * mutex, so concurrent reserves of one user can never together overshoot.
 *
 * Threads: all functions are thread safe.  An account is used from the
 * sessions that acquired it; each acquire is paired with one quota_drop().
 */
#ifndef SSFTP_QUOTA_H
#define SSFTP_QUOTA_H

#include <stdint.h>

#include "jail.h"
#include "userdb.h"

#define QUOTA_UNLIMITED UINT64_MAX

struct quota_registry;
struct quota;

struct quota_usage {
    uint64_t used;     /* bytes in files, partial uploads included */
    uint64_t reserved; /* bytes promised to uploads in progress */
    uint64_t limit;    /* QUOTA_UNLIMITED for none */
};

/* db is borrowed and must outlive the registry. */
int quota_registry_create(struct userdb *db, uint64_t default_limit,
                          struct quota_registry **out);
/* Every account must have been dropped. */
void quota_registry_destroy(struct quota_registry *r);

/* The account of name; walks the home of j if no session holds it yet
 * (other sessions of that user wait for the walk).  Errors: jail_usage()'s. */
int quota_acquire(struct quota_registry *r, const char *name,
                  const struct jail *j, struct quota **out);
void quota_drop(struct quota *q);

/* Reserves n bytes: 0, -EDQUOT if used + reserved + n would pass the limit,
 * -EACCES if the user has been removed, or a userdb error. */
int quota_reserve(struct quota *q, uint64_t n);
/* Ends a reservation of `reserved` bytes of which `written` were stored. */
void quota_commit(struct quota *q, uint64_t reserved, uint64_t written);
/* Ends a reservation that stored nothing. */
void quota_release(struct quota *q, uint64_t reserved);
/* n bytes of files are gone (never below zero). */
void quota_free(struct quota *q, uint64_t n);

int quota_report(struct quota *q, struct quota_usage *u);

#endif
