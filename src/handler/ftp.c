/* ftp.c -- one FTP control connection (ftp.h): the banner, command lines,
 * replies, the login and AUTH TLS.  Each handle() call serves one command
 * line (a transfer included); between lines the connection is parked. */
#include "ftp_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Wrong passwords before the connection is closed. */
#define FTP_MAX_FAILURES 3
/* argon2id runs at once, server-wide: each takes the user's memlimit. */
#define FTP_KDF_AT_ONCE 2

void ftp_log(const struct ftp_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_session_v(LOG_LEVEL_INFO, "ftp", s->peer, s->logged_in ? s->user : NULL,
                  fmt, ap);
    va_end(ap);
}

void ftp_warn(const struct ftp_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_session_v(LOG_LEVEL_WARNING, "ftp", s->peer,
                  s->logged_in ? s->user : NULL, fmt, ap);
    va_end(ap);
}

int ftp_send(struct ftp_session *s, const char *buf, size_t n)
{
    return proto_send_raw(&s->io, buf, n);
}

int ftp_reply(struct ftp_session *s, int code, const char *fmt, ...)
{
    char line[1200];
    int k = snprintf(line, sizeof line, "%03d ", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k - 2, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    /* A name echoed back must not end the reply line early. */
    for (size_t i = (size_t)k; i < n; i++)
        if (line[i] == '\r' || line[i] == '\n')
            line[i] = ' ';
    memcpy(line + n, "\r\n", 2);
    return ftp_send(s, line, n + 2);
}

int ftp_fail(struct ftp_session *s, int err, const char *what)
{
    int code = 550;
    const char *why = strerror(-err);
    switch (err) {
    case -EDQUOT:
        code = 552;
        why = "quota exceeded";
        break;
    case -ENOSPC:
        code = 452;
        why = "no space left on the server";
        break;
    case -ELOOP:
        why = "goes through a symbolic link";
        break;
    case -EXDEV:
        why = "not allowed in a path";
        break;
    case -EAGAIN:
        code = 450;
        why = "in use by another upload; try later";
        break;
    case -ENAMETOOLONG:
    case -EINVAL:
        code = 553;
        why = "not a valid name";
        break;
    case -ENOMEM:
    case -EMFILE:
    case -ENFILE:
        code = 451;
        why = "the server is out of resources; try later";
        break;
    }
    return ftp_reply(s, code, "%s: %s", what, why);
}

/* ---- login ------------------------------------------------------------ */

static sem_t kdf_slots;
static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;
static bool kdf_ok;

static void kdf_init(void)
{
    kdf_ok = sem_init(&kdf_slots, 0, FTP_KDF_AT_ONCE) == 0;
}

/* Waits for a slot until the login deadline.  0 or -ETIMEDOUT/-ENOMEM. */
static int kdf_enter(const struct ftp_session *s)
{
    pthread_once(&kdf_once, kdf_init);
    if (!kdf_ok)
        return -ENOMEM;
    double left = s->login_deadline - proto_mono_s();
    if (left <= 0)
        return -ETIMEDOUT;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)left;
    until.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&kdf_slots, &until) != 0)
        if (errno != EINTR)
            return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
    return 0;
}

static bool on_loopback(const struct ftp_session *s)
{
    const struct sockaddr *sa = (const struct sockaddr *)&s->peer_sa;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
               in6->sin6_addr.s6_addr[12] == 127;
    }
    return sa->sa_family == AF_UNIX;
}

/* A password may cross this connection: it is TLS, or loopback, or the
 * admin allowed clear text. */
static bool password_safe(const struct ftp_session *s)
{
    return s->tls_up || s->srv->allow_plaintext || on_loopback(s);
}

static int cmd_user(struct ftp_session *s, const char *arg, size_t n)
{
    if (s->files != NULL)
        return ftp_reply(s, 503, "Already logged in.");
    if (!password_safe(s))
        return ftp_reply(s, 530,
                         "TLS required: send AUTH TLS first; this server "
                         "takes no password in clear text.");
    if (n < 1 || n > PROTO_AUTH_USER_MAX)
        return ftp_reply(s, 501, "A user name is 1..%d bytes.",
                         PROTO_AUTH_USER_MAX);
    memcpy(s->user, arg, n);
    s->user[n] = '\0';
    s->user_given = true;
    return ftp_reply(s, 331, "Password required for %s.", s->user);
}

/* Does password match user's verifier?  Known and unknown names take the
 * same path: the decoy's salt and costs (session_login.c does the same). */
static int check_password(struct ftp_session *s, const char *password, bool *ok)
{
    struct session_server *core = s->srv->core;
    struct userdb_record rec;
    int rc = userdb_lookup(core->db, s->user, &rec);
    if (rc != 0 && rc != -ENOENT)
        ftp_log(s, "user lookup of %s failed: %s", s->user, strerror(-rc));
    bool real = rc == 0;
    uint8_t secret[PROTO_AUTH_SECRET_BYTES], want[PROTO_AUTH_KEY_BYTES];
    proto_auth_params p = rec.cred.params;
    if (real) {
        memcpy(want, rec.cred.stored_key, sizeof want);
    } else {
        userdb_secret(core->db, secret);
        proto_auth_fake_salt(secret, s->user, p.salt);
        proto_auth_fake_stored_key(secret, s->user, want);
        sodium_memzero(secret, sizeof secret);
    }
    sodium_memzero(&rec, sizeof rec);
    uint8_t ck[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES],
        stored[PROTO_AUTH_KEY_BYTES];
    rc = kdf_enter(s);
    if (rc == 0) {
        rc = proto_auth_derive(password, &p, ck, sk);
        sem_post(&kdf_slots);
    }
    if (rc == 0) {
        proto_auth_stored_key(ck, stored);
        *ok = sodium_memcmp(stored, want, sizeof want) == 0 && real;
    }
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(stored, sizeof stored);
    return rc;
}

static int cmd_pass(struct ftp_session *s, char *arg, size_t n)
{
    if (s->files != NULL)
        return ftp_reply(s, 503, "Already logged in.");
    if (!s->user_given)
        return ftp_reply(s, 503, "Send USER first.");
    if (!password_safe(s))
        return ftp_reply(s, 530, "TLS required: send AUTH TLS first.");
    struct session_server *core = s->srv->core;
    unsigned retry;
    int rc = backoff_check(core->backoff, s->user, s->host, &retry);
    if (rc == -EBUSY) {
        ftp_warn(s,
                 "login of %s refused: too many failed logins (retry after "
                 "%u s)",
                 s->user, retry);
        return ftp_reply(s, 421,
                         "Too many failed logins for this user name or from "
                         "this address; try again in %u s.",
                         retry);
    }
    bool ok = false;
    if (rc == 0)
        rc = check_password(s, arg, &ok);
    sodium_memzero(arg, n);
    if (rc != 0) {
        ftp_log(s, "login of %s: %s", s->user, strerror(-rc));
        return ftp_reply(s, 421, "Cannot check the password now; try later.");
    }
    if (ok) {
        struct quota_opened ev;
        rc = files_open(core->db, core->quotas, s->user, &s->files, &ev);
        if (rc != 0) {
            ftp_log(s, "login of %s: cannot open home: %s", s->user,
                    strerror(-rc));
            s->files = NULL;
            return ftp_reply(s, 530, "Cannot open your home directory.");
        }
        s->logged_in = true;
        who_login(s->who, s->user);
        s->io.deadline_ms = 0;
        (void)ss_request_set_deadline(s->req, 0);
        backoff_success(core->backoff, s->user);
        ftp_log(s, "login ok%s", s->tls_up ? " (TLS)" : "");
        return ftp_reply(s, 230, "Logged in; home is /.");
    }
    s->failures++;
    int delay = backoff_fail(core->backoff, s->user, s->host);
    ftp_warn(s, "login failed for %s from %s (failure %d, reply delayed %d ms)",
             s->user, s->host, s->failures, delay);
    s->user_given = false;
    proto_sleep_ms(delay);
    rc = ftp_reply(s, 530, "Login incorrect.");
    if (rc == 0 && s->failures >= FTP_MAX_FAILURES) {
        (void)ftp_reply(s, 421, "Too many failed logins; goodbye.");
        return -EACCES;
    }
    return rc;
}

/* ---- TLS -------------------------------------------------------------- */

static int cmd_auth(struct ftp_session *s, const char *arg)
{
    if (s->tls_up)
        return ftp_reply(s, 503, "TLS is already on.");
    if (strcasecmp(arg, "TLS") != 0 && strcasecmp(arg, "TLS-C") != 0 &&
        strcasecmp(arg, "SSL") != 0)
        return ftp_reply(s, 504, "AUTH %s is not supported; use AUTH TLS.",
                         arg);
    int rc = ftp_reply(s, 234, "AUTH TLS: go ahead.");
    if (rc != 0)
        return rc;
    /* Anything sent after AUTH in clear text is dropped, never read as a
     * command inside TLS (the STARTTLS injection of CVE-2011-0411). */
    s->in_off = s->in_len = 0;
    ftpline_init(&s->lp);
    SSL_CTX *ctx = tlsslot_get(&s->srv->tls); /* a reload may swap it */
    rc = ctx == NULL ? -ENOMEM : proto_tls_attach(&s->io, ctx, true, NULL);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (rc == 0)
        rc = SSL_set_session_id_context(s->io.tls, s->sid, sizeof s->sid) == 1
                 ? 0
                 : -ENOMEM;
    if (rc != 0)
        return rc;
    s->tls_handshaking = true;
    return 0;
}

static int cmd_pbsz(struct ftp_session *s, const char *arg)
{
    if (!s->tls_up)
        return ftp_reply(s, 503, "PBSZ needs AUTH TLS first.");
    (void)arg;
    s->pbsz = true;
    return ftp_reply(s, 200, "PBSZ=0");
}

static int cmd_prot(struct ftp_session *s, const char *arg)
{
    if (!s->tls_up)
        return ftp_reply(s, 503, "PROT needs AUTH TLS first.");
    if (strcasecmp(arg, "P") == 0) {
        s->prot_p = true;
        return ftp_reply(s, 200, "Data connections are TLS (PROT P).");
    }
    if (strcasecmp(arg, "C") == 0) {
        s->prot_p = false;
        return ftp_reply(s, 200, "Data connections are clear (PROT C).");
    }
    return ftp_reply(s, 536, "PROT %s is not supported; use P or C.", arg);
}

/* ---- the simple commands ---------------------------------------------- */

static int cmd_feat(struct ftp_session *s)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "211-Features:\r\n"
                     " AUTH TLS\r\n"
                     " PBSZ\r\n"
                     " PROT\r\n"
                     " UTF8\r\n"
                     " EPSV\r\n"
                     "%s"
                     " SIZE\r\n"
                     " MDTM\r\n"
                     " MFMT\r\n"
                     " REST STREAM\r\n"
                     " MLST type*;size*;modify*;perm*;\r\n"
                     " TVFS\r\n"
                     " HASH SHA-256%s;SHA-512%s\r\n"
                     " RANG STREAM\r\n"
                     "211 End\r\n",
                     s->srv->allow_active ? " EPRT\r\n" : "",
                     strcmp(s->hash_algo, "SHA-256") == 0 ? "*" : "",
                     strcmp(s->hash_algo, "SHA-512") == 0 ? "*" : "");
    return ftp_send(s, buf, (size_t)n);
}

static int cmd_opts(struct ftp_session *s, const char *arg)
{
    if (strncasecmp(arg, "UTF8", 4) == 0)
        return ftp_reply(s, 200, "UTF8 is always on.");
    if (strncasecmp(arg, "MLST", 4) == 0)
        return ftp_reply(s, 200, "MLST OPTS type;size;modify;perm;");
    if (strncasecmp(arg, "HASH", 4) == 0)
        return ftp_cmd_opts_hash(s, arg[4] == ' ' ? arg + 5 : arg + 4);
    return ftp_reply(s, 501, "OPTS %s is not supported.", arg);
}

static int cmd_type(struct ftp_session *s, const char *arg)
{
    /* ASCII is taken as binary, as vsftpd does by default: files move
     * byte for byte, so digests and sizes stay true. */
    if (strcasecmp(arg, "I") == 0 || strcasecmp(arg, "L 8") == 0)
        return ftp_reply(s, 200, "Type set to I.");
    if (strcasecmp(arg, "A") == 0 || strcasecmp(arg, "A N") == 0)
        return ftp_reply(s, 200, "Type set to A (files move unchanged).");
    return ftp_reply(s, 504, "TYPE %s is not supported.", arg);
}

static int cmd_stat(struct ftp_session *s)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "211-ssftpd FTP status:\r\n"
                     " Connected from %s\r\n"
                     " Logged in as %s\r\n"
                     " TLS on the control connection: %s; data: %s\r\n"
                     "211 End of status\r\n",
                     s->peer, s->files != NULL ? s->user : "(nobody)",
                     s->tls_up ? "yes" : "no", s->prot_p ? "TLS" : "clear");
    return ftp_send(s, buf, (size_t)n);
}

static int cmd_help(struct ftp_session *s)
{
    static const char text[] =
        "214-The following commands are recognized:\r\n"
        " ABOR APPE AUTH CDUP CWD DELE EPRT EPSV FEAT HASH HELP LIST MDTM\r\n"
        " MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT\r\n"
        " PWD\r\n"
        " QUIT RANG REST RETR RMD RNFR RNTO SIZE STAT STOR STRU SYST TYPE\r\n"
        " USER\r\n"
        " XCUP XCWD XMKD XPWD XRMD\r\n"
        "214 Help OK.\r\n";
    return ftp_send(s, text, sizeof text - 1);
}

static int cmd_rest(struct ftp_session *s, const char *arg)
{
    char *end;
    errno = 0;
    if (*arg < '0' || *arg > '9')
        return ftp_reply(s, 501, "REST takes a byte offset.");
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || *end != '\0' || v > INT64_MAX)
        return ftp_reply(s, 501, "REST takes a byte offset.");
    s->rest = v;
    return ftp_reply(s, 350, "Restarting at %llu. Send STOR or RETR.", v);
}

/* ---- dispatch ---------------------------------------------------------- */

enum { ANY = 0, LOGIN = 1 };

/* One command line.  Returns 0 to go on, 1 after QUIT, negative to end. */
static int command(struct ftp_session *s, char *line, size_t len)
{
    char verb[FTPLINE_VERB_MAX + 1];
    const char *carg;
    size_t n;
    if (ftpline_split(line, len, verb, &carg, &n) != 0)
        return ftp_reply(s, 500, "Syntax error, command unrecognized.");
    char *arg = line + (carg - line);
    bool in = s->files != NULL;
    /* REST holds until the next transfer (or REST), as vsftpd's does:
     * clients send TYPE or PASV between them. */
    /* RNFR's name is for the RNTO right after it. */
    char *rnfr = s->rnfr;
    s->rnfr = NULL;
    int rc;
    if (strcmp(verb, "RNTO") == 0)
        s->rnfr = rnfr;
    else
        free(rnfr);
    if (strcmp(verb, "USER") == 0)
        return cmd_user(s, arg, n);
    if (strcmp(verb, "PASS") == 0)
        return cmd_pass(s, arg, n);
    if (strcmp(verb, "QUIT") == 0) {
        rc = ftp_reply(s, 221, "Goodbye.");
        return rc < 0 ? rc : 1;
    }
    if (strcmp(verb, "AUTH") == 0)
        return cmd_auth(s, arg);
    if (strcmp(verb, "PBSZ") == 0)
        return cmd_pbsz(s, arg);
    if (strcmp(verb, "PROT") == 0)
        return cmd_prot(s, arg);
    if (strcmp(verb, "FEAT") == 0)
        return cmd_feat(s);
    if (strcmp(verb, "OPTS") == 0)
        return cmd_opts(s, arg);
    if (strcmp(verb, "SYST") == 0)
        return ftp_reply(s, 215, "UNIX Type: L8");
    if (strcmp(verb, "NOOP") == 0)
        return ftp_reply(s, 200, "NOOP ok.");
    if (strcmp(verb, "HELP") == 0)
        return cmd_help(s);
    if (strcmp(verb, "STAT") == 0 && n == 0)
        return cmd_stat(s);
    if (strcmp(verb, "ABOR") == 0)
        return ftp_reply(s, 225, "No transfer to abort.");
    if (!in)
        return ftp_reply(s, 530, "Please login with USER and PASS.");
    rc = files_wake(s->files);
    if (rc != 0) {
        ftp_log(s, "cannot open the home again: %s", strerror(-rc));
        (void)ftp_reply(s, 421, "Cannot open your home directory.");
        return rc;
    }
    if (strcmp(verb, "TYPE") == 0)
        return cmd_type(s, arg);
    if (strcmp(verb, "MODE") == 0)
        return strcasecmp(arg, "S") == 0
                   ? ftp_reply(s, 200, "Mode set to S.")
                   : ftp_reply(s, 504, "Only MODE S is supported.");
    if (strcmp(verb, "STRU") == 0)
        return strcasecmp(arg, "F") == 0
                   ? ftp_reply(s, 200, "Structure set to F.")
                   : ftp_reply(s, 504, "Only STRU F is supported.");
    if (strcmp(verb, "ALLO") == 0)
        return ftp_reply(s, 202, "No storage allocation necessary.");
    if (strcmp(verb, "REST") == 0)
        return cmd_rest(s, arg);
    if (strcmp(verb, "PWD") == 0 || strcmp(verb, "XPWD") == 0)
        return ftp_cmd_pwd(s);
    if (strcmp(verb, "CWD") == 0 || strcmp(verb, "XCWD") == 0)
        return ftp_cmd_cwd(s, arg, n);
    if (strcmp(verb, "CDUP") == 0 || strcmp(verb, "XCUP") == 0)
        return ftp_cmd_cwd(s, "..", 2);
    if (strcmp(verb, "PASV") == 0 || strcmp(verb, "EPSV") == 0)
        return ftp_cmd_pasv(s, verb[0] == 'E', arg);
    if (strcmp(verb, "PORT") == 0 || strcmp(verb, "EPRT") == 0)
        return ftp_cmd_port(s, verb[0] == 'E', arg);
    if (strcmp(verb, "LIST") == 0 || strcmp(verb, "NLST") == 0 ||
        strcmp(verb, "MLSD") == 0)
        return ftp_cmd_list(s, verb, arg, n);
    if (strcmp(verb, "MLST") == 0)
        return ftp_cmd_mlst(s, arg, n);
    if (strcmp(verb, "SIZE") == 0)
        return ftp_cmd_size(s, arg, n);
    if (strcmp(verb, "MDTM") == 0)
        return ftp_cmd_mdtm(s, arg, n);
    if (strcmp(verb, "MFMT") == 0)
        return ftp_cmd_mfmt(s, arg, n);
    if (strcmp(verb, "DELE") == 0)
        return ftp_cmd_dele(s, arg, n);
    if (strcmp(verb, "MKD") == 0 || strcmp(verb, "XMKD") == 0)
        return ftp_cmd_mkd(s, arg, n);
    if (strcmp(verb, "RMD") == 0 || strcmp(verb, "XRMD") == 0)
        return ftp_cmd_rmd(s, arg, n);
    if (strcmp(verb, "RNFR") == 0)
        return ftp_cmd_rnfr(s, arg, n);
    if (strcmp(verb, "RNTO") == 0) {
        rc = ftp_cmd_rnto(s, arg, n);
        free(s->rnfr);
        s->rnfr = NULL;
        return rc;
    }
    if (strcmp(verb, "HASH") == 0)
        return ftp_cmd_hash(s, arg, n);
    if (strcmp(verb, "RANG") == 0)
        return ftp_cmd_rang(s, arg);
    if (strcmp(verb, "RETR") == 0 || strcmp(verb, "STOR") == 0 ||
        strcmp(verb, "APPE") == 0) {
        rc = verb[0] == 'R' ? ftp_cmd_retr(s, arg, n)
                            : ftp_cmd_stor(s, arg, n, verb[0] == 'A');
        s->rest = 0;
        return rc;
    }
    return ftp_reply(s, 502, "%s is not implemented.", verb);
}

/* ---- the connection ---------------------------------------------------- */

/* Bytes from the control connection into s->in, without waiting.  1 when
 * some came (or there is no room for more), 0 when none has, negative at
 * end of stream or on error. */
static int fill(struct ftp_session *s)
{
    if (s->in_off > 0) { /* what is not taken yet moves to the front */
        memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    if (s->in_len == sizeof s->in)
        return 1;
    ssize_t k = proto_stream_recv(&s->io, s->in + s->in_len,
                                  sizeof s->in - s->in_len, false);
    if (k == -EAGAIN)
        return 0;
    if (k == 0)
        return -ENODATA;
    if (k < 0)
        return (int)k;
    s->in_len += (size_t)k;
    return 1;
}

bool ftp_take_abort(struct ftp_session *s)
{
    if (fill(s) < 0) { /* the client is gone: the transfer ends too */
        s->aborted = true;
        return true;
    }
    /* Only a line that is ABOR is taken; anything else waits its turn. */
    ftpline scratch = s->lp;
    size_t used;
    int r =
        ftpline_feed(&scratch, s->in + s->in_off, s->in_len - s->in_off, &used);
    char verb[FTPLINE_VERB_MAX + 1];
    const char *arg;
    size_t n;
    if (r == FTPLINE_READY &&
        ftpline_split(scratch.line, scratch.len, verb, &arg, &n) == 0 &&
        strcmp(verb, "ABOR") == 0) {
        s->lp = scratch;
        s->in_off += used;
        s->aborted = true;
    }
    return r == FTPLINE_MORE && s->in_len < sizeof s->in;
}

void ftp_poll_abort(struct ftp_session *s)
{
    if (s->aborted)
        return;
    struct pollfd pfd = {.fd = s->io.fd, .events = POLLIN};
    if (proto_tls_pending(&s->io) || poll(&pfd, 1, 0) > 0)
        (void)ftp_take_abort(s);
}

/* One step: the TLS handshake's next part, or one command line.  0 to wait
 * for more (parked), 1 after QUIT, negative to end. */
static int ftp_step(struct ftp_session *s)
{
    if (s->tls_handshaking) {
        int rc = proto_tls_handshake(&s->io, false);
        if (rc == -EAGAIN)
            return 0;
        if (rc != 0) {
            char why[160];
            ftp_warn(s, "TLS handshake failed: %s",
                     proto_tls_why(rc, why, sizeof why));
            return rc;
        }
        s->tls_handshaking = false;
        s->tls_up = true;
        who_set_proto(s->who, "ftps");
        return 0;
    }
    for (;;) {
        size_t used;
        int r = ftpline_feed(&s->lp, s->in + s->in_off, s->in_len - s->in_off,
                             &used);
        s->in_off += used;
        if (r == FTPLINE_LONG)
            return ftp_reply(s, 500, "Line too long (at most %d bytes).",
                             FTPLINE_MAX);
        if (r == FTPLINE_READY)
            break;
        int k = fill(s);
        if (k <= 0)
            return k;
    }
    who_touch(s->who);
    return command(s, s->lp.line, s->lp.len);
}

static int ftp_setup(ss_request *r)
{
    struct ftp_server *srv = ss_request_user(r);
    struct ftp_session *s = ss_request_state(r);
    struct session_server *core = srv->core;
    *s = (struct ftp_session){
        .srv = srv,
        .req = r,
        .io = {.fd = ss_request_fd(r),
               .timeout_ms = PROTO_IDLE_TIMEOUT_S * 1000,
               .body_timeout_ms = srv->data_timeout_ms},
        .pasv_fd = -1,
    };
    ftpline_init(&s->lp);
    snprintf(s->hash_algo, sizeof s->hash_algo, "SHA-256");
    snprintf(s->peer, sizeof s->peer, "%s", ss_request_client_str(r));
    snprintf(s->host, sizeof s->host, "%s", ss_request_client_host(r));
    const struct sockaddr *client = ss_request_client_address(r, &s->peer_len);
    memcpy(&s->peer_sa, client, s->peer_len);
    s->conn_len = sizeof s->conn_sa;
    s->local_len = sizeof s->local_sa;
    if (getpeername(s->io.fd, (struct sockaddr *)&s->conn_sa, &s->conn_len) !=
            0 ||
        getsockname(s->io.fd, (struct sockaddr *)&s->local_sa, &s->local_len) !=
            0)
        return -errno;
    randombytes_buf(s->sid, sizeof s->sid);
    s->started = proto_mono_s();
    s->login_deadline = s->started + core->login_timeout_s;
    s->io.deadline_ms = proto_mono_ms() + (int64_t)core->login_timeout_s * 1000;
    int rc = ss_request_set_deadline(r, (int)core->login_timeout_s * 1000);
    if (rc == 0)
        rc = ss_stream_set_timeout(r, core->idle_timeout_ms);
    if (rc != 0)
        return rc;
    ss_stream_disable_nagle(r);
    /* ABOR may come as urgent data (Telnet Synch, as Python's ftplib sends
     * it): kept in line, it is read as the line it ends. */
    int one = 1;
    if (setsockopt(s->io.fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one) != 0)
        return -errno;
    /* A failed setup skips finish: the count is taken back here. */
    unsigned now = atomic_fetch_add(&srv->sessions, 1) + 1;
    ftp_log(s, "connect");
    if (now > core->max_clients) {
        ftp_log(s, "refused: at the session limit (%u)", core->max_clients);
        (void)ftp_reply(s, 421, "Too many users; try later.");
        atomic_fetch_sub(&srv->sessions, 1);
        return -EUSERS;
    }
    rc = ftp_reply(s, 220, "ssftpd FTP ready.");
    if (rc != 0)
        atomic_fetch_sub(&srv->sessions, 1);
    else
        s->who = who_enter(core->who, "ftp", s->peer);
    return rc;
}

static int ftp_handle(ss_request *r)
{
    struct ftp_session *s = ss_request_state(r);
    int rc = ftp_step(s);
    if (rc == 0 && s->files != NULL)
        files_rest(s->files);
    ss_request_set_pending(r, rc == 0 && !s->tls_handshaking &&
                                  (s->in_off < s->in_len ||
                                   (s->tls_up && proto_tls_pending(&s->io))));
    if (rc == 0)
        return SS_KEEP;
    s->end = rc == 1 || rc == -ENODATA ? 0 : rc;
    return 0;
}

static int ftp_finish(ss_request *r)
{
    struct ftp_session *s = ss_request_state(r);
    int why = s->end != 0 ? s->end : ss_request_status(r);
    /* The library ended a parked wait: say why, as RFC 959's 421 does.  No
     * wait for a peer that does not read: the reply fits its buffer, or it
     * goes unsaid. */
    if (s->end == 0 && !s->tls_handshaking) {
        s->io.deadline_ms = proto_mono_ms();
        if (why == -ESHUTDOWN)
            (void)ftp_reply(s, 421, "Server shutting down; goodbye.");
        else if (why == -ETIMEDOUT && s->files != NULL)
            (void)ftp_reply(s, 421, "Idle timeout (%d s); goodbye.",
                            s->srv->core->idle_timeout_ms / 1000);
        else if (why == -ETIMEDOUT)
            (void)ftp_reply(s, 421, "Login timed out; goodbye.");
    }
    ftp_data_reset(s);
    free(s->rnfr);
    s->rnfr = NULL;
    proto_tls_detach(&s->io);
    files_close(s->files);
    s->files = NULL;
    who_leave(s->who);
    atomic_fetch_sub(&s->srv->sessions, 1);
    ftp_log(s, "disconnect after %.1f s%s%s", proto_mono_s() - s->started,
            why == 0 ? "" : ": ", why == 0 ? "" : strerror(-why));
    return 0;
}

const ss_handler_class ftp_handler_class = {
    .name = "ftp-session",
    .state_size = sizeof(struct ftp_session),
    .setup = ftp_setup,
    .handle = ftp_handle,
    .finish = ftp_finish,
};

int ftp_tls_context(const char *cert, const char *key, SSL_CTX **out, char *err,
                    size_t errlen)
{
    int rc = proto_tls_server_ctx(cert, key, out, err, errlen);
    if (rc != 0)
        return rc;
    /* Data connections resume the control connection's session (tickets,
     * bound to it by a session id context of its own: ftp.h). */
    SSL_CTX_clear_options(*out, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(*out, 1);
    SSL_CTX_set_session_cache_mode(*out, SSL_SESS_CACHE_SERVER);
    return 0;
}

int ftp_parse_ports(const char *s, unsigned *lo, unsigned *hi)
{
    unsigned a, b;
    int used = 0;
    if (s == NULL || sscanf(s, "%5u-%5u%n", &a, &b, &used) != 2 ||
        s[used] != '\0' || a < 1024 || b > 65535 || a > b)
        return -EINVAL;
    *lo = a;
    *hi = b;
    return 0;
}
