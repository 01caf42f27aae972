/* log_server.h -- what the library reports through handle_error (a
 * connection refused at a limit, a failed accept), in ssftpd's log (log.h)
 * rather than the library's own "socketserver: ..." lines on stderr. */
#ifndef SSFTP_HANDLER_LOG_SERVER_H
#define SSFTP_HANDLER_LOG_SERVER_H

#include "socketserver.h"

/* ss_server_ops.handle_error: "ssftpd LEVEL PEER -: WHAT: ERROR" (no
 * PEER when there is no connection); refusals at a limit are warnings. */
void log_server_error(ss_server *s, const ss_conn *conn, int err,
                      const char *what);

/* Ops with handle_error = log_server_error and the library's defaults for
 * the rest, for a server that needs nothing else. */
extern const ss_server_ops log_server_ops;

#endif
