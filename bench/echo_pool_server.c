/* echo_pool_server.c -- the pydocs_tcp_server example, sized for benchmarking: a bigger pool, no per-request print. */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* One read, its upper-case echo.  examples/pydocs_tcp_server.c's handle()
 * minus example_print_wrote(): a flushed stdout line per request would
 * measure the pipe, not the server, and the other servers skip it too.
 * Returns the bytes echoed, 0 at EOF, or -errno. */
static ssize_t echo_once(ss_request *r)
{
    char buf[1024];
    ssize_t n = ss_stream_read(r, buf, sizeof buf);
    if (n <= 0)
        return n;
    size_t len = (size_t)n;
    const char *data = example_strip(buf, &len);
    char upper[sizeof buf];
    example_upper(upper, data, len);
    int rc = ss_stream_write_all(r, upper, len);
    return rc < 0 ? rc : n;
}

/* The docs' handler: one message, then the connection closes. */
static int handle(ss_request *r)
{
    ssize_t n = echo_once(r);
    return n < 0 ? (int)n : 0;
}

/* --loop: the course's handler, a communication loop until EOF (holds a
 * worker for the connection's life, as Python's holds a thread). */
static int handle_loop(ss_request *r)
{
    ssize_t n;
    while ((n = echo_once(r)) > 0)
        ;
    return (int)n;
}

/* --keep: the same loop written the parked way, one message per call. */
static int handle_keep(ss_request *r)
{
    ssize_t n = echo_once(r);
    return n > 0 ? SS_KEEP : (int)n;
}

static ss_handler_class my_tcp_handler = {
    .name = "MyTCPHandler",
    .handle = handle,
};

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"queue", required_argument, NULL, 'q'},
        {"loop", no_argument, NULL, 'l'},
        {"keep", no_argument, NULL, 'k'},
        {"sync", no_argument, NULL, 's'},
        {"defaults", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);
    cfg.concurrency = SS_THREADING;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    int c;
    unsigned long v;
    bool sized = false, queue_set = false, defaults = false;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            cfg.host = optarg;
        } else if (c == 'p' && parse_uint(optarg, 65535, &v) == 0) {
            cfg.port = (uint16_t)v;
        } else if (c == 'w' && parse_uint(optarg, 100000, &v) == 0 && v > 0) {
            cfg.max_workers = (unsigned)v;
            sized = true;
        } else if (c == 'q' && parse_uint(optarg, 1000000, &v) == 0 && v > 0) {
            cfg.queue_capacity = (unsigned)v;
            sized = queue_set = true;
        } else if (c == 'l') {
            my_tcp_handler.handle = handle_loop;
        } else if (c == 'k') {
            my_tcp_handler.handle = handle_keep;
        } else if (c == 's') {
            cfg.concurrency = SS_SYNC; /* with --keep: one thread, parked */
        } else if (c == 'd') {
            defaults = true;
        } else {
            goto usage;
        }
    }
    if (optind != argc || (defaults && sized))
        goto usage;
    /* The library's default pool (max_workers 1024, started on demand) unless
     * --workers.  A queue deep enough that 500 clients wait in it, not in
     * SYN retries, unless --queue -- or --defaults: Python's program as a
     * user writes it, on the pool ss_config_init gives. */
    if (!defaults && !queue_set)
        cfg.queue_capacity = 1024;
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_tcp_handler, NULL, NULL);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500);
    int closed = s != NULL ? ss_server_close(s) : 0;
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
usage:
    fprintf(stderr,
            "usage: %s [--host HOST] [--port N] [--workers N] [--queue N] "
            "[--loop | --keep] [--sync] [--defaults]\n",
            argv[0]);
    return 2;
}
