/* common.c -- the plumbing the examples share: options, signals, the listening line, I/O. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static bool is_unix(ss_kind k)
{
    return k == SS_UNIX_STREAM || k == SS_UNIX_DGRAM;
}

int example_parse_args(int argc, char **argv, ss_config *cfg)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    cfg->host = "127.0.0.1";
    cfg->port = 9999;
    cfg->path = "/tmp/socketserver-echo.sock";
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        unsigned long v;
        if (c == 'h' && !is_unix(cfg->kind)) {
            cfg->host = optarg;
        } else if (c == 'u' && is_unix(cfg->kind)) {
            cfg->path = optarg;
        } else if (c == 'p' && !is_unix(cfg->kind)) {
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v > 65535)
                goto usage;
            cfg->port = (uint16_t)v;
        } else {
            goto usage;
        }
    }
    if (optind == argc)
        return 0;
usage:
    fprintf(stderr,
            is_unix(cfg->kind) ? "usage: %s [--path PATH]\n"
                               : "usage: %s [--host HOST] [--port N]\n",
            argv[0]);
    return -1;
}

ss_server *example_create(const ss_config *cfg, const ss_handler_class *h)
{
    ss_server *s;
    int rc = ss_server_create(&s, cfg, h, NULL, NULL);
    if (rc < 0) {
        if (is_unix(cfg->kind))
            fprintf(stderr, "ss_server_create %s: %s\n", cfg->path,
                    ss_strerror(rc));
        else
            fprintf(stderr, "ss_server_create %s:%u: %s\n", cfg->host,
                    (unsigned)cfg->port, ss_strerror(rc));
        return NULL;
    }
    return s;
}

int example_serve(ss_server *s)
{
    char addr[256];
    socklen_t len;
    const struct sockaddr *sa = ss_server_address(s, &len);
    int rc = ss_format_address(sa, len, addr, sizeof addr);
    int status = 1;
    if (rc < 0) {
        fprintf(stderr, "ss_format_address: %s\n", ss_strerror(rc));
        goto out;
    }
    rc = ss_server_shutdown_on_signals(s); /* Ctrl-C, SIGTERM: stop */
    if (rc < 0) {
        fprintf(stderr, "ss_server_shutdown_on_signals: %s\n", ss_strerror(rc));
        goto out;
    }
    /* Line buffered even into a pipe, so a supervisor sees each line now. */
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0 ||
        printf("listening on %s\n", addr) < 0 || fflush(stdout) == EOF) {
        perror("stdout");
        goto out;
    }
    rc = ss_server_serve_forever(s, 500);
    if (rc < 0)
        fprintf(stderr, "ss_server_serve_forever: %s\n", ss_strerror(rc));
    else
        status = 0;
out:
    rc = ss_server_close(s);
    if (rc < 0) {
        fprintf(stderr, "ss_server_close: %s\n", ss_strerror(rc));
        status = 1;
    }
    ss_server_destroy(s);
    return status;
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

int example_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
