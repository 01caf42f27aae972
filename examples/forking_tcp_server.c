/* forking_tcp_server.c -- the course's MyServer on ForkingTCPServer: the
 * communication loop of echo_tcp_server.c, in a child process per
 * connection (at most 40 at once, Python's max_children).  As in the course,
 * only the server class changes. */
#define SERVER_CONCURRENCY SS_FORKING /* ForkingTCPServer */
#include "echo_tcp_server.c"
