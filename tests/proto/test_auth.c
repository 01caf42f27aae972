/* test_auth.c -- SCRAM with argon2id: who gets in, who does not, and why. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"

/* The cheapest costs a client accepts, so the tests stay fast. */
static proto_auth_params small_params(uint8_t salt_byte)
{
    proto_auth_params p = {.opslimit = PROTO_AUTH_MIN_OPSLIMIT,
                           .memlimit = PROTO_AUTH_MIN_MEMLIMIT};
    memset(p.salt, salt_byte, sizeof p.salt);
    return p;
}

/* What `user add` stores for a user. */
struct account {
    proto_auth_params p;
    uint8_t stored_key[PROTO_AUTH_KEY_BYTES];
    uint8_t server_key[PROTO_AUTH_KEY_BYTES];
};

static struct account make_account(const char *password)
{
    struct account a = {.p = small_params(0x5a)};
    uint8_t client_key[PROTO_AUTH_KEY_BYTES];
    assert_int_equal(
        proto_auth_derive(password, &a.p, client_key, a.server_key), 0);
    proto_auth_stored_key(client_key, a.stored_key);
    return a;
}

/* A channel binding: 32 bytes 0x80..0x9f (a SHA-256 certificate hash). */
static const uint8_t CBIND[32] = {
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
    0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f};

static proto_auth_message
message_for(const char *user, const proto_auth_params *p, uint8_t snonce_byte)
{
    uint8_t cnonce[PROTO_AUTH_NONCE_BYTES], snonce[PROTO_AUTH_NONCE_BYTES];
    memset(cnonce, 0xc1, sizeof cnonce);
    memset(snonce, snonce_byte, sizeof snonce);
    proto_auth_message am;
    assert_int_equal(proto_auth_message_build(&am, user, cnonce, snonce, p,
                                              CBIND, sizeof CBIND),
                     0);
    return am;
}

/* The client's half: derive keys from the password and prove them. */
static void client_prove(const char *password, const proto_auth_params *p,
                         const proto_auth_message *am,
                         uint8_t proof[PROTO_AUTH_KEY_BYTES],
                         uint8_t server_key[PROTO_AUTH_KEY_BYTES])
{
    uint8_t client_key[PROTO_AUTH_KEY_BYTES];
    assert_int_equal(proto_auth_derive(password, p, client_key, server_key), 0);
    proto_auth_client_proof(client_key, am, proof);
}

/* The client proves password over client_am; the server checks the proof
 * against its own view of the exchange, server_am.  Returns the verdict. */
static int server_verdict(const struct account *a, const char *password,
                          const proto_auth_message *client_am,
                          const proto_auth_message *server_am)
{
    uint8_t proof[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES];
    client_prove(password, &a->p, client_am, proof, sk);
    return proto_auth_server_verify(a->stored_key, server_am, proof);
}

static void correct_password_authenticates(void **state)
{
    (void)state;
    struct account a = make_account("hunter2");
    proto_auth_message am = message_for("alice", &a.p, 0x51);
    assert_int_equal(server_verdict(&a, "hunter2", &am, &am), 0);
}

static void wrong_password_fails(void **state)
{
    (void)state;
    struct account a = make_account("hunter2");
    proto_auth_message am = message_for("alice", &a.p, 0x51);
    assert_int_equal(server_verdict(&a, "hunter3", &am, &am), -EACCES);
}

static void tampered_auth_message_fails(void **state)
{
    (void)state;
    struct account a = make_account("hunter2");
    proto_auth_message am = message_for("alice", &a.p, 0x51);
    /* Any changed byte -- here the last byte of the memlimit -- breaks it. */
    proto_auth_message tampered = am;
    tampered.bytes[tampered.len - 1] ^= 1;
    assert_int_equal(server_verdict(&a, "hunter2", &am, &tampered), -EACCES);
}

static void proof_for_another_challenge_fails(void **state)
{
    (void)state;
    struct account a = make_account("hunter2");
    proto_auth_message old = message_for("alice", &a.p, 0x51);
    proto_auth_message fresh = message_for("alice", &a.p, 0x52);
    assert_int_equal(server_verdict(&a, "hunter2", &old, &fresh), -EACCES);
}

static void client_accepts_only_the_real_server_signature(void **state)
{
    (void)state;
    struct account a = make_account("hunter2");
    proto_auth_message am = message_for("alice", &a.p, 0x51);
    uint8_t proof[PROTO_AUTH_KEY_BYTES], client_sk[PROTO_AUTH_KEY_BYTES];
    client_prove("hunter2", &a.p, &am, proof, client_sk);
    uint8_t sig[PROTO_AUTH_KEY_BYTES];
    proto_auth_server_signature(a.server_key, &am, sig);
    assert_int_equal(proto_auth_client_check_server(client_sk, &am, sig), 0);
    /* A server that only saw the proof (or StoredKey) cannot sign. */
    uint8_t forged[PROTO_AUTH_KEY_BYTES];
    proto_auth_server_signature(a.stored_key, &am, forged);
    assert_int_equal(proto_auth_client_check_server(client_sk, &am, forged),
                     -EACCES);
}

static void fake_salt_is_stable_per_name_and_differs_across_names(void **state)
{
    (void)state;
    uint8_t secret[PROTO_AUTH_SECRET_BYTES], other[PROTO_AUTH_SECRET_BYTES];
    memset(secret, 7, sizeof secret);
    memset(other, 8, sizeof other);
    uint8_t s1[PROTO_AUTH_SALT_BYTES], s2[PROTO_AUTH_SALT_BYTES],
        s3[PROTO_AUTH_SALT_BYTES];
    uint8_t s4[PROTO_AUTH_SALT_BYTES];
    proto_auth_fake_salt(secret, "mallory", s1);
    proto_auth_fake_salt(secret, "mallory", s2);
    proto_auth_fake_salt(secret, "mallorz", s3);
    proto_auth_fake_salt(other, "mallory", s4);
    assert_memory_equal(s1, s2, PROTO_AUTH_SALT_BYTES);
    assert_memory_not_equal(s1, s3, PROTO_AUTH_SALT_BYTES);
    assert_memory_not_equal(s1, s4, PROTO_AUTH_SALT_BYTES);
    /* The stored key is not just a longer salt: the labels separate them. */
    uint8_t k[PROTO_AUTH_KEY_BYTES];
    proto_auth_fake_stored_key(secret, "mallory", k);
    assert_memory_not_equal(k, s1, PROTO_AUTH_SALT_BYTES);
}

static void unknown_user_fails_the_full_proof_check(void **state)
{
    (void)state;
    uint8_t secret[PROTO_AUTH_SECRET_BYTES];
    memset(secret, 7, sizeof secret);
    proto_auth_params p = small_params(0);
    proto_auth_fake_salt(secret, "mallory", p.salt);
    uint8_t stored[PROTO_AUTH_KEY_BYTES];
    proto_auth_fake_stored_key(secret, "mallory", stored);
    proto_auth_message am = message_for("mallory", &p, 0x51);
    uint8_t proof[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES];
    client_prove("", &p, &am, proof, sk);
    assert_int_equal(proto_auth_server_verify(stored, &am, proof), -EACCES);
}

static void auth_message_matches_known_answer(void **state)
{
    (void)state;
    /* Built by hand in Python from docs/protocol.md, "AuthMessage". */
    static const char want[] =
        "73736674702d736372616d2d763200000005616c69636500000020000102030405"
        "060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00000020202122"
        "232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f00000010"
        "404142434445464748494a4b4c4d4e4f00000000000000020000000000800000"
        "00000014746c732d7365727665722d656e642d706f696e7400000020808182838485"
        "868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
    uint8_t cnonce[32], snonce[32];
    proto_auth_params p = {.opslimit = 2, .memlimit = 8 << 20};
    for (int i = 0; i < 32; i++) {
        cnonce[i] = (uint8_t)i;
        snonce[i] = (uint8_t)(32 + i);
    }
    for (int i = 0; i < 16; i++)
        p.salt[i] = (uint8_t)(64 + i);
    proto_auth_message am;
    assert_int_equal(proto_auth_message_build(&am, "alice", cnonce, snonce, &p,
                                              CBIND, sizeof CBIND),
                     0);
    char hex[PROTO_HEX_SIZE(PROTO_AUTH_MESSAGE_MAX)];
    assert_int_equal(proto_hex_encode(am.bytes, am.len, hex, sizeof hex), 0);
    assert_string_equal(hex, want);
}

static void proof_and_signature_match_known_answer(void **state)
{
    (void)state;
    /* Python: hashlib/hmac over the AuthMessage of the test above, with
     * ClientKey bytes 0xa0.. and ServerKey bytes 0xc0.. */
    uint8_t cnonce[32], snonce[32], ck[32], sk[32];
    proto_auth_params p = {.opslimit = 2, .memlimit = 8 << 20};
    for (int i = 0; i < 32; i++) {
        cnonce[i] = (uint8_t)i;
        snonce[i] = (uint8_t)(32 + i);
        ck[i] = (uint8_t)(0xa0 + i);
        sk[i] = (uint8_t)(0xc0 + i);
    }
    for (int i = 0; i < 16; i++)
        p.salt[i] = (uint8_t)(64 + i);
    proto_auth_message am;
    assert_int_equal(proto_auth_message_build(&am, "alice", cnonce, snonce, &p,
                                              CBIND, sizeof CBIND),
                     0);
    uint8_t stored[32], proof[32], sig[32];
    char hex[PROTO_HEX_SIZE(32)];
    proto_auth_stored_key(ck, stored);
    assert_int_equal(proto_hex_encode(stored, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "00e988677eecf94c0bb9233371c7c0d6"
                             "f4db8ebdcdecb7c5ebaa666f17249227");
    proto_auth_client_proof(ck, &am, proof);
    assert_int_equal(proto_hex_encode(proof, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "3f332a72e1859fc694de73cf60fa1dbd"
                             "c310a27bc76e60da15fd5308db746432");
    proto_auth_server_signature(sk, &am, sig);
    assert_int_equal(proto_hex_encode(sig, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "2ff471a2d146e4b39e20086ed4e14500"
                             "ad547de30b5058e6ab8b7e0806081d19");
}

/* argon2id as docs/protocol.md's "Writing a client" gives it (libsodium
 * there too, so this pins the parameters: v1.3, parallelism 1, memlimit in
 * bytes); ClientKey and ServerKey computed in Python from it. */
static void derive_matches_the_documented_argon2id_vector(void **state)
{
    (void)state;
    proto_auth_params p = {.opslimit = 2, .memlimit = 8388608};
    memcpy(p.salt, "0123456789abcdef", 16);
    uint8_t ck[32], sk[32], stored[32];
    assert_int_equal(proto_auth_derive("correct horse", &p, ck, sk), 0);
    char hex[PROTO_HEX_SIZE(32)];
    assert_int_equal(proto_hex_encode(ck, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "4adb6aa63f53695005ded6a3d777ddd0"
                             "eb16c23cb3d3713c36edc93fa860b86e");
    assert_int_equal(proto_hex_encode(sk, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "a5a87278f5361e8026b61030c133fd08"
                             "40d3abff76fdf0403ce8ae0d68fcb009");
    proto_auth_stored_key(ck, stored);
    assert_int_equal(proto_hex_encode(stored, 32, hex, sizeof hex), 0);
    assert_string_equal(hex, "1559d7c29124eb8690a77b167c28ebf7"
                             "05655d665cb093431d8913925beff1c4");
}

static void derive_refuses_costs_outside_client_bounds(void **state)
{
    (void)state;
    const proto_auth_params bad[] = {
        {.opslimit = PROTO_AUTH_MIN_OPSLIMIT - 1,
         .memlimit = PROTO_AUTH_MIN_MEMLIMIT},
        {.opslimit = PROTO_AUTH_MAX_OPSLIMIT + 1,
         .memlimit = PROTO_AUTH_MIN_MEMLIMIT},
        {.opslimit = PROTO_AUTH_MIN_OPSLIMIT,
         .memlimit = PROTO_AUTH_MIN_MEMLIMIT - 1},
        {.opslimit = PROTO_AUTH_MIN_OPSLIMIT,
         .memlimit = PROTO_AUTH_MAX_MEMLIMIT + 1},
    };
    uint8_t ck[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(proto_auth_params_check(&bad[i]), -EPROTO);
        assert_int_equal(proto_auth_derive("pw", &bad[i], ck, sk), -EPROTO);
    }
    const proto_auth_params dflt = {.opslimit = PROTO_AUTH_DEFAULT_OPSLIMIT,
                                    .memlimit = PROTO_AUTH_DEFAULT_MEMLIMIT};
    assert_int_equal(proto_auth_params_check(&dflt), 0);
}

static void derive_depends_on_password_and_salt(void **state)
{
    (void)state;
    proto_auth_params p1 = small_params(1), p2 = small_params(2);
    uint8_t a[32], b[32], c[32], d[32], sk[32];
    assert_int_equal(proto_auth_derive("pw", &p1, a, sk), 0);
    assert_int_equal(proto_auth_derive("pw", &p1, b, sk), 0);
    assert_int_equal(proto_auth_derive("pw", &p2, c, sk), 0);
    assert_int_equal(proto_auth_derive("pW", &p1, d, sk), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    assert_memory_not_equal(a, d, 32);
    assert_memory_not_equal(a, sk, 32); /* client and server keys differ */
}

static void message_build_refuses_empty_and_overlong_user(void **state)
{
    (void)state;
    char longest[PROTO_AUTH_USER_MAX + 2];
    memset(longest, 'u', sizeof longest);
    longest[PROTO_AUTH_USER_MAX] = '\0';
    proto_auth_params p = small_params(0);
    uint8_t n[PROTO_AUTH_NONCE_BYTES] = {0}, cb[PROTO_AUTH_CBIND_MAX + 1] = {0};
    proto_auth_message am;
    assert_int_equal(proto_auth_message_build(&am, longest, n, n, &p, cb,
                                              PROTO_AUTH_CBIND_MAX),
                     0);
    assert_int_equal(am.len, PROTO_AUTH_MESSAGE_MAX);
    assert_int_equal(proto_auth_message_build(&am, "u", n, n, &p, cb,
                                              PROTO_AUTH_CBIND_MAX + 1),
                     -EINVAL);
    assert_int_equal(proto_auth_message_build(&am, "u", n, n, &p, cb, 0),
                     -EINVAL);
    longest[PROTO_AUTH_USER_MAX] = 'u';
    longest[PROTO_AUTH_USER_MAX + 1] = '\0';
    assert_int_equal(proto_auth_message_build(&am, longest, n, n, &p, cb, 32),
                     -EINVAL);
    assert_int_equal(proto_auth_message_build(&am, "", n, n, &p, cb, 32),
                     -EINVAL);
}

/* Send a request from one end and return what the other end received. */
static json_t *relay(proto_io *from, proto_io *to, json_t *msg)
{
    assert_non_null(msg);
    assert_int_equal(proto_send(from, msg), 0);
    json_decref(msg);
    json_t *in;
    assert_int_equal(proto_recv(to, &in), 0);
    return in;
}

static void login_exchange_over_frames_authenticates(void **state)
{
    /* docs/protocol.md, "Login", message by message. */
    struct tu_conn *c = *state;
    proto_io *cli = &c->a, *srv = &c->b;
    struct account acct = make_account("s3cret");

    uint8_t cnonce[PROTO_AUTH_NONCE_BYTES];
    randombytes_buf(cnonce, sizeof cnonce);
    json_t *req = json_pack("{s:s, s:s}", "cmd", "auth", "user", "alice");
    assert_int_equal(proto_set_b64(req, "cnonce", cnonce, sizeof cnonce), 0);
    req = relay(cli, srv, req);

    /* Server: challenge. */
    const char *user;
    uint8_t s_cnonce[PROTO_AUTH_NONCE_BYTES], snonce[PROTO_AUTH_NONCE_BYTES];
    assert_int_equal(proto_get_str(req, "user", &user), 0);
    assert_int_equal(proto_get_b64(req, "cnonce", s_cnonce, 32), 0);
    randombytes_buf(snonce, sizeof snonce);
    proto_auth_message s_am;
    assert_int_equal(proto_auth_message_build(&s_am, user, s_cnonce, snonce,
                                              &acct.p, CBIND, sizeof CBIND),
                     0);
    json_decref(req);
    json_t *ch = json_pack("{s:b, s:I, s:I}", "ok", 1, "opslimit",
                           (json_int_t)acct.p.opslimit, "memlimit",
                           (json_int_t)acct.p.memlimit);
    assert_int_equal(proto_set_b64(ch, "salt", acct.p.salt, 16), 0);
    assert_int_equal(proto_set_b64(ch, "snonce", snonce, 32), 0);
    ch = relay(srv, cli, ch);

    /* Client: check the costs, derive, prove. */
    proto_auth_params p;
    uint8_t c_snonce[PROTO_AUTH_NONCE_BYTES];
    assert_int_equal(proto_reply_check(ch, NULL, NULL), 0);
    assert_int_equal(proto_get_b64(ch, "salt", p.salt, 16), 0);
    assert_int_equal(proto_get_u64(ch, "opslimit", &p.opslimit), 0);
    assert_int_equal(proto_get_u64(ch, "memlimit", &p.memlimit), 0);
    assert_int_equal(proto_get_b64(ch, "snonce", c_snonce, 32), 0);
    json_decref(ch);
    proto_auth_message c_am;
    assert_int_equal(proto_auth_message_build(&c_am, "alice", cnonce, c_snonce,
                                              &p, CBIND, sizeof CBIND),
                     0);
    uint8_t proof[32], server_key[32];
    client_prove("s3cret", &p, &c_am, proof, server_key);
    json_t *pr = json_pack("{s:s}", "cmd", "auth_proof");
    assert_int_equal(proto_set_b64(pr, "proof", proof, 32), 0);
    pr = relay(cli, srv, pr);

    /* Server: verify, sign. */
    uint8_t s_proof[32], sig[32];
    assert_int_equal(proto_get_b64(pr, "proof", s_proof, 32), 0);
    json_decref(pr);
    assert_int_equal(proto_auth_server_verify(acct.stored_key, &s_am, s_proof),
                     0);
    proto_auth_server_signature(acct.server_key, &s_am, sig);
    json_t *ok = json_pack("{s:s}", "home", "/");
    assert_int_equal(proto_set_b64(ok, "server_signature", sig, 32), 0);
    assert_int_equal(proto_send_ok(srv, ok), 0);
    json_decref(ok);

    /* Client: the server must prove itself before anything else is sent. */
    json_t *done;
    uint8_t c_sig[32];
    assert_int_equal(proto_recv(cli, &done), 0);
    assert_int_equal(proto_reply_check(done, NULL, NULL), 0);
    assert_int_equal(proto_get_b64(done, "server_signature", c_sig, 32), 0);
    assert_int_equal(proto_auth_client_check_server(server_key, &c_am, c_sig),
                     0);
    json_decref(done);
}

int main(void)
{
    assert_int_equal(proto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(correct_password_authenticates),
        cmocka_unit_test(wrong_password_fails),
        cmocka_unit_test(tampered_auth_message_fails),
        cmocka_unit_test(proof_for_another_challenge_fails),
        cmocka_unit_test(client_accepts_only_the_real_server_signature),
        cmocka_unit_test(fake_salt_is_stable_per_name_and_differs_across_names),
        cmocka_unit_test(unknown_user_fails_the_full_proof_check),
        cmocka_unit_test(auth_message_matches_known_answer),
        cmocka_unit_test(proof_and_signature_match_known_answer),
        cmocka_unit_test(derive_matches_the_documented_argon2id_vector),
        cmocka_unit_test(derive_refuses_costs_outside_client_bounds),
        cmocka_unit_test(derive_depends_on_password_and_salt),
        cmocka_unit_test(message_build_refuses_empty_and_overlong_user),
        cmocka_unit_test_setup_teardown(
            login_exchange_over_frames_authenticates, tu_conn_setup,
            tu_conn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
