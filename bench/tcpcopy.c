/* tcpcopy.c -- raw loopback TCP copy speed: one thread sends --mib MiB
 * (default 1024) through 127.0.0.1 in 1 MiB writes, the other reads it.
 * Prints "mb_s=X" (MB = 10^6 bytes). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sysutil.h"
#include <unistd.h>

#define CHUNK (1 << 20)
static size_t total;
static int lfd;

static void *sender(void *arg)
{
    (void)arg;
    int fd = accept(lfd, NULL, NULL);
    char *buf = calloc(1, CHUNK);
    for (size_t sent = 0; sent < total;) {
        ssize_t w = write(fd, buf, CHUNK);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mib = (argc > 2 && !strcmp(argv[1], "--mib"))
                     ? strtoul(argv[2], NULL, 10)
                     : 1024;
    total = mib << 20;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t sl = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0)
        return 1;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    double a = proto_mono_s();
    pthread_t t;
    pthread_create(&t, NULL, sender, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return 1;
    char *buf = malloc(CHUNK);
    size_t got = 0;
    for (ssize_t r; (r = read(fd, buf, CHUNK)) > 0;)
        got += (size_t)r;
    double b = proto_mono_s();
    pthread_join(t, NULL);
    double s = b - a;
    printf("mb_s=%.1f bytes=%zu\n", got / s / 1e6, got);
    return got == total ? 0 : 1;
}
