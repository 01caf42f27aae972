/* tlskeys.h -- the server's TLS key pair: given, or made once and kept.
 *
 * With --tls-cert and --tls-key the admin's files are used as they are (an
 * ACME client's, say).  Without them the pair lives under the data root,
 * tls/cert.pem and tls/key.pem (mode 0600, in a 0700 directory); the first
 * start makes a self-signed one (ECDSA P-256) and every later start reuses
 * it, so the fingerprint users pinned stays the same.  Rotating: put the
 * new pair in place and send the server SIGHUP (new connections get it,
 * sessions keep theirs), or restart it; hand users the new fingerprint
 * (docs/protocol.md, "Security considerations").
 */
#ifndef SSFTP_HANDLER_TLSKEYS_H
#define SSFTP_HANDLER_TLSKEYS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "proto.h"

/* Where the pair is: cert and key as given (either may be NULL: then both
 * are the data root's, and made if neither exists).  Fills paths of at
 * least 4096 bytes.  Returns 0, or -errno with err saying what is wrong
 * (one file of the root's pair without the other is -ENOENT, and never
 * replaced silently). */
int tlskeys_locate(const char *root, const char *cert, const char *key,
                   bool make, char *cert_path, char *key_path, char *err,
                   size_t errlen);

/* The server's context for the pair, and its key's fingerprint. */
int tlskeys_context(const char *cert_path, const char *key_path, SSL_CTX **ctx,
                    char fp[PROTO_TLS_FP_SIZE], char *err, size_t errlen);

/* The context new connections take, which a reload (SIGHUP) may replace
 * while sessions go on with the one they started with: each SSL holds a
 * reference to its context (SSL_new), so the old context goes with its
 * last session.  Zero-initialised: empty.  Safe across fork(). */
struct tlsslot {
    SSL_CTX *ctx;
};

/* A new reference to the current context (SSL_CTX_free() it), or NULL. */
SSL_CTX *tlsslot_get(struct tlsslot *slot);

/* Makes ctx (whose reference the slot takes) the current context; the
 * slot's reference to the old one is dropped.  NULL empties the slot. */
void tlsslot_set(struct tlsslot *slot, SSL_CTX *ctx);

#endif
