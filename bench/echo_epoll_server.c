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
 * persistent connections: level-triggered EPOLLIN; a reply the socket
 * cannot take at once waits in the connection's buffer under EPOLLOUT. */
struct conn {
    int fd;
    size_t pending, off;
    char out[1024];
};

static int ep_mod(int ep, int op, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(ep, op, c->fd, &ev);
}

static void drop(struct conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* Sends what is pending.  0: all sent; 1: the rest waits for EPOLLOUT;
 * -1: the connection is broken. */
static int flush(struct conn *c)
{
    while (c->off < c->pending) {
        ssize_t n = send(c->fd, c->out + c->off, c->pending - c->off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 1;
        } else {
            return -1;
        }
    }
    c->pending = c->off = 0;
    return 0;
}

static void on_readable(int ep, struct conn *c)
{
    char buf[1024];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    size_t len = (size_t)n;
    const char *data = example_strip(buf, &len);
    example_upper(c->out, data, len);
    c->pending = len;
    c->off = 0;
    int rc = flush(c);
    if (rc < 0 || (rc == 1 && ep_mod(ep, EPOLL_CTL_MOD, c, EPOLLOUT) < 0))
        drop(c);
}

static void on_writable(int ep, struct conn *c)
{
    int rc = flush(c);
    if (rc < 0 || (rc == 0 && ep_mod(ep, EPOLL_CTL_MOD, c, EPOLLIN) < 0))
        drop(c);
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4");
            return;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        if (ep_mod(ep, EPOLL_CTL_ADD, c, EPOLLIN) < 0) {
            perror("epoll_ctl");
            drop(c);
        }
    }
}

int main(int argc, char **argv)
{
    unsigned long port = 0;
    if (argc == 3 && strcmp(argv[1], "--port") == 0) {
        char *end;
        port = strtoul(argv[2], &end, 10);
        if (*end != '\0' || port > 65535)
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
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("epoll");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(sin.sin_port));
    struct epoll_event ev[256];
    for (;;) { /* until SIGTERM's default action */
        int n = epoll_wait(ep, ev, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c == NULL)
                accept_all(ep, lfd);
            else if (ev[i].events & EPOLLOUT)
                on_writable(ep, c);
            else
                on_readable(ep, c);
        }
    }
}
