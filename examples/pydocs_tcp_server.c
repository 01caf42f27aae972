/* pydocs_tcp_server.c -- the Python docs' ThreadingTCPServer + MyTCPHandler:
 * one upper-cased reply per connection.  pydocs_forking_server.c and
 * unix_stream_server.c are this file on another server class. */
#include "common.h"

#ifndef SERVER_KIND        /* unless a file including us chose another class */
#define SERVER_KIND SS_TCP /* TCPServer */
#define SERVER_CONCURRENCY SS_THREADING /* + ThreadingMixIn, a bounded pool */
#endif

/* MyTCPHandler.handle().  Python:
 *     self.data = self.request.recv(1024).strip()
 *     print("{} wrote:".format(self.client_address[0])); print(self.data)
 *     self.request.sendall(self.data.upper())
 * Returning ends the request: the library shuts the socket down, closes it. */
static int handle(ss_request *r)
{
    char buf[1024];
    ssize_t n =
        ss_stream_read(r, buf, sizeof buf); /* one recv(1024), EINTR-safe */
    if (n < 0)
        return (int)n;
    size_t len = (size_t)n;
    const char *data = example_strip(buf, &len);
    example_print_wrote(r, data, len);
    char upper[sizeof buf];
    example_upper(upper, data, len);
    return ss_stream_write_all(r, upper, len); /* sendall */
}

static const ss_handler_class my_tcp_handler = {
    .name = "MyTCPHandler",
    .handle = handle,
};

int main(int argc, char **argv)
{
    bool unix_kind = SERVER_KIND == SS_UNIX_STREAM;
    example_opts o;
    if (example_options(argc, argv, unix_kind ? "u" : "hp", 0,
                        unix_kind ? "[--path PATH]" : "[--host H] [--port N]",
                        &o) < 0)
        return 2;
    ss_config cfg;
    ss_config_init(&cfg, SERVER_KIND);
    cfg.concurrency = SERVER_CONCURRENCY;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.path = o.path;
    /* with socketserver.ThreadingTCPServer((HOST, PORT), MyTCPHandler) as s: */
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_tcp_handler, NULL, NULL);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
