/* login.h -- the client's half of the SCRAM login, once for every client:
 * ssftp, the end-to-end tests and the benches (docs/protocol.md, "Login").
 *
 *     C: {"cmd":"auth","user":U,"cnonce":...}
 *     S: {"ok":true,"salt":...,"opslimit":...,"memlimit":...,"snonce":...}
 *        -- costs outside proto_auth_params_check() end it here: a cheap
 *        cost would let an impostor harvest crackable proofs, a dear one
 *        would exhaust this machine --
 *     C: {"cmd":"auth_proof","proof":...}
 *     S: {"ok":true,"home":"/","server_signature":...}
 *        -- checked before anything more is sent: a peer that cannot sign
 *        has not proved it is the server --
 */
#ifndef SSFTP_PROTO_LOGIN_H
#define SSFTP_PROTO_LOGIN_H

#include <jansson.h>

#include "auth.h"
#include "frame.h"

/* How the keys are made from the password under the challenge's costs:
 * proto_auth_derive() when NULL is passed; ssftp passes its key cache.
 * Returns 0 or a negative errno. */
typedef int (*proto_login_derive_fn)(void *ctx, const char *user,
                                     const char *password,
                                     const proto_auth_params *p,
                                     uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                                     uint8_t server_key[PROTO_AUTH_KEY_BYTES]);

/* Where a login stopped, and what the caller needs to say why. */
struct proto_login {
    enum {
        PROTO_LOGIN_AUTH,   /* sending auth or reading the challenge */
        PROTO_LOGIN_DERIVE, /* checking the costs, deriving the keys */
        PROTO_LOGIN_PROOF,  /* sending the proof or reading the answer */
        PROTO_LOGIN_DONE,
    } stage;
    proto_auth_params params; /* the challenge's, once read */
    json_t *reply; /* the server's refusal (-EREMOTEIO), or the final ok
                      reply: the caller decrefs it */
};

/* Logs in as user over io.  Returns 0 with out->reply the server's last
 * reply; -EREMOTEIO with out->reply its refusal (at the auth or the proof
 * stage); -EPROTO for a malformed challenge or answer; -ERANGE for costs
 * outside the accepted range (out->params says which); -EBADMSG when the
 * server's signature does not match (an impostor); derive's error; or the
 * socket's negative errno.  After anything but 0 and -EREMOTEIO the
 * connection is to be closed. */
int proto_login(proto_io *io, const char *user, const char *password,
                proto_login_derive_fn derive, void *ctx,
                struct proto_login *out);

#endif
