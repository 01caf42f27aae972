/* quota.h -- per-user quotas of bytes and entries, true across processes.
 *
 * A user's counts live in their ledger (ledger.h): bytes and entries on
 * disk, and bytes promised to uploads in progress, shared by every ssftpd
 * process on the data root.  Within a process a registry maps user name ->
 * account, shared by that user's sessions and dropped with the last of
 * them.
 *
 * Counting the home (jail_usage()) is what makes the counts true, and it is
 * done only when they may not be: the ledger is new, or marked dirty (a
 * process died with the account open, or an admin ran "ssftpd user rescan"),
 * and then only when no other process has the account open (while one does,
 * its uploads are changing the disk under the count; the count waits for the
 * next open with nobody else).  It is also done, with a sweep of old
 * partials, at most once per sweep interval (the partial age, capped at a
 * day).  So a login's cost does not grow with the home.  A count that meets
 * an error counts the rest and does not fail the login (struct
 * quota_opened says what happened, for the log).
 *
 * Bytes are st_size, not st_blocks * 512: st_size is what the client sent
 * and what ls shows, so a reservation made from a transfer's size matches
 * exactly what a later count finds.  Entries are names: files, directories,
 * partials; directories and empty files cost no bytes, and this is what
 * keeps a user from filling the disk's inodes with them.
 *
 * The limits are re-read from the user's record on every check (userdb
 * reloads users.json when it changes): the record's, or the registry's
 * default when that is 0.  QUOTA_UNLIMITED means no limit.
 *
 * files.c follows these steps for every front-end.  How a file of total
 * bytes is stored (put, docs/protocol.md), n =
 * total - off more from offset off (0, or the partial's length K when the
 * client's prefix digest matched):
 *
 *     quota_take_entry(q)                   -EDQUOT: refuse (but see
 *         session_xfer.c for a resume at the limit)
 *     jail_upload_begin(path, &u, &created) -EAGAIN: another session is on
 *         it; whatever it returns, unless created: quota_free(q, {0, 1})
 *     quota_reserve(q, n)                   -EDQUOT: jail_upload_close(u)
 *     (only then, if the partial must start over: jail_upload_truncate(u,
 *         0, &cut); quota_free(q, {cut, 0}))
 *     receive the body into jail_upload_fd(u) at offset off
 *     jail_upload_size(u, &end); quota_commit(q, n, end - off)
 *         (complete or not: whatever reached the partial is on disk)
 *     complete:  jail_upload_commit(u, &c); quota_free(q, c.replaced)
 *     otherwise: jail_upload_close(u), keeping the partial for a resume, or
 *                jail_upload_discard(u, &freed); quota_free(q, freed)
 *
 * mkdir: quota_take_entry(q), then quota_free(q, {0, 1}) if it failed; rm
 * and rmdir: jail_unlink(path, &freed) or jail_rmdir(path, &freed), then
 * quota_free(q, freed).
 *
 * Checks and changes are made under the ledger's lock, so concurrent
 * reserves of one user, in any threads of any processes, can never
 * together overshoot.
 *
 * Threads: all functions are thread safe.  An account is used from the
 * sessions that acquired it; each acquire is paired with one quota_drop().
 */
#ifndef SSFTP_QUOTA_H
#define SSFTP_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "jail.h"
#include "userdb.h"

#define QUOTA_UNLIMITED UINT64_MAX
/* The longest a sweep of old partials waits. */
#define QUOTA_SWEEP_INTERVAL_S 86400

struct quota_registry;
struct quota;

struct quota_config {
    uint64_t default_bytes;   /* for records whose quota is 0 */
    uint64_t default_entries; /* for records whose max_files is 0 */
    /* Partials not written for this long are swept; below 0, never. */
    int64_t partial_max_age_s;
};

struct quota_usage {
    uint64_t used;     /* bytes in files, partial uploads included */
    uint64_t reserved; /* bytes promised to uploads in progress */
    uint64_t limit;    /* QUOTA_UNLIMITED for none */
    uint64_t entries;  /* files, directories and partials */
    uint64_t entries_limit;
};

/* What opening an account did, for the log. */
struct quota_opened {
    bool counted;  /* the home was counted */
    int count_err; /* 0, or the first error of that count */
    bool deferred; /* the counts are in doubt, but another process has the
                      account open: counted at a later open */
    struct jail_sweep sweep; /* what the count swept */
};

/* db is borrowed and must outlive the registry. */
int quota_registry_create(struct userdb *db, const struct quota_config *cfg,
                          struct quota_registry **out);
/* Every account must have been dropped. */
void quota_registry_destroy(struct quota_registry *r);

/* The account of name, opening its ledger and counting the home of j if
 * the rules above say so (other sessions of that user wait).  *ev (may be
 * NULL) says what was done.  Errors: the ledger's (-EUSERS when
 * LEDGER_SLOTS processes hold it). */
int quota_acquire(struct quota_registry *r, const char *name,
                  const struct jail *j, struct quota **out,
                  struct quota_opened *ev);
void quota_drop(struct quota *q);

/* "ssftpd user rescan": marks name's counts dirty and counts the home of j
 * now if no process has the account open (else ev->deferred). */
int quota_rescan(struct quota_registry *r, const char *name,
                 const struct jail *j, struct quota_opened *ev);

/* Reserves n bytes: 0, -EDQUOT if used + reserved + n would pass the limit,
 * -EACCES if the user has been removed, or a userdb or ledger error. */
int quota_reserve(struct quota *q, uint64_t n);
/* Ends a reservation of `reserved` bytes of which `written` were stored. */
int quota_commit(struct quota *q, uint64_t reserved, uint64_t written);
/* Ends a reservation that stored nothing. */
int quota_release(struct quota *q, uint64_t reserved);
/* One entry more (a partial or a directory about to be made): 0, -EDQUOT
 * at the limit, or as quota_reserve(). */
int quota_take_entry(struct quota *q);
/* One entry more, past the limit if need be: for an entry that exists
 * already though no check allowed it (a partial made at the limit that
 * another session took over before it could be removed). */
int quota_count_entry(struct quota *q);
/* What is gone from disk (never below zero). */
int quota_free(struct quota *q, struct jail_count gone);

int quota_report(struct quota *q, struct quota_usage *u);

#endif
