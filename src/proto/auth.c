/* auth.c -- SCRAM with argon2id: key derivation, proofs and signatures. */
#include "auth.h"

#include <errno.h>
#include <string.h>

#define AM_TAG "ssftp-scram-v2"

int proto_auth_params_check(const proto_auth_params *p)
{
    if (p->opslimit < PROTO_AUTH_MIN_OPSLIMIT ||
        p->opslimit > PROTO_AUTH_MAX_OPSLIMIT ||
        p->memlimit < PROTO_AUTH_MIN_MEMLIMIT ||
        p->memlimit > PROTO_AUTH_MAX_MEMLIMIT)
        return -EPROTO;
    return 0;
}

static void hmac(const uint8_t key[PROTO_AUTH_KEY_BYTES], const void *msg,
                 size_t len, uint8_t out[PROTO_AUTH_KEY_BYTES])
{
    /* Cannot fail; the key is crypto_auth_hmacsha256_KEYBYTES (32) long. */
    (void)crypto_auth_hmacsha256(out, msg, len, key);
}

int proto_auth_derive(const char *password, const proto_auth_params *p,
                      uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                      uint8_t server_key[PROTO_AUTH_KEY_BYTES])
{
    int r = proto_auth_params_check(p);
    if (r)
        return r;
    uint8_t salted[PROTO_AUTH_KEY_BYTES];
    /* The bounds above keep both limits inside argon2id's own range, so a
     * failure here can only be the memory allocation. */
    if (crypto_pwhash(salted, sizeof salted, password, strlen(password),
                      p->salt, p->opslimit, (size_t)p->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    hmac(salted, "Client Key", 10, client_key);
    hmac(salted, "Server Key", 10, server_key);
    sodium_memzero(salted, sizeof salted);
    return 0;
}

void proto_auth_stored_key(const uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                           uint8_t stored_key[PROTO_AUTH_KEY_BYTES])
{
    (void)crypto_hash_sha256(stored_key, client_key, PROTO_AUTH_KEY_BYTES);
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_field(uint8_t *p, const void *v, size_t n)
{
    p = put_be(p, n, 4);
    memcpy(p, v, n);
    return p + n;
}

int proto_auth_message_build(proto_auth_message *am, const char *user,
                             const uint8_t cnonce[PROTO_AUTH_NONCE_BYTES],
                             const uint8_t snonce[PROTO_AUTH_NONCE_BYTES],
                             const proto_auth_params *p, const uint8_t *cb,
                             size_t cb_len)
{
    if (cb_len == 0 || cb_len > PROTO_AUTH_CBIND_MAX)
        return -EINVAL;
    /* strnlen: user may come straight off the wire, so do not walk past the
     * longest name we would accept. */
    size_t ulen = strnlen(user, PROTO_AUTH_USER_MAX + 1);
    if (ulen == 0 || ulen > PROTO_AUTH_USER_MAX)
        return -EINVAL;
    /* Length prefixes make the encoding injective: no two different inputs
     * (say, a user name that swallows part of a nonce) share bytes. */
    uint8_t *w = am->bytes;
    memcpy(w, AM_TAG, sizeof AM_TAG - 1);
    w += sizeof AM_TAG - 1;
    w = put_field(w, user, ulen);
    w = put_field(w, cnonce, PROTO_AUTH_NONCE_BYTES);
    w = put_field(w, snonce, PROTO_AUTH_NONCE_BYTES);
    w = put_field(w, p->salt, PROTO_AUTH_SALT_BYTES);
    w = put_be(w, p->opslimit, 8);
    w = put_be(w, p->memlimit, 8);
    w = put_field(w, PROTO_AUTH_CBIND_TYPE, sizeof PROTO_AUTH_CBIND_TYPE - 1);
    w = put_field(w, cb, cb_len);
    am->len = (size_t)(w - am->bytes);
    return 0;
}

static void xor32(const uint8_t a[PROTO_AUTH_KEY_BYTES],
                  const uint8_t b[PROTO_AUTH_KEY_BYTES],
                  uint8_t out[PROTO_AUTH_KEY_BYTES])
{
    for (size_t i = 0; i < PROTO_AUTH_KEY_BYTES; i++)
        out[i] = a[i] ^ b[i];
}

void proto_auth_client_proof(const uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                             const proto_auth_message *am,
                             uint8_t proof[PROTO_AUTH_KEY_BYTES])
{
    uint8_t stored[PROTO_AUTH_KEY_BYTES], sig[PROTO_AUTH_KEY_BYTES];
    proto_auth_stored_key(client_key, stored);
    hmac(stored, am->bytes, am->len, sig);
    xor32(client_key, sig, proof);
    sodium_memzero(stored, sizeof stored);
}

int proto_auth_server_verify(const uint8_t stored_key[PROTO_AUTH_KEY_BYTES],
                             const proto_auth_message *am,
                             const uint8_t proof[PROTO_AUTH_KEY_BYTES])
{
    uint8_t sig[PROTO_AUTH_KEY_BYTES], client_key[PROTO_AUTH_KEY_BYTES];
    uint8_t check[PROTO_AUTH_KEY_BYTES];
    hmac(stored_key, am->bytes, am->len, sig);
    xor32(proof, sig, client_key);
    proto_auth_stored_key(client_key, check);
    int r = sodium_memcmp(check, stored_key, PROTO_AUTH_KEY_BYTES) == 0
                ? 0
                : -EACCES;
    sodium_memzero(client_key, sizeof client_key);
    return r;
}

void proto_auth_server_signature(const uint8_t server_key[PROTO_AUTH_KEY_BYTES],
                                 const proto_auth_message *am,
                                 uint8_t sig[PROTO_AUTH_KEY_BYTES])
{
    hmac(server_key, am->bytes, am->len, sig);
}

int proto_auth_client_check_server(
    const uint8_t server_key[PROTO_AUTH_KEY_BYTES],
    const proto_auth_message *am, const uint8_t sig[PROTO_AUTH_KEY_BYTES])
{
    uint8_t want[PROTO_AUTH_KEY_BYTES];
    proto_auth_server_signature(server_key, am, want);
    return sodium_memcmp(want, sig, PROTO_AUTH_KEY_BYTES) == 0 ? 0 : -EACCES;
}

/* Keyed BLAKE2b of label (with its NUL, so labels cannot run into names)
 * and user: distinct labels give unrelated outputs for the same name. */
static void keyed_name_hash(const uint8_t secret[PROTO_AUTH_SECRET_BYTES],
                            const char *label, const char *user, uint8_t *out,
                            size_t n)
{
    crypto_generichash_state st;
    (void)crypto_generichash_init(&st, secret, PROTO_AUTH_SECRET_BYTES, n);
    (void)crypto_generichash_update(&st, (const void *)label,
                                    strlen(label) + 1);
    (void)crypto_generichash_update(&st, (const void *)user, strlen(user));
    (void)crypto_generichash_final(&st, out, n);
}

void proto_auth_fake_salt(const uint8_t secret[PROTO_AUTH_SECRET_BYTES],
                          const char *user, uint8_t salt[PROTO_AUTH_SALT_BYTES])
{
    keyed_name_hash(secret, "ssftp-fake-salt", user, salt,
                    PROTO_AUTH_SALT_BYTES);
}

void proto_auth_fake_stored_key(const uint8_t secret[PROTO_AUTH_SECRET_BYTES],
                                const char *user,
                                uint8_t stored_key[PROTO_AUTH_KEY_BYTES])
{
    keyed_name_hash(secret, "ssftp-fake-stored-key", user, stored_key,
                    PROTO_AUTH_KEY_BYTES);
}
