/* sys.c -- the library's checked system-call helpers (clock, poll, close,
 * SIGPIPE, the wake-up descriptor), address formatting and ss_strerror. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t ss__now_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid clock id; still, be honest. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events.  timeout_ms <= 0 waits forever.
 * EINTR restarts the wait with the time that is left, so a signal can never
 * stretch a timeout.  Returns 0 when ready, -ETIMEDOUT, or -errno. */
int ss__poll_one(int fd, short events, int timeout_ms)
{
    int64_t deadline = timeout_ms > 0 ? ss__now_ms() + timeout_ms : 0;
    for (;;) {
        int wait = -1;
        if (timeout_ms > 0) {
            int64_t left = deadline - ss__now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            wait = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, wait);
        if (n > 0)
            return 0; /* POLLERR/POLLHUP: the next read/write says why */
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* close() on Linux releases the descriptor even when it reports EINTR, so
 * retrying could close someone else's new descriptor.  Never retry. */
void ss__close(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}

/* Async-signal-safe: one write(2) on an eventfd.  EAGAIN means the counter
 * is already non-zero, i.e. a wake-up is pending anyway. */
void ss__wake(ss_server *s)
{
    uint64_t one = 1;
    int saved = errno;
    if (s->wake_fd >= 0)
        (void)!write(s->wake_fd, &one, sizeof one);
    errno = saved;
}

void ss__drain_wake(ss_server *s)
{
    uint64_t v;
    while (read(s->wake_fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

/* A peer that goes away must cost us one request, never the process.  The
 * helpers send with MSG_NOSIGNAL, but a handler may write(2) on its socket
 * directly, so SIGPIPE is ignored process-wide unless the program has
 * already chosen a handler of its own (as Redis and nginx do). */
void ss__ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        (void)sigaction(SIGPIPE, &ign, NULL);
    }
}

int ss_format_address(const struct sockaddr *sa, socklen_t len, char *buf,
                      size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    int n;
    if (!sa || !buf || cap == 0)
        return -EINVAL;
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            return -errno;
        n = snprintf(buf, cap, "%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            return -errno;
        n = snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len <= off) {
            n = snprintf(buf, cap, "(unnamed)");
        } else if (un->sun_path[0] == '\0') {
            /* abstract: shown with '@' like ss -x does */
            n = snprintf(buf, cap, "@%.*s", (int)(len - off - 1),
                         un->sun_path + 1);
        } else {
            n = snprintf(buf, cap, "%.*s", (int)(len - off), un->sun_path);
        }
        break;
    }
    default:
        n = snprintf(buf, cap, "(family %d)", sa->sa_family);
    }
    if (n < 0)
        return -EINVAL;
    return (size_t)n < cap ? 0 : -ENOSPC;
}

const char *ss_strerror(int err)
{
    if (err > 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
    case -EUSERS:
        return "too many connections";
    case -EMLINK:
        return "too many connections from this address";
    case -EBUSY:
        return "request queue full";
    default: {
        /* strerrordesc_np is thread safe and never allocates */
        const char *d = strerrordesc_np(-err);
        return d ? d : "unknown error";
    }
    }
}

int ss__eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}
