/* pydocs_tcp_client.c -- the TCP client from Python's socketserver docs:
 * send the words, print the reply. */
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
    int fd = example_connect(argv[1], argv[2], SOCK_STREAM);
    if (fd == -1)
        return 1;
    data[len] = '\n'; /* sock.sendall(bytes(data + "\n", "utf-8")) */
    if (example_send_all(fd, data, (size_t)len + 1) == -1) {
        perror("send");
        return 1;
    }
    /* received = sock.recv(1024): the server answers once, then closes. */
    char reply[1024];
    size_t got = 0;
    while (got < sizeof reply) {
        ssize_t n = recv(fd, reply + got, sizeof reply - got, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            perror("recv");
            return 1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (close(fd) == -1)
        perror("close");
    printf("Sent:     %.*s\n", (int)len, data);
    printf("Received: ");
    fwrite(reply, 1, got, stdout);
    return putchar('\n') == EOF || fflush(stdout) == EOF ? 1 : 0;
}
