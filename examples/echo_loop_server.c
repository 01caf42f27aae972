/* echo_loop_server.c -- the course's MyServer: a communication loop per connection; --keep writes the same loop the parked way (SS_KEEP).
 *
 *     class MyServer(socketserver.BaseRequestHandler):
 *         def handle(self):
 *             while True:                       # the communication loop
 *                 try:
 *                     data = self.request.recv(1024)
 *                     if not data:
 *                         break
 *                     self.request.send(data.upper())
 *                 except ConnectionResetError:
 *                     break
 *
 *     ThreadingTCPServer(('127.0.0.1', 8080), MyServer).serve_forever()
 *
 * handle_loop() is that loop: it holds a pool worker for the connection's
 * whole life, as Python holds a thread (the default max_workers, 1024,
 * serves that many such clients at once).  handle_keep() serves one message
 * per call and returns SS_KEEP: between messages the connection is parked
 * and holds no thread, so a few workers serve thousands.  A client cannot
 * tell them apart.  docs/walkthrough.md ("Connections that wait") shows the
 * two side by side. */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One recv(1024) and its upper-case reply.  Returns the bytes echoed, 0 at
 * EOF or on a reset (the course's except ConnectionResetError: break), or
 * -errno. */
static ssize_t echo_one(ss_request *r)
{
    char buf[1024], upper[1024];
    ssize_t n = ss_stream_read(r, buf, sizeof buf);
    if (n == -ECONNRESET)
        return 0;
    if (n <= 0)
        return n;
    example_upper(upper, buf, (size_t)n);
    int rc = ss_stream_write_all(r, upper, (size_t)n);
    return rc == -ECONNRESET || rc == -EPIPE ? 0 : (rc < 0 ? rc : n);
}

/* The loop, as the course writes it. */
static int handle_loop(ss_request *r)
{
    ssize_t n;
    while ((n = echo_one(r)) > 0)
        ;
    return (int)n;
}

/* The same loop, one turn per call: the library calls handle() again when
 * the next message arrives, on whichever worker is free. */
static int handle_keep(ss_request *r)
{
    ssize_t n = echo_one(r);
    return n > 0 ? SS_KEEP : (int)n;
}

static ss_handler_class my_server = {.name = "MyServer", .handle = handle_loop};

int main(int argc, char **argv)
{
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);
    cfg.concurrency = SS_THREADING; /* ThreadingTCPServer */
    /* --keep (before the common options): the parked handler, on as many
     * workers as the machine has cores. */
    if (argc > 1 && strcmp(argv[1], "--keep") == 0) {
        my_server.handle = handle_keep;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.max_workers = cores > 0 ? (unsigned)cores : 1;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (example_parse_args(argc, argv, &cfg) < 0)
        return 2;
    ss_server *s = example_create(&cfg, &my_server);
    if (s == NULL)
        return 1;
    return example_serve(s);
}
