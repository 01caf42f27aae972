/* common.c -- what the examples share: options, printing, client I/O. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int example_options(int argc, char **argv, const char *accepted, int nargs,
                    const char *usage, example_opts *o)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'u'},
        {"dir", required_argument, NULL, 'd'},
        {"message", required_argument, NULL, 'm'},
        {"count", required_argument, NULL, 'c'},
        {"park", no_argument, NULL, 'k'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    *o = (example_opts){.host = "127.0.0.1",
                        .port = 9999,
                        .port_text = "9999",
                        .dir = ".",
                        .count = -1,
                        .timeout = -1,
                        .path = "/tmp/socketserver-echo.sock"};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        errno = 0;
        bool number = c == 'p' || c == 'c' || c == 't';
        long v = number ? strtol(optarg, &end, 10) : 0;
        if (c == '?' || strchr(accepted, c) == NULL)
            goto usage;
        if (number &&
            (errno != 0 || end == optarg || *end != '\0' || v < 0 ||
             (c == 'p' && v > 65535) || (c == 't' && v > INT_MAX / 1000)))
            goto usage;
        if (c == 'h')
            o->host = optarg;
        else if (c == 'p')
            o->port = (uint16_t)v;
        else if (c == 'u')
            o->path = optarg;
        else if (c == 'd')
            o->dir = optarg;
        else if (c == 'm')
            o->message = optarg;
        else if (c == 'c')
            o->count = v;
        else if (c == 't')
            o->timeout = v;
        else
            o->park = true;
    }
    snprintf(o->port_text, sizeof o->port_text, "%u", (unsigned)o->port);
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (o->nargs == nargs && strchr(accepted, 'd') != NULL) {
        o->dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o->dir_fd == -1)
            perror(o->dir);
        return o->dir_fd == -1 ? -1 : 0;
    }
    if (o->nargs == nargs)
        return 0;
usage:
    fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    return -1;
}

int example_client_options(int argc, char **argv, const char *message,
                           example_opts *o)
{
    int rc = example_options(
        argc, argv, "hpmc", 0,
        "[--host H] [--port N] [--message TEXT] [--count N]", o);
    if (o->message == NULL)
        o->message = message;
    return rc;
}

int example_listening(const ss_server *s)
{
    char addr[256];
    socklen_t len;
    const struct sockaddr *sa = ss_server_address(s, &len);
    int rc = ss_format_address(sa, len, addr, sizeof addr);
    if (rc < 0)
        return rc;
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0 ||
        printf("listening on %s\n", addr) < 0 || fflush(stdout) == EOF)
        return errno != 0 ? -errno : -EIO;
    return 0;
}

int example_status(const char *prog, int rc)
{
    if (rc >= 0)
        return 0;
    fprintf(stderr, "%s: %s\n", prog, ss_strerror(rc));
    return 1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

const char *example_strip(const char *buf, size_t *n)
{
    size_t len = *n;
    while (len > 0 && is_space((unsigned char)buf[0])) {
        buf++;
        len--;
    }
    while (len > 0 && is_space((unsigned char)buf[len - 1]))
        len--;
    *n = len;
    return buf;
}

void example_upper(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'a' && src[i] <= 'z') ? (char)(src[i] - 'a' + 'A')
                                                  : src[i];
}

void example_print_wrote(const ss_request *r, const void *data, size_t n)
{
    const char *host = ss_request_client_host(r); /* client_address[0] */
    const unsigned char *p = data;
    flockfile(stdout);
    printf("%s wrote:\n", host);
    for (size_t i = 0; i < n; i++)
        printf(p[i] >= ' ' && p[i] < 0x7f && p[i] != '\\' ? "%c" : "\\x%02x",
               p[i]);
    if (printf("\n") < 0 || fflush(stdout) == EOF)
        perror("stdout");
    funlockfile(stdout);
}

ssize_t example_join(int argc, char **argv, int first, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = first; i < argc; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i > first ? " " : "",
                         argv[i]);
        if (n < 0 || (size_t)n >= cap - len)
            return -1;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

int example_connect(const char *host, const char *port, int socktype)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype};
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "getaddrinfo %s:%s: %s\n", host, port,
                gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd == -1) {
            err = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = 5};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
            connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
            err = errno; /* connect() interrupted: the connection goes on
                          * asynchronously; simplest is to try the next one */
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd == -1)
        fprintf(stderr, "connect %s:%s: %s\n", host, port, strerror(err));
    return fd;
}

/* The one short-write loop behind example_send_all and example_write_all:
 * a socket is written with send(MSG_NOSIGNAL), so a peer that has gone
 * away is an EPIPE, not a SIGPIPE; a file with write(). */
static int put_all(int fd, const void *buf, size_t n, bool socket)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = socket ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int example_send_all(int fd, const void *buf, size_t n)
{
    return put_all(fd, buf, n, true);
}

int example_write_all(int fd, const void *buf, size_t n)
{
    return put_all(fd, buf, n, false);
}

ssize_t example_recv(int fd, void *buf, size_t n)
{
    ssize_t got;
    do
        got = recv(fd, buf, n, 0);
    while (got == -1 && errno == EINTR);
    return got;
}

void example_print_bytes(const void *data, size_t n)
{
    const unsigned char *p = data;
    bool single = memchr(p, '\'', n) == NULL, dbl = memchr(p, '"', n) == NULL;
    char quote = single || !dbl ? '\'' : '"';
    printf("b%c", quote);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' || p[i] == quote)
            printf("\\%c", p[i]);
        else if (p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
            printf("\\%c", p[i] == '\t' ? 't' : p[i] == '\n' ? 'n' : 'r');
        else if (p[i] < ' ' || p[i] >= 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
    putchar(quote);
}

int example_addr_tuple(const struct sockaddr *sa, char *buf, size_t cap)
{
    char host[NI_MAXHOST];
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        getnameinfo(sa, len, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
        return -1;
    int n;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        n = snprintf(buf, cap, "('%s', %u)", host, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        n = snprintf(buf, cap, "('%s', %u, %u, %u)", host,
                     ntohs(in6->sin6_port), ntohl(in6->sin6_flowinfo),
                     in6->sin6_scope_id);
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

bool example_plain_name(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) /* no control byte: names get printed */
        if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
            return false;
    return len > 0 && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}
