/* log_server.c -- the library's error reports (handle_error) as ssftpd's
 * log lines (log_server.h). */
#include "log_server.h"

#include <errno.h>

#include "log.h"

/* Refusals at a limit are what an operator tunes limits by: warnings.  A
 * peer that went away is ordinary: info.  Anything else is an error. */
static enum log_level level_of(int err)
{
    switch (-err) {
    case EUSERS: /* too many connections */
    case EMLINK: /* too many from one address */
    case EBUSY:
    case EAGAIN:
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return LOG_LEVEL_WARNING;
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENOTCONN:
    case ETIMEDOUT:
        return LOG_LEVEL_INFO;
    default:
        return LOG_LEVEL_ERROR;
    }
}

void log_server_error(ss_server *s, const ss_conn *conn, int err,
                      const char *what)
{
    (void)s;
    char peer[128] = "";
    if (conn != NULL && conn->addrlen > 0 &&
        ss_format_address((const struct sockaddr *)&conn->addr, conn->addrlen,
                          peer, sizeof peer) < 0)
        peer[0] = '\0';
    log_session(level_of(err), NULL, peer[0] != '\0' ? peer : NULL, NULL,
                "%s: %s", what != NULL ? what : "request", ss_strerror(err));
}

const ss_server_ops log_server_ops = {.handle_error = log_server_error};
