/* tlskeys.h -- the server's TLS key pair: given, or made once and kept.
 *
 * With --tls-cert and --tls-key the admin's files are used as they are (an
 * ACME client's, say).  Without them the pair lives under the data root,
 * tls/cert.pem and tls/key.pem (mode 0600, in a 0700 directory); the first
 * start makes a self-signed one (ECDSA P-256) and every later start reuses
 * it, so the fingerprint users pinned stays the same.  Rotating: stop the
 * server, move the two files away, start it again, and hand users the new
 * fingerprint (docs/protocol.md, "Security considerations").
 */
#ifndef SSFTP_HANDLER_TLSKEYS_H
#define SSFTP_HANDLER_TLSKEYS_H

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

#endif
