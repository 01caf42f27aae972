/* keycache.c -- remember derived login keys per (user, password, params). */
#include "keycache.h"

#include <stdbool.h>
#include <string.h>

/* A handful is plenty: one process rarely logs in as more than one user. */
#define KEYCACHE_SLOTS 8

struct keycache_entry {
    bool used;
    uint8_t id[32]; /* BLAKE2b of user, password and params */
    uint8_t client_key[PROTO_AUTH_KEY_BYTES];
    uint8_t server_key[PROTO_AUTH_KEY_BYTES];
};

static struct keycache_entry cache[KEYCACHE_SLOTS];
static unsigned next_slot;
static unsigned misses;

/* Length-prefixed fields, so ("ab","c") and ("a","bc") hash differently. */
static void id_add(crypto_generichash_state *st, const void *buf, size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    crypto_generichash_update(st, len, sizeof len);
    crypto_generichash_update(st, buf, n);
}

static void entry_id(const char *user, const char *password,
                     const proto_auth_params *p, uint8_t id[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    id_add(&st, user, strlen(user));
    id_add(&st, password, strlen(password));
    id_add(&st, p->salt, sizeof p->salt);
    id_add(&st, &p->opslimit, sizeof p->opslimit);
    id_add(&st, &p->memlimit, sizeof p->memlimit);
    crypto_generichash_final(&st, id, 32);
    sodium_memzero(&st, sizeof st);
}

int keycache_derive(const char *user, const char *password,
                    const proto_auth_params *p,
                    uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                    uint8_t server_key[PROTO_AUTH_KEY_BYTES])
{
    int r = proto_auth_params_check(p);
    if (r)
        return r;
    uint8_t id[32];
    entry_id(user, password, p, id);
    for (unsigned i = 0; i < KEYCACHE_SLOTS; i++) {
        if (cache[i].used && sodium_memcmp(cache[i].id, id, sizeof id) == 0) {
            memcpy(client_key, cache[i].client_key, PROTO_AUTH_KEY_BYTES);
            memcpy(server_key, cache[i].server_key, PROTO_AUTH_KEY_BYTES);
            return 0;
        }
    }
    misses++;
    r = proto_auth_derive(password, p, client_key, server_key);
    if (r)
        return r;
    struct keycache_entry *e = &cache[next_slot];
    next_slot = (next_slot + 1) % KEYCACHE_SLOTS;
    e->used = true;
    memcpy(e->id, id, sizeof id);
    memcpy(e->client_key, client_key, PROTO_AUTH_KEY_BYTES);
    memcpy(e->server_key, server_key, PROTO_AUTH_KEY_BYTES);
    return 0;
}

unsigned keycache_misses(void)
{
    return misses;
}

void keycache_clear(void)
{
    sodium_memzero(cache, sizeof cache);
    next_slot = 0;
}
