/* echo_epoll_server.c -- the baseline a C programmer would write instead: one thread, epoll, non-blocking sockets. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* The same reply as the other echo servers (strip, upper-case), for
 * persistent connections: level-triggered EPOLLIN, one read of up to 64 KiB
 * per event into the one shared buffer.  A connection costs its struct; a
 * reply the socket cannot take at once is copied to a buffer of its own and
 * waits under EPOLLOUT (EPOLLIN is off meanwhile: a client that does not
 * read its replies is not read either). */
struct conn {
    int fd;
    size_t len, off; /* the unsent tail: tail[fd], len bytes, off sent */
};

/* The unsent tails, malloc'd, by descriptor (a table the static analyzer
 * can follow; a pointer kept in the epoll set it cannot).  Only the pages
 * of descriptors in use are ever touched. */
#define MAX_FD 65536
static char *tail[MAX_FD];

static char buf[64 * 1024];
static unsigned long closed; /* connections dropped so far */

static int ep_ctl(int ep, int op, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) == 0)
        return 0;
    perror("epoll_ctl");
    return -1;
}

static void drop(struct conn *c)
{
    /* close also takes it out of the epoll set (no dup of the fd exists). */
    if (close(c->fd) == -1)
        perror("close");
    free(tail[c->fd]);
    tail[c->fd] = NULL;
    free(c);
    closed++;
}

/* Sends data[0..n).  Returns the bytes sent (n, or fewer when the socket
 * is full), or -1 when the connection is broken. */
static ssize_t send_some(int fd, const char *data, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, data + off, n - off, MSG_NOSIGNAL);
        if (w >= 0)
            off += (size_t)w;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        else if (errno != EINTR)
            return -1;
    }
    return (ssize_t)off;
}

static void on_readable(int ep, struct conn *c)
{
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return; /* level-triggered: asked again */
    if (n <= 0) {
        if (n == -1 && errno != ECONNRESET)
            perror("recv");
        drop(c);
        return;
    }
    size_t len = (size_t)n;
    char *data = buf + (example_strip(buf, &len) - buf);
    example_upper(data, data, len);
    ssize_t sent = send_some(c->fd, data, len);
    if (sent < 0) {
        drop(c);
        return;
    }
    if ((size_t)sent == len)
        return;
    c->len = len - (size_t)sent;
    c->off = 0;
    tail[c->fd] = malloc(c->len);
    if (tail[c->fd] == NULL) {
        perror("malloc");
        drop(c);
        return;
    }
    memcpy(tail[c->fd], data + sent, c->len);
    if (ep_ctl(ep, EPOLL_CTL_MOD, c, EPOLLOUT) == -1)
        drop(c);
}

static void on_writable(int ep, struct conn *c)
{
    ssize_t sent = send_some(c->fd, tail[c->fd] + c->off, c->len - c->off);
    if (sent < 0) {
        drop(c);
        return;
    }
    c->off += (size_t)sent;
    if (c->off == c->len) { /* all sent: back to reading */
        free(tail[c->fd]);
        tail[c->fd] = NULL;
        if (ep_ctl(ep, EPOLL_CTL_MOD, c, EPOLLIN) == -1)
            drop(c);
    }
}

/* Accepts until the backlog is empty.  Returns -1 only when the process is
 * out of descriptors. */
static int accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            perror("accept4");
            return errno == EMFILE || errno == ENFILE ? -1 : 0;
        }
        struct conn *c = fd < MAX_FD ? calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            if (fd < MAX_FD)
                perror("calloc");
            else
                fprintf(stderr, "descriptor %d above the table\n", fd);
            if (close(fd) == -1)
                perror("close");
            continue;
        }
        c->fd = fd;
        if (ep_ctl(ep, EPOLL_CTL_ADD, c, EPOLLIN) == -1)
            drop(c);
    }
}

int main(int argc, char **argv)
{
    unsigned long port = 0;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        char *end;
        errno = 0;
        port = strtoul(argv[2], &end, 10);
        if (errno != 0 || end == argv[2] || *end != '\0' || port > 65535)
            argc = 0;
    }
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
        return 2;
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return 1;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    if (lfd == -1 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
        listen(lfd, SOMAXCONN) == -1 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
        perror("socket/bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) == -1) {
        perror("epoll");
        return 1;
    }
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0 ||
        printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(sin.sin_port)) <
            0) {
        perror("stdout");
        return 1;
    }
    struct epoll_event ev[256];
    /* Out of descriptors, the listener leaves the set until one is closed
     * (or 100 ms pass): level-triggered, it would spin otherwise. */
    int paused = 0;
    unsigned long closed_at_pause = 0;
    for (;;) { /* until SIGTERM's default action */
        int n = epoll_wait(ep, ev, 256, paused ? 100 : -1);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        if (paused && (n == 0 || closed != closed_at_pause)) {
            if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) == -1) {
                perror("epoll_ctl");
                return 1;
            }
            paused = 0;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c == NULL) {
                if (accept_all(ep, lfd) == -1) {
                    if (epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL) == -1) {
                        perror("epoll_ctl");
                        return 1;
                    }
                    paused = 1;
                    closed_at_pause = closed;
                }
            } else if (tail[c->fd] != NULL) {
                on_writable(ep, c);
            } else {
                on_readable(ep, c);
            }
        }
    }
}
