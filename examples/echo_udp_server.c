/* echo_udp_server.c -- the course's MyServer on ThreadingUDPServer: print
 * who sent what, answer it upper-cased.
 *
 *     class MyServer(socketserver.BaseRequestHandler):
 *         def handle(self):
 *             print(self.client_address)     # ('127.0.0.1', 54321)
 *             print(self.request)            # (b'hi', <socket.socket ...>)
 *             data = self.request[0]
 *             print('客户消息', data)
 *             self.request[1].sendto(data.upper(), self.client_address)
 *
 *     ThreadingUDPServer(('127.0.0.1', 9999), MyServer).serve_forever()
 *
 * No connection, no loop: every datagram is one request.  Deviations: the
 * socket in self.request prints with our descriptor number and as Python
 * 3.11 spells it (3.12 prints family=2, type=2); a datagram over 8192 bytes
 * (max_packet_size) is dropped and reported on stderr, where Python would
 * answer its first 8192 bytes. */
#include "common.h"

#include <stdio.h>

static int handle(ss_request *r)
{
    size_t n;
    const char *data = ss_request_packet(r, &n); /* self.request[0] */
    socklen_t len;
    const struct sockaddr *me = ss_server_address(ss_request_server(r), &len);
    char client[128], laddr[128];
    if (example_addr_tuple(ss_request_client_address(r, &len), client,
                           sizeof client) < 0 ||
        example_addr_tuple(me, laddr, sizeof laddr) < 0)
        return -EAFNOSUPPORT;
    flockfile(
        stdout); /* the three prints together, whatever other workers do */
    printf("%s\n(", client);
    example_print_bytes(data, n);
    printf(", <socket.socket fd=%d, family=AddressFamily.AF_INET%s, "
           "type=SocketKind.SOCK_DGRAM, proto=0, laddr=%s>)\n客户消息 ",
           ss_request_fd(r), me->sa_family == AF_INET6 ? "6" : "", laddr);
    example_print_bytes(data, n);
    int out = putchar('\n') == EOF || fflush(stdout) == EOF ? -EIO : 0;
    funlockfile(stdout);
    char upper[8192]; /* max_packet_size: a packet is never longer */
    example_upper(upper, data, n);
    int rc = ss_dgram_reply(r, upper, n); /* sent with sendto() after handle */
    return rc < 0 ? rc : out;
}

static const ss_handler_class my_server = {.name = "MyServer",
                                           .handle = handle};

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hp", 0, "[--host H] [--port N]", &o) < 0)
        return 2;
    ss_config cfg;
    ss_config_init(&cfg, SS_UDP);   /* UDPServer */
    cfg.concurrency = SS_THREADING; /* + ThreadingMixIn */
    cfg.max_packet_size = 8192;     /* Python's */
    cfg.host = o.host;
    cfg.port = o.port;
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_server, NULL, NULL);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
