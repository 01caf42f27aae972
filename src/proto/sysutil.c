/* sysutil.c -- system calls wrapped once: EINTR, short counts (sysutil.h). */
#include "sysutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/xattr.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int64_t proto_mono_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double proto_mono_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        abort();
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t proto_mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void proto_sleep_until_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000),
                          .tv_nsec = (long)(ns % 1000000000)};
    /* An absolute time: a signal's cut is made good by sleeping again. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void proto_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* nanosleep leaves what is left in ts when a signal cuts it short. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int proto_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    int64_t end = timeout_ms < 0 ? -1 : proto_mono_ms() + timeout_ms;
    for (;;) {
        int left = -1;
        if (end >= 0) {
            int64_t d = end - proto_mono_ms();
            left = d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
        }
        int r = poll(fds, n, left);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t proto_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)k;
    }
    return (ssize_t)got;
}

int proto_write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, (const char *)buf + done, n - done);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        done += (size_t)k;
    }
    return 0;
}

int proto_flock(int fd, int op)
{
    while (flock(fd, op) != 0)
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return 0;
}

int proto_ftruncate(int fd, uint64_t len)
{
    if (len > (uint64_t)INT64_MAX)
        return -EFBIG;
    while (ftruncate(fd, (off_t)len) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int proto_random(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom((char *)buf + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)k;
    }
    return 0;
}

ssize_t proto_fgetxattr(int fd, const char *name, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = fgetxattr(fd, name, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

int proto_fsetxattr(int fd, const char *name, const void *val, size_t n)
{
    while (fsetxattr(fd, name, val, n, 0) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int proto_read_secret_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = proto_read_full(fd, &c, 1);
        if (r < 0)
            return (int)r;
        if (r == 0 && n == 0)
            return -ENODATA;
        if (r == 0 || c == '\n')
            break;
        if (n + 1 >= cap)
            return -EMSGSIZE;
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (int)n;
}

int proto_prompt_secret(int in, int out, const char *prompt, char *buf,
                        size_t cap)
{
    struct termios old, quiet;
    if (tcgetattr(in, &old) != 0)
        return -ENOTTY;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    if (tcsetattr(in, TCSAFLUSH, &quiet) != 0)
        return -errno;
    int rc = proto_write_all(out, prompt, strlen(prompt));
    if (rc == 0)
        rc = proto_read_secret_line(in, buf, cap);
    if (tcsetattr(in, TCSAFLUSH, &old) != 0 && rc >= 0)
        rc = -errno;
    return rc;
}

void proto_be32_put(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

uint32_t proto_be32_get(const uint8_t in[4])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
           (uint32_t)in[2] << 8 | in[3];
}
