/* echo_thread_server.c -- the baseline: plain sockets, one detached pthread per connection, same handler. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What Python's ThreadingTCPServer does with daemon_threads, minus the
 * library: no bound on threads, no queue, no drain on exit. */
/* --loop: the course's handler, a communication loop until EOF. */
static bool loop_mode;

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    ssize_t n;
    do {
        do
            n = recv(fd, buf, sizeof buf, 0); /* one recv(1024) */
        while (n == -1 && errno == EINTR);
        if (n > 0) {
            size_t len = (size_t)n;
            const char *data = example_strip(buf, &len);
            char upper[sizeof buf];
            example_upper(upper, data, len);
            if (example_send_all(fd, upper, len) == -1) {
                perror("send");
                break;
            }
        }
    } while (loop_mode && n > 0);
    /* Same close as the library's shutdown_request: FIN first, then close.
     * ENOTCONN: the peer went first (a reset). */
    if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
        perror("shutdown");
    if (close(fd) == -1)
        perror("close");
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long port = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--loop") == 0) {
            loop_mode = true;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || port > 65535)
                goto usage;
        } else {
            goto usage;
        }
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        perror("signal");
        return 1;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0 ||
        printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(sin.sin_port)) <
            0) {
        perror("stdout");
        return 1;
    }
    pthread_attr_t attr;
    int arc = pthread_attr_init(&attr);
    if (arc == 0)
        arc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (arc == 0) /* the pool's default stack */
        arc = pthread_attr_setstacksize(&attr, 256 * 1024);
    if (arc != 0) {
        fprintf(stderr, "pthread_attr: %s\n", strerror(arc));
        return 1;
    }
    for (;;) { /* until SIGTERM's default action */
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EINTR && errno != ECONNABORTED)
                perror("accept");
            if ((errno == EMFILE || errno == ENFILE) && usleep(1000) == -1 &&
                errno != EINTR)
                perror("usleep");
            continue;
        }
        pthread_t t;
        int rc = pthread_create(&t, &attr, serve_one, (void *)(intptr_t)fd);
        if (rc != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            if (close(fd) == -1)
                perror("close");
        }
    }
usage:
    fprintf(stderr, "usage: %s [--port N] [--loop]\n", argv[0]);
    return 2;
}
