/* ftp_data.c -- FTP data connections (ftp.h): passive listeners (PASV,
 * EPSV), active connects (PORT, EPRT, off unless allowed), and opening one
 * for a transfer, in TLS under PROT P. */
#include "ftp_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ftp_data_reset(struct ftp_session *s)
{
    if (s->pasv_fd >= 0)
        close(s->pasv_fd);
    s->pasv_fd = -1;
    s->port_set = false;
}

bool ftp_data_ready(const struct ftp_session *s)
{
    return s->pasv_fd >= 0 || s->port_set;
}

/* The IPv4 address of sa (also inside an IPv4-mapped IPv6 one), in network
 * order; false when it has none. */
static bool ipv4_of(const struct sockaddr_storage *sa, uint32_t *out)
{
    if (sa->ss_family == AF_INET) {
        *out = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
        return true;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (sa->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        memcpy(out, &in6->sin6_addr.s6_addr[12], 4);
        return true;
    }
    return false;
}

/* Whether a and b are the same host address (ports aside). */
static bool same_host(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b)
{
    uint32_t x, y;
    if (ipv4_of(a, &x) && ipv4_of(b, &y))
        return x == y;
    if (a->ss_family == AF_INET6 && b->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return false;
}

static void set_port(struct sockaddr_storage *sa, unsigned port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

static unsigned get_port(const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET
               ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
               : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* A listener on the control connection's local address, on a port of the
 * passive range (from a random place in it) or any free one. */
static int pasv_listen(struct ftp_session *s, unsigned *port)
{
    int fd = socket(s->local_sa.ss_family,
                    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_storage sa = s->local_sa;
    unsigned lo = s->srv->pasv_lo, hi = s->srv->pasv_hi;
    unsigned span = lo == 0 ? 1 : hi - lo + 1;
    unsigned start = lo == 0 ? 0 : randombytes_uniform(span);
    int err = -EADDRINUSE;
    for (unsigned i = 0; i < span; i++) {
        set_port(&sa, lo == 0 ? 0 : lo + (start + i) % span);
        if (bind(fd, (struct sockaddr *)&sa, s->local_len) == 0) {
            err = 0;
            break;
        }
        if (errno != EADDRINUSE) {
            err = -errno;
            break;
        }
    }
    socklen_t len = sizeof sa;
    if (err == 0 && listen(fd, 1) != 0)
        err = -errno;
    if (err == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        err = -errno;
    if (err != 0) {
        close(fd);
        return err;
    }
    *port = get_port(&sa);
    s->pasv_fd = fd;
    return 0;
}

int ftp_cmd_pasv(struct ftp_session *s, bool extended, const char *arg)
{
    if (extended && strcasecmp(arg, "ALL") == 0) {
        s->epsv_all = true;
        return ftp_reply(s, 200, "EPSV ALL: only EPSV from now on.");
    }
    if (!extended && s->epsv_all)
        return ftp_reply(s, 550, "EPSV ALL was given: use EPSV.");
    int family = s->local_sa.ss_family;
    uint32_t v4 = 0;
    bool has_v4 = ipv4_of(&s->local_sa, &v4);
    if (extended && *arg != '\0' &&
        !((strcmp(arg, "1") == 0 && has_v4) ||
          (strcmp(arg, "2") == 0 && family == AF_INET6 && !has_v4)))
        return ftp_reply(s, 522, "Network protocol not supported, use (%d)",
                         has_v4 ? 1 : 2);
    if (!extended && !has_v4)
        return ftp_reply(s, 425, "PASV is IPv4 only; use EPSV.");
    if (s->srv->pasv_addr != 0)
        v4 = s->srv->pasv_addr; /* what the client can reach, not ours */
    ftp_data_reset(s);
    unsigned port = 0;
    int rc = pasv_listen(s, &port);
    if (rc != 0) {
        ftp_log(s, "passive listener: %s", strerror(-rc));
        return ftp_reply(s, 425, "Cannot open a passive port: %s",
                         strerror(-rc));
    }
    if (extended)
        return ftp_reply(s, 229, "Entering Extended Passive Mode (|||%u|)",
                         port);
    unsigned char *a = (unsigned char *)&v4;
    return ftp_reply(s, 227, "Entering Passive Mode (%u,%u,%u,%u,%u,%u).", a[0],
                     a[1], a[2], a[3], port >> 8, port & 255);
}

/* PORT h1,h2,h3,h4,p1,p2 into sa (IPv4). */
static int parse_port(const char *arg, struct sockaddr_storage *sa)
{
    unsigned h[6];
    int used = 0;
    if (sscanf(arg, "%3u,%3u,%3u,%3u,%3u,%3u%n", &h[0], &h[1], &h[2], &h[3],
               &h[4], &h[5], &used) != 6 ||
        arg[used] != '\0')
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        if (h[i] > 255)
            return -EINVAL;
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(sa, 0, sizeof *sa);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr =
        htonl((uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]);
    in->sin_port = htons((uint16_t)(h[4] << 8 | h[5]));
    return 0;
}

/* EPRT |1|1.2.3.4|port| or |2|::1|port| (any delimiter) into sa. */
static int parse_eprt(const char *arg, struct sockaddr_storage *sa)
{
    char d = arg[0];
    if (d < 33 || d > 126)
        return -EINVAL;
    char proto[4], addr[64];
    unsigned port;
    const char *p = arg + 1, *e = strchr(p, d);
    if (e == NULL || e - p < 1 || (size_t)(e - p) >= sizeof proto)
        return -EINVAL;
    memcpy(proto, p, (size_t)(e - p));
    proto[e - p] = '\0';
    p = e + 1;
    e = strchr(p, d);
    if (e == NULL || e - p < 1 || (size_t)(e - p) >= sizeof addr)
        return -EINVAL;
    memcpy(addr, p, (size_t)(e - p));
    addr[e - p] = '\0';
    int used = 0;
    if (sscanf(e + 1, "%5u%n", &port, &used) != 1 || e[1 + used] != d ||
        e[2 + used] != '\0' || port > 65535)
        return -EINVAL;
    memset(sa, 0, sizeof *sa);
    if (strcmp(proto, "1") == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return inet_pton(AF_INET, addr, &in->sin_addr) == 1 ? 0 : -EINVAL;
    }
    if (strcmp(proto, "2") == 0) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1 ? 0
                                                               : -EAFNOSUPPORT;
    }
    return -EAFNOSUPPORT;
}

int ftp_cmd_port(struct ftp_session *s, bool extended, const char *arg)
{
    if (!s->srv->allow_active)
        return ftp_reply(s, 502,
                         "Active mode is off on this server; use PASV or "
                         "EPSV.");
    if (s->epsv_all)
        return ftp_reply(s, 550, "EPSV ALL was given: use EPSV.");
    struct sockaddr_storage sa;
    int rc = extended ? parse_eprt(arg, &sa) : parse_port(arg, &sa);
    if (rc == -EAFNOSUPPORT)
        return ftp_reply(s, 522, "Network protocol not supported, use (1,2)");
    if (rc != 0)
        return ftp_reply(s, 501, "Cannot parse %s %s",
                         extended ? "EPRT" : "PORT", arg);
    /* No FTP bounce: only back to the client, never to a system port. */
    if (!same_host(&sa, &s->peer_sa) || get_port(&sa) < 1024) {
        ftp_log(s,
                "refused %s %s: not the client's address, or a port "
                "below 1024",
                extended ? "EPRT" : "PORT", arg);
        return ftp_reply(s, 500,
                         "Illegal %s: only to your own address and a port "
                         "of 1024 or above.",
                         extended ? "EPRT" : "PORT");
    }
    ftp_data_reset(s);
    s->port_sa = sa;
    s->port_set = true;
    return ftp_reply(s, 200, "%s command successful.",
                     extended ? "EPRT" : "PORT");
}

/* Milliseconds left until deadline (proto_mono_ms()), at least 0. */
static int left_ms(int64_t deadline)
{
    int64_t d = deadline - proto_mono_ms();
    return d < 0 ? 0 : (int)d;
}

/* Takes the passive listener's connection from the client's own address
 * or from the control connection's TCP peer: they differ only behind a
 * trusted proxy (--proxy-protocol), whose data connections come from the
 * proxy's address, while a client reaching the passive port directly
 * comes from its own.  Others are closed and logged.  The listener is
 * closed after. */
static int pasv_accept(struct ftp_session *s, int *out)
{
    int64_t deadline = proto_mono_ms() + s->srv->data_timeout_ms;
    int rc = -ETIMEDOUT;
    for (;;) {
        int left = left_ms(deadline);
        if (left == 0)
            break;
        struct pollfd pfd = {.fd = s->pasv_fd, .events = POLLIN};
        int n = proto_poll(&pfd, 1, left);
        if (n < 0) {
            rc = n;
            break;
        }
        if (n == 0)
            continue;
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        int fd =
            accept4(s->pasv_fd, (struct sockaddr *)&from, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                continue;
            rc = -errno;
            break;
        }
        if (!same_host(&from, &s->peer_sa) && !same_host(&from, &s->conn_sa)) {
            char who[80];
            ss_format_address((struct sockaddr *)&from, len, who, sizeof who);
            ftp_log(s,
                    "refused a data connection from %s: not the control "
                    "connection's address",
                    who);
            close(fd);
            continue;
        }
        *out = fd;
        rc = 0;
        break;
    }
    ftp_data_reset(s);
    return rc;
}

/* Connects to PORT/EPRT's address within the data timeout. */
static int port_connect(struct ftp_session *s, int *out)
{
    struct sockaddr_storage sa = s->port_sa;
    ftp_data_reset(s);
    int fd =
        socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                            : sizeof(struct sockaddr_in6);
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
        if (errno != EINPROGRESS)
            rc = -errno;
        else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n = proto_poll(&pfd, 1, s->srv->data_timeout_ms);
            int e = 0;
            socklen_t el = sizeof e;
            if (n < 0)
                rc = n;
            else if (n == 0)
                rc = -ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
                rc = -errno;
            else
                rc = -e;
        }
    }
    int fl = rc == 0 ? fcntl(fd, F_GETFL) : 0;
    if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int ftp_data_open(struct ftp_session *s, proto_io *dio)
{
    bool passive = s->pasv_fd >= 0;
    int fd = -1;
    int rc = passive ? pasv_accept(s, &fd) : port_connect(s, &fd);
    if (rc != 0) {
        ftp_log(s, "no data connection: %s", strerror(-rc));
        rc =
            ftp_reply(s, 425, "Cannot open data connection: %s", strerror(-rc));
        return rc < 0 ? rc : 1;
    }
    *dio = (proto_io){.fd = fd,
                      .timeout_ms = s->srv->data_timeout_ms,
                      .body_timeout_ms = s->srv->data_timeout_ms};
    if (!s->prot_p)
        return 0;
    const char *why = NULL;
    /* The control connection's context, not the current one: resuming its
     * session needs that context's ticket keys (a reload may have swapped
     * the current one since). */
    rc = s->io.tls == NULL
             ? -EPROTO
             : proto_tls_attach(dio, SSL_get_SSL_CTX(s->io.tls), true, NULL);
    if (rc == 0 &&
        SSL_set_session_id_context(dio->tls, s->sid, sizeof s->sid) != 1)
        rc = -ENOMEM;
    /* An upload ends with the client's close_notify: an end without it is
     * a cut (ftp_fs.c), never the whole file. */
    if (rc == 0)
        SSL_clear_options(dio->tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* No session tickets here: an uploading client never reads them, and
     * closing with them unread would reset the connection under its last
     * bytes. */
    if (rc == 0 && SSL_set_num_tickets(dio->tls, 0) != 1)
        rc = -ENOMEM;
    if (rc == 0)
        rc = proto_tls_handshake(dio, true);
    if (rc != 0) {
        char buf[160];
        ftp_log(s, "data connection TLS handshake failed: %s",
                proto_tls_why(rc, buf, sizeof buf));
        why = "TLS handshake failed";
    } else if (s->srv->require_reuse && !SSL_session_reused(dio->tls)) {
        ftp_log(s, "refused a data connection that does not resume the "
                   "control connection's TLS session");
        why = "the data connection must resume the control connection's "
              "TLS session";
    }
    if (why == NULL)
        return 0;
    ftp_data_close(dio);
    rc = ftp_reply(s, 425, "Cannot open data connection: %s.", why);
    return rc < 0 ? rc : 1;
}

void ftp_data_close(proto_io *dio)
{
    if (dio->fd < 0)
        return;
    proto_tls_detach(dio);
    close(dio->fd);
    dio->fd = -1;
}
