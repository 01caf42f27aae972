/* pydocs_udp_server.c -- the Python docs' ThreadingUDPServer + MyUDPHandler:
 * an upper-cased echo of datagrams. */
#include "common.h"

#include <errno.h>

/* MyUDPHandler.handle().  Python:
 *     data = self.request[0].strip()
 *     socket = self.request[1]
 *     print("{} wrote:".format(self.client_address[0])); print(data)
 *     socket.sendto(data.upper(), self.client_address)
 * In the DatagramRequestHandler style: the packet is the input, and what
 * ss_dgram_reply() collects is sent to the client after finish(). */
static int handle(ss_request *r)
{
    size_t len;
    const char *data = ss_request_packet(r, &len); /* self.request[0] */
    data = example_strip(data, &len);
    example_print_wrote(r, data, len);
    char upper[8192]; /* cfg.max_packet_size: a packet is never longer */
    if (len > sizeof upper)
        return -EMSGSIZE;
    example_upper(upper, data, len);
    return ss_dgram_reply(r, upper, len);
}

static const ss_handler_class my_udp_handler = {
    .name = "MyUDPHandler",
    .handle = handle,
};

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hp", 0, "[--host H] [--port N]", &o) < 0)
        return 2;
    ss_config cfg;
    ss_config_init(&cfg, SS_UDP);   /* UDPServer */
    cfg.concurrency = SS_THREADING; /* + ThreadingMixIn, as a bounded pool */
    cfg.max_packet_size = 8192;     /* Python's default */
    cfg.host = o.host;
    cfg.port = o.port;
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_udp_handler, NULL, NULL);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
