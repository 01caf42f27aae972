/* session.c -- one ssftpd connection: hello, then the command loop (the
 * login is session_login.c's).
 *
 * docs/protocol.md is the contract; the sections named in comments below are
 * its headings.  Each request runs on whichever pool worker the library
 * gives it; between requests the session is parked (SS_KEEP).
 */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* How often an idle session looks at ss_server_stopping(). */
#define STOP_POLL_MS 250

/* session_log() and session_warn() at their level. */
static void session_vlog(enum log_level level, const struct session *s,
                         const char *fmt, va_list ap)
{
    log_session_v(level, NULL, s->peer, s->user[0] != '\0' ? s->user : NULL,
                  fmt, ap);
}

void session_log(const struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    session_vlog(LOG_LEVEL_INFO, s, fmt, ap);
    va_end(ap);
}

void session_warn(const struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    session_vlog(LOG_LEVEL_WARNING, s, fmt, ap);
    va_end(ap);
}

size_t session_path_len(const char *path)
{
    size_t n = strnlen(path, PROTO_PATH_MAX + 1);
    return n > PROTO_PATH_MAX ? 0 : n;
}

int session_fail(struct session *s, int err, const char *what)
{
    const char *code = proto_errno_code(err);
    return proto_send_error(&s->io, code, "%s: %s", what,
                            err == -ELOOP   ? "goes through a symbolic link"
                            : err == -EXDEV ? "not allowed in a path"
                                            : strerror(-err));
}

int session_resolve(struct session *s, const json_t *req, const char *key,
                    struct jail_path **out)
{
    const char *path;
    if (proto_get_str(req, key, &path) != 0) {
        int rc = proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                  "\"%s\" must be a string", key);
        return rc < 0 ? rc : 1;
    }
    size_t n = session_path_len(path);
    if (n == 0) {
        int rc = proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                  "a path is 1..%d bytes", PROTO_PATH_MAX);
        return rc < 0 ? rc : 1;
    }
    int rc = files_resolve(s->files, path, n, out);
    if (rc != 0) {
        const char *cmd = "?";
        proto_get_str(req, "cmd", &cmd);
        session_log(s, "%s %s: %s", cmd, path, proto_errno_code(rc));
        rc = session_fail(s, rc, path);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* Milliseconds from now until deadline (proto_mono_s() time), or 0. */
static int ms_until(double deadline)
{
    double ms = (deadline - proto_mono_s()) * 1000.0;
    if (ms < 1.0)
        return 0;
    return ms > 1e9 ? 1000000000 : (int)ms;
}

int session_next(struct session *s, json_t **req, bool in_transfer)
{
    int limit = s->srv->idle_timeout_ms;
    if (s->files == NULL) { /* not logged in yet: the login deadline bounds */
        int left = ms_until(s->login_deadline);
        if (left == 0)
            return -ETIMEDOUT;
        if (limit <= 0 || left < limit)
            limit = left;
    }
    double deadline = proto_mono_s() + limit / 1000.0;
    /* Wait for the first byte in slices, so a stopping server lets idle
     * sessions go at once instead of after the drain timeout.  (Input the
     * TLS session holds needs no wait.) */
    while (!proto_tls_pending(&s->io)) {
        if (!in_transfer && ss_server_stopping(s->srv->server))
            return -ESHUTDOWN;
        int left = ms_until(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = s->io.fd, .events = POLLIN};
        int n = proto_poll(&pfd, 1, left < STOP_POLL_MS ? left : STOP_POLL_MS);
        if (n < 0)
            return n;
        if (n > 0)
            break;
    }
    s->io.timeout_ms = ms_until(deadline);
    if (s->io.timeout_ms == 0)
        return -ETIMEDOUT;
    int rc = proto_recv(&s->io, req);
    if (rc != 0 || s->io.body_in == 0)
        return rc;
    /* Only put_data inside an upload carries a body.  Any other body would
     * have to be read to find the next frame, and its length is the peer's
     * word (up to 2^63 - 1): refuse it and end the session instead. */
    const char *cmd = "";
    proto_get_str(*req, "cmd", &cmd);
    if (in_transfer && strcmp(cmd, "put_data") == 0)
        return 0;
    session_log(s, "refused a %llu-byte body on \"%s\"",
                (unsigned long long)s->io.body_in, cmd);
    json_decref(*req);
    *req = NULL;
    if (session_put_flush(s) == 0) /* held uploads are answered first */
        proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                         "this request takes no body (\"size\")");
    return -EPROTO;
}

/* ---- hello ------------------------------------------------------------ */

/* Returns 0 when greeted, else negative (the session then ends). */
static int do_hello(struct session *s)
{
    json_t *req;
    int rc = session_next(s, &req, false);
    if (rc == -EMSGSIZE || rc == -EBADMSG)
        proto_send_error(&s->io, PROTO_E_BAD_FRAME, "unreadable frame");
    if (rc != 0)
        return rc;
    const char *cmd;
    int64_t version = 0;
    if (proto_get_str(req, "cmd", &cmd) != 0 || strcmp(cmd, "hello") != 0) {
        proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                         "the first request must be hello");
        rc = -EPROTO;
    } else if (proto_get_i64(req, "version", &version) != 0) {
        proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                         "\"version\" must be an integer");
        rc = -EPROTO;
    } else if (version != PROTO_VERSION) {
        proto_send_error(&s->io, PROTO_E_VERSION,
                         "protocol version %lld is not supported (this "
                         "server speaks %d)",
                         (long long)version, PROTO_VERSION);
        rc = -EPROTO;
    } else if (atomic_load(s->srv->sessions) > s->srv->max_clients) {
        proto_send_error(&s->io, PROTO_E_BUSY,
                         "the server is at its session limit; try later");
        session_log(s, "refused: at the session limit (%u)",
                    s->srv->max_clients);
        rc = -EUSERS;
    } else {
        json_t *ok = json_pack("{s:i, s:s}", "version", PROTO_VERSION, "server",
                               "ssftpd/1.0");
        rc = ok == NULL ? -ENOMEM : proto_send_ok(&s->io, ok);
        json_decref(ok);
    }
    json_decref(req);
    return rc;
}

/* ---- the command loop ------------------------------------------------- */

typedef int (*command_fn)(struct session *s, const json_t *req);

static const struct command {
    const char *name;
    command_fn fn;
} commands[] = {
    {"pwd", session_cmd_pwd},
    {"cd", session_cmd_cd},
    {"ls", session_cmd_ls},
    {"mkdir", session_cmd_mkdir},
    {"rm", session_cmd_rm},
    {"rmdir", session_cmd_rmdir},
    {"quota", session_cmd_quota},
    {"put", session_cmd_put},
    {"get", session_cmd_get},
    {"stat", session_cmd_stat},
    {"rename", session_cmd_rename},
    {"set_mtime", session_cmd_set_mtime},
    {"partials", session_cmd_partials},
};

static bool known_cmd(const char *cmd)
{
    static const char *const others[] = {"hello", "auth",     "auth_proof",
                                         "quit",  "put_data", "put_end"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return true;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (strcmp(cmd, others[i]) == 0)
            return true;
    return false;
}

/* One request in the greeted or logged-in state.  Returns 0 to go on,
 * 1 after quit, or negative to end the session. */
static int dispatch(struct session *s, const json_t *req, const char *cmd,
                    struct session_login *login)
{
    bool in = s->files != NULL;
    if (strcmp(cmd, "quit") == 0) {
        int rc = proto_send_ok(&s->io, NULL);
        return rc < 0 ? rc : 1;
    }
    if (!known_cmd(cmd))
        return proto_send_error(&s->io, PROTO_E_UNKNOWN_COMMAND,
                                "unknown command \"%s\"", cmd);
    if (!in) {
        if (strcmp(cmd, "auth") == 0)
            return session_auth(s, req, login);
        if (strcmp(cmd, "auth_proof") == 0)
            return session_auth_proof(s, req, login);
        return proto_send_error(&s->io, PROTO_E_AUTH_REQUIRED, "log in first");
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(s, req);
    /* hello, auth, auth_proof when logged in; put_data/put_end outside an
     * upload (proto_recv drops the body before the next frame). */
    return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                            "\"%s\" is not allowed now", cmd);
}

/* Wipes and frees the login state (its challenge and keys), if any. */
static void drop_login(struct session *s)
{
    if (s->login == NULL)
        return;
    sodium_memzero(s->login, sizeof *s->login);
    free(s->login);
    s->login = NULL;
}

/* The client speaks first.  Until its first byte is here there is nothing
 * to do (0: wait for it, parked); at end of stream the session ends.  A
 * client of protocol version 1 sends a frame where TLS expects its
 * ClientHello: a frame starts with a length below 65537, so its first byte
 * is 0, where a TLS record's is its type (22 for a handshake).  Such a
 * client is told why, in its own framing, and the session ends (-EPROTO).
 * 1: a TLS client, on with the handshake. */
static int first_byte(struct session *s)
{
    unsigned char first;
    ssize_t k = recv(s->io.fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0)
        return -ENODATA;
    if (k < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? 0
                   : -errno;
    if (first != 0)
        return 1;
    void *tls = s->io.tls;
    s->io.tls = NULL; /* this one reply in clear */
    (void)proto_send_error(&s->io, PROTO_E_VERSION,
                           "this server speaks protocol version %d: TLS "
                           "from the first byte; upgrade the client",
                           PROTO_VERSION);
    s->io.tls = tls;
    session_log(s, "refused a client without TLS (protocol version 1?)");
    return -EPROTO;
}

/* One request, then back to the library: 0 to wait for the next (the
 * connection is parked meanwhile), 1 after quit, negative to end. */
static int session_step(struct session *s)
{
    if (!s->tls_up) {
        if (!s->tls_started) {
            int rc = first_byte(s);
            if (rc <= 0)
                return rc;
            s->tls_started = true;
        }
        /* Without waiting: a slow or silent peer costs no worker while its
         * handshake is under way (the login deadline bounds it). */
        int rc = proto_tls_handshake(&s->io, false);
        if (rc == -EAGAIN)
            return 0;
        if (rc != 0) {
            char why[160];
            session_warn(s, "TLS handshake failed: %s",
                         proto_tls_why(rc, why, sizeof why));
            return rc;
        }
        s->tls_up = true;
        return 0; /* the next request may follow at once (pending) */
    }
    if (!s->greeted) {
        int rc = do_hello(s);
        s->greeted = rc == 0;
        return rc;
    }
    if (s->files != NULL) {
        int rc = files_wake(s->files);
        if (rc != 0) {
            session_log(s, "cannot open the home again: %s", strerror(-rc));
            if (session_put_flush(s) == 0)
                session_fail(s, rc, "cannot open your home directory");
            return rc;
        }
    }
    json_t *req;
    int rc = session_next(s, &req, false);
    who_touch(s->who);
    if ((rc == -EMSGSIZE || rc == -EBADMSG) && session_put_flush(s) == 0)
        proto_send_error(&s->io, PROTO_E_BAD_FRAME, "unreadable frame");
    if (rc != 0)
        return rc;
    const char *cmd = "";
    (void)proto_get_str(req, "cmd", &cmd);
    /* Held uploads are answered before anything else (put sees to that
     * itself: a whole put is held in turn). */
    if (strcmp(cmd, "put") != 0)
        rc = session_put_flush(s);
    if (rc == 0 && !json_is_string(json_object_get(req, "cmd")))
        rc = proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                              "a request needs a string \"cmd\"");
    else if (rc == 0)
        rc = dispatch(s, req, cmd, s->login);
    json_decref(req);
    if (rc == 0)
        rc = session_put_settle(s);
    if (rc == 0 && s->files != NULL) {
        if (s->login != NULL) /* just logged in */
            who_login(s->who, s->user);
        files_rest(s->files); /* idle: the socket is all it holds */
        drop_login(s);        /* logged in: the login state goes */
    }
    return rc;
}

static void peer_names(struct session *s)
{
    snprintf(s->peer, sizeof s->peer, "%s", ss_request_client_str(s->req));
    snprintf(s->host, sizeof s->host, "%s", ss_request_client_host(s->req));
}

/* setup: the session's state lives in the request (state_size), across
 * the calls of handle(), one per request. */
int session_setup(ss_request *r)
{
    struct session_server *srv = ss_request_user(r);
    struct session *s = ss_request_state(r);
    *s = (struct session){
        .srv = srv,
        .req = r,
        .io = {.fd = ss_request_fd(r),
               .timeout_ms = PROTO_IDLE_TIMEOUT_S * 1000,
               .body_timeout_ms = PROTO_IO_TIMEOUT_S * 1000,
               .body_min_rate = PROTO_BODY_MIN_RATE,
               .body_window_ms = srv->idle_timeout_ms},
    };
    s->login = calloc(1, sizeof *s->login);
    if (s->login == NULL)
        return -ENOMEM;
    s->started = proto_mono_s();
    s->login_deadline = s->started + srv->login_timeout_s;
    /* The login deadline bounds everything before login, bodies included:
     * the frames' reads (proto_io) and the waits between them (the
     * library's, while the connection is parked). */
    s->io.deadline_ms = proto_mono_ms() + (int64_t)srv->login_timeout_s * 1000;
    int rc = ss_request_set_deadline(r, (int)srv->login_timeout_s * 1000);
    if (rc == 0)
        rc = ss_stream_set_timeout(r, srv->idle_timeout_ms);
    /* Every connection is TLS from its first byte: no plaintext mode. */
    if (rc == 0) {
        SSL_CTX *ctx = tlsslot_get(&srv->tls); /* a reload may swap it */
        rc = ctx == NULL ? -ENOMEM : proto_tls_attach(&s->io, ctx, true, NULL);
        SSL_CTX_free(ctx); /* the SSL holds its own reference */
    }
    if (rc != 0) {
        free(s->login);
        return rc;
    }
    peer_names(s);
    s->who = who_enter(srv->who, "ssftp", s->peer);
    /* Requests and replies are small frames sent back to back: without
     * this, Nagle and delayed ACKs add tens of milliseconds to each. */
    ss_stream_disable_nagle(r);
    if (srv->isolation == NULL) /* else the parent counts (isolation.h) */
        atomic_fetch_add(srv->sessions, 1);
    session_log(s, "connect");
    return 0;
}

/* handle: one request per call; between requests the session is parked
 * (SS_KEEP) and holds no worker.  A transfer is one request. */
int session_handle(ss_request *r)
{
    struct session *s = ss_request_state(r);
    int rc = session_step(s);
    /* Input the TLS session already holds is not on the socket: the
     * library must call again without waiting for it.  Not during the
     * handshake: one that asked for more has taken all it holds (a part of
     * a record, which SSL_has_pending() counts too), and calling again
     * without waiting would spin a worker for as long as the peer sends
     * nothing more. */
    ss_request_set_pending(r,
                           rc == 0 && s->tls_up && proto_tls_pending(&s->io));
    if (rc == 0)
        return SS_KEEP;
    s->end = rc == 1 || rc == -ENODATA ? 0 : rc;
    return 0;
}

int session_finish(ss_request *r)
{
    struct session *s = ss_request_state(r);
    struct session_server *srv = s->srv;
    int why = s->end != 0 ? s->end : ss_request_status(r);
    (void)session_put_flush(s); /* verified uploads are published */
    drop_login(s);
    proto_tls_detach(&s->io); /* close_notify, if the socket takes it */
    files_close(s->files);
    s->files = NULL;
    who_leave(s->who);
    if (srv->isolation == NULL)
        atomic_fetch_sub(srv->sessions, 1);
    session_log(s, "disconnect after %.1f s%s%s", proto_mono_s() - s->started,
                why == 0 ? "" : ": ", why == 0 ? "" : strerror(-why));
    return 0;
}

const ss_handler_class session_handler_class = {
    .name = "ssftp-session",
    .state_size = sizeof(struct session),
    .setup = session_setup,
    .handle = session_handle,
    .finish = session_finish,
};
