/* logfile.h -- a log file (--log FILE in stderr's place, --xferlog FILE)
 * opened for appending and reopened at SIGHUP, so that logrotate can move
 * it away ("create" mode, no copytruncate needed). */
#ifndef SSFTP_HANDLER_LOGFILE_H
#define SSFTP_HANDLER_LOGFILE_H

/* Opens path for appending (made 0640 if missing).  With *fd >= 0 the new
 * file takes that descriptor's place, at once (dup2): a line being
 * written goes to the old file or the new, and whoever writes to *fd
 * needs no lock.  With *fd < 0 the new descriptor is stored there.
 * Returns 0, or -errno after saying why (*fd left as it was). */
int logfile_reopen(const char *path, int *fd);

/* logfile_reopen() over stderr; "stderr" leaves stderr as it is. */
int logfile_open(const char *path);

#endif
