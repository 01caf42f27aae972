/* digestcache.h -- a file's BLAKE2b-256, remembered beside it.
 *
 * A get must send the digest of the whole file.  Hashing it again on every
 * download costs the server a core per transfer (and lets a few clients keep
 * it busy fetching one big file), yet the digest is already known: the
 * server computed and verified it when the file was uploaded.  So it is kept
 * in an extended attribute of the file (user.ssftp.blake2b), together with
 * the size, modification time and inode number it was computed for, and a
 * get trusts it only while all three still match.  A file changed behind the
 * server's back gets a new mtime and is simply hashed again; a change that
 * forged the old mtime makes the client's check fail and the download is
 * discarded -- never accepted.  And because the recorded digest is the one
 * the uploader's client verified, a download that checks out proves the
 * bytes are the ones uploaded, including any that rotted on disk since.
 *
 * Everything here is an optimisation: file systems without user xattrs, or a
 * full disk, just mean hashing as before.
 */
#ifndef SSFTP_DIGESTCACHE_H
#define SSFTP_DIGESTCACHE_H

#include <stdint.h>
#include <sys/stat.h>

#include "digest.h"

#define DIGESTCACHE_XATTR "user.ssftp.blake2b"

/* The recorded digest of open file fd, whose fstat() is st.  Returns 0 with
 * out set, or -ENODATA when there is none or it was recorded for a different
 * size, mtime or inode. */
int digestcache_load(int fd, const struct stat *st,
                     uint8_t out[PROTO_DIGEST_BYTES]);

/* Record digest for fd's content as it is now.  With expect not NULL, only
 * if the file still has expect's size, mtime and inode (it was not changed
 * while being hashed): else -ESTALE.  Returns 0 or a negative errno
 * (-ENOTSUP where the file system has no user xattrs). */
int digestcache_store(int fd, const uint8_t digest[PROTO_DIGEST_BYTES],
                      const struct stat *expect);

#endif
