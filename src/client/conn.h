/* conn.h -- one ssftp session as the client sees it: connect, hello, SCRAM
 * login, then request/reply calls.
 *
 * Errors are reported the way ssftp prints them: a function that fails
 * leaves ONE human line (without the "ssftp: " prefix) in c->err and returns
 * one of the SS_* exit statuses, so main() needs only
 * `fprintf(stderr, "ssftp: %s\n", c->err); return status;`.  Anything from
 * the server that goes into c->err has been through text_escape().
 */
#ifndef SSFTP_CLIENT_CONN_H
#define SSFTP_CLIENT_CONN_H

#include <stdbool.h>

#include "proto.h"

/* Exit statuses of ssftp. */
enum {
    SSFTP_OK = 0,
    SSFTP_FAIL = 1,  /* a command failed; the session is still good */
    SSFTP_USAGE = 2, /* bad command line or command arguments */
    SSFTP_CONN = 3,  /* cannot connect, or the connection broke */
    SSFTP_AUTH = 4,  /* login refused, or the server did not prove itself */
    SSFTP_INTR = 130 /* interrupted by SIGINT */
};

typedef struct client_conn {
    proto_io io;
    char user[PROTO_AUTH_USER_MAX + 1];
    char host[256];               /* as typed, for the prompt and messages */
    char cwd[PROTO_PATH_MAX + 1]; /* last cwd the server reported */
    char err[1024];               /* the last failure, one line */
    bool dead;                    /* the connection is gone or out of step */
    SSL_CTX *tls;                 /* the connection's TLS context */
} client_conn;

struct hostkey_opts;

/* Connect to host (a name, an IPv4 address, or an IPv6 address with or
 * without brackets) on port, run the TLS handshake, check the server's key
 * (hostkey.h, with hk), and greet (hello).  c is initialised here; on
 * failure c->io.fd is -1.  Returns SSFTP_OK, SSFTP_CONN, or SSFTP_AUTH
 * for a key that is refused. */
int conn_open(client_conn *c, const char *host, const char *port,
              const struct hostkey_opts *hk);

/* SCRAM login (docs/protocol.md, "Login").  Costs outside
 * proto_auth_params_check() and a wrong server signature end the connection.
 * Returns SSFTP_OK, SSFTP_AUTH or SSFTP_CONN. */
int conn_login(client_conn *c, const char *user, const char *password);

/* Send req (the reference is consumed, so `conn_call(c, json_pack(...),
 * &rep)` is safe even when json_pack failed) and receive the reply.
 * Returns 0 with *reply ok; -EREMOTEIO with *reply the failure (the caller
 * decrefs either); or another negative errno with *reply NULL, c->dead set
 * and c->err filled. */
int conn_call(client_conn *c, json_t *req, json_t **reply);

/* conn_call() for a command: returns SSFTP_OK with the reply in *keep
 * (decref it; keep NULL: dropped), or a status with c->err saying
 * "what: reason". */
int conn_request(client_conn *c, json_t *req, const char *what, json_t **keep);

/* Turn a failed reply into c->err as "what: reason" and decref it.  For
 * quota_exceeded it asks the server for the figures.  Returns SSFTP_FAIL (or
 * SSFTP_AUTH for auth_failed). */
int conn_remote_fail(client_conn *c, json_t *reply, const char *what);

/* The same, without asking for the quota figures: for replies to requests
 * sent back to back, where no other request may go in between. */
int conn_remote_note(client_conn *c, json_t *reply, const char *what);

/* c->err = "what: <strerror(-err)>" (the connection is marked dead when
 * err is a network error).  Returns SSFTP_CONN or SSFTP_FAIL accordingly. */
int conn_errno_fail(client_conn *c, int err, const char *what);

/* printf into c->err.  Returns status, for `return conn_fail(c, SSFTP_FAIL,
 * ...)`. */
int conn_fail(client_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a session was opened with, kept by the shell to open it again. */
typedef struct conn_target {
    const char *host, *port, *user;
    const struct hostkey_opts *hk;
    const char *password; /* in sodium_malloc()'d memory, wiped at exit */
} conn_target;

/* Close c (dead or not), open it again to t and log in (the keys are
 * keycache.h's, so no second argon2id), and go back to the directory it
 * was in.  Returns SSFTP_OK, or a status with c->err set. */
int conn_reconnect(client_conn *c, const conn_target *t);

/* Send quit (best effort) and close.  Safe on a closed or dead session. */
void conn_close(client_conn *c);

#endif
