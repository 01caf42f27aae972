/* files.h -- the file service: what a logged-in user can do to their home,
 * whatever the protocol.
 *
 * The core under every front-end (the ssftp sessions today, FTP next): a
 * struct files is one user's home (its jail, jail.h) with the user's quota
 * account (quota.h), and each operation here does the jail's work and the
 * quota's bookkeeping together, in the order quota.h prescribes, so no
 * front-end can get them out of step.  Nothing here knows of frames, JSON,
 * sockets or replies: errors are negative errnos, which a front-end turns
 * into its own codes (proto_errno_code() for ssftp).
 *
 * Naming a file: files_resolve() gives a struct jail_path, the jail's
 * capability (the protocol's path rule is applied there, once).  Reading
 * needs no quota and is the jail's own API: jail_open_read(), jail_stat(),
 * jail_dir_open()/jail_dir_next().  Recorded digests are digestcache.h's.
 *
 * Uploads are resumable and published atomically:
 *
 *     files_upload_begin(f, p, total, &u, &partial)
 *         partial: bytes an earlier attempt left, to offer for a resume
 *     [files_upload_restart(u)]   the client's copy differs: start at 0
 *     write bytes partial (or 0)..total-1 at their offsets on
 *         files_upload_fd(u), then files_upload_written(u, off, &stored)
 *     files_upload_commit(u, &c, sync)      publish (the partial must be
 *                                 total bytes)
 *     or files_upload_leave(u)    keep the partial for a later resume
 *     or files_upload_discard(u)  throw it away
 *
 * Threads: a struct files and its uploads belong to one session; files of
 * one user in several sessions (and processes) share the quota safely.
 */
#ifndef SSFTP_FILES_H
#define SSFTP_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jail.h"
#include "quota.h"
#include "userdb.h"

struct files;
struct files_upload;

/* Opens user's home and quota account.  *ev (may be NULL) says what
 * opening the account did (quota.h), for the log.  Errors: the home's
 * (userdb_home_open()) or the account's (quota_acquire()). */
int files_open(struct userdb *db, struct quota_registry *quotas,
               const char *user, struct files **out, struct quota_opened *ev);
void files_close(struct files *f);

/* Between a session's requests: files_rest() lets go of the home's
 * descriptor (an idle session holds only its socket), files_wake() opens
 * the home again by name, beneath the data root as at login, before the
 * next operation (no-op when awake).  Errors: userdb_home_open()'s (the
 * user's home is gone), jail_wake()'s -ESTALE (replaced since login),
 * -EMFILE and the like when the server is out of descriptors. */
void files_rest(struct files *f);
int files_wake(struct files *f);

/* The current directory, and changing it (jail.h). */
const char *files_cwd(const struct files *f);
int files_cd(struct files *f, const char *path, size_t len);

/* Names a file: path (len bytes) against the cwd (jail_resolve()). */
int files_resolve(const struct files *f, const char *path, size_t len,
                  struct jail_path **out);

/* mkdir, a new entry under the limit (-EDQUOT at it). */
int files_mkdir(struct files *f, const struct jail_path *p);
/* rm of a file (its partial too) and rmdir; what they free leaves the
 * quota, also when rmdir then fails (jail.h). */
int files_remove(struct files *f, const struct jail_path *p);
int files_rmdir(struct files *f, const struct jail_path *p);
/* Rename within the home, never over an existing name (jail_rename()). */
int files_rename(struct files *f, const struct jail_path *from,
                 const struct jail_path *to);

/* The user's counts and limits. */
int files_usage(struct files *f, struct quota_usage *u);

/* Begins an upload of total bytes to p: takes the partial's entry and
 * reserves the bytes still to come.  *partial gets the bytes an earlier
 * attempt left (0 for none, or when they were more than total: then the
 * partial starts over).  Errors: jail_upload_begin()'s (-EAGAIN: another
 * session uploads to p), -EFBIG above INT64_MAX bytes, -EDQUOT (bytes or
 * entries; at the entry limit only an existing partial may be resumed).
 * A refusal leaves an existing partial as it was. */
int files_upload_begin(struct files *f, const struct jail_path *p,
                       uint64_t total, struct files_upload **out,
                       uint64_t *partial);
/* An upload whose size is known only at the end (FTP's STOR): nothing is
 * reserved up front; each write is reserved just before it with
 * files_upload_reserve() (-EDQUOT: the quota would be passed, so the bytes
 * must not be written), and files_upload_commit() publishes whatever the
 * partial then holds.  *partial as files_upload_begin(); the partial is
 * kept as it is.  Errors as files_upload_begin(). */
int files_upload_begin_open(struct files *f, const struct jail_path *p,
                            struct files_upload **out, uint64_t *partial);
int files_upload_reserve(struct files_upload *u, uint64_t n);
/* Cuts the partial to len bytes (at most its size); what is cut leaves the
 * quota. */
int files_upload_truncate(struct files_upload *u, uint64_t len);
/* The partial, O_RDWR: write at offsets with pwrite. */
int files_upload_fd(const struct files_upload *u);
/* Starts over at 0: the partial's bytes come again, so they are reserved
 * first (-EDQUOT leaves the partial as it was), then the partial is cut. */
int files_upload_restart(struct files_upload *u);
/* The body from offset off has been written (whole or not): the bytes that
 * reached the partial, *stored, are counted and the reservation ends. */
int files_upload_written(struct files_upload *u, uint64_t off,
                         uint64_t *stored);
/* Publishes the partial under the target name (jail_upload_commit()) once
 * it holds exactly the total (-EIO otherwise, and the partial is kept).  *c
 * says what was replaced; close c->displaced_fd (when >= 0) after telling
 * the client.  sync says what is fsynced (enum jail_sync): with
 * JAIL_SYNC_DIR_LATER the directory's fsync is the caller's, see c->dir_fd
 * (a group of commits in one directory fsyncs it once).  Frees u. */
int files_upload_commit(struct files_upload *u, struct jail_commit *c,
                        enum jail_sync sync);
/* Starts writing what the partial holds to disk (jail_upload_flush_start()),
 * for an upload whose commit is put off to be grouped with others. */
void files_upload_flush_start(const struct files_upload *u);
/* Ends without publishing, keeping the partial for a resume (an empty one
 * is removed: nothing to resume).  Frees u. */
void files_upload_leave(struct files_upload *u);
/* Ends without publishing and removes the partial.  Frees u. */
int files_upload_discard(struct files_upload *u);

#endif
