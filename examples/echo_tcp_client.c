/* echo_tcp_client.c -- the course's TCP client (client33333): connect once,
 * then the communication loop, sending a message and printing the reply.
 *
 *     client = socket.socket()
 *     client.connect(('127.0.0.1', 9999))
 *     while True:
 *         client.send(b'client33333')
 *         data = client.recv(1024)
 *         print(data)                           # b'CLIENT33333'
 *
 * --count N stops after N turns (default: forever, as in the course).  When
 * the server closes, recv() returns b'': we print it and stop (the course's
 * loop would spin on it). */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    example_opts o;
    if (example_client_options(argc, argv, "client33333", &o) < 0)
        return 2;
    const char *msg = o.message;
    int fd = example_connect(o.host, o.port_text, SOCK_STREAM);
    if (fd == -1)
        return 1;
    int status = 0;
    for (long i = 0; o.count < 0 || i < o.count; i++) {
        char data[1024];
        ssize_t n = -1;
        if (example_send_all(fd, msg, strlen(msg)) == 0)
            n = example_recv(fd, data, sizeof data);
        if (n == -1) {
            perror("echo_tcp_client");
            status = 1;
            break;
        }
        example_print_bytes(data, (size_t)n);
        if (putchar('\n') == EOF || fflush(stdout) == EOF) {
            status = 1;
            break;
        }
        if (n == 0) {
            fprintf(stderr, "echo_tcp_client: the server closed\n");
            status = 1;
            break;
        }
    }
    if (close(fd) == -1)
        perror("close");
    return status;
}
