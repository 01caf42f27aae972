/* session.h -- one ssftpd connection: hello, SCRAM login, then commands.
 *
 * The server (main.c) hosts sessions on libsocketserver (SS_TCP +
 * SS_THREADING); session_handler_class's handle() serves one request on a
 * pool worker and parks the session until the next (SS_KEEP), speaking
 * docs/protocol.md through proto_io, inside TLS on the request socket (the
 * handshake, too, runs between parks).  Files:
 *
 *     session.c       the state machine: hello, the command loop, logs
 *     session_login.c the SCRAM login, its budget and backoff
 *     session_fs.c    pwd, cd, ls, mkdir, rm, rmdir, quota
 *     session_xfer.c  put (resumable, quota-checked) and get (resumable)
 *     backoff.c       the shared table of failed logins
 *     isolation.c     --isolation process: sessions in forked children
 *
 * The commands stand on the file service (files.h: the home, its quota,
 * uploads), which knows nothing of this protocol.
 *
 * Threads: struct session_server is shared by every session and read-only
 * after start, except the parts with their own locks (userdb, quota
 * registry, backoff table) and the atomic session counter.  A struct session
 * belongs to its worker.  With ssftpd --isolation process, each session is
 * a forked child instead (isolation.c), and what sessions share lives in
 * shared memory.
 */
#ifndef SSFTP_SESSION_H
#define SSFTP_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "backoff.h"
#include "files.h"
#include "jail.h"
#include "proto.h"
#include "quota.h"
#include "socketserver.h"
#include "tlskeys.h"
#include "userdb.h"
#include "who.h"

struct isolation;
struct put_batch;

/* What every session shares: built by main(), borrowed by sessions. */
struct session_server {
    struct userdb *db;
    struct quota_registry *quotas;
    struct backoff *backoff;
    ss_server *server;        /* set once created; for ss_server_stopping() */
    unsigned max_clients;     /* above this, hello gets "busy" */
    int idle_timeout_ms;      /* wait for the next request */
    unsigned login_timeout_s; /* connect to logged in */
    /* Sessions being handled now, this one included.  With threads each
     * session counts itself in and out.  With process isolation (isolation
     * is not NULL) this is a word shared with the children, which the
     * parent keeps (isolation.h) and sessions only read. */
    atomic_uint *sessions;
    struct isolation *isolation; /* NULL: sessions are threads */
    struct tlsslot tls;          /* every connection is TLS (tlskeys.h) */
    struct who *who;             /* sessions online (who.h), or NULL */
};

/* One logged-in-or-not connection. */
struct session {
    struct session_server *srv;
    ss_request *req;
    proto_io io;
    char peer[80]; /* "1.2.3.4:5678", for logs */
    char host[80]; /* the address alone, for the backoff table */
    char user[PROTO_AUTH_USER_MAX + 1]; /* after login */
    struct files *files;         /* after login: the user's home and quota */
    double login_deadline;       /* proto_mono_s() time */
    double started;              /* proto_mono_s() time of the connect */
    bool tls_started;            /* the client's first byte was TLS */
    bool tls_up;                 /* the TLS handshake is done */
    bool greeted;                /* hello done */
    int end;                     /* why the session ended (0: quit or EOF) */
    struct session_login *login; /* until logged in */
    struct put_batch *held;      /* verified uploads to publish together */
    struct who_slot *who;        /* its line in "ssftpd who" (who.h) */
};

/* The handler class main() passes to ss_server_create(); the server's user
 * pointer must be a struct session_server.  Its state is a struct session;
 * handle() serves one request per call and returns SS_KEEP in between, so
 * an idle session is parked: no worker, no descriptor but its socket. */
extern const ss_handler_class session_handler_class;
/* Its steps, for isolation.c's class (a forked child per session). */
int session_setup(ss_request *r);
int session_handle(ss_request *r);
int session_finish(ss_request *r);

/* One info line in the log (log.h): peer, user, then the message, with
 * what a client chose (paths, names) escaped. */
void session_log(const struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same at warning level: what an operator should look at (failed
 * logins, a refused TLS handshake), so --log-level warning keeps it. */
void session_warn(const struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The length of a request's path if it is 1..PROTO_PATH_MAX bytes, else 0
 * (the protocol's bad_request).  The jail normalizes it (path.h). */
size_t session_path_len(const char *path);

/* Reads req's key (a path) and resolves it in the jail: the one way
 * commands name files.  Returns 0 with *out; 1 when the request failed and
 * its error reply has been sent; negative when sending failed. */
int session_resolve(struct session *s, const json_t *req, const char *key,
                    struct jail_path **out);

/* Sends the error reply for err (a negative errno) about what.  Returns as
 * proto_send(). */
int session_fail(struct session *s, int err, const char *what);

/* Ends a command: logs "cmd what: ok|code" and sends {"ok":true} plus extra
 * (may be NULL) when err is 0, else the error reply for err.  Returns as
 * proto_send(). */
int session_reply(struct session *s, const char *cmd, const char *what, int err,
                  json_t *extra);

/* A session's login in progress (session_login.c): the one outstanding
 * challenge (wiped with sodium_memzero() once used), and the failed proofs
 * of the connection so far. */
struct session_challenge {
    bool live;
    bool real; /* the user exists (else the keys are fake) */
    double issued;
    char user[PROTO_AUTH_USER_MAX + 1];
    proto_auth_message am;
    uint8_t cbind[PROTO_AUTH_CBIND_MAX]; /* this channel's, in am */
    size_t cbind_len;
    uint8_t stored_key[PROTO_AUTH_KEY_BYTES];
    uint8_t server_key[PROTO_AUTH_KEY_BYTES];
};

struct session_login {
    struct session_challenge ch;
    int failures;
};

/* auth: checks the login budget, answers with the challenge (a real
 * user's, or a decoy's alike).  Returns as proto_send(). */
int session_auth(struct session *s, const json_t *req, struct session_login *l);
/* auth_proof: checks the proof; on success opens the user's file service
 * (s->files) and answers with the server's signature.  Returns 0 (logged in
 * or not: see s->files), or negative to end the session. */
int session_auth_proof(struct session *s, const json_t *req,
                       struct session_login *l);

/* The commands of a logged-in session.  Each sends exactly the replies the
 * protocol calls for and returns 0, or a negative errno when the connection
 * is unusable and the session must end. */
int session_cmd_pwd(struct session *s, const json_t *req);
int session_cmd_cd(struct session *s, const json_t *req);
int session_cmd_ls(struct session *s, const json_t *req);
int session_cmd_stat(struct session *s, const json_t *req);
int session_cmd_partials(struct session *s, const json_t *req);
int session_cmd_rename(struct session *s, const json_t *req);
int session_cmd_set_mtime(struct session *s, const json_t *req);
int session_cmd_mkdir(struct session *s, const json_t *req);
int session_cmd_rm(struct session *s, const json_t *req);
int session_cmd_rmdir(struct session *s, const json_t *req);
int session_cmd_quota(struct session *s, const json_t *req);
int session_cmd_put(struct session *s, const json_t *req);
int session_cmd_get(struct session *s, const json_t *req);

/* Group commit (session_xfer.c): uploads verified while the client had
 * already sent more are held, published together, then answered in order.
 * flush publishes and answers what is held (call it before any other reply
 * goes out, and when the session ends); settle does so only when the client
 * has sent nothing more (a held upload must not wait on an idle client).
 * Both return 0, or negative when a reply could not be sent. */
int session_put_flush(struct session *s);
int session_put_settle(struct session *s);

/* Waits for and reads the next request (the idle wait polls
 * ss_server_stopping() unless in_transfer).  Returns as proto_recv(), or
 * -ESHUTDOWN when the server is stopping. */
int session_next(struct session *s, json_t **req, bool in_transfer);

#endif
