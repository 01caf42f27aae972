/* logesc.c -- escape peer-supplied text for the log (logesc.h). */
#include "logesc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "path.h"
#include "auth.h"

void log_escape(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    const unsigned char *end = s + strlen(in);
    size_t o = 0;
    while (*s != '\0') {
        char esc[16];
        const char *piece = esc;
        size_t len;
        uint32_t cp;
        size_t n = proto_utf8_next(s, (size_t)(end - s), &cp);
        if (n == 0 || (n == 1 && (cp < 0x20 || cp == 0x7f))) {
            len = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *s);
            n = 1;
        } else if (n == 1 && cp == '\\') {
            len = 2;
            piece = "\\\\";
        } else if (proto_cp_misleading(cp)) {
            len = (size_t)snprintf(esc, sizeof esc, "\\u{%04x}", cp);
        } else {
            piece = (const char *)s;
            len = n;
        }
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        s += n;
    }
    out[o] = '\0';
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

void log_session_v(const char *proto, const char *peer, const char *user,
                   const char *fmt, va_list ap)
{
    char raw[1024], msg[2048], who[4 * PROTO_AUTH_USER_MAX + 8];
    vsnprintf(raw, sizeof raw, fmt, ap);
    log_escape(raw, msg, sizeof msg);
    log_escape(user != NULL ? user : "-", who, sizeof who);
    char stamp[32] = "";
    if (!stderr_is_journal()) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    }
    fprintf(stderr, "%sssftpd %s%s%s %s: %s\n", stamp, proto ? proto : "",
            proto ? " " : "", peer, who, msg);
}
