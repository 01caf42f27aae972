/* logfile.c -- a log in a file, reopened on demand (logfile.h). */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int logfile_reopen(const char *path, int *fd)
{
    int nfd;
    do
        nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                   0640);
    while (nfd < 0 && errno == EINTR);
    if (nfd < 0) {
        int e = errno;
        log_msg(LOG_LEVEL_ERROR, "log %s: %s", path, strerror(e));
        return -e;
    }
    if (*fd < 0) {
        *fd = nfd;
        return 0;
    }
    int rc;
    /* dup3() replaces the descriptor atomically; EBUSY is a race with an
     * open() in another thread, worth another try.  Stderr is inherited;
     * the others are not. */
    do
        rc = dup3(nfd, *fd, *fd == STDERR_FILENO ? 0 : O_CLOEXEC);
    while (rc < 0 && (errno == EINTR || errno == EBUSY));
    int e = rc < 0 ? errno : 0;
    if (close(nfd) != 0 && e == 0 && errno != EINTR)
        e = errno;
    if (e != 0) {
        log_msg(LOG_LEVEL_ERROR, "log %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int logfile_open(const char *path)
{
    if (strcmp(path, "stderr") == 0)
        return 0;
    int fd = STDERR_FILENO;
    fflush(stderr);
    return logfile_reopen(path, &fd);
}
