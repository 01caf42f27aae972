/* logfile.c -- the log in a file, reopened on demand (logfile.h). */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int logfile_open(const char *path)
{
    if (strcmp(path, "stderr") == 0)
        return 0;
    int fd;
    do
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                  0640);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "ssftpd: log %s: %s\n", path, strerror(e));
        return -e;
    }
    fflush(stderr);
    int rc;
    /* dup2() replaces the descriptor atomically; EBUSY is a race with an
     * open() in another thread, worth another try. */
    do
        rc = dup2(fd, STDERR_FILENO);
    while (rc < 0 && (errno == EINTR || errno == EBUSY));
    int e = rc < 0 ? errno : 0;
    if (close(fd) != 0 && e == 0 && errno != EINTR)
        e = errno;
    if (e != 0) {
        fprintf(stderr, "ssftpd: log %s: %s\n", path, strerror(e));
        return -e;
    }
    return 0;
}
