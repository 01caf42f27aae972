/* log.h -- ssftpd's log: every line the server writes, in one format, with
 * levels, and where the lines go (--log stderr|syslog|FILE, --log-level).
 *
 * A line is
 *
 *     [STAMP ]ssftpd[ LEVEL][ PROTO][ PEER USER]: MESSAGE
 *
 * STAMP the UTC time to the second ("2026-12-05T23:10:00Z"); LEVEL only
 * when it is not info ("error", "warning", "notice", "debug"); PROTO
 * "ftp" for an FTP session (nothing for the native protocol); PEER USER
 * for a session's lines and the library's errors about a connection (USER
 * "-" before a login).  The message is escaped (log_escape(), logesc.h):
 * whatever a peer chose cannot forge a line.
 *
 * Destinations:
 *   stderr  the line as above; when stderr is systemd's journal
 *           (JOURNAL_STREAM names it, systemd.exec(5)) without STAMP,
 *           which the journal adds, and with sd-daemon(3)'s "<N>" prefix
 *           (N the syslog priority) so that "journalctl -p" sees levels.
 *   FILE    the same, appended to FILE, which replaces stderr (logfile.h);
 *           log_open() again (at SIGHUP) reopens it.
 *   syslog  syslog(3), ident ssftpd, LOG_PID, facility LOG_DAEMON, the
 *           level as its priority; the line without STAMP and program,
 *           which syslog adds.
 *
 * Every function may be called from any thread and from forked session
 * processes: a line is one write(2) (or one syslog(3) call). */
#ifndef SSFTP_HANDLER_LOG_H
#define SSFTP_HANDLER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum log_level {
    LOG_LEVEL_ERROR,   /* the server cannot do what it was asked */
    LOG_LEVEL_WARNING, /* something an operator should look at */
    LOG_LEVEL_NOTICE,  /* start, stop, reload */
    LOG_LEVEL_INFO,    /* sessions: connect, login, commands, transfers */
    LOG_LEVEL_DEBUG,
};

/* "error", "warning", "notice", "info", "debug" to *out: 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Lines less severe than level are dropped from now on (info at first). */
void log_set_level(enum log_level level);

/* Where lines go from now on: "stderr", "syslog" or a file's path (opened
 * 0640 for appending and put in stderr's place: logfile.h; "stderr" after
 * a file keeps the file).  Returns 0, or -errno after saying why (the
 * destination stays as it was). */
int log_open(const char *dest);

/* With --log syslog, syslog's connection opened again after a closelog()
 * (a forked helper that closes every descriptor it does not own calls
 * closelog() first, then this); nothing otherwise. */
void log_syslog_reopen(void);

/* One line at level: "ssftpd[ LEVEL]: MESSAGE". */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One session's line (session_log(), ftp_log()): proto "ftp", or NULL for
 * the native protocol; user NULL before a login ("-").  peer NULL makes it
 * a line of log_msg()'s. */
void log_session_v(enum log_level level, const char *proto, const char *peer,
                   const char *user, const char *fmt, va_list ap);
void log_session(enum log_level level, const char *proto, const char *peer,
                 const char *user, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Where a line goes, for log_format(). */
enum log_form {
    LOG_FORM_PLAIN,   /* stderr or a file: with STAMP */
    LOG_FORM_JOURNAL, /* "<N>" and no STAMP */
    LOG_FORM_SYSLOG,  /* neither STAMP nor program */
};

/* The line (without its newline) for msg, which is escaped here, into out
 * (cap bytes, always terminated); stamp is its time.  The one formatter,
 * exposed for tests. */
void log_format(char *out, size_t cap, enum log_form form, time_t stamp,
                enum log_level level, const char *proto, const char *peer,
                const char *user, const char *msg);

#endif
