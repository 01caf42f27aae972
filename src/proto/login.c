/* login.c -- the client's half of the SCRAM login (login.h). */
#include "login.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "field.h"
#include "reply.h"
#include "tls.h"

static int derive_plain(void *ctx, const char *user, const char *password,
                        const proto_auth_params *p,
                        uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                        uint8_t server_key[PROTO_AUTH_KEY_BYTES])
{
    (void)ctx;
    (void)user;
    return proto_auth_derive(password, p, client_key, server_key);
}

/* Sends req (consumed) and reads the reply: 0 with an ok *reply,
 * -EREMOTEIO with a refusal, or a negative errno. */
static int call(proto_io *io, json_t *req, json_t **reply)
{
    *reply = NULL;
    if (req == NULL)
        return -ENOMEM;
    int r = proto_send(io, req);
    json_decref(req);
    if (r == 0)
        r = proto_recv(io, reply);
    if (r == 0)
        r = proto_reply_check(*reply, NULL, NULL);
    if (r != 0 && r != -EREMOTEIO) {
        json_decref(*reply);
        *reply = NULL;
    }
    return r;
}

/* A request carrying one base64 field. */
static json_t *request(const char *cmd, const char *user, const char *key,
                       const uint8_t *bin, size_t n)
{
    json_t *req = user != NULL
                      ? json_pack("{s:s, s:s}", "cmd", cmd, "user", user)
                      : json_pack("{s:s}", "cmd", cmd);
    if (req != NULL && proto_set_b64(req, key, bin, n) != 0) {
        json_decref(req);
        req = NULL;
    }
    return req;
}

int proto_login(proto_io *io, const char *user, const char *password,
                proto_login_derive_fn derive, void *ctx,
                struct proto_login *out)
{
    *out = (struct proto_login){.stage = PROTO_LOGIN_AUTH};
    uint8_t cnonce[PROTO_AUTH_NONCE_BYTES], snonce[PROTO_AUTH_NONCE_BYTES];
    randombytes_buf(cnonce, sizeof cnonce);
    json_t *rep;
    int r =
        call(io, request("auth", user, "cnonce", cnonce, sizeof cnonce), &rep);
    if (r != 0) {
        out->reply = rep;
        return r;
    }
    proto_auth_params *p = &out->params;
    bool ok = proto_get_b64(rep, "salt", p->salt, sizeof p->salt) == 0 &&
              proto_get_u64(rep, "opslimit", &p->opslimit) == 0 &&
              proto_get_u64(rep, "memlimit", &p->memlimit) == 0 &&
              proto_get_b64(rep, "snonce", snonce, sizeof snonce) == 0;
    json_decref(rep);
    if (!ok)
        return -EPROTO;
    out->stage = PROTO_LOGIN_DERIVE;
    if (proto_auth_params_check(p) != 0)
        return -ERANGE;
    uint8_t ck[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES];
    proto_auth_message am;
    r = (derive != NULL ? derive : derive_plain)(ctx, user, password, p, ck,
                                                 sk);
    /* The proof is bound to this TLS channel (tls.h): relayed by someone
     * with another certificate, it fails. */
    uint8_t cb[PROTO_TLS_CBIND_MAX];
    size_t cb_len = 0;
    if (r == 0)
        r = proto_tls_cbind(io, cb, &cb_len);
    if (r == 0)
        r = proto_auth_message_build(&am, user, cnonce, snonce, p, cb, cb_len);
    if (r != 0) {
        sodium_memzero(ck, sizeof ck);
        sodium_memzero(sk, sizeof sk);
        return r;
    }
    uint8_t proof[PROTO_AUTH_KEY_BYTES];
    proto_auth_client_proof(ck, &am, proof);
    sodium_memzero(ck, sizeof ck);
    out->stage = PROTO_LOGIN_PROOF;
    /* The binding is sent too, so that a server reached through a relay
     * can say so (the proof fails either way). */
    json_t *req = request("auth_proof", NULL, "proof", proof, sizeof proof);
    if (req != NULL && proto_set_b64(req, "cbind", cb, cb_len) != 0) {
        json_decref(req);
        req = NULL;
    }
    r = call(io, req, &rep);
    if (r != 0) {
        sodium_memzero(sk, sizeof sk);
        out->reply = rep;
        return r;
    }
    uint8_t sig[PROTO_AUTH_KEY_BYTES];
    r = proto_get_b64(rep, "server_signature", sig, sizeof sig);
    if (r == 0)
        r = proto_auth_client_check_server(sk, &am, sig) == 0 ? 0 : -EBADMSG;
    sodium_memzero(sk, sizeof sk);
    if (r != 0) { /* missing or wrong: either way not the server */
        json_decref(rep);
        return -EBADMSG;
    }
    out->stage = PROTO_LOGIN_DONE;
    out->reply = rep;
    return 0;
}
