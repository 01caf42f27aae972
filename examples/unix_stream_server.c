/* unix_stream_server.c -- Python's UnixStreamServer (--path P): the handler
 * of pydocs_tcp_server.c on an AF_UNIX socket, one request at a time.  The
 * path is removed when the server closes. */
#define SERVER_KIND SS_UNIX_STREAM /* UnixStreamServer */
#define SERVER_CONCURRENCY SS_SYNC /* no mix-in: one request at a time */
#include "pydocs_tcp_server.c"
