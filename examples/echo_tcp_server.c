/* echo_tcp_server.c -- the course's MyServer on ThreadingTCPServer: a
 * communication loop per connection, and many connections at once (the
 * "link loop" is serve_forever's).
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
 *     ThreadingTCPServer(('127.0.0.1', 9999), MyServer).serve_forever()
 *
 * handle() is that loop: it holds a worker thread for the connection's whole
 * life, as Python holds a thread.  With --park, handle_one() answers one
 * message per call and returns SS_KEEP: between messages the connection is
 * parked and holds no thread, so a few workers serve thousands.  A client
 * cannot tell the two apart.  forking_tcp_server.c is this file on
 * ForkingTCPServer.
 *
 * What the course's server cannot do: give up on a client.  One that sends
 * and never reads fills its socket's buffers, and then send() blocks, in
 * Python for ever.  With --park's few workers, one such client per core
 * would stall everyone.  So a read or write that waits more than
 * IDLE_TIMEOUT_MS (or --timeout S seconds; 0: for ever) fails with
 * -ETIMEDOUT and ends that connection, in both forms; a client idle that
 * long is let go too. */
#include "common.h"

#include <errno.h>
#include <unistd.h>

#ifndef SERVER_CONCURRENCY
#define SERVER_CONCURRENCY SS_THREADING /* ThreadingTCPServer */
#endif

#define IDLE_TIMEOUT_MS 30000

/* One recv(1024) and its upper-cased reply.  Returns the bytes echoed, 0 at
 * EOF or on a reset (except ConnectionResetError: break), or -errno. */
static ssize_t echo_once(ss_request *r)
{
    char data[1024];
    ssize_t n = ss_stream_read(r, data, sizeof data);
    if (n <= 0)
        return n == -ECONNRESET ? 0 : n;
    example_upper(data, data, (size_t)n);
    int rc = ss_stream_write_all(r, data, (size_t)n); /* send(data.upper()) */
    return rc == -ECONNRESET || rc == -EPIPE ? 0 : (rc < 0 ? rc : n);
}

/* The communication loop, as the course writes it. */
static int handle(ss_request *r)
{
    ssize_t n;
    while ((n = echo_once(r)) > 0)
        ;
    return (int)n; /* 0: the client is gone; returning closes our end */
}

/* The same loop, one turn per call: the library calls it again when the
 * next message arrives, on whichever worker is free. */
static int handle_one(ss_request *r)
{
    ssize_t n = echo_once(r);
    return n > 0 ? SS_KEEP : (int)n;
}

static ss_handler_class my_server = {.name = "MyServer", .handle = handle};

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hpkt", 0,
                        "[--host H] [--port N] [--park] [--timeout S]", &o) < 0)
        return 2;
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);
    cfg.concurrency = SERVER_CONCURRENCY;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.idle_timeout_ms =
        o.timeout >= 0 ? (int)o.timeout * 1000 : IDLE_TIMEOUT_MS;
    if (o.park) { /* parked: as many workers as the machine has cores */
        my_server.handle = handle_one;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.max_workers = cores > 0 ? (unsigned)cores : 1;
    }
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_server, NULL, NULL);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
