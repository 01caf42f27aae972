/* base.c -- BaseServer's default steps (finish_request, the handler's instance, is in request.c). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "internal.h"

/* Binds to the configured address and records the real one (port 0 becomes
 * the port the kernel chose: Python's server_address after server_bind). */
int ss_base_server_bind(ss_server *s)
{
    if (bind(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0)
        return -errno;
    if (s->family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&s->addr;
        struct stat st;
        if (un->sun_path[0] != '\0' && lstat(s->path, &st) == 0) {
            s->unlink_on_close = true;
            s->path_dev = st.st_dev;
            s->path_ino = st.st_ino;
        }
        return 0; /* getsockname on AF_UNIX adds nothing we lack */
    }
    socklen_t len = sizeof s->addr;
    if (getsockname(s->fd, (struct sockaddr *)&s->addr, &len) < 0)
        return -errno;
    s->addrlen = len;
    return 0;
}

int ss_base_server_activate(ss_server *s)
{
    (void)s;
    return 0;
}

bool ss_base_verify_request(ss_server *s, const ss_conn *conn)
{
    (void)s;
    (void)conn;
    return true;
}

/* SS_SYNC: the request runs to completion on the serving thread (or until
 * it is parked: then the connection is the park's). */
int ss_base_process_request(ss_server *s, ss_conn *conn)
{
    int rc = s->ops.finish_request(s, conn);
    if (rc == SS_KEEP)
        return 0;
    ss__end_request(s, conn);
    return rc;
}

void ss_base_handle_error(ss_server *s, const ss_conn *conn, int err,
                          const char *what)
{
    char peer[128] = "-";
    if (conn && conn->addrlen > 0)
        (void)ss_format_address((const struct sockaddr *)&conn->addr,
                                conn->addrlen, peer, sizeof peer);
    (void)s;
    fprintf(stderr, "socketserver: %s: %s: %s\n", peer, what ? what : "request",
            ss_strerror(err));
}

void ss_base_handle_timeout(ss_server *s)
{
    (void)s;
}
void ss_base_service_actions(ss_server *s)
{
    (void)s;
}
