/* auth.h -- SCRAM (RFC 5802 shape) with argon2id in place of PBKDF2.
 *
 * The server never sees the password and never stores anything that logs in
 * by itself:
 *
 *     SaltedPassword  = argon2id13(password, salt, opslimit, memlimit) 32 B
 *     ClientKey       = HMAC-SHA-256(SaltedPassword, "Client Key")
 *     StoredKey       = SHA-256(ClientKey)                  (server keeps)
 *     ServerKey       = HMAC-SHA-256(SaltedPassword, "Server Key") (keeps)
 *     AuthMessage     = proto_auth_message_build(...)   canonical bytes, not JSON
 *     ClientSignature = HMAC-SHA-256(StoredKey, AuthMessage)
 *     ClientProof     = ClientKey XOR ClientSignature       (client sends)
 *     ServerSignature = HMAC-SHA-256(ServerKey, AuthMessage) (server sends)
 *
 * The server recovers ClientKey = ClientProof XOR ClientSignature and checks
 * SHA-256(ClientKey) == StoredKey; the client checks ServerSignature, which
 * proves the server holds ServerKey.  The costly argon2id runs on the client,
 * so a server with many logins does no password hashing at all.
 *
 * Nonces are 32 bytes from randombytes_buf().  Every comparison of secrets is
 * constant time.  Call proto_init() (or sodium_init()) first.
 */
#ifndef SSFTP_PROTO_AUTH_H
#define SSFTP_PROTO_AUTH_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_AUTH_KEY_BYTES 32    /* every key, proof and signature */
#define PROTO_AUTH_NONCE_BYTES 32  /* cnonce and snonce */
#define PROTO_AUTH_SALT_BYTES 16   /* crypto_pwhash_argon2id_SALTBYTES */
#define PROTO_AUTH_SECRET_BYTES 32 /* the server secret behind fake users */
#define PROTO_AUTH_USER_MAX 64     /* longest user name, in bytes */

/* argon2id cost.  A client refuses a server's parameters outside
 * [MIN, MAX]: below, an impostor server could collect cheaply crackable
 * proofs; above, it could make the client allocate or spin without bound.
 * The minimum is libsodium's INTERACTIVE pass count with an 8 MiB floor. */
#define PROTO_AUTH_MIN_OPSLIMIT 2ULL
#define PROTO_AUTH_MAX_OPSLIMIT 10ULL
#define PROTO_AUTH_MIN_MEMLIMIT (8ULL << 20)
#define PROTO_AUTH_MAX_MEMLIMIT (1ULL << 30)
#define PROTO_AUTH_DEFAULT_OPSLIMIT                                            \
    ((uint64_t)crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE)
#define PROTO_AUTH_DEFAULT_MEMLIMIT                                            \
    ((uint64_t)crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE)

/* A challenge (snonce) is good for one auth_proof within this many seconds. */
#define PROTO_AUTH_CHALLENGE_TTL_S 30

/* What the server stores per user besides StoredKey and ServerKey, and sends
 * in its challenge. */
typedef struct proto_auth_params {
    uint8_t salt[PROTO_AUTH_SALT_BYTES];
    uint64_t opslimit;
    uint64_t memlimit;
} proto_auth_params;

/* Channel binding (RFC 5929's tls-server-end-point: the hash of the
 * server's certificate, tls.h), at most this many bytes. */
#define PROTO_AUTH_CBIND_TYPE "tls-server-end-point"
#define PROTO_AUTH_CBIND_MAX 64

/* The AuthMessage both sides sign.  Layout (docs/protocol.md, "AuthMessage"):
 * "ssftp-scram-v2", then u32-BE-length-prefixed user, cnonce, snonce, salt,
 * then u64 BE opslimit and memlimit, then u32-BE-length-prefixed
 * PROTO_AUTH_CBIND_TYPE and the channel-binding data: a proof made inside
 * one TLS channel is worthless in another. */
#define PROTO_AUTH_MESSAGE_MAX                                                 \
    (14 + 4 + PROTO_AUTH_USER_MAX + 4 + PROTO_AUTH_NONCE_BYTES + 4 +           \
     PROTO_AUTH_NONCE_BYTES + 4 + PROTO_AUTH_SALT_BYTES + 8 + 8 + 4 + 20 + 4 + \
     PROTO_AUTH_CBIND_MAX)
typedef struct proto_auth_message {
    size_t len;
    uint8_t bytes[PROTO_AUTH_MESSAGE_MAX];
} proto_auth_message;

/* 0 if p's costs are within the client's bounds, else -EPROTO. */
int proto_auth_params_check(const proto_auth_params *p);

/* Derive ClientKey and ServerKey from a password (client login; admin
 * `user add`, which then stores p, StoredKey and ServerKey).
 * Returns 0; -EPROTO if p fails proto_auth_params_check(); -ENOMEM if argon2id
 * cannot get its memory. */
int proto_auth_derive(const char *password, const proto_auth_params *p,
                      uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                      uint8_t server_key[PROTO_AUTH_KEY_BYTES]);

/* StoredKey = SHA-256(ClientKey). */
void proto_auth_stored_key(const uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                           uint8_t stored_key[PROTO_AUTH_KEY_BYTES]);

/* Build the canonical AuthMessage.  user is 1..PROTO_AUTH_USER_MAX bytes (any
 * bytes but NUL); cb is the channel's binding, 1..PROTO_AUTH_CBIND_MAX
 * bytes.  Returns 0, or -EINVAL for a bad length. */
int proto_auth_message_build(proto_auth_message *am, const char *user,
                             const uint8_t cnonce[PROTO_AUTH_NONCE_BYTES],
                             const uint8_t snonce[PROTO_AUTH_NONCE_BYTES],
                             const proto_auth_params *p, const uint8_t *cb,
                             size_t cb_len);

/* ClientProof for am (client side). */
void proto_auth_client_proof(const uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                             const proto_auth_message *am,
                             uint8_t proof[PROTO_AUTH_KEY_BYTES]);

/* Check a ClientProof against StoredKey (server side), in constant time.
 * Returns 0 if it proves knowledge of the password, else -EACCES. */
int proto_auth_server_verify(const uint8_t stored_key[PROTO_AUTH_KEY_BYTES],
                             const proto_auth_message *am,
                             const uint8_t proof[PROTO_AUTH_KEY_BYTES]);

/* ServerSignature for am (server side, sent only after a good proof). */
void proto_auth_server_signature(const uint8_t server_key[PROTO_AUTH_KEY_BYTES],
                                 const proto_auth_message *am,
                                 uint8_t sig[PROTO_AUTH_KEY_BYTES]);

/* Check the server's signature (client side), in constant time.
 * Returns 0 if the server knows ServerKey, else -EACCES. */
int proto_auth_client_check_server(
    const uint8_t server_key[PROTO_AUTH_KEY_BYTES],
    const proto_auth_message *am, const uint8_t sig[PROTO_AUTH_KEY_BYTES]);

/* For a user who does not exist the server answers with a salt and a
 * StoredKey derived from a server secret and the name (keyed BLAKE2b), and
 * runs the full proof check against them.  The same name always gets the same
 * salt, so probing twice reveals nothing, and no password matches. */
void proto_auth_fake_salt(const uint8_t secret[PROTO_AUTH_SECRET_BYTES],
                          const char *user,
                          uint8_t salt[PROTO_AUTH_SALT_BYTES]);
void proto_auth_fake_stored_key(const uint8_t secret[PROTO_AUTH_SECRET_BYTES],
                                const char *user,
                                uint8_t stored_key[PROTO_AUTH_KEY_BYTES]);

#endif
