/* sdlisten.c -- sd_listen_fds(3) without libsystemd (sdlisten.h). */
#include "sdlisten.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* A sane bound on LISTEN_FDS: ssftpd uses two at most. */
#define SDLISTEN_MAX 64

/* Parses a decimal in [lo, hi]; -1 if s is not one. */
static long parse_dec(const char *s, long lo, long hi)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

/* The index of name in LISTEN_FDNAMES's n colon-separated names (names is
 * NULL when absent or unusable), or -1. */
static int find_name(const char *names, int n, const char *name)
{
    if (names == NULL)
        return -1;
    size_t len = strlen(name);
    const char *p = names;
    for (int i = 0; i < n; i++) {
        const char *colon = strchr(p, ':');
        size_t plen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        if (plen == len && memcmp(p, name, len) == 0)
            return i;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return -1;
}

static int count_names(const char *names)
{
    int n = 1;
    for (const char *p = names; *p != '\0'; p++)
        n += *p == ':';
    return n;
}

static void unset_all(void)
{
    (void)unsetenv("LISTEN_PID");
    (void)unsetenv("LISTEN_FDS");
    (void)unsetenv("LISTEN_FDNAMES");
}

int sdlisten_take(bool want_ftp, int *native, int *ftp)
{
    const char *spid = getenv("LISTEN_PID");
    const char *sfds = getenv("LISTEN_FDS");
    if (spid == NULL || sfds == NULL) {
        unset_all();
        return 0;
    }
    long pid = parse_dec(spid, 1, LONG_MAX);
    if (pid != (long)getpid()) { /* meant for another process */
        unset_all();
        return 0;
    }
    long n = parse_dec(sfds, 0, SDLISTEN_MAX);
    if (n < 0) {
        log_msg(LOG_LEVEL_ERROR,
                "socket activation: LISTEN_FDS=%s is not a "
                "number of descriptors",
                sfds);
        unset_all();
        return -EINVAL;
    }
    /* Names only count when there is one per descriptor. */
    char names_buf[1024];
    const char *names = NULL;
    const char *env_names = getenv("LISTEN_FDNAMES");
    if (env_names != NULL && strlen(env_names) < sizeof names_buf) {
        memcpy(names_buf, env_names, strlen(env_names) + 1);
        if (count_names(names_buf) == n)
            names = names_buf;
        else
            log_msg(LOG_LEVEL_WARNING,
                    "socket activation: LISTEN_FDNAMES=%s "
                    "does not name %ld descriptors; ignored",
                    names_buf, n);
    }
    unset_all();
    for (int i = 0; i < n; i++) {
        int fd = SDLISTEN_FDS_START + i;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
            log_msg(LOG_LEVEL_ERROR, "socket activation: descriptor %d: %s", fd,
                    strerror(errno));
            return -EINVAL;
        }
    }
    if (n == 0)
        return 0;
    int named_ftp = find_name(names, (int)n, "ftp");
    int ni = find_name(names, (int)n, "native");
    if (ni < 0) /* unnamed: the first that is not named "ftp" */
        ni = named_ftp != 0 ? 0 : n >= 2 ? 1 : -1;
    int fi = -1;
    if (want_ftp) {
        fi = named_ftp;
        if (fi < 0 && n >= 2)
            fi = ni == 0 ? 1 : 0;
    }
    if (ni >= 0) {
        *native = SDLISTEN_FDS_START + ni;
        log_msg(LOG_LEVEL_INFO, "socket activation: native socket %d", *native);
    }
    if (fi >= 0) {
        *ftp = SDLISTEN_FDS_START + fi;
        log_msg(LOG_LEVEL_INFO, "socket activation: FTP socket %d", *ftp);
    }
    for (int i = 0; i < n; i++)
        if (i != ni && i != fi)
            log_msg(LOG_LEVEL_WARNING,
                    "socket activation: descriptor %d unused%s",
                    SDLISTEN_FDS_START + i,
                    want_ftp ? "" : " (an FTP socket needs --ftp)");
    return (int)n;
}
