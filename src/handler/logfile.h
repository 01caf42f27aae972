/* logfile.h -- ssftpd --log FILE: the log (everything ssftpd writes to
 * stderr) appended to FILE, reopened at SIGHUP so that logrotate can move
 * it away ("create" mode, no copytruncate needed). */
#ifndef SSFTP_HANDLER_LOGFILE_H
#define SSFTP_HANDLER_LOGFILE_H

/* Opens path for appending (made 0640 if missing) and puts it in place of
 * stderr, at once: a line being written goes to the old file or the new.
 * "stderr" leaves stderr as it is.  Returns 0, or -errno after saying why
 * on the stderr it leaves as it was. */
int logfile_open(const char *path);

#endif
