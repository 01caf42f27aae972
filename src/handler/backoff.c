/* backoff.c -- the shared table of login budgets and failures (see backoff.h). */
#include "backoff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "log.h"
#include "sysutil.h"

/* Key: "u:" + user name (at most 64 bytes) or "a:" + numeric address. */
#define KEY_MAX 96

struct slot {
    uint64_t hash; /* of key; 0: the slot is free */
    char key[KEY_MAX];
    double tokens;     /* the bucket at `stamp` */
    double stamp;      /* when tokens was last brought up to date */
    unsigned failures; /* for the reply delay */
    double last;       /* last use: least recently used goes first */
};

/* What every process maps. */
struct table {
    pthread_mutex_t lock;
    struct slot slots[BACKOFF_SLOTS];
};

struct backoff {
    struct table *t;
    backoff_clock now;
};

static int init_lock(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc != 0)
        return -rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

int backoff_create(struct backoff **out)
{
    *out = NULL;
    struct backoff *b = calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    /* Shared even with threads only: one code path, and a fork later (the
     * process isolation) finds the table already shared.  Anonymous pages
     * come zeroed: every slot free. */
    void *m = mmap(NULL, sizeof *b->t, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        int err = -errno;
        free(b);
        return err;
    }
    b->t = m;
    b->now = proto_mono_s;
    int rc = init_lock(&b->t->lock);
    if (rc != 0) {
        munmap(m, sizeof *b->t);
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void backoff_destroy(struct backoff *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->t->lock);
    if (munmap(b->t, sizeof *b->t) != 0)
        log_msg(LOG_LEVEL_ERROR, "munmap of the login table: %s",
                strerror(errno));
    free(b);
}

void backoff_set_clock(struct backoff *b, backoff_clock now)
{
    b->now = now != NULL ? now : proto_mono_s;
}

/* Locks the table.  A process that died holding the lock (a session child
 * killed mid-update) leaves it EOWNERDEAD: every update below writes a
 * slot's key before the hash that makes it findable, so a torn update costs
 * at most one slot's figures, and the table is marked consistent and used. */
static int lock(struct backoff *b)
{
    int rc = pthread_mutex_lock(&b->t->lock);
    if (rc == EOWNERDEAD) {
        log_msg(LOG_LEVEL_WARNING, "a session died holding the login table "
                                   "lock; recovered it");
        rc = pthread_mutex_consistent(&b->t->lock);
    }
    return -rc;
}

static void unlock(struct backoff *b)
{
    int rc = pthread_mutex_unlock(&b->t->lock);
    if (rc != 0) /* only if we did not hold it: a bug, not a runtime state */
        abort();
}

static uint64_t hash_key(const char *key)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h != 0 ? h : 1; /* 0 marks a free slot */
}

/* The bucket brought up to now. */
static double tokens_at(const struct slot *sl, double now)
{
    double t = sl->tokens + (now - sl->stamp) / BACKOFF_REFILL_S;
    return t < BACKOFF_BURST ? t : BACKOFF_BURST;
}

/* The slot of key, or NULL. */
static struct slot *find(struct table *t, const char *key, uint64_t h)
{
    for (size_t i = 0; i < BACKOFF_SLOTS; i++) {
        struct slot *sl = &t->slots[i];
        if (sl->hash == h && strcmp(sl->key, key) == 0)
            return sl;
    }
    return NULL;
}

/* A slot for a new key: a free one, else the one with the most tokens, the
 * least recently used among equals.  Forgetting a full bucket loses nothing;
 * forgetting an empty one would hand an attacker a fresh budget, so it goes
 * only when the whole table is as empty -- and keeping the table so costs
 * the attacker a failure per slot per BACKOFF_REFILL_S, each paid from his
 * own budgets, which is the guessing rate the budget allows anyway. */
static struct slot *evict(struct table *t, double now, const struct slot *keep)
{
    struct slot *victim = NULL;
    double best = 0.0;
    for (size_t i = 0; i < BACKOFF_SLOTS; i++) {
        struct slot *sl = &t->slots[i];
        if (sl->hash == 0)
            return sl;
        if (sl == keep)
            continue;
        /* Tokens go below zero (a debt), so the first slot seen is the
         * first candidate whatever it holds. */
        double tk = tokens_at(sl, now);
        if (victim == NULL || tk > best ||
            (tk == best && sl->last < victim->last)) {
            best = tk;
            victim = sl;
        }
    }
    /* Never NULL: the table has more than one slot, and only one is kept. */
    return victim != NULL ? victim : &t->slots[keep == &t->slots[0]];
}

/* The slot of key, made (full, no failures) if absent without taking keep's
 * (the other key of the same login). */
static struct slot *slot_for(struct table *t, const char *key, double now,
                             const struct slot *keep)
{
    uint64_t h = hash_key(key);
    struct slot *sl = find(t, key, h);
    if (sl != NULL)
        return sl;
    sl = evict(t, now, keep);
    sl->hash = 0; /* torn by a crash: lost, never half-found */
    snprintf(sl->key, sizeof sl->key, "%s", key);
    sl->tokens = BACKOFF_BURST;
    sl->stamp = now;
    sl->failures = 0;
    sl->last = now;
    sl->hash = h;
    return sl;
}

/* "a:" + host, an IPv6 address cut to its /64 (a host gets a whole /64, so
 * a budget per full address would be 2^64 budgets). */
static void address_key(const char *host, char key[KEY_MAX])
{
    struct in6_addr a;
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, host, &a) == 1 && !IN6_IS_ADDR_V4MAPPED(&a)) {
        memset(a.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a, text, sizeof text) != NULL) {
            snprintf(key, KEY_MAX, "a:%s/64", text);
            return;
        }
    }
    snprintf(key, KEY_MAX, "a:%s", host);
}

static void user_key(const char *user, char key[KEY_MAX])
{
    snprintf(key, KEY_MAX, "u:%s", user);
}

/* Whole seconds until sl has a token again (0: it has one now). */
static unsigned wait_s(const struct slot *sl, double now)
{
    double tk = sl != NULL ? tokens_at(sl, now) : BACKOFF_BURST;
    if (tk >= 1.0)
        return 0;
    double s = (1.0 - tk) * BACKOFF_REFILL_S;
    if (s > 86400.0) /* debt is bounded by logins in flight; be safe */
        s = 86400.0;
    unsigned whole = (unsigned)s;
    if ((double)whole < s) /* round up: "retry after" must not be early */
        whole++;
    return whole < 1 ? 1 : whole;
}

/* Spends a token, into debt if need be: failures that were admitted
 * together (parallel connections, each past the check before any failed)
 * are all paid back before the next try. */
static void take(struct slot *sl, double now)
{
    sl->tokens = tokens_at(sl, now) - 1.0;
    sl->stamp = now;
    sl->last = now;
}

int backoff_check(struct backoff *b, const char *user, const char *host,
                  unsigned *retry_after_s)
{
    char ukey[KEY_MAX], akey[KEY_MAX];
    user_key(user, ukey);
    address_key(host, akey);
    *retry_after_s = 0;
    int rc = lock(b);
    if (rc != 0)
        return rc;
    double now = b->now();
    /* Only looks: a refused or admitted auth makes no slot, evicts no one. */
    unsigned wu = wait_s(find(b->t, ukey, hash_key(ukey)), now);
    unsigned wa = wait_s(find(b->t, akey, hash_key(akey)), now);
    unlock(b);
    *retry_after_s = wu > wa ? wu : wa;
    return *retry_after_s > 0 ? -EBUSY : 0;
}

static unsigned delay_ms(unsigned failures)
{
    unsigned ms = 100;
    for (unsigned i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* One more failure on key's slot: a token spent and the count for the
 * delay.  Returns the count. */
static unsigned count_failure(struct table *t, const char *key, double now,
                              const struct slot *keep, struct slot **out)
{
    struct slot *sl = slot_for(t, key, now, keep);
    *out = sl;
    if (now - sl->last > BACKOFF_FORGET_S)
        sl->failures = 0;
    sl->failures++;
    take(sl, now);
    return sl->failures;
}

int backoff_fail(struct backoff *b, const char *user, const char *host)
{
    char ukey[KEY_MAX], akey[KEY_MAX];
    user_key(user, ukey);
    address_key(host, akey);
    /* A broken lock still delays the reply the longest. */
    if (lock(b) != 0)
        return BACKOFF_MAX_MS;
    double now = b->now();
    struct slot *u, *a;
    unsigned fu = count_failure(b->t, ukey, now, NULL, &u);
    unsigned fa = count_failure(b->t, akey, now, u, &a);
    unlock(b);
    return (int)delay_ms(fu > fa ? fu : fa);
}

void backoff_success(struct backoff *b, const char *user)
{
    char ukey[KEY_MAX];
    user_key(user, ukey);
    if (lock(b) != 0)
        return;
    /* The budget stays as it is: a good login must not refill what an
     * attacker spent guessing this name from elsewhere. */
    struct slot *u = find(b->t, ukey, hash_key(ukey));
    if (u != NULL)
        u->failures = 0;
    unlock(b);
}
