/* session_login.c -- the SCRAM login of a session (docs/protocol.md,
 * "Login"): the challenge, the proof, the login budget and the backoff. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* busy, at once, with the seconds until the budget allows a try. */
static int refuse_auth(struct session *s, const char *user, unsigned retry)
{
    session_warn(s,
                 "auth of %s from %s refused: too many failed logins "
                 "(retry after %u s)",
                 user, s->host, retry);
    json_t *extra = json_pack("{s:I}", "retry_after", (json_int_t)retry);
    if (extra == NULL)
        return proto_send_error(&s->io, PROTO_E_INTERNAL, "out of memory");
    int rc = proto_send_error_with(&s->io, PROTO_E_BUSY, extra,
                                   "too many failed logins for this user "
                                   "name or from this address");
    json_decref(extra);
    return rc;
}

int session_auth(struct session *s, const json_t *req, struct session_login *l)
{
    struct session_challenge *ch = &l->ch;
    const char *user;
    uint8_t cnonce[PROTO_AUTH_NONCE_BYTES], snonce[PROTO_AUTH_NONCE_BYTES];
    size_t ulen;
    if (proto_get_str(req, "user", &user) != 0 || (ulen = strlen(user)) < 1 ||
        ulen > PROTO_AUTH_USER_MAX)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"user\" must be 1..%d bytes",
                                PROTO_AUTH_USER_MAX);
    if (proto_get_b64(req, "cnonce", cnonce, sizeof cnonce) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"cnonce\" must be %d bytes of base64",
                                PROTO_AUTH_NONCE_BYTES);
    sodium_memzero(ch, sizeof *ch);
    /* The login budget comes first and alone: a refusal costs no lookup and
     * no key work, and says nothing about whether the name exists. */
    unsigned retry;
    int rc = backoff_check(s->srv->backoff, user, s->host, &retry);
    if (rc == -EBUSY)
        return refuse_auth(s, user, retry);
    if (rc != 0) {
        session_log(s, "login table: %s", strerror(-rc));
        return proto_send_error(&s->io, PROTO_E_INTERNAL,
                                "cannot check the login budget");
    }
    memcpy(ch->user, user, ulen + 1);
    struct userdb_record rec;
    proto_auth_params p;
    rc = userdb_lookup(s->srv->db, user, &rec);
    if (rc != 0 && rc != -ENOENT)
        session_log(s, "user lookup of %s failed: %s", user, strerror(-rc));
    /* Known and unknown names do the same work: the decoy salt and key are
     * made for every name, and a real user's replace them.  The costs are
     * a real user's either way (userdb_lookup's decoy), so a server whose
     * users share one cost answers every name alike. */
    uint8_t secret[PROTO_AUTH_SECRET_BYTES], fake_salt[PROTO_AUTH_SALT_BYTES],
        fake_key[PROTO_AUTH_KEY_BYTES];
    userdb_secret(s->srv->db, secret);
    proto_auth_fake_salt(secret, user, fake_salt);
    proto_auth_fake_stored_key(secret, user, fake_key);
    sodium_memzero(secret, sizeof secret);
    p = rec.cred.params;
    ch->real = rc == 0;
    if (!ch->real) {
        memcpy(p.salt, fake_salt, sizeof fake_salt);
        memcpy(ch->stored_key, fake_key, PROTO_AUTH_KEY_BYTES);
    } else {
        memcpy(ch->stored_key, rec.cred.stored_key, PROTO_AUTH_KEY_BYTES);
        memcpy(ch->server_key, rec.cred.server_key, PROTO_AUTH_KEY_BYTES);
    }
    sodium_memzero(fake_key, sizeof fake_key);
    sodium_memzero(&rec, sizeof rec);
    randombytes_buf(snonce, sizeof snonce);
    /* The proof must be made inside this TLS channel (tls.h). */
    if (proto_tls_cbind(&s->io, ch->cbind, &ch->cbind_len) != 0)
        return proto_send_error(&s->io, PROTO_E_INTERNAL, "no channel binding");
    if (proto_auth_message_build(&ch->am, user, cnonce, snonce, &p, ch->cbind,
                                 ch->cbind_len) != 0)
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST, "bad user name");
    ch->live = true;
    ch->issued = proto_mono_s();
    json_t *reply = json_pack("{s:I, s:I}", "opslimit", (json_int_t)p.opslimit,
                              "memlimit", (json_int_t)p.memlimit);
    if (reply == NULL || proto_set_b64(reply, "salt", p.salt, 16) != 0 ||
        proto_set_b64(reply, "snonce", snonce, 32) != 0) {
        json_decref(reply);
        return proto_send_error(&s->io, PROTO_E_INTERNAL, "out of memory");
    }
    rc = proto_send_ok(&s->io, reply);
    json_decref(reply);
    return rc;
}

/* What opening the account did to the home, when it did anything. */
static void log_account(const struct session *s, const char *user,
                        const struct quota_opened *ev)
{
    const struct jail_sweep *sw = &ev->sweep;
    if (ev->deferred)
        session_log(s,
                    "quota of %s in doubt; counted when no other process "
                    "has it open",
                    user);
    if (ev->counted && ev->count_err != 0)
        session_log(s, "counting the home of %s: %s (the rest is counted)",
                    user, strerror(-ev->count_err));
    if (sw->commit_leftovers.entries != 0)
        session_log(s,
                    "swept %llu leftover(s) of cut commits from the home "
                    "of %s (%llu bytes)",
                    (unsigned long long)sw->commit_leftovers.entries, user,
                    (unsigned long long)sw->commit_leftovers.bytes);
    if (sw->old_partials.entries != 0)
        session_log(s,
                    "swept %llu partial upload(s) unwritten for %lld s "
                    "or more from the home of %s (%llu bytes)",
                    (unsigned long long)sw->old_partials.entries,
                    (long long)sw->partial_max_age_s, user,
                    (unsigned long long)sw->old_partials.bytes);
}

/* After a good proof: the user's file service (home and quota account). */
static int open_home(struct session *s, const char *user)
{
    struct quota_opened ev;
    int rc = files_open(s->srv->db, s->srv->quotas, user, &s->files, &ev);
    if (rc == 0)
        log_account(s, user, &ev);
    return rc;
}

int session_auth_proof(struct session *s, const json_t *req,
                       struct session_login *l)
{
    struct session_challenge *ch = &l->ch;
    uint8_t proof[PROTO_AUTH_KEY_BYTES];
    bool have_proof = proto_get_b64(req, "proof", proof, sizeof proof) == 0;
    bool had = ch->live;
    ch->live = false; /* one use, whatever the outcome */
    if (!have_proof) {
        sodium_memzero(ch, sizeof *ch);
        return proto_send_error(&s->io, PROTO_E_BAD_REQUEST,
                                "\"proof\" must be %d bytes of base64",
                                PROTO_AUTH_KEY_BYTES);
    }
    /* The client's view of the channel, when it sends it: another one
     * means a TLS relay between it and us (its proof fails below either
     * way; this is only to say why). */
    uint8_t theirs[PROTO_AUTH_CBIND_MAX];
    bool relayed = had && proto_has(req, "cbind") &&
                   (proto_get_b64(req, "cbind", theirs, ch->cbind_len) != 0 ||
                    sodium_memcmp(theirs, ch->cbind, ch->cbind_len) != 0);
    const char *why = NULL;
    if (!had)
        why = "no challenge";
    else if (relayed)
        why = "channel binding mismatch: the client's TLS channel ends "
              "somewhere else (a TLS-terminating relay in between?)";
    else if (proto_mono_s() - ch->issued > PROTO_AUTH_CHALLENGE_TTL_S)
        why = "challenge expired";
    else if (proto_auth_server_verify(ch->stored_key, &ch->am, proof) != 0 ||
             !ch->real)
        why = ch->real ? "wrong password" : "unknown user";
    if (why == NULL) {
        int rc = open_home(s, ch->user);
        if (rc != 0) {
            session_log(s, "login of %s: cannot open home: %s", ch->user,
                        strerror(-rc));
            sodium_memzero(ch, sizeof *ch);
            session_fail(s, rc, "cannot open your home directory");
            return rc;
        }
        uint8_t sig[PROTO_AUTH_KEY_BYTES];
        proto_auth_server_signature(ch->server_key, &ch->am, sig);
        snprintf(s->user, sizeof s->user, "%s", ch->user);
        sodium_memzero(ch, sizeof *ch);
        s->io.deadline_ms = 0; /* logged in: the login deadline is over */
        (void)ss_request_set_deadline(s->req, 0);
        backoff_success(s->srv->backoff, s->user);
        session_log(s, "login ok");
        json_t *reply = json_pack("{s:s}", "home", "/");
        rc = reply == NULL ? -ENOMEM
                           : proto_set_b64(reply, "server_signature", sig, 32);
        if (rc == 0)
            rc = proto_send_ok(&s->io, reply);
        json_decref(reply);
        return rc;
    }
    l->failures++;
    int delay = backoff_fail(s->srv->backoff, had ? ch->user : "-", s->host);
    session_warn(s,
                 "login failed for %s from %s: %s (failure %d, reply "
                 "delayed %d ms)",
                 had ? ch->user : "-", s->host, why, l->failures, delay);
    sodium_memzero(ch, sizeof *ch);
    /* Hold back the reply, not the worker for long: at most BACKOFF_MAX_MS. */
    proto_sleep_ms(delay);
    int rc = proto_send_error(&s->io, PROTO_E_AUTH_FAILED, "login failed");
    if (rc == 0 && l->failures >= PROTO_AUTH_MAX_FAILURES)
        rc = -EACCES;
    return rc;
}
