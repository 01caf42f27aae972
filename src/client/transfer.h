/* transfer.h -- put and get, resumable and verified end to end.
 *
 * Both stream through the fixed buffers of the protocol's body helpers
 * (proto_body_from_file(), proto_body_to_file(): at most 4 MiB, hashed on a
 * second thread for large files), so memory stays constant whatever the
 * file size, and both hash every byte with BLAKE2b-256 on this
 * side and compare with the server's digest (docs/protocol.md, "put", "get").
 *
 * Resume: an interrupted get leaves ".NAME.ssftp-part" beside the target
 * (proto_part_name()); it only ever holds a prefix of the file, because bytes
 * are written in order, so the next get of the same file offers that prefix
 * and the server continues after it if the digests agree.  The partial is
 * renamed over the target only once the whole file is verified.  An
 * interrupted put leaves the partial on the server, which the next put of
 * the same path continues the same way.  SIGINT during a transfer ends the
 * process at once (exit 130) with the partial in place; in the shell
 * (transfer_interruptible(true)) it shuts the connection down instead, so
 * the transfer fails at once, and the shell reconnects.
 */
#ifndef SSFTP_CLIENT_TRANSFER_H
#define SSFTP_CLIENT_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

/* Upload local to remote (NULL: local's last component; a remote ending in
 * '/' gets it appended).  local "-" is stdin, read to its end into an
 * unlinked file in $TMPDIR first (the protocol announces the size), then
 * put as any file; remote is then required.  keep_mtime (put -p): the
 * remote file then gets local's modification time (set_mtime).  Returns an SS_* status;
 * c->err says why. */
int transfer_put(client_conn *c, const char *local, const char *remote,
                 bool show_progress, bool keep_mtime);

/* Download remote to local (NULL: remote's last component in the current
 * directory; an existing local directory gets it appended).  local "-" is
 * stdout: the file is received into an unlinked file in $TMPDIR, verified,
 * then copied out (no progress bar; the report goes to stderr).
 * keep_mtime (get -p): the local file gets the remote's modification time
 * (asked with stat once the bytes are verified). */
int transfer_get(client_conn *c, const char *remote, const char *local,
                 bool show_progress, bool keep_mtime);

/* Upload several local files into the current remote directory, each under
 * its own name (mput), or download several remote files into the current
 * local directory (mget).  Requests go out a window at a time without
 * waiting for each reply (small files whole, docs/protocol.md "put"), and
 * the files are made durable a window at a time.  A file that fails is
 * said on stderr and the rest go on; the status is SSFTP_FAIL if any failed
 * (c->err counts them), SSFTP_CONN if the connection broke. */
/* Ctrl-C during a transfer stops it without ending the process (the
 * interactive shell); transfer_interrupted() tells, once, whether that
 * happened since it was last asked. */
void transfer_interruptible(bool on);

/* --limit-rate, the config's limit-rate and the shell's rate: every body
 * after this moves at most bytes_per_s bytes a second, in slices of at
 * most 64 KiB (0: no limit).  transfer_rate() is the limit now. */
void transfer_limit_rate(uint64_t bytes_per_s);
uint64_t transfer_rate(void);

/* RATE as typed: digits with an optional K, M, G (or T) suffix, 1024-based,
 * from TRANSFER_RATE_MIN to TRANSFER_RATE_MAX bytes a second, or "off"
 * (0).  Returns NULL with *out set, or why s is not one. */
#define TRANSFER_RATE_MIN 1024u
#define TRANSFER_RATE_MAX (1024ull << 30)
const char *transfer_rate_parse(const char *s, uint64_t *out);
bool transfer_interrupted(void);

/* keep_mtime (mput -p, mget -p): as put -p and get -p; mput then puts
 * each file alone, as set_mtime must wait for its put. */
int transfer_mput(client_conn *c, const char *const *locals, unsigned n,
                  bool show_progress, bool keep_mtime);
int transfer_mget(client_conn *c, const char *const *remotes, unsigned n,
                  bool show_progress, bool keep_mtime);

#endif
