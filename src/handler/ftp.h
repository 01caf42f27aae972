/* ftp.h -- FTP and FTPS (RFC 959, 2389, 2428, 3659, 4217) on the same core
 * as the ssftp sessions: the same users and passwords, homes, jail, quota,
 * atomic uploads, backoff and logs (files.h, userdb.h, backoff.h).
 *
 * ssftpd --ftp HOST:PORT starts a second libsocketserver server in the same
 * process with ftp_handler_class.  Like the native sessions, a control
 * connection is parked between commands (SS_KEEP) and holds no worker while
 * it waits; a transfer is one command and runs on its worker to the end.
 *
 *     ftp.c        the control connection: lines, replies, login, AUTH TLS
 *     ftp_data.c   PASV/EPSV/PORT/EPRT and the data connections
 *     ftp_fs.c     the file commands and transfers (RETR, STOR, APPE, ...)
 *
 * Security (README, "FTP and FTPS"): a password is refused in clear unless
 * the control connection is on loopback or the admin allows it; a passive
 * data connection is taken only from the control connection's peer address
 * and, under PROT P, only when it resumes the control connection's TLS
 * session (its session id context is unique to that control connection);
 * PORT/EPRT are off unless allowed, and then connect only to the control
 * peer's address, to a port above 1023 (no FTP bounce).
 */
#ifndef SSFTP_FTP_H
#define SSFTP_FTP_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "session.h"
#include "socketserver.h"
#include "tlskeys.h"

/* Shared by every FTP session; built by main(), read-only after start. */
struct ftp_server {
    struct session_server *core; /* users, quotas, backoff, limits, log */
    ss_server *server;           /* the FTP listener's server */
    struct tlsslot tls;          /* ftp_tls_context()'s (tlskeys.h) */
    unsigned pasv_lo, pasv_hi;   /* passive ports; 0, 0: any free one */
    /* --ftp-passive-address: the IPv4 address PASV names instead of the
     * control connection's own (behind NAT or a load balancer); 0: none.
     * Network byte order. */
    uint32_t pasv_addr;
    bool allow_plaintext; /* passwords in clear off loopback */
    bool allow_active;    /* PORT and EPRT */
    bool require_reuse;   /* PROT P data must resume the control's */
    /* How long a passive port waits for its connection, and a data
     * connection for its next byte (--ftp-data-timeout). */
    int data_timeout_ms;
    /* --ftp-no-fsync: 226 once the upload is published in the page cache,
     * not on disk (no fdatasync, no early writeback, no fsyncs) */
    bool no_fsync;
    atomic_uint sessions; /* FTP control connections now */
};

extern const ss_handler_class ftp_handler_class;

/* A server context for FTPS from the same certificate and key as the
 * native protocol's, which (unlike that one) lets a data connection resume
 * its control connection's TLS session.  As proto_tls_server_ctx(). */
int ftp_tls_context(const char *cert, const char *key, SSL_CTX **out, char *err,
                    size_t errlen);

/* --ftp-passive-ports LO-HI. */
int ftp_parse_ports(const char *s, unsigned *lo, unsigned *hi);

/* --ftp-data-timeout's default, seconds. */
#define FTP_DATA_TIMEOUT_S 30

#endif
