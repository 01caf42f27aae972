/* tls.h -- TLS 1.3 under the ssftp protocol (OpenSSL 3).
 *
 * A proto_io with a TLS session attached (proto_tls_attach()) carries every
 * frame and body through it: wire.c's recv and send go through SSL_read_ex
 * and SSL_write_ex with the same deadlines, waits and error codes as on a
 * plain socket, so nothing above the wire layer knows.  The socket keeps
 * its blocking mode: the TLS records go through a BIO of our own that reads
 * and writes with MSG_DONTWAIT | MSG_NOSIGNAL, as wire.c does.
 *
 * Only TLS 1.3 is offered or accepted, so every cipher is an AEAD (AES-GCM
 * or ChaCha20-Poly1305): a record that was altered fails to decrypt, and the
 * connection ends with -EPROTO.
 *
 * Keys are named by the SHA-256 of their SubjectPublicKeyInfo (DER), in
 * base64 without padding after "SHA256:", as OpenSSH prints host keys
 * (PROTO_TLS_FP_SIZE with the NUL).
 *
 * Channel binding is RFC 5929's tls-server-end-point: the hash of the
 * server's certificate (its signature's hash, SHA-256 for MD5 and SHA-1),
 * which every TLS library -- Python's ssl module too -- can compute.
 */
#ifndef SSFTP_PROTO_TLS_H
#define SSFTP_PROTO_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define PROTO_TLS_FP_SIZE 51 /* "SHA256:" + 43 base64 characters + NUL */
#define PROTO_TLS_CBIND_MAX 64

/* A context for the server, from a PEM certificate (chain) and key.
 * Returns 0, or -EINVAL with err (errlen bytes) saying what OpenSSL said. */
int proto_tls_server_ctx(const char *cert_file, const char *key_file,
                         SSL_CTX **out, char *err, size_t errlen);

/* A context for the client: the handshake never fails on the server's
 * certificate; proto_tls_verified() checks it afterwards.  Returns 0 or
 * -ENOMEM. */
int proto_tls_client_ctx(SSL_CTX **out);

/* A new key pair (ECDSA P-256) and a self-signed certificate for it, named
 * cn, valid for 100 years: key_file is created with mode 0600 and
 * cert_file 0644, each written whole under a temporary name and renamed,
 * neither overwritten if it exists (-EEXIST).  Returns 0 or -errno. */
int proto_tls_make_self_signed(const char *key_file, const char *cert_file,
                               const char *cn);

/* The fingerprint of a PEM certificate file's public key. */
int proto_tls_cert_file_fingerprint(const char *cert_file,
                                    char out[PROTO_TLS_FP_SIZE]);

/* Attaches a new TLS session over io->fd, as the server or the client
 * (host: the name to verify and send as SNI, or NULL).  Returns 0 or
 * -ENOMEM. */
int proto_tls_attach(proto_io *io, SSL_CTX *ctx, bool server, const char *host);

/* Runs the handshake, waiting up to io->timeout_ms (and io->deadline_ms)
 * when wait, else taking only what has arrived (for a server that must not
 * hold a thread for a slow peer: call it again when the socket is
 * readable).  Returns 0 when done; -EAGAIN when it must wait (!wait);
 * -EPROTO when the peer does not speak TLS 1.3 or the handshake failed
 * (proto_tls_error() says why); -ETIMEDOUT; -ECONNRESET when the peer
 * closed. */
int proto_tls_handshake(proto_io *io, bool wait);

/* Sends close_notify if it can without waiting, and frees the session.
 * io->fd is left open.  Safe without a session. */
void proto_tls_detach(proto_io *io);

/* Decrypted bytes, or records not yet decrypted, are held in the session:
 * read them before waiting on the socket. */
bool proto_tls_pending(const proto_io *io);

/* Why the last TLS call on this thread failed, one line ("" when
 * unknown). */
const char *proto_tls_error(char *buf, size_t cap);

/* Why a TLS call failed with rc, for a log line: OpenSSL's reason for
 * -EPROTO (when it gave one), else strerror(-rc).  Returns buf. */
const char *proto_tls_why(int rc, char *buf, size_t cap);

/* tls-server-end-point of the session (out: up to PROTO_TLS_CBIND_MAX
 * bytes).  Returns 0, or -ENOTCONN before the handshake. */
int proto_tls_cbind(const proto_io *io, uint8_t out[PROTO_TLS_CBIND_MAX],
                    size_t *len);

/* The peer's public key fingerprint (client side). */
int proto_tls_peer_fingerprint(const proto_io *io, char out[PROTO_TLS_FP_SIZE]);

/* Whether the peer's certificate chains to the system's CA store (read
 * for this call: OpenSSL's default paths, or $SSL_CERT_FILE and
 * $SSL_CERT_DIR) and matches the host given to proto_tls_attach() (client
 * side, after the handshake). */
bool proto_tls_verified(const proto_io *io);

/* "TLSv1.3" and the cipher suite's name, for -v. */
const char *proto_tls_version(const proto_io *io);
const char *proto_tls_cipher(const proto_io *io);

#endif
