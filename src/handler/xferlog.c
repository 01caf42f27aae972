/* xferlog.c -- the transfer log in xferlog(5)'s format (xferlog.h). */
#include "xferlog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "logfile.h"
#include "path.h"
#include "sysutil.h"

static atomic_int xfer_fd = -1;

int xferlog_open(const char *path)
{
    int fd = atomic_load(&xfer_fd);
    int rc = logfile_reopen(path, &fd);
    if (rc == 0)
        atomic_store(&xfer_fd, fd);
    return rc;
}

bool xferlog_enabled(void)
{
    return atomic_load(&xfer_fd) >= 0;
}

/* in, made one field (out may be in: it never grows): a space as '_', C0, DEL, bytes that are not UTF-8
 * and misleading characters (logesc.h) as '?'.  Empty: "-". */
static void field(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    const unsigned char *end = s + strlen(in);
    size_t o = 0;
    while (s < end) {
        uint32_t cp;
        size_t n = proto_utf8_next(s, (size_t)(end - s), &cp);
        const char *piece = (const char *)s;
        size_t len = n;
        if (n == 1 && cp == ' ') {
            piece = "_";
        } else if (n == 0 || (n == 1 && (cp < 0x20 || cp == 0x7f)) ||
                   proto_cp_misleading(cp)) {
            piece = "?";
            len = 1;
            n = n == 0 ? 1 : n;
        }
        if (o + len + 1 > cap)
            break;
        memmove(out + o, piece, len); /* out may be in */
        o += len;
        s += n;
    }
    if (o == 0 && cap > 1)
        out[o++] = '-';
    out[o] = '\0';
}

void xferlog_format(char *out, size_t cap, time_t now,
                    const struct xferlog_entry *e)
{
    char when[32], host[80], path[PROTO_PATH_BUF], user[256];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%a %b %e %H:%M:%S %Y", &tm);
    /* The address without its port (and an IPv6 one without brackets). */
    const char *p = e->peer[0] == '[' ? e->peer + 1 : e->peer;
    const char *stop = e->peer[0] == '[' ? strchr(p, ']') : strrchr(p, ':');
    size_t hl = stop != NULL ? (size_t)(stop - p) : strlen(p);
    snprintf(host, sizeof host, "%.*s", (int)(hl < 79 ? hl : 79), p);
    field(host, host, sizeof host);
    field(e->path, path, sizeof path);
    field(e->user, user, sizeof user);
    unsigned long long secs =
        e->seconds >= 1.5 ? (unsigned long long)(e->seconds + 0.5) : 1;
    snprintf(out, cap, "%s %llu %s %llu %s b _ %c r %s %s 0 * %c\n", when, secs,
             host, (unsigned long long)e->bytes, path, e->upload ? 'i' : 'o',
             user, e->service, e->complete ? 'c' : 'i');
}

void xferlog_write(const struct xferlog_entry *e)
{
    int fd = atomic_load(&xfer_fd);
    if (fd < 0)
        return;
    char line[PROTO_PATH_BUF + 512];
    xferlog_format(line, sizeof line, time(NULL), e);
    (void)proto_write_all(fd, line, strlen(line));
}
