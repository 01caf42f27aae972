/* limits.c -- admission control: total and per-address connection counts. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "proxyproto.h"

#define NBUCKETS 256

/* One entry per client address with connections open (port ignored). */
struct ss_addr_entry {
    struct ss_addr_entry *next;
    unsigned count;
    uint8_t key[16];
};

/* A token to say "counted, no per-address entry" in conn->priv_. */
static char counted_token;

int ss__limits_init(ss_server *s)
{
    if (pthread_mutex_init(&s->lim.mu, NULL) != 0)
        return -ENOMEM;
    if (s->cfg.max_per_address > 0) {
        s->lim.buckets = calloc(NBUCKETS, sizeof *s->lim.buckets);
        if (!s->lim.buckets)
            return -ENOMEM;
    }
    return 0;
}

void ss__limits_destroy(ss_server *s)
{
    if (s->lim.buckets) {
        for (size_t i = 0; i < NBUCKETS; i++) {
            struct ss_addr_entry *e = s->lim.buckets[i], *n;
            for (; e; e = n) {
                n = e->next;
                free(e);
            }
        }
        free(s->lim.buckets);
    }
    pthread_mutex_destroy(&s->lim.mu);
}

/* IPv4-mapped IPv6 and plain IPv4 are the same client: keyed alike
 * (ss__addr_key).  Unix peers are all "the same address": no limit. */
static bool addr_key(const ss_conn *c, uint8_t key[16])
{
    return ss__addr_key((const struct sockaddr *)&c->addr, key);
}

static size_t hash_key(const uint8_t key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % NBUCKETS;
}

/* Checks come before any allocation; the per-address entry is only made
 * once the connection has passed every limit. */
int ss__admit(ss_server *s, ss_conn *conn)
{
    conn->priv_ = NULL;
    if (!ss__is_stream(s))
        return 0;
    uint8_t key[16];
    bool keyed = s->lim.buckets && addr_key(conn, key);
    int rc = 0;
    pthread_mutex_lock(&s->lim.mu);
    if (s->cfg.max_connections && s->lim.active >= s->cfg.max_connections) {
        rc = -EUSERS;
        goto out;
    }
    if (keyed) {
        size_t b = hash_key(key);
        struct ss_addr_entry *e = s->lim.buckets[b];
        while (e && memcmp(e->key, key, 16) != 0)
            e = e->next;
        if (e && e->count >= s->cfg.max_per_address) {
            rc = -EMLINK;
            goto out;
        }
        if (!e) {
            e = calloc(1, sizeof *e);
            if (!e) {
                rc = -ENOMEM;
                goto out;
            }
            memcpy(e->key, key, 16);
            e->next = s->lim.buckets[b];
            s->lim.buckets[b] = e;
        }
        e->count++;
        conn->priv_ = e;
    } else {
        conn->priv_ = &counted_token;
    }
    s->lim.active++;
out:
    pthread_mutex_unlock(&s->lim.mu);
    return rc;
}

void ss__release(ss_server *s, ss_conn *conn)
{
    if (!conn->priv_)
        return;
    pthread_mutex_lock(&s->lim.mu);
    if (conn->priv_ != &counted_token) {
        struct ss_addr_entry *e = conn->priv_;
        if (--e->count == 0) {
            struct ss_addr_entry **pp = &s->lim.buckets[hash_key(e->key)];
            while (*pp != e)
                pp = &(*pp)->next;
            *pp = e->next;
            free(e);
        }
    }
    s->lim.active--;
    pthread_mutex_unlock(&s->lim.mu);
    conn->priv_ = NULL;
    /* A descriptor came free: let a loop paused on EMFILE try again now. */
    if (atomic_load(&s->accept_paused))
        ss__wake(s);
}

unsigned ss__active(ss_server *s)
{
    pthread_mutex_lock(&s->lim.mu);
    unsigned n = s->lim.active;
    pthread_mutex_unlock(&s->lim.mu);
    return n;
}
