/* log.c -- every line ssftpd logs, formatted once and sent where --log
 * says (log.h). */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "auth.h"
#include "logesc.h"
#include "logfile.h"
#include "sysutil.h"

static const char *const level_names[] = {"error", "warning", "notice", "info",
                                          "debug"};
static const int level_priority[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
                                     LOG_DEBUG};

static atomic_int max_level = LOG_LEVEL_INFO;
static atomic_bool to_syslog = false;

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0;
         s != NULL && i < sizeof level_names / sizeof *level_names; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

void log_set_level(enum log_level level)
{
    atomic_store(&max_level, (int)level);
}

int log_open(const char *dest)
{
    if (strcmp(dest, "syslog") == 0) {
        /* LOG_NDELAY: the socket to /dev/log is opened now, before a
         * chroot or a privilege drop could keep it from us. */
        openlog("ssftpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        atomic_store(&to_syslog, true);
        return 0;
    }
    int rc = strcmp(dest, "stderr") == 0 ? 0 : logfile_open(dest);
    if (rc == 0)
        atomic_store(&to_syslog, false);
    return rc;
}

void log_syslog_reopen(void)
{
    if (atomic_load(&to_syslog))
        openlog("ssftpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Whether stderr is systemd's journal, which stamps every line itself:
 * JOURNAL_STREAM names its device and inode (systemd.exec(5)).  Asked at
 * each line, as --log may put another file in its place. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
           fstat(STDERR_FILENO, &st) == 0 && st.st_dev == (dev_t)dev &&
           st.st_ino == (ino_t)ino;
}

void log_format(char *out, size_t cap, enum log_form form, time_t stamp,
                enum log_level level, const char *proto, const char *peer,
                const char *user, const char *msg)
{
    char esc[2048], who[4 * PROTO_AUTH_USER_MAX + 8];
    log_escape(msg, esc, sizeof esc);
    log_escape(user != NULL ? user : "-", who, sizeof who);
    char head[48] = "";
    if (form == LOG_FORM_PLAIN) {
        struct tm tm;
        gmtime_r(&stamp, &tm);
        strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%SZ ssftpd", &tm);
    } else if (form == LOG_FORM_JOURNAL) {
        snprintf(head, sizeof head, "<%d>ssftpd", level_priority[level]);
    }
    /* The fields between the program and the message, each after a space
     * (syslog's line has no program: the first goes without). */
    char mid[512] = "";
    size_t m = 0;
    const char *fields[] = {level != LOG_LEVEL_INFO ? level_names[level] : NULL,
                            proto, peer, peer != NULL ? who : NULL};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (fields[i] != NULL && m < sizeof mid)
            m += (size_t)snprintf(mid + m, sizeof mid - m, "%s%s",
                                  m > 0 || head[0] != '\0' ? " " : "",
                                  fields[i]);
    snprintf(out, cap, "%s%s%s%s", head, mid,
             head[0] != '\0' || mid[0] != '\0' ? ": " : "", esc);
}

void log_session_v(enum log_level level, const char *proto, const char *peer,
                   const char *user, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&max_level))
        return;
    char raw[1024], line[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    if (atomic_load(&to_syslog)) {
        log_format(line, sizeof line, LOG_FORM_SYSLOG, 0, level, proto, peer,
                   user, raw);
        syslog(level_priority[level], "%s", line);
        return;
    }
    log_format(line, sizeof line,
               stderr_is_journal() ? LOG_FORM_JOURNAL : LOG_FORM_PLAIN,
               time(NULL), level, proto, peer, user, raw);
    size_t n = strlen(line);
    line[n++] = '\n'; /* log_format() left room: its output is < 4 KiB */
    (void)proto_write_all(STDERR_FILENO, line, n);
}

void log_session(enum log_level level, const char *proto, const char *peer,
                 const char *user, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_session_v(level, proto, peer, user, fmt, ap);
    va_end(ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_session_v(level, NULL, NULL, NULL, fmt, ap);
    va_end(ap);
}
