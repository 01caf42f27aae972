/* xferlog.h -- ssftpd --xferlog FILE: one line per finished or cut
 * transfer, in the xferlog(5) format of wu-ftpd and vsftpd, so that the
 * tools made for it (webalizer, xferstats, fail2ban filters) read ours:
 *
 *   DDD MMM dd hh:mm:ss YYYY TIME HOST BYTES FILE TYPE _ DIR r USER
 *   SERVICE 0 * STATUS
 *
 * the current time (UTC, as vsftpd's default), the transfer's whole
 * seconds (at least 1), the client's address, the bytes moved, the path as
 * the session names it (a space as '_', a control or misleading byte as
 * '?': vsftpd's rule, so the line keeps its 18 fields), b (binary), no
 * special action, i (upload) or o (download), r (a real user), the user,
 * "ssftp" or "ftp", no RFC 931 authentication, c (complete) or i
 * (incomplete).
 *
 * Lines are appended with one write(2) each (O_APPEND): safe from any
 * thread and from forked session processes, which inherit the file. */
#ifndef SSFTP_HANDLER_XFERLOG_H
#define SSFTP_HANDLER_XFERLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct xferlog_entry {
    const char *service; /* "ssftp" or "ftp" */
    const char *peer;    /* "1.2.3.4:5678" or "[::1]:5678": the port goes */
    const char *user;
    const char *path; /* as the session names it */
    uint64_t bytes;   /* moved by this transfer */
    double seconds;
    bool upload;
    bool complete;
};

/* Opens path (0640, appending), or reopens it in place at SIGHUP
 * (logfile.h).  Returns 0, or -errno after saying why. */
int xferlog_open(const char *path);

/* Whether a file is open: callers may skip gathering an entry. */
bool xferlog_enabled(void);

/* Appends e's line, when a file is open. */
void xferlog_write(const struct xferlog_entry *e);

/* e's line with its newline into out (cap bytes, always terminated); now
 * is its time.  Exposed for tests. */
void xferlog_format(char *out, size_t cap, time_t now,
                    const struct xferlog_entry *e);

#endif
