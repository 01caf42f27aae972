/* session.c -- one ssftpd connection: hello, SCRAM login, the command loop.
 *
 * docs/protocol.md is the contract; the sections named in comments below are
 * its headings.  Everything here runs on the pool worker that accepted the
 * connection, for the connection's whole life.
 */
#include "session.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "logesc.h"

/* How often an idle session looks at ss_server_stopping(). */
#define STOP_POLL_MS 250

double session_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void session_log(const struct session *s, const char *fmt, ...)
{
    char raw[1024], msg[2048], user[4 * PROTO_AUTH_USER_MAX + 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    log_escape(raw, msg, sizeof msg);
    log_escape(s->user[0] != '\0' ? s->user : "-", user, sizeof user);
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* One fprintf per line: stdio locks the stream, so lines never mix. */
    fprintf(stderr, "%s ssftpd %s %s: %s\n", stamp, s->peer, user, msg);
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

/* Milliseconds from now until deadline (session_now_s() time), or 0. */
static int ms_until(double deadline)
{
    double ms = (deadline - session_now_s()) * 1000.0;
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
    double deadline = session_now_s() + limit / 1000.0;
    /* Wait for the first byte in slices, so a stopping server lets idle
     * sessions go at once instead of after the drain timeout. */
    for (;;) {
        if (!in_transfer && ss_server_stopping(s->srv->server))
            return -ESHUTDOWN;
        int left = ms_until(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = s->io.fd, .events = POLLIN};
        int n = poll(&pfd, 1, left < STOP_POLL_MS ? left : STOP_POLL_MS);
        if (n < 0 && errno != EINTR)
            return -errno;
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
        json_t *ok = json_pack("{s:i, s:s}", "version", PROTO_VERSION,
                               "server", "ssftpd/1.0");
        rc = ok == NULL ? -ENOMEM : proto_send_ok(&s->io, ok);
        json_decref(ok);
    }
    json_decref(req);
    return rc;
}

/* ---- login ------------------------------------------------------------ */

/* The one outstanding challenge of a session. */
struct challenge {
    bool live;
    bool real; /* the user exists (else the keys are fake) */
    double issued;
    char user[PROTO_AUTH_USER_MAX + 1];
    proto_auth_message am;
    uint8_t stored_key[PROTO_AUTH_KEY_BYTES];
    uint8_t server_key[PROTO_AUTH_KEY_BYTES];
};

/* busy, at once, with the seconds until the budget allows a try. */
static int refuse_auth(struct session *s, const char *user, unsigned retry)
{
    session_log(s, "auth of %s from %s refused: too many failed logins "
                   "(retry after %u s)",
                user, s->host, retry);
    json_t *extra = json_pack("{s:I}", "retry_after", (json_int_t)retry);
    if (extra == NULL)
        return proto_send_error(&s->io, PROTO_E_INTERNAL, "out of memory");
    int rc = proto_send_error_with(&s->io, PROTO_E_BUSY, extra,
                                   "too many failed logins for this user "
                                   "name or from this address");
    json_decref(extra);
    return rc;
}

static int do_auth(struct session *s, const json_t *req, struct challenge *ch)
{
    const char *user;
    uint8_t cnonce[PROTO_AUTH_NONCE_BYTES], snonce[PROTO_AUTH_NONCE_BYTES];
    size_t ulen;
    if (proto_get_str(req, "user", &user) != 0 ||
        (ulen = strlen(user)) < 1 || ulen > PROTO_AUTH_USER_MAX)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"user\" must be 1..%d bytes", PROTO_AUTH_USER_MAX);
    if (proto_get_b64(req, "cnonce", cnonce, sizeof cnonce) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"cnonce\" must be %d bytes of base64",
                                PROTO_AUTH_NONCE_BYTES);
    sodium_memzero(ch, sizeof *ch);
    /* The login budget comes first and alone: a refusal costs no lookup and
     * no key work, and says nothing about whether the name exists. */
    unsigned retry;
    int rc = backoff_check(s->srv->backoff, user, s->host, &retry);
    if (rc == -EBUSY)
        return refuse_auth(s, user, retry);
    if (rc != 0) {
        session_log(s, "login table: %s", strerror(-rc));
        return proto_send_error(&s->io, PROTO_E_INTERNAL,
                                "cannot check the login budget");
    }
    memcpy(ch->user, user, ulen + 1);
    struct userdb_record rec;
    proto_auth_params p;
    rc = userdb_lookup(s->srv->db, user, &rec);
    if (rc != 0 && rc != -ENOENT)
        session_log(s, "user lookup of %s failed: %s", user, strerror(-rc));
    /* Known and unknown names do the same work: the decoy salt and key are
     * made for every name, and a real user's replace them.  The costs are
     * a real user's either way (userdb_lookup's decoy), so a server whose
     * users share one cost answers every name alike. */
    uint8_t secret[PROTO_AUTH_SECRET_BYTES], fake_salt[PROTO_AUTH_SALT_BYTES],
        fake_key[PROTO_AUTH_KEY_BYTES];
    userdb_secret(s->srv->db, secret);
    proto_auth_fake_salt(secret, user, fake_salt);
    proto_auth_fake_stored_key(secret, user, fake_key);
    sodium_memzero(secret, sizeof secret);
    p = rec.cred.params;
    ch->real = rc == 0;
    if (!ch->real) {
        memcpy(p.salt, fake_salt, sizeof fake_salt);
        memcpy(ch->stored_key, fake_key, PROTO_AUTH_KEY_BYTES);
    } else {
        memcpy(ch->stored_key, rec.cred.stored_key, PROTO_AUTH_KEY_BYTES);
        memcpy(ch->server_key, rec.cred.server_key, PROTO_AUTH_KEY_BYTES);
    }
    sodium_memzero(fake_key, sizeof fake_key);
    sodium_memzero(&rec, sizeof rec);
    randombytes_buf(snonce, sizeof snonce);
    if (proto_auth_message_build(&ch->am, user, cnonce, snonce, &p) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST, "bad user name");
    ch->live = true;
    ch->issued = session_now_s();
    json_t *reply = json_pack("{s:I, s:I}", "opslimit", (json_int_t)p.opslimit,
                              "memlimit", (json_int_t)p.memlimit);
    if (reply == NULL || proto_set_b64(reply, "salt", p.salt, 16) != 0 ||
        proto_set_b64(reply, "snonce", snonce, 32) != 0) {
        json_decref(reply);
        return proto_send_error(&s->io, PROTO_E_INTERNAL, "out of memory");
    }
    rc = proto_send_ok(&s->io, reply);
    json_decref(reply);
    return rc;
}

/* What opening the account did to the home, when it did anything. */
static void log_account(const struct session *s, const char *user,
                        const struct quota_opened *ev)
{
    const struct jail_sweep *sw = &ev->sweep;
    if (ev->deferred)
        session_log(s, "quota of %s in doubt; counted when no other process "
                       "has it open", user);
    if (ev->counted && ev->count_err != 0)
        session_log(s, "counting the home of %s: %s (the rest is counted)",
                    user, strerror(-ev->count_err));
    if (sw->commit_leftovers.entries != 0)
        session_log(s, "swept %llu leftover(s) of cut commits from the home "
                       "of %s (%llu bytes)",
                    (unsigned long long)sw->commit_leftovers.entries, user,
                    (unsigned long long)sw->commit_leftovers.bytes);
    if (sw->old_partials.entries != 0)
        session_log(s, "swept %llu partial upload(s) unwritten for %lld s "
                       "or more from the home of %s (%llu bytes)",
                    (unsigned long long)sw->old_partials.entries,
                    (long long)sw->partial_max_age_s, user,
                    (unsigned long long)sw->old_partials.bytes);
}

/* After a good proof: the user's file service (home and quota account). */
static int open_home(struct session *s, const char *user)
{
    struct quota_opened ev;
    int rc = files_open(s->srv->db, s->srv->quotas, user, &s->files, &ev);
    if (rc == 0)
        log_account(s, user, &ev);
    return rc;
}

/* Returns 0 (logged in or not: see s->files), or negative to end. */
static int do_auth_proof(struct session *s, const json_t *req,
                         struct challenge *ch, int *failures)
{
    uint8_t proof[PROTO_AUTH_KEY_BYTES];
    bool have_proof = proto_get_b64(req, "proof", proof, sizeof proof) == 0;
    bool had = ch->live;
    ch->live = false; /* one use, whatever the outcome */
    if (!have_proof) {
        sodium_memzero(ch, sizeof *ch);
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"proof\" must be %d bytes of base64",
                                PROTO_AUTH_KEY_BYTES);
    }
    const char *why = NULL;
    if (!had)
        why = "no challenge";
    else if (session_now_s() - ch->issued > PROTO_AUTH_CHALLENGE_TTL_S)
        why = "challenge expired";
    else if (proto_auth_server_verify(ch->stored_key, &ch->am, proof) != 0 ||
             !ch->real)
        why = ch->real ? "wrong password" : "unknown user";
    if (why == NULL) {
        int rc = open_home(s, ch->user);
        if (rc != 0) {
            session_log(s, "login of %s: cannot open home: %s", ch->user,
                        strerror(-rc));
            sodium_memzero(ch, sizeof *ch);
            proto_send_error(&s->io, PROTO_E_INTERNAL,
                             "cannot open your home directory");
            return rc;
        }
        uint8_t sig[PROTO_AUTH_KEY_BYTES];
        proto_auth_server_signature(ch->server_key, &ch->am, sig);
        snprintf(s->user, sizeof s->user, "%s", ch->user);
        sodium_memzero(ch, sizeof *ch);
        s->io.deadline_ms = 0; /* logged in: the login deadline is over */
        backoff_success(s->srv->backoff, s->user);
        session_log(s, "login ok");
        json_t *reply = json_pack("{s:s}", "home", "/");
        rc = reply == NULL ? -ENOMEM
                           : proto_set_b64(reply, "server_signature", sig, 32);
        if (rc == 0)
            rc = proto_send_ok(&s->io, reply);
        json_decref(reply);
        return rc;
    }
    (*failures)++;
    int delay = backoff_fail(s->srv->backoff, had ? ch->user : "-", s->host);
    session_log(s, "login failed for %s from %s: %s (failure %d, reply "
                   "delayed %d ms)",
                had ? ch->user : "-", s->host, why, *failures, delay);
    sodium_memzero(ch, sizeof *ch);
    /* Hold back the reply, not the worker for long: at most BACKOFF_MAX_MS. */
    struct timespec ts = {.tv_sec = delay / 1000,
                          .tv_nsec = (long)(delay % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    int rc = proto_send_error(&s->io, PROTO_E_AUTH_FAILED, "login failed");
    if (rc == 0 && *failures >= PROTO_AUTH_MAX_FAILURES)
        rc = -EACCES;
    return rc;
}

/* ---- the command loop ------------------------------------------------- */

typedef int (*command_fn)(struct session *s, const json_t *req);

static const struct command {
    const char *name;
    command_fn fn;
} commands[] = {
    {"pwd", session_cmd_pwd},     {"cd", session_cmd_cd},
    {"ls", session_cmd_ls},       {"mkdir", session_cmd_mkdir},
    {"rm", session_cmd_rm},       {"rmdir", session_cmd_rmdir},
    {"quota", session_cmd_quota}, {"put", session_cmd_put},
    {"get", session_cmd_get},
};

static bool known_cmd(const char *cmd)
{
    static const char *const others[] = {"hello", "auth", "auth_proof",
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
                    struct challenge *ch, int *failures)
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
            return do_auth(s, req, ch);
        if (strcmp(cmd, "auth_proof") == 0)
            return do_auth_proof(s, req, ch, failures);
        return proto_send_error(&s->io, PROTO_E_AUTH_REQUIRED,
                                "log in first");
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(s, req);
    /* hello, auth, auth_proof when logged in; put_data/put_end outside an
     * upload (proto_recv drops the body before the next frame). */
    return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                            "\"%s\" is not allowed now", cmd);
}

static int session_run(struct session *s)
{
    int rc = do_hello(s);
    if (rc != 0)
        return rc;
    struct challenge ch = {0};
    int failures = 0;
    for (;;) {
        json_t *req;
        rc = session_next(s, &req, false);
        if (rc == -EMSGSIZE || rc == -EBADMSG)
            proto_send_error(&s->io, PROTO_E_BAD_FRAME, "unreadable frame");
        if (rc != 0)
            break;
        const char *cmd;
        if (proto_get_str(req, "cmd", &cmd) != 0)
            rc = proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                  "a request needs a string \"cmd\"");
        else
            rc = dispatch(s, req, cmd, &ch, &failures);
        json_decref(req);
        if (rc != 0)
            break;
    }
    sodium_memzero(&ch, sizeof ch);
    return rc == 1 || rc == -ENODATA ? 0 : rc;
}

static void peer_names(struct session *s)
{
    snprintf(s->peer, sizeof s->peer, "%s", ss_request_client_str(s->req));
    socklen_t len;
    const struct sockaddr *sa = ss_request_client_address(s->req, &len);
    if (getnameinfo(sa, len, s->host, sizeof s->host, NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(s->host, sizeof s->host, "%s", s->peer);
}

static int session_handle(ss_request *r)
{
    struct session_server *srv = ss_request_user(r);
    struct session s = {
        .srv = srv,
        .req = r,
        .io = {.fd = ss_request_fd(r),
               .timeout_ms = PROTO_IDLE_TIMEOUT_S * 1000,
               .body_timeout_ms = PROTO_IO_TIMEOUT_S * 1000,
               .body_min_rate = PROTO_BODY_MIN_RATE,
               .body_window_ms = srv->idle_timeout_ms},
    };
    s.login_deadline = session_now_s() + srv->login_timeout_s;
    /* The login deadline bounds everything before login, bodies included. */
    if (proto_now_ms(&s.io.deadline_ms) == 0)
        s.io.deadline_ms += (int64_t)srv->login_timeout_s * 1000;
    else
        s.io.deadline_ms = 0;
    peer_names(&s);
    /* Requests and replies are small frames sent back to back: without
     * this, Nagle and delayed ACKs add tens of milliseconds to each. */
    ss_stream_disable_nagle(r);
    if (srv->isolation == NULL) /* else the parent counts (isolation.h) */
        atomic_fetch_add(srv->sessions, 1);
    session_log(&s, "connect");
    double start = session_now_s();
    int rc = session_run(&s);
    files_close(s.files);
    if (srv->isolation == NULL)
        atomic_fetch_sub(srv->sessions, 1);
    session_log(&s, "disconnect after %.1f s%s%s", session_now_s() - start,
                rc == 0 ? "" : ": ", rc == 0 ? "" : strerror(-rc));
    return 0;
}

const ss_handler_class session_handler_class = {
    .name = "ssftp-session",
    .state_size = 0,
    .handle = session_handle,
};
