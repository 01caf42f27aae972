/* conn.c -- connect, greet, log in, and make request/reply calls. */
#include "conn.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostkey.h"
#include "keycache.h"
#include "text.h"

int conn_fail(client_conn *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return status;
}

/* Errors after which the byte stream cannot be trusted. */
static bool network_errno(int err)
{
    switch (err) {
    case -ENODATA:
    case -ECONNRESET:
    case -EPIPE:
    case -ETIMEDOUT:
    case -EMSGSIZE:
    case -EBADMSG:
    case -EPROTO:
        return true;
    default:
        return false;
    }
}

int conn_errno_fail(client_conn *c, int err, const char *what)
{
    const char *why = strerror(-err);
    if (err == -ENODATA || err == -ECONNRESET)
        why = "connection closed by server";
    else if (err == -EBADMSG || err == -EMSGSIZE || err == -EPROTO)
        why = "protocol error from server";
    if (network_errno(err)) {
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: %s", what, why);
    }
    return conn_fail(c, SSFTP_FAIL, "%s: %s", what, why);
}

/* TLS on the connected c->io.fd, and the server's key checked. */
static int tls_open(client_conn *c, const char *host, const char *port,
                    const hostkey_opts *hk)
{
    int r = proto_tls_client_ctx(&c->tls);
    if (r == 0)
        r = proto_tls_attach(&c->io, c->tls, false, host);
    if (r != 0)
        return conn_fail(c, SSFTP_FAIL, "TLS: %s", strerror(-r));
    int saved = c->io.timeout_ms;
    c->io.timeout_ms = PROTO_LOGIN_TIMEOUT_S * 1000;
    r = proto_tls_handshake(&c->io, true);
    c->io.timeout_ms = saved;
    if (r == -ENODATA || r == -ECONNRESET) {
        /* Closed before a word of TLS: what a server does to a connection
         * over its limits (per address, or of connections) it cannot
         * answer in the protocol. */
        c->dead = true;
        return conn_fail(c, SSFTP_CONN,
                         "%s: the server closed the connection before TLS: "
                         "over its limit of connections (from this address, "
                         "or of all)? (or not an ssftpd)",
                         host);
    }
    if (r != 0) {
        char why[160] = "";
        if (r == -EPROTO)
            proto_tls_error(why, sizeof why);
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: TLS handshake failed: %s%s", host,
                         why[0] ? why : strerror(-r),
                         r == -EPROTO || r == -ECONNRESET
                             ? " (not an ssftpd, or one older than protocol "
                               "version 2?)"
                             : "");
    }
    int status = hostkey_check(c, host, port, hk);
    if (status != SSFTP_OK)
        c->dead = true;
    return status;
}

int conn_open(client_conn *c, const char *host, const char *port,
              const hostkey_opts *hk)
{
    memset(c, 0, sizeof *c);
    c->io.fd = -1;
    c->io.timeout_ms = PROTO_REPLY_TIMEOUT_S * 1000;
    c->io.body_timeout_ms = PROTO_IO_TIMEOUT_S * 1000;
    snprintf(c->host, sizeof c->host, "%s", host);
    strcpy(c->cwd, "/");

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return conn_fail(c, SSFTP_CONN, "%s: %s", host, gai_strerror(g));
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            /* Requests and put_data headers are small frames followed at
             * once by more: with Nagle each would wait for the server's
             * delayed ACK (40 ms a file when putting many small ones). */
            int one = 1;
            if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ==
                0) {
                c->io.fd = fd;
                break;
            }
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    bool v6 = strchr(host, ':') != NULL;
    if (c->io.fd < 0)
        return conn_fail(c, SSFTP_CONN, "connect %s%s%s:%s: %s", v6 ? "[" : "",
                         host, v6 ? "]" : "", port, strerror(err));
    int status = tls_open(c, host, port, hk);
    if (status != SSFTP_OK)
        return status;

    json_t *rep = NULL;
    int r = conn_call(c,
                      json_pack("{s:s, s:i, s:s}", "cmd", "hello", "version",
                                PROTO_VERSION, "client", "ssftp/1.0"),
                      &rep);
    if (r == -EREMOTEIO) {
        const char *code = "";
        (void)proto_get_str(rep, "code", &code);
        if (strcmp(code, PROTO_E_BUSY) == 0) { /* hello's busy: full */
            json_decref(rep);
            c->dead = true;
            return conn_fail(c, SSFTP_CONN,
                             "%s: the server is full (at its limit of "
                             "sessions); try later",
                             host);
        }
        conn_remote_fail(c, rep, host);
        c->dead = true;
        return SSFTP_CONN;
    }
    if (r < 0)
        return SSFTP_CONN;
    uint64_t version = 0;
    r = proto_get_u64(rep, "version", &version);
    json_decref(rep);
    if (r || version != PROTO_VERSION) {
        c->dead = true;
        return conn_fail(c, SSFTP_CONN, "%s: server does not speak version %d",
                         host, PROTO_VERSION);
    }
    return SSFTP_OK;
}

/* The reply to auth failed.  busy there is the server's login budget (too
 * many failed logins for the name or this address): a login failure (exit
 * 4), said with the server's words and when to try again, not the "in use
 * by another session" busy of a command. */
static int login_refused(client_conn *c, json_t *rep, const char *what)
{
    const char *code = "", *error = "";
    if (proto_reply_check(rep, &code, &error) != -EREMOTEIO ||
        strcmp(code, PROTO_E_BUSY) != 0)
        return conn_remote_fail(c, rep, what);
    uint64_t retry = 0;
    bool have_retry = proto_get_u64(rep, "retry_after", &retry) == 0;
    char *safe_what = text_escape(what), *safe_err = text_escape(error);
    char when[64] = "";
    if (have_retry)
        snprintf(when, sizeof when, "; try again in %llu s",
                 (unsigned long long)retry);
    conn_fail(c, SSFTP_AUTH, "%s: refused by the server: %s%s",
              safe_what ? safe_what : "?", safe_err ? safe_err : "?", when);
    free(safe_what);
    free(safe_err);
    json_decref(rep);
    return SSFTP_AUTH;
}

/* ssftp's keys come from its cache (keycache.h). */
static int derive_cached(void *ctx, const char *user, const char *password,
                         const proto_auth_params *p,
                         uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                         uint8_t server_key[PROTO_AUTH_KEY_BYTES])
{
    (void)ctx;
    return keycache_derive(user, password, p, client_key, server_key);
}

int conn_login(client_conn *c, const char *user, const char *password)
{
    size_t ulen = strlen(user);
    if (ulen == 0 || ulen > PROTO_AUTH_USER_MAX)
        return conn_fail(c, SSFTP_USAGE, "user name must be 1..%d bytes",
                         PROTO_AUTH_USER_MAX);
    memcpy(c->user, user, ulen + 1);
    if (c->dead || c->io.fd < 0)
        return conn_fail(c, SSFTP_CONN, "not connected");
    char what[PROTO_AUTH_USER_MAX + 16];
    snprintf(what, sizeof what, "login as %s", user);
    struct proto_login l;
    int r = proto_login(&c->io, user, password, derive_cached, NULL, &l);
    if (r == -EREMOTEIO)
        return l.stage == PROTO_LOGIN_AUTH ? login_refused(c, l.reply, what)
                                           : conn_remote_fail(c, l.reply, what);
    if (r != 0)
        c->dead = true;
    if (r == -EPROTO)
        return conn_fail(c, SSFTP_CONN, "login: malformed %s from server",
                         l.stage == PROTO_LOGIN_AUTH ? "challenge" : "answer");
    if (r == -ERANGE)
        return conn_fail(c, SSFTP_AUTH,
                         "login: server asks for argon2id costs outside the "
                         "accepted range (opslimit %llu, memlimit %llu)",
                         (unsigned long long)l.params.opslimit,
                         (unsigned long long)l.params.memlimit);
    if (r == -EBADMSG)
        return conn_fail(c, SSFTP_AUTH,
                         "login: the server's signature does not match; "
                         "it may be an impostor");
    if (r != 0 && l.stage == PROTO_LOGIN_DERIVE)
        return conn_fail(c, SSFTP_AUTH, "login: cannot derive keys: %s",
                         strerror(-r));
    if (r != 0)
        return conn_errno_fail(c, r, c->host);
    const char *home = NULL;
    if (proto_get_str(l.reply, "home", &home) == 0 &&
        strlen(home) < sizeof c->cwd)
        strcpy(c->cwd, home);
    json_decref(l.reply);
    return SSFTP_OK;
}

int conn_call(client_conn *c, json_t *req, json_t **reply)
{
    *reply = NULL;
    if (req == NULL) {
        /* json_pack refuses names that are not UTF-8, or memory ran out */
        conn_fail(c, SSFTP_FAIL,
                  "cannot encode the request (names must be "
                  "valid UTF-8)");
        return -EINVAL;
    }
    if (c->dead || c->io.fd < 0) {
        json_decref(req);
        conn_fail(c, SSFTP_CONN, "not connected");
        return -ENOTCONN;
    }
    int r = proto_send(&c->io, req);
    json_decref(req);
    if (r == 0)
        r = proto_recv(&c->io, reply);
    if (r == 0) {
        r = proto_reply_check(*reply, NULL, NULL);
        if (r == -EREMOTEIO)
            return r;
        if (r == 0)
            return 0;
        json_decref(*reply);
        *reply = NULL;
    }
    conn_errno_fail(c, r, c->host);
    return r;
}

/* What ssftp says for each stable code; the server's own text is used only
 * for codes this version does not know. */
static const char *code_phrase(const char *code)
{
    static const struct {
        const char *code, *phrase;
    } table[] = {
        {PROTO_E_NOT_FOUND, "no such file or directory"},
        {PROTO_E_EXISTS, "already exists"},
        {PROTO_E_NOT_A_DIRECTORY, "not a directory"},
        {PROTO_E_IS_A_DIRECTORY, "is a directory"},
        {PROTO_E_NOT_EMPTY, "directory not empty"},
        {PROTO_E_PERMISSION_DENIED, "permission denied"},
        {PROTO_E_BAD_PATH, "invalid path"},
        {PROTO_E_QUOTA_EXCEEDED, "quota exceeded"},
        {PROTO_E_NO_SPACE, "no space left on the server"},
        {PROTO_E_DIGEST_MISMATCH, "digest mismatch, upload discarded"},
        {PROTO_E_TOO_LARGE, "file too large for the server"},
        {PROTO_E_BUSY, "busy: in use by another session"},
        {PROTO_E_AUTH_FAILED, "wrong user name or password"},
        {PROTO_E_AUTH_REQUIRED, "not logged in"},
        {PROTO_E_VERSION, "server does not speak this protocol version"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(code, table[i].code) == 0)
            return table[i].phrase;
    return NULL;
}

/* c->err from a failed reply, which it decrefs; *quota tells whether it
 * was quota_exceeded.  Returns SSFTP_FAIL or SSFTP_AUTH. */
static int remote_text(client_conn *c, json_t *reply, const char *what,
                       bool *quota)
{
    const char *code = "", *error = "";
    if (proto_reply_check(reply, &code, &error) != -EREMOTEIO)
        code = "internal";
    const char *phrase = code_phrase(code);
    char *safe_what = text_escape(what);
    char *safe_err = text_escape(error);
    const char *w = safe_what ? safe_what : "?";
    int status =
        strcmp(code, PROTO_E_AUTH_FAILED) == 0 ? SSFTP_AUTH : SSFTP_FAIL;
    *quota = strcmp(code, PROTO_E_QUOTA_EXCEEDED) == 0;
    if (phrase == NULL) {
        char *safe_code = text_escape(code);
        conn_fail(c, status, "%s: server error (%s): %s", w,
                  safe_code ? safe_code : "?", safe_err ? safe_err : "?");
        free(safe_code);
    } else {
        conn_fail(c, status, "%s: %s", w, phrase);
    }
    json_decref(reply);
    free(safe_what);
    free(safe_err);
    return status;
}

int conn_request(client_conn *c, json_t *req, const char *what, json_t **keep)
{
    json_t *rep = NULL;
    int r = conn_call(c, req, &rep);
    if (r == -EREMOTEIO)
        return conn_remote_fail(c, rep, what);
    if (r < 0)
        return c->dead ? SSFTP_CONN : SSFTP_FAIL;
    if (keep)
        *keep = rep;
    else
        json_decref(rep);
    return SSFTP_OK;
}

int conn_remote_note(client_conn *c, json_t *reply, const char *what)
{
    bool quota;
    return remote_text(c, reply, what, &quota);
}

int conn_remote_fail(client_conn *c, json_t *reply, const char *what)
{
    bool is_quota;
    int status = remote_text(c, reply, what, &is_quota);
    char quota[96] = "";
    if (is_quota && !c->dead) {
        /* The figures make the message actionable; a failure here keeps the
         * plain message. */
        json_t *q = NULL;
        char saved[sizeof c->err];
        memcpy(saved, c->err, sizeof saved);
        uint64_t used, limit, files, max_files;
        bool got = conn_call(c, json_pack("{s:s}", "cmd", "quota"), &q) == 0;
        if (got && proto_get_u64(q, "files", &files) == 0 &&
            proto_get_u64(q, "max_files", &max_files) == 0 &&
            files >= max_files)
            snprintf(quota, sizeof quota, " (files %" PRIu64 " of %" PRIu64 ")",
                     files, max_files);
        else if (got && proto_get_u64(q, "used", &used) == 0 &&
                 proto_get_u64(q, "limit", &limit) == 0)
            snprintf(quota, sizeof quota, " (used %s of %s)",
                     proto_size_format(used).s, proto_size_format(limit).s);
        json_decref(q);
        memcpy(c->err, saved, sizeof saved);
        size_t n = strlen(c->err);
        snprintf(c->err + n, sizeof c->err - n, "%s", quota);
    }
    return status;
}

void conn_close(client_conn *c)
{
    if (c->io.fd < 0)
        return;
    if (!c->dead) {
        json_t *rep = NULL;
        c->io.timeout_ms = 2000; /* a polite goodbye, not a wait */
        (void)conn_call(c, json_pack("{s:s}", "cmd", "quit"), &rep);
        json_decref(rep);
    }
    proto_tls_detach(&c->io);
    SSL_CTX_free(c->tls);
    c->tls = NULL;
    close(c->io.fd);
    c->io.fd = -1;
    c->dead = true;
}

int conn_reconnect(client_conn *c, const conn_target *t)
{
    char cwd[sizeof c->cwd];
    memcpy(cwd, c->cwd, sizeof cwd);
    conn_close(c);
    int status = conn_open(c, t->host, t->port, t->hk);
    if (status == SSFTP_OK)
        status = conn_login(c, t->user, t->password);
    if (status != SSFTP_OK)
        return status;
    json_t *rep = NULL;
    if (conn_call(c, json_pack("{s:s, s:s}", "cmd", "cd", "path", cwd), &rep) ==
        0) {
        const char *now = NULL;
        if (proto_get_str(rep, "cwd", &now) == 0 && strlen(now) < sizeof c->cwd)
            strcpy(c->cwd, now);
    }
    json_decref(rep);
    return c->dead ? SSFTP_CONN : SSFTP_OK;
}
