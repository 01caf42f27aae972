/* pydocs_udp_client.c -- the UDP client from Python's socketserver docs:
 * one datagram, one reply. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char data[4096]; /* data = " ".join(sys.argv[3:]) */
    ssize_t len =
        argc < 3 ? -1 : example_join(argc, argv, 3, data, sizeof data - 1);
    if (len < 0) {
        fprintf(stderr, "usage: %s HOST PORT WORDS...\n", argv[0]);
        return 2;
    }
    /* A connected UDP socket: send/recv, and only the server's replies. */
    int fd = example_connect(argv[1], argv[2], SOCK_DGRAM);
    if (fd == -1)
        return 1;
    data[len] =
        '\n'; /* sock.sendto(bytes(data + "\n", "utf-8"), (HOST, PORT)) */
    ssize_t n;
    do
        n = send(fd, data, (size_t)len + 1, 0);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        perror("send");
        return 1;
    }
    char reply
        [1024]; /* received = sock.recv(1024) (5 s timeout: UDP may lose it) */
    do
        n = recv(fd, reply, sizeof reply, 0);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        perror(errno == EAGAIN ? "recv: no reply within 5 s" : "recv");
        return 1;
    }
    if (close(fd) == -1)
        perror("close");
    printf("Sent:     %.*s\n", (int)len, data);
    printf("Received: ");
    fwrite(reply, 1, (size_t)n, stdout);
    return putchar('\n') == EOF || fflush(stdout) == EOF ? 1 : 0;
}
