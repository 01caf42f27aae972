/* jail.h -- a user's home as a directory fd; every client path goes through it.
 *
 * The design, in the vsftpd spirit of "security by structure":
 *
 *   - A struct jail owns one directory fd, the user's home, and the session's
 *     current directory as a *user path*: a normalized string that starts with
 *     '/', where "/" is the home.  Nothing in here ever builds a host path.
 *   - The only way to name a file is jail_resolve(), which returns an opaque
 *     struct jail_path: an fd of the parent directory, opened beneath the home
 *     with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *     RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), plus the final name.  Every
 *     operation takes a jail_path, so callers cannot hand in a raw string.
 *   - The string checks of proto_path_normalize() are for clear errors; the kernel
 *     flags are what make escape impossible.  A symlink anywhere (planted by
 *     someone with shell access, or raced in) is never followed: as a middle
 *     component resolution fails with -ELOOP; as the final name, opens fail
 *     with -ELOOP and listings show it as JAIL_OTHER.
 *   - Uploads never write the visible name directly: they go to a hidden
 *     partial file that users cannot name, and jail_upload_commit() renames
 *     it over the target atomically.
 *
 * Path rules: the protocol's, in one place (src/proto/path.h): the raw path
 * is bytes with a length, so an embedded NUL is caught (-EINVAL); ".." at
 * "/" stays at "/"; a component that is too long is -ENAMETOOLONG, one that
 * is not allowed -EXDEV.  Each request's path is normalized once, here.
 *
 * Errors are negative errnos, as everywhere in the project, chosen so that
 * proto_errno_code() gives the protocol's code: -ENAMETOOLONG, -ELOOP (a
 * symlink is in the way) and -EXDEV (a path rule, a mount point in the way)
 * are bad_path; -EACCES (an operation on the
 * home itself, a target that is neither file nor directory) is
 * permission_denied; -EAGAIN (an upload in another session
 * holds the partial) is busy.
 *
 * Threads: a struct jail and the objects made from it belong to one session
 * thread.  Different jails (even on the same home) are independent.
 */
#ifndef SSFTP_JAIL_H
#define SSFTP_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "path.h"

struct jail;
struct jail_path;
struct jail_dir;
struct jail_upload;

enum jail_type { JAIL_FILE, JAIL_DIR, JAIL_OTHER };

/* What ls shows about one name.  size is st_size for files, 0 for the rest;
 * symlinks, devices, fifos and sockets are JAIL_OTHER. */
struct jail_entry {
    char name[NAME_MAX + 1];
    enum jail_type type;
    uint64_t size;
    int64_t mtime; /* seconds since the epoch */
};

/* What an operation removed or displaced, for the quota (quota.h): bytes
 * are the st_size of regular files, entries the names in the tree (files,
 * directories, partials, anything else; the home itself is not one). */
struct jail_count {
    uint64_t bytes;
    uint64_t entries;
};

/* Whether this process may use openat2(2) with the resolve flags every
 * jail path is opened with: 0, or -ENOSYS before Linux 5.6 or under a
 * seccomp filter that hides it (systemd's RestrictSUIDSGID=, which
 * DynamicUser= implies, fails it with ENOSYS), or another -errno. */
int jail_supported(void);

/* Makes the jail of the home directory homefd (which it takes over: it is
 * closed on failure too).  The cwd starts at "/".  -ENOTDIR if homefd is not
 * a directory. */
int jail_open(int homefd, struct jail **out);
void jail_close(struct jail *j);

/* An idle session holds no descriptor but its socket: jail_rest() closes
 * the home's, and jail_wake() takes a new one (opened afresh by name, as at
 * login) before the next operation.  -ESTALE (homefd closed) if it is not
 * the same directory as the jail's (the home was replaced meanwhile).  No
 * other function may be called on a resting jail. */
void jail_rest(struct jail *j);
int jail_wake(struct jail *j, int homefd);
bool jail_resting(const struct jail *j);

/* The session's current directory, a normalized user path.  Valid until the
 * next jail_cd() or jail_close(). */
const char *jail_cwd(const struct jail *j);

/* Changes the cwd to path (relative to the cwd, or absolute from home) if it
 * names a directory reachable without symlinks.  On error the cwd is
 * unchanged. */
int jail_cd(struct jail *j, const char *path, size_t len);

/* The one way to make a jail_path: normalizes path against the cwd and opens
 * its parent directory beneath the home.  The final name need not exist.
 * Free with jail_path_free(); it holds an fd. */
int jail_resolve(const struct jail *j, const char *path, size_t len,
                 struct jail_path **out);
void jail_path_free(struct jail_path *p);
/* The normalized user path, for replies and logs ("/" for the home). */
const char *jail_path_user(const struct jail_path *p);

/* Opens a regular file for reading.  *fd is O_RDONLY|O_CLOEXEC, blocking; st
 * (may be NULL) gets its fstat().  -EISDIR for a directory, -ELOOP for a
 * symlink, -EACCES for anything else that is not a regular file (opening a
 * fifo or device could block or have side effects, so it never is). */
int jail_open_read(const struct jail_path *p, int *fd, struct stat *st);

/* One name, without following a final symlink.  For the home, name is ".". */
int jail_stat(const struct jail_path *p, struct jail_entry *e);

/* Sets a regular file's modification time to sec (seconds since the epoch,
 * UTC), its access time unchanged: FTP's MFMT, so a mirror keeps its
 * files' times.  -EISDIR for a directory, -ELOOP for a symlink, -EACCES
 * for anything else.  A name swapped meanwhile is not followed either. */
int jail_set_mtime(const struct jail_path *p, int64_t sec);

/* Lists a directory, in readdir order (the caller sorts and pages).
 * jail_dir_next() returns 1 with an entry, 0 at the end, or -errno.  Skipped:
 * "." and "..", names that vanish while listing, and names a user could not
 * type back (partials, invalid UTF-8, control characters): ls shows exactly
 * what can be named. */
int jail_dir_open(const struct jail_path *p, struct jail_dir **out);
int jail_dir_next(struct jail_dir *d, struct jail_entry *e);
/* The same directory's upload partials instead: each entry is named after
 * the file it would become (".NAME.ssftp-part" gives NAME), with the
 * partial's size and time; the partials list shows its owner what counts
 * against the quota, and rm NAME discards one. */
int jail_dir_next_partial(struct jail_dir *d, struct jail_entry *e);
void jail_dir_close(struct jail_dir *d);

/* mkdir; -EEXIST if the name exists (as anything, a symlink included).  It
 * adds one entry. */
int jail_mkdir(const struct jail_path *p);

/* rm: removes a non-directory (-EISDIR for a directory, -EACCES for the
 * home) and discards its upload partial; either alone is enough (-ENOENT if
 * neither exists), and a partial held by an upload makes it -EAGAIN before
 * anything is removed.  A symlink is removed itself, never followed.  *freed
 * (may be NULL) gets the entries removed and the st_size of the regular file
 * and the partial among them, for quota_free(): exactly what was removed,
 * also when another session commits a new file under the name meanwhile
 * (the file is first renamed to a private name, then measured and unlinked
 * there). */
int jail_unlink(const struct jail_path *p, struct jail_count *freed);

/* rmdir: removes a directory that is empty but for upload partials, which
 * are discarded with it (-EAGAIN if one is held by an upload).  -ENOTEMPTY,
 * -ENOTDIR, -ELOOP for a symlink, -EACCES for the home.  *freed (may be NULL)
 * gets the discarded partials, even when the rmdir itself then fails, and
 * the directory's own entry when it is removed. */
int jail_rmdir(const struct jail_path *p, struct jail_count *freed);

/* Renames from to to, in the same directory or another of the home; the
 * target must not exist (-EEXIST, a symlink included): a rename never
 * destroys data, so it never changes usage.  -EINVAL for a directory into
 * itself or its own subtree; -EAGAIN when an upload holds from's partial
 * (a file being uploaded is not moved away); -EACCES if either is the
 * home.  What the jail keeps of a file (its recorded digest, an xattr)
 * goes with it; a partial no upload holds stays under the old name. */
int jail_rename(const struct jail_path *from, const struct jail_path *to);

/* Uploads, resumable: a put writes to the hidden partial proto_part_name()
 * gives (".NAME.ssftp-part") beside its target; users cannot name or list
 * it, and it survives a dropped connection so the client can resume.  Holding a
 * jail_upload means holding an exclusive flock() on the partial.
 *
 * begin: -EISDIR for a directory target (or the home), -EACCES for one that
 * is neither file nor directory, -ENAMETOOLONG when NAME is longer than 243
 * bytes (the partial's name would pass NAME_MAX), -EAGAIN when another
 * session is uploading the same file.  Opens or creates
 * the partial (mode 0644 less umask; *created, which may be NULL, tells
 * whether this call made it, a new entry -- also when begin then fails, for
 * the file may live on under another session), keeping what an earlier
 * attempt wrote:
 * see jail_upload_size(), and jail_upload_truncate() to keep only a verified
 * prefix (0 for a fresh upload).  Write with pwrite at offsets on
 * jail_upload_fd() (O_RDWR, so a prefix can be digested for resume).
 *
 * Ends, each of which frees u whatever it returns:
 *   commit:  fsyncs, atomically puts the file in place of the target
 *            (readers see the old or the new file, never neither), fsyncs
 *            the directory (or, when asked, hands its fd over so that the
 *            caller fsyncs it once for several commits); see struct
 *            jail_commit and enum jail_sync.  On failure nothing is published and the partial
 *            is kept for a resume.
 *   close:   keeps the partial for a later resume.
 *   discard: removes the partial; *freed (may be NULL) gets it (one entry
 *            and its size). */
int jail_upload_begin(const struct jail_path *p, struct jail_upload **out,
                      bool *created);
/* The size of p's partial upload (an earlier attempt's bytes), without
 * taking it: -ENOENT when there is none. */
int jail_partial_size(const struct jail_path *p, uint64_t *size);
int jail_upload_fd(const struct jail_upload *u);
/* The partial's current size (fstat, so it counts what was just written). */
int jail_upload_size(const struct jail_upload *u, uint64_t *size);
/* Cuts the partial to len bytes (-EINVAL if it is shorter than len: no
 * holes); *freed (may be NULL) gets the bytes cut. */
int jail_upload_truncate(struct jail_upload *u, uint64_t len, uint64_t *freed);
/* Starts writing the partial's data to disk without waiting, so that the
 * fsync of a later commit has less to wait for (best effort). */
void jail_upload_flush_start(const struct jail_upload *u);

/* What a commit did.  Once the new file is under the target name the commit
 * has happened and jail_upload_commit() returns 0, whatever fails after:
 * the client's data is live, so it must not be told otherwise. */
struct jail_commit {
    /* The file displaced, exactly (it was swapped out to a private name,
     * then measured there), and no longer on disk; {0, 0} when there was
     * none, or when it could not be measured or removed: then it stays
     * under its private name, still counted, until the next sweep
     * (jail_usage()) takes it. */
    struct jail_count replaced;
    /* An open fd of the displaced file, or -1: freeing a large file takes a
     * while, and closing this fd is when it happens -- close it after
     * answering the client. */
    int displaced_fd;
    /* 0, or the -errno of the directory fsync that failed after the file
     * was in place: published, but not known to survive a power cut. */
    int sync_err;
    /* -1; or, when the commit was asked to leave the directory's fsync to
     * the caller and the file is in place, an open fd of the directory:
     * fsync it (that is when the commit is durable), then close it. */
    int dir_fd;
    /* A directory took the target's name during the commit and could not
     * be given its name back (the kernel refused the second exchange): it
     * is whole, under a private name, and the log must say so. */
    bool dir_hidden;
};
/* How much of a commit is made durable before it returns. */
enum jail_sync {
    /* fsyncs the file; the directory's fsync is the caller's (c->dir_fd) */
    JAIL_SYNC_DIR_LATER = 0,
    JAIL_SYNC_FULL = 1, /* fsyncs the file, then the directory */
    /* The caller has made the data durable already (fdatasync): only the
     * directory is fsynced.  A second sync of the file would cost a second
     * journal commit for its timestamps alone. */
    JAIL_SYNC_DIR_ONLY,
    /* Nothing is fsynced (ssftpd --ftp-no-fsync): readers still see the old
     * file or the new one, never a part, but after a crash the new name may
     * be lost or name a short file -- what FTP servers that answer from the
     * page cache give. */
    JAIL_SYNC_NONE,
};
int jail_upload_commit(struct jail_upload *u, struct jail_commit *c,
                       enum jail_sync sync);
void jail_upload_close(struct jail_upload *u);
int jail_upload_discard(struct jail_upload *u, struct jail_count *freed);

/* What jail_usage() may remove on its way, and what it removed. */
struct jail_sweep {
    /* Partials not written for this many seconds are removed (unless an
     * upload holds them); below 0, none is. */
    int64_t partial_max_age_s;
    /* Out: leftovers of commits and removals cut short by a crash (files
     * under the private ".commit-*" names no session can reach), and old
     * partials, removed; bytes and entries of each. */
    struct jail_count commit_leftovers;
    struct jail_count old_partials;
};

/* Counts the home: *total gets the entries under it and the sum of st_size
 * of its regular files, hidden partials included, symlinks not followed,
 * other mounts not entered.  With sweep (may be NULL) it first removes
 * what struct jail_sweep says, which is then not counted.  Call it only
 * while no session of the user can be committing (quota.h makes sure).
 * An error does not stop the count: the rest of the tree is still counted
 * and the first error returned (-ENAMETOOLONG for a subtree deeper than
 * PROTO_PATH_DEPTH_MAX, which no user path could reach, and which is
 * skipped; the depth also bounds the fds the walk holds). */
int jail_usage(const struct jail *j, struct jail_count *total,
               struct jail_sweep *sweep);

#endif
