/* ftp_internal.h -- what ftp.c, ftp_data.c and ftp_fs.c share: one FTP
 * control connection's state.  Not for other modules (ftp.h is). */
#ifndef SSFTP_FTP_INTERNAL_H
#define SSFTP_FTP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "files.h"
#include "ftp.h"
#include "ftpline.h"
#include "proto.h"

/* Bytes a control connection may send ahead of the replies (pipelining). */
#define FTP_IN_MAX 2048

struct ftp_session {
    struct ftp_server *srv;
    ss_request *req;
    proto_io io; /* the control connection; TLS after AUTH TLS */
    char peer[80], host[80];
    /* The control connection's client (behind a trusted proxy: the PROXY
     * header's source), its TCP peer (the proxy itself, else the same as
     * peer_sa) and our local address. */
    struct sockaddr_storage peer_sa, conn_sa, local_sa;
    socklen_t peer_len, conn_len, local_len;
    ftpline lp;
    unsigned char in[FTP_IN_MAX]; /* received, not yet fed to lp */
    size_t in_off, in_len;
    char user[PROTO_AUTH_USER_MAX + 1]; /* USER's name; after login, theirs */
    bool user_given;
    struct files *files; /* logged in */
    bool logged_in;      /* for the log, after files is closed */
    bool tls_handshaking, tls_up;
    bool pbsz, prot_p;
    bool epsv_all;
    unsigned char sid[32]; /* the TLS session id context data must resume */
    int pasv_fd;           /* listening for the next data connection, or -1 */
    struct sockaddr_storage port_sa; /* PORT/EPRT's address */
    bool port_set;
    uint64_t rest; /* REST's offset for the next RETR/STOR */
    char *rnfr;    /* RNFR's path, until RNTO */
    char hash_algo[16];
    bool rang_set; /* RANG's byte range for the next HASH */
    uint64_t rang_lo, rang_hi;
    int failures;
    double started, login_deadline;
    int end;
    bool aborted;         /* ABOR came during the transfer in progress */
    struct who_slot *who; /* its line in "ssftpd who" (who.h) */
};

/* Sends one reply line, "CODE text\r\n" (text printf-style; CR and LF in it
 * become spaces).  Returns 0 or a negative errno. */
int ftp_reply(struct ftp_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends bytes as they are (a multi-line reply built by the caller). */
int ftp_send(struct ftp_session *s, const char *buf, size_t n);
void ftp_log(const struct ftp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ftp_log() at warning level (failed logins, a refused TLS handshake). */
void ftp_warn(const struct ftp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The reply for a negative errno from the file service, with what. */
int ftp_fail(struct ftp_session *s, int err, const char *what);
/* During a transfer: reads what the control connection has sent, without
 * waiting, and when the next line is ABOR takes it and sets s->aborted
 * (also when the client is gone).  Other lines wait their turn.  Returns
 * false when the next line is complete but is not ABOR, or there is no
 * room to read more: reading again would take nothing. */
bool ftp_take_abort(struct ftp_session *s);
/* ftp_take_abort() if the control connection has input. */
void ftp_poll_abort(struct ftp_session *s);

/* ftp_data.c */
int ftp_cmd_pasv(struct ftp_session *s, bool extended, const char *arg);
int ftp_cmd_port(struct ftp_session *s, bool extended, const char *arg);
/* Closes a passive listener and forgets PORT. */
void ftp_data_reset(struct ftp_session *s);
/* Opens the data connection the last PASV/EPSV/PORT/EPRT prepared (after
 * the 150 reply), TLS when PROT P.  On success *dio is the connection;
 * on failure the 425 reply has been sent and 1 is returned (or a negative
 * errno when even that failed). */
int ftp_data_open(struct ftp_session *s, proto_io *dio);
/* Ends a data connection: TLS close_notify, then close. */
void ftp_data_close(proto_io *dio);
/* Whether a data connection is prepared (else 425 "use PASV or PORT"). */
bool ftp_data_ready(const struct ftp_session *s);

/* ftp_fs.c: the commands that touch files.  Each returns 0 to go on or a
 * negative errno to end the session. */
int ftp_cmd_cwd(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_pwd(struct ftp_session *s);
int ftp_cmd_list(struct ftp_session *s, const char *verb, const char *arg,
                 size_t n);
int ftp_cmd_mlst(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_retr(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_stor(struct ftp_session *s, const char *arg, size_t n, bool append);
int ftp_cmd_size(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_mdtm(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_mfmt(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_dele(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_mkd(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_rmd(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_rnfr(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_rnto(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_hash(struct ftp_session *s, const char *arg, size_t n);
int ftp_cmd_opts_hash(struct ftp_session *s, const char *arg);
int ftp_cmd_rang(struct ftp_session *s, const char *arg);

#endif
