/* sdnotify.c -- sd_notify(3) without libsystemd (sdnotify.h). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
        log_msg(LOG_LEVEL_WARNING, "NOTIFY_SOCKET %s: not a Unix socket path",
                path);
        return -EAFNOSUPPORT;
    }
    memcpy(sa.sun_path, path, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    else
        len++;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        log_msg(LOG_LEVEL_WARNING, "NOTIFY_SOCKET: socket: %s", strerror(e));
        return -e;
    }
    ssize_t w;
    do
        w = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                   (const struct sockaddr *)&sa, len);
    while (w < 0 && errno == EINTR);
    int e = w < 0 ? errno : 0;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e != 0) {
        log_msg(LOG_LEVEL_WARNING, "NOTIFY_SOCKET %s: %s", path, strerror(e));
        return -e;
    }
    return 1;
}

int sdnotify_ready(const char *status)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld%s%.400s",
                     (long)getpid(), status != NULL ? "\nSTATUS=" : "",
                     status != NULL ? status : "");
    if (n < 0)
        return -EINVAL;
    return sdnotify_send(msg);
}

int sdnotify_reloading(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -errno;
    char msg[128];
    unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000ULL +
                              (unsigned long long)ts.tv_nsec / 1000ULL;
    int n =
        snprintf(msg, sizeof msg,
                 "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", usec);
    if (n < 0)
        return -EINVAL;
    return sdnotify_send(msg);
}

int sdnotify_stopping(void)
{
    return sdnotify_send("STOPPING=1\nSTATUS=stopping; waiting for "
                         "transfers");
}
