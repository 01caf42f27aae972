/* pydocs_forking_server.c -- Python's docs example on ForkingTCPServer: the
 * same handler as pydocs_tcp_server.c, a child process per connection.  As in
 * Python, only the server class changes. */
#define SERVER_KIND SS_TCP            /* TCPServer */
#define SERVER_CONCURRENCY SS_FORKING /* + ForkingMixIn (max_children 40) */
#include "pydocs_tcp_server.c"
