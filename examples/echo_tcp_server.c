/* echo_tcp_server.c -- Python's ThreadingTCPServer + MyTCPHandler: upper-case echo, in C. */
#include "common.h"

/* MyTCPHandler.handle().  Python:
 *     self.data = self.request.recv(1024).strip()
 *     print("{} wrote:".format(self.client_address[0])); print(self.data)
 *     self.request.sendall(self.data.upper())
 * Returning ends the request: the library shuts the socket down and closes it. */
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
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);   /* TCPServer */
    cfg.concurrency = SS_THREADING; /* + ThreadingMixIn, as a bounded pool */
    if (example_parse_args(argc, argv, &cfg) < 0)
        return 2;
    ss_server *s = example_create(&cfg, &my_tcp_handler);
    if (s == NULL)
        return 1;
    return example_serve(s); /* until SIGINT/SIGTERM, then close and destroy */
}
