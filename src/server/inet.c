/* inet.c -- turns the configured address into a socket of the right family. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"
#include "proxyproto.h"

static int resolve_unix(ss_server *s)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
    size_t n = s->path ? strlen(s->path) : 0;
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, s->path, n);
    if (s->path[0] == '@')
        un->sun_path[0] = '\0'; /* abstract namespace: no file to clean up */
    /* abstract names are length-delimited, paths NUL-terminated */
    s->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                             (s->path[0] == '@' ? 0 : 1));
    s->family = AF_UNIX;
    return 0;
}

static int gai_to_errno(int rc)
{
    switch (rc) {
    case EAI_NONAME:
        return -EADDRNOTAVAIL;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return -errno;
    default:
        return -EINVAL;
    }
}

/* Python picks the family from the class (address_family); we pick it from
 * the address given, so "::1" and "127.0.0.1" need no separate server type.
 * "" or NULL means every IPv4 interface, like Python's ''. */
static int resolve_ip(ss_server *s)
{
    const char *host = (s->host && s->host[0]) ? s->host : "0.0.0.0";
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)s->cfg.port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = s->socktype;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return gai_to_errno(rc);
    if (!res || res->ai_addrlen > sizeof s->addr) {
        freeaddrinfo(res);
        return -EADDRNOTAVAIL;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addrlen = res->ai_addrlen;
    s->family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

int ss__resolve(ss_server *s)
{
    bool stream = s->cfg.kind == SS_TCP || s->cfg.kind == SS_UNIX_STREAM;
    s->socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
    if (s->cfg.kind == SS_UNIX_STREAM || s->cfg.kind == SS_UNIX_DGRAM)
        return resolve_unix(s);
    return resolve_ip(s);
}

/* The listening socket is non-blocking: readiness from poll() can be stale
 * (another process took the connection, or the peer reset it first), and
 * get_request must then return -EAGAIN rather than block the loop. */
int ss__open_socket(ss_server *s)
{
    int fd = socket(s->family, s->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    s->fd = fd;
    return 0;
}

int ss__adopt_socket(ss_server *s, int fd)
{
    bool stream = s->cfg.kind == SS_TCP || s->cfg.kind == SS_UNIX_STREAM;
    bool unix_kind =
        s->cfg.kind == SS_UNIX_STREAM || s->cfg.kind == SS_UNIX_DGRAM;
    int type, domain, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return errno == ENOTSOCK ? -EINVAL : -errno;
    len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return -errno;
    len = sizeof listening;
    if (stream &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return -errno;
    bool family_ok = unix_kind ? domain == AF_UNIX
                               : (domain == AF_INET || domain == AF_INET6);
    if (type != (stream ? SOCK_STREAM : SOCK_DGRAM) || !family_ok ||
        (stream && !listening))
        return -EINVAL;
    /* Non-blocking like a socket of our own (ss__open_socket), and not
     * inherited by programs a handler runs. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    s->addrlen = sizeof s->addr;
    if (getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0)
        return -errno;
    s->family = domain;
    s->socktype = type;
    s->fd = fd; /* ours from here: closed by server_close */
    return 0;
}

bool ss__addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}
