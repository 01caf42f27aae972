/* tls.c -- TLS 1.3 under the ssftp protocol (tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

/* ---- a BIO on the socket with wire.c's flags ----------------------------
 * OpenSSL's own socket BIO write()s, which raises SIGPIPE on a closed peer
 * and blocks on a blocking socket; this one never does either.
 *
 * OpenSSL hands the BIO one record (at most 16 KiB) at a time, and each
 * send() costs as much again on a paravirtualised machine; so while
 * proto_tls_send_all() moves a large buffer the records are gathered into
 * up to GATHER_BUF bytes and sent together (the buffer exists only for that
 * call).  Reads take what has arrived, several records at a time (read
 * ahead, READ_BUF). */

#define GATHER_BUF (256u * 1024)
#define GATHER_MIN (64u * 1024) /* a send_all this large gathers */
#define READ_BUF (128u * 1024)

struct tls_sock {
    int fd;
    unsigned char *gather; /* while gathering, or NULL */
    size_t off, len;       /* gather[off..len) not yet sent */
};

static struct tls_sock *sock_of(BIO *b)
{
    return BIO_get_data(b);
}

static ssize_t send_now(int fd, const void *buf, size_t n)
{
    for (;;) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k >= 0 || errno != EINTR)
            return k;
    }
}

/* Sends what is gathered: 0 when all is gone, -EAGAIN when the socket is
 * full, or -errno. */
static int gather_drain(struct tls_sock *t)
{
    while (t->off < t->len) {
        ssize_t k = send_now(t->fd, t->gather + t->off, t->len - t->off);
        if (k < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        t->off += (size_t)k;
    }
    t->off = t->len = 0;
    return 0;
}

static int bio_write(BIO *b, const char *buf, int n)
{
    struct tls_sock *t = sock_of(b);
    BIO_clear_retry_flags(b);
    if (t->gather != NULL) {
        int r = t->len + (size_t)n > GATHER_BUF ? gather_drain(t) : 0;
        if (r == 0 && (size_t)n <= GATHER_BUF - t->len) {
            memcpy(t->gather + t->len, buf, (size_t)n);
            t->len += (size_t)n;
            return n;
        }
        if (r != 0) {
            if (r == -EAGAIN)
                BIO_set_retry_write(b);
            errno = -r;
            return -1;
        }
    }
    ssize_t k = send_now(t->fd, buf, (size_t)n);
    if (k >= 0)
        return (int)k;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
    return -1;
}

static int bio_read(BIO *b, char *buf, int n)
{
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t k = recv(sock_of(b)->fd, buf, (size_t)n, MSG_DONTWAIT);
        if (k >= 0)
            return (int)k;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        return -1;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    /* Nothing is gathered outside proto_tls_send_all(), which drains. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_destroy(BIO *b)
{
    struct tls_sock *t = sock_of(b);
    if (t != NULL) {
        free(t->gather);
        free(t);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *sock_method;

static void sock_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "ssftp socket");
    if (m != NULL &&
        (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
         !BIO_meth_set_ctrl(m, bio_ctrl) ||
         !BIO_meth_set_destroy(m, bio_destroy))) {
        BIO_meth_free(m);
        m = NULL;
    }
    sock_method = m;
}

static BIO *sock_bio(int fd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, sock_method_init);
    if (sock_method == NULL)
        return NULL;
    struct tls_sock *t = calloc(1, sizeof *t);
    BIO *b = t ? BIO_new(sock_method) : NULL;
    if (b == NULL) {
        free(t);
        return NULL;
    }
    t->fd = fd;
    BIO_set_data(b, t);
    BIO_set_init(b, 1);
    return b;
}

/* ---- errors ---------------------------------------------------------------- */

const char *proto_tls_error(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (e != 0) {
        const char *reason = ERR_reason_error_string(e);
        snprintf(buf, cap, "%s", reason ? reason : "TLS error");
    }
    ERR_clear_error();
    return buf;
}

const char *proto_tls_why(int rc, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (rc == -EPROTO)
        proto_tls_error(buf, cap);
    if (buf[0] == '\0')
        snprintf(buf, cap, "%s", strerror(-rc));
    return buf;
}

static void say(char *err, size_t errlen, const char *what)
{
    char why[160];
    proto_tls_error(why, sizeof why);
    snprintf(err, errlen, "%s%s%s", what, why[0] ? ": " : "", why);
}

/* ---- contexts ---------------------------------------------------------- */

static SSL_CTX *ctx_new(const SSL_METHOD *method)
{
    SSL_CTX *c = SSL_CTX_new(method);
    if (c == NULL)
        return NULL;
    /* TLS 1.3 only: AEAD ciphers, no renegotiation, no downgrade. */
    if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION)) {
        SSL_CTX_free(c);
        return NULL;
    }
    /* An idle session keeps no record buffers (tls.h). */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    /* Each recv() takes what has arrived, up to READ_BUF, not one record
     * (two recv()s: header, then body).  proto_tls_pending() covers what
     * was read ahead. */
    SSL_CTX_set_read_ahead(c, 1);
    SSL_CTX_set_default_read_buffer_len(c, READ_BUF);
    /* A peer that vanishes reads as end of stream; the frames' lengths
     * tell a cut from a clean end. */
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
    return c;
}

int proto_tls_server_ctx(const char *cert_file, const char *key_file,
                         SSL_CTX **out, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *c = ctx_new(TLS_server_method());
    if (c == NULL) {
        say(err, errlen, "cannot make a TLS context");
        return -ENOMEM;
    }
    const char *what = NULL;
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1)
        what = cert_file;
    else if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1)
        what = key_file;
    else if (SSL_CTX_check_private_key(c) != 1)
        what = "the key does not match the certificate";
    if (what != NULL) {
        say(err, errlen, what);
        SSL_CTX_free(c);
        return -EINVAL;
    }
    /* No session resumption: a session is one connection. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, 0);
    *out = c;
    return 0;
}

int proto_tls_client_ctx(SSL_CTX **out)
{
    SSL_CTX *c = ctx_new(TLS_client_method());
    if (c == NULL)
        return -ENOMEM;
    /* Verified or not, the handshake goes on: the caller decides (a
     * certificate that does not verify is then pinned, tls.h).  The CA
     * store is read only if the caller asks (proto_tls_verified()):
     * loading the system's bundle takes 25 ms, half of a login. */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    *out = c;
    return 0;
}

/* ---- keys and fingerprints ----------------------------------------------- */

static int key_fingerprint(EVP_PKEY *k, char out[PROTO_TLS_FP_SIZE])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return -EINVAL;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok || mdlen != sizeof md)
        return -EINVAL;
    unsigned char b64[48];
    int m = EVP_EncodeBlock(b64, md, (int)sizeof md); /* 44, one '=' */
    while (m > 0 && b64[m - 1] == '=')
        m--;
    snprintf(out, PROTO_TLS_FP_SIZE, "SHA256:%.*s", m, (const char *)b64);
    return 0;
}

int proto_tls_cert_file_fingerprint(const char *cert_file,
                                    char out[PROTO_TLS_FP_SIZE])
{
    FILE *f = fopen(cert_file, "re");
    if (f == NULL)
        return -errno;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        ERR_clear_error();
        return -EINVAL;
    }
    int rc = key_fingerprint(X509_get0_pubkey(x), out);
    X509_free(x);
    return rc;
}

/* Writes one PEM object to path (mode), whole, under a temporary name
 * renamed into place; never over an existing file. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fchmod(fd, mode) == 0 ? 0 : -errno;
    FILE *f = rc == 0 ? fdopen(fd, "w") : NULL;
    if (rc == 0 && f == NULL)
        rc = -errno;
    if (f == NULL)
        close(fd);
    if (rc == 0) {
        int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_X509(f, cert);
        if (!ok)
            rc = -EIO;
        if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
            rc = -errno;
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
    }
    /* link() refuses an existing name, where rename() would replace it. */
    if (rc == 0 && link(tmp, path) != 0)
        rc = -errno;
    (void)unlink(tmp);
    ERR_clear_error();
    return rc;
}

int proto_tls_make_self_signed(const char *key_file, const char *cert_file,
                               const char *cn)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    int rc = k != NULL && x != NULL ? 0 : -ENOMEM;
    unsigned char serial[16];
    if (rc == 0 && RAND_bytes(serial, sizeof serial) != 1)
        rc = -EIO;
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = rc == 0 ? BN_bin2bn(serial, sizeof serial, NULL) : NULL;
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    if (rc == 0 &&
        (bn == NULL || !X509_set_version(x, X509_VERSION_3) ||
         !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
         !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
         !X509_time_adj_ex(X509_getm_notAfter(x), 36525, 0, NULL) ||
         !X509_set_pubkey(x, k) ||
         !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                     (const unsigned char *)cn, -1, -1, 0) ||
         !X509_set_issuer_name(x, name) || !X509_sign(x, k, EVP_sha256())))
        rc = -EIO;
    BN_free(bn);
    if (rc == 0)
        rc = write_pem(key_file, 0600, k, NULL);
    if (rc == 0) {
        rc = write_pem(cert_file, 0644, NULL, x);
        if (rc != 0)
            (void)unlink(key_file); /* no key without its certificate */
    }
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

/* ---- sessions -------------------------------------------------------------- */

int proto_tls_attach(proto_io *io, SSL_CTX *ctx, bool server, const char *host)
{
    SSL *s = SSL_new(ctx);
    BIO *b = s ? sock_bio(io->fd) : NULL;
    if (b == NULL) {
        SSL_free(s);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_bio(s, b, b);
    if (server) {
        SSL_set_accept_state(s);
    } else {
        SSL_set_connect_state(s);
        if (host != NULL && host[0] != '\0') {
            /* SNI only for a name (RFC 6066: not an address); the check,
             * which must be set or no name would be checked, for both. */
            unsigned char a[16];
            bool address = inet_pton(AF_INET, host, a) == 1 ||
                           inet_pton(AF_INET6, host, a) == 1;
            if ((!address && !SSL_set_tlsext_host_name(s, host)) ||
                !SSL_set1_host(s, host)) {
                SSL_free(s); /* and the BIO with it */
                ERR_clear_error();
                return -ENOMEM;
            }
        }
    }
    io->tls = s;
    return 0;
}

void proto_tls_detach(proto_io *io)
{
    SSL *s = io->tls;
    if (s == NULL)
        return;
    if (SSL_is_init_finished(s))
        (void)SSL_shutdown(s); /* close_notify; the BIO never waits */
    SSL_free(s);
    ERR_clear_error();
    io->tls = NULL;
}

bool proto_tls_pending(const proto_io *io)
{
    return io->tls != NULL && SSL_has_pending(io->tls);
}

/* What SSL_get_error() asks for: 0 after a wait, or a negative errno. */
static int tls_wait(const proto_io *io, int ret, int64_t deadline)
{
    int e = SSL_get_error(io->tls, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return proto_wire_wait(io, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return proto_wire_wait(io, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        return -ECONNRESET;
    case SSL_ERROR_SYSCALL:
        return errno != 0 ? -errno : -ECONNRESET;
    default:
        return -EPROTO; /* a bad record, a failed handshake: tls_error() */
    }
}

int proto_tls_handshake(proto_io *io, bool wait)
{
    int64_t deadline = NO_WAIT;
    if (wait)
        (void)proto_wire_deadline_in(io->timeout_ms, &deadline);
    for (;;) {
        errno = 0;
        int r = SSL_do_handshake(io->tls);
        if (r == 1)
            return 0;
        r = tls_wait(io, r, deadline);
        if (r != 0)
            return r;
    }
}

ssize_t proto_tls_recv_some(const proto_io *io, void *buf, size_t n,
                            int64_t deadline)
{
    for (;;) {
        size_t got = 0;
        errno = 0;
        int r = SSL_read_ex(io->tls, buf, n, &got);
        if (r == 1)
            return (ssize_t)got;
        if (SSL_get_error(io->tls, r) == SSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify, or the peer's end (IGNORE_EOF) */
        r = tls_wait(io, r, deadline);
        if (r != 0)
            return r;
    }
}

/* The end of a gathered send: what is left goes out, waiting as
 * proto_wire_send_all() does; the buffer is freed either way. */
static int gather_end(const proto_io *io, struct tls_sock *t, int r,
                      int64_t deadline)
{
    while (r == 0) {
        r = gather_drain(t);
        if (r == -EAGAIN)
            r = proto_wire_wait(io, POLLOUT, deadline);
        else if (r == 0)
            break;
    }
    free(t->gather);
    t->gather = NULL;
    t->off = t->len = 0;
    return r;
}

int proto_tls_send_all(const proto_io *io, const void *buf, size_t n,
                       int64_t deadline)
{
    struct tls_sock *t = sock_of(SSL_get_wbio(io->tls));
    if (n >= GATHER_MIN && t->gather == NULL)
        t->gather = malloc(GATHER_BUF); /* NULL: record by record */
    size_t done = 0;
    int r = 0;
    while (r == 0 && done < n) {
        size_t k = 0;
        errno = 0;
        int ok = SSL_write_ex(io->tls, (const char *)buf + done, n - done, &k);
        if (ok == 1) {
            done += k;
            continue;
        }
        r = tls_wait(io, ok, deadline);
        if (r == -ECONNRESET)
            r = -EPIPE;
    }
    return t->gather != NULL ? gather_end(io, t, r, deadline) : r;
}

/* ---- what the session is ------------------------------------------------- */

int proto_tls_cbind(const proto_io *io, uint8_t out[PROTO_TLS_CBIND_MAX],
                    size_t *len)
{
    SSL *s = io->tls;
    if (s == NULL || !SSL_is_init_finished(s))
        return -ENOTCONN;
    X509 *x = SSL_is_server(s) ? SSL_get_certificate(s)
                               : SSL_get0_peer_certificate(s);
    if (x == NULL)
        return -ENOTCONN;
    /* RFC 5929, 4.1: the certificate's signature hash; SHA-256 in place of
     * MD5 or SHA-1 (and for a signature without one, as Ed25519's). */
    int md_nid = NID_undef;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, NULL))
        md_nid = NID_undef;
    const EVP_MD *md =
        md_nid == NID_undef || md_nid == NID_md5 || md_nid == NID_sha1
            ? EVP_sha256()
            : EVP_get_digestbynid(md_nid);
    unsigned int n = 0;
    if (md == NULL || !X509_digest(x, md, out, &n) || n > PROTO_TLS_CBIND_MAX) {
        ERR_clear_error();
        return -EINVAL;
    }
    *len = n;
    return 0;
}

int proto_tls_peer_fingerprint(const proto_io *io, char out[PROTO_TLS_FP_SIZE])
{
    X509 *x = io->tls ? SSL_get0_peer_certificate(io->tls) : NULL;
    return x ? key_fingerprint(X509_get0_pubkey(x), out) : -ENOTCONN;
}

/* Whether proto_tls_attach() gave the session a name or an address to
 * check the certificate against. */
static bool has_reference(SSL *s)
{
    X509_VERIFY_PARAM *p = SSL_get0_param(s);
    if (X509_VERIFY_PARAM_get0_host(p, 0) != NULL)
        return true;
    char *ip = X509_VERIFY_PARAM_get1_ip_asc(p);
    OPENSSL_free(ip);
    return ip != NULL;
}

bool proto_tls_verified(const proto_io *io)
{
    SSL *s = io->tls;
    X509 *leaf = s ? SSL_get0_peer_certificate(s) : NULL;
    if (leaf == NULL || !has_reference(s))
        return false; /* no name to check the certificate against */
    /* What OpenSSL's handshake would have done with the store loaded
     * (ssl_verify_cert_chain): the chain the server sent, checked for a
     * TLS server, with the SSL's parameters (the host name). */
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = store != NULL && ctx != NULL &&
              X509_STORE_set_default_paths(store) == 1 &&
              X509_STORE_CTX_init(ctx, store, leaf,
                                  SSL_get_peer_cert_chain(s)) == 1 &&
              X509_STORE_CTX_set_default(ctx, "ssl_server") == 1;
    if (ok) {
        /* The security level (minimum key sizes, no SHA-1 signatures)
         * applies to the chain as in the handshake. */
        X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_auth_level(p, SSL_get_security_level(s));
        ok = X509_VERIFY_PARAM_set1(p, SSL_get0_param(s)) == 1 &&
             X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}

const char *proto_tls_version(const proto_io *io)
{
    return io->tls ? SSL_get_version(io->tls) : "none";
}

const char *proto_tls_cipher(const proto_io *io)
{
    return io->tls ? SSL_get_cipher_name(io->tls) : "none";
}
