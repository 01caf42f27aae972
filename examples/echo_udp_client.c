/* echo_udp_client.c -- the course's UDP client (client1111): no connection,
 * a loop of sendto() and recvfrom(), printing each reply.
 *
 *     client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
 *     while True:
 *         client.sendto(b'client1111', ('127.0.0.1', 9999))
 *         data, server_addr = client.recvfrom(1024)
 *         print(data)                           # b'CLIENT1111'
 *
 * --count N stops after N turns (default: forever).  UDP may lose a reply:
 * after 5 s without one we give up (the course would wait forever). */
#include "common.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    example_opts o;
    if (example_client_options(argc, argv, "client1111", &o) < 0)
        return 2;
    const char *msg = o.message;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *server;
    int rc = getaddrinfo(o.host, o.port_text, &hints, &server);
    if (rc != 0) {
        fprintf(stderr, "getaddrinfo %s: %s\n", o.host, gai_strerror(rc));
        return 1;
    }
    int fd = socket(server->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 5};
    int status = fd == -1 ||
                 setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1;
    for (long i = 0; status == 0 && (o.count < 0 || i < o.count); i++) {
        char data[1024];
        ssize_t n;
        do
            n = sendto(fd, msg, strlen(msg), 0, server->ai_addr,
                       server->ai_addrlen);
        while (n == -1 && errno == EINTR);
        if (n != -1)
            do
                n = recvfrom(fd, data, sizeof data, 0, NULL, NULL);
            while (n == -1 && errno == EINTR);
        if (n == -1) {
            status = 1;
            break;
        }
        example_print_bytes(data, (size_t)n);
        status = putchar('\n') == EOF || fflush(stdout) == EOF;
    }
    if (status != 0)
        perror(errno == EAGAIN ? "echo_udp_client: no reply within 5 s"
                               : "echo_udp_client");
    freeaddrinfo(server);
    if (fd != -1 && close(fd) == -1)
        perror("close");
    return status;
}
