/* test_abi.c -- a program built against the 1.0 header (tests/lib/abi/socketserver-1.0.h, the layouts of soname 1 before any field was added) runs on this library.
 *
 * It uses the plain entry points a 1.0 program calls, ss_config_init and
 * ss_server_create, on structs of the 1.0 sizes.  The library must neither
 * write nor read past them (ASan in CI catches either on these stack
 * objects), and the fields 1.0 lacked must take their defaults (a garbage
 * listen_fd would adopt a random descriptor).  Plain sockets, no cmocka: a
 * program of the time would not know the test helpers either. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi/socketserver-1.0.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);            \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static int handle(ss_request *r)
{
    char line[64];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    return n > 0 ? ss_stream_write_all(r, line, (size_t)n) : (int)n;
}

static void *serve(void *arg)
{
    (void)ss_server_serve_forever(arg, 50);
    return NULL;
}

int main(void)
{
    /* Poison around the config: fields the 1.0 header lacked must not be
     * read from here, and init must not write past it. */
    struct {
        ss_config cfg;
        unsigned char after[64];
    } box;
    memset(&box, 0x5a, sizeof box);
    ss_config_init(&box.cfg, SS_TCP);
    for (size_t i = 0; i < sizeof box.after; i++)
        CHECK(box.after[i] == 0x5a);
    box.cfg.concurrency = SS_THREADING;
    box.cfg.port = 0;
    static const ss_handler_class h = {.name = "abi-1.0", .handle = handle};
    ss_server_ops ops;
    memset(&ops, 0, sizeof ops);
    ss_server *s = NULL;
    CHECK(ss_server_create(&s, &box.cfg, &h, &ops, NULL) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, serve, s) == 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(ss_server_port(s))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(write(fd, "abi\n", 4) == 4);
    char buf[8] = {0};
    size_t got = 0;
    while (got < 4) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        CHECK(n > 0);
        got += (size_t)n;
    }
    CHECK(memcmp(buf, "abi\n", 4) == 0);
    close(fd);
    CHECK(ss_server_shutdown(s) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ss_server_close(s) == 0);
    ss_server_destroy(s);
    printf("a program built against the %d.%d header runs on this library\n",
           SS_VERSION_MAJOR, SS_VERSION_MINOR);
    return 0;
}
