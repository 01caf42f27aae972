/* echo_persist.c -- load for persistent connections: N held open, each doing small round trips back to back. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Every connection is opened first and held for the whole run; then each
 * sends a --size-byte message (letters: the servers strip whitespace and
 * upper-case), waits for as many bytes back, and sends again: a closed loop
 * with exactly one message in flight per connection.  Prints
 *   rt_s=R served=S conns=N min=M errors=E
 * where served counts connections that got at least one reply (a starved
 * client gets none) and min is the fewest round trips any connection did.
 * With --hold the connections stay open after that line until stdin ends,
 * so that the caller can measure the server with all of them open. */

struct conn {
    int fd;
    size_t got;
    uint64_t done;
};

static double now_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        perror("clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads stdin until EOF (the caller is done measuring). */
static int wait_stdin_eof(void)
{
    char b[64];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, b, sizeof b);
        if (n == 0)
            return 0;
        if (n == -1 && errno != EINTR) {
            perror("read stdin");
            return -1;
        }
    }
}

static int send_msg(int fd, const char *msg, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, msg + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"hold", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    long port = -1, nconns = 100, size = 64;
    double duration = 2.0;
    int o, hold = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'p')
            port = strtol(optarg, NULL, 10);
        else if (o == 'c')
            nconns = strtol(optarg, NULL, 10);
        else if (o == 'd')
            duration = strtod(optarg, NULL);
        else if (o == 's')
            size = strtol(optarg, NULL, 10);
        else if (o == 'H')
            hold = 1;
        else
            goto usage;
    }
    if (port <= 0 || port > 65535 || nconns <= 0 || nconns > 100000 ||
        size <= 0 || size > 1024 || duration <= 0)
        goto usage;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)nconns + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
            rl.rlim_cur < (rlim_t)nconns + 64) {
            fprintf(stderr, "RLIMIT_NOFILE too low for %ld connections\n",
                    nconns);
            return 1;
        }
    }
    char msg[1024];
    for (long i = 0; i < size; i++)
        msg[i] = (char)('a' + i % 26);
    struct conn *cs = calloc((size_t)nconns, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (cs == NULL || ep < 0) {
        perror("setup");
        return 1;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint64_t errors = 0;
    for (long i = 0; i < nconns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
            perror("connect");
            return 1;
        }
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror("epoll_ctl");
            return 1;
        }
    }
    double t0 = now_s(), end = t0 + duration;
    for (long i = 0; i < nconns; i++)
        if (send_msg(cs[i].fd, msg, (size_t)size) < 0)
            errors++;
    uint64_t total = 0;
    struct epoll_event evs[256];
    char buf[4096];
    for (double t = t0; t < end; t = now_s()) {
        int n = epoll_wait(ep, evs, 256, (int)((end - t) * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                errors++;
                if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) == -1) {
                    perror("epoll_ctl");
                    return 1;
                }
                continue;
            }
            c->got += (size_t)r;
            while (c->got >= (size_t)size) {
                c->got -= (size_t)size;
                c->done++;
                total++;
                if (send_msg(c->fd, msg, (size_t)size) < 0)
                    errors++;
            }
        }
    }
    double el = now_s() - t0;
    long served = 0;
    uint64_t min = UINT64_MAX;
    for (long i = 0; i < nconns; i++) {
        served += cs[i].done > 0;
        if (cs[i].done < min)
            min = cs[i].done;
    }
    if (printf("rt_s=%.1f served=%ld conns=%ld min=%llu errors=%llu\n",
               (double)total / el, served, nconns, (unsigned long long)min,
               (unsigned long long)errors) < 0 ||
        fflush(stdout) == EOF) {
        perror("stdout");
        return 1;
    }
    if (hold && wait_stdin_eof() == -1)
        return 1;
    for (long i = 0; i < nconns; i++)
        if (close(cs[i].fd) == -1)
            perror("close");
    free(cs);
    return 0;
usage:
    fprintf(stderr,
            "usage: %s --port N [--conns N] [--duration S] "
            "[--size BYTES] [--hold]\n",
            argv[0]);
    return 2;
}
