/* backoff.c -- the shared table of failed logins (see backoff.h). */
#include "backoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Key: "u:" + user name or "a:" + address. */
#define KEY_MAX 96

struct slot {
    char key[KEY_MAX];
    unsigned failures;
    time_t last;
};

struct backoff {
    pthread_mutex_t lock;
    struct slot slots[BACKOFF_SLOTS];
};

int backoff_create(struct backoff **out)
{
    struct backoff *b = calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    *out = b;
    return 0;
}

void backoff_destroy(struct backoff *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* The slot of key, or a free/forgotten/least recently used one taken over
 * for it.  Called with the lock held. */
static struct slot *slot_for(struct backoff *b, const char *key, time_t now)
{
    struct slot *victim = &b->slots[0];
    for (size_t i = 0; i < BACKOFF_SLOTS; i++) {
        struct slot *sl = &b->slots[i];
        if (sl->key[0] != '\0' && strcmp(sl->key, key) == 0) {
            if (now - sl->last > BACKOFF_FORGET_S)
                sl->failures = 0;
            return sl;
        }
        if (sl->key[0] == '\0' || sl->last < victim->last)
            victim = sl;
    }
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->failures = 0;
    return victim;
}

static unsigned delay_ms(unsigned failures)
{
    unsigned ms = 100;
    for (unsigned i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

int backoff_fail(struct backoff *b, const char *user, const char *host)
{
    char ukey[KEY_MAX], akey[KEY_MAX];
    snprintf(ukey, sizeof ukey, "u:%s", user);
    snprintf(akey, sizeof akey, "a:%s", host);
    time_t now = now_s();
    pthread_mutex_lock(&b->lock);
    struct slot *u = slot_for(b, ukey, now);
    u->failures++;
    u->last = now;
    unsigned fu = u->failures;
    struct slot *a = slot_for(b, akey, now);
    a->failures++;
    a->last = now;
    unsigned fa = a->failures;
    pthread_mutex_unlock(&b->lock);
    return (int)delay_ms(fu > fa ? fu : fa);
}

void backoff_success(struct backoff *b, const char *user)
{
    char ukey[KEY_MAX];
    snprintf(ukey, sizeof ukey, "u:%s", user);
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < BACKOFF_SLOTS; i++) {
        if (strcmp(b->slots[i].key, ukey) == 0) {
            b->slots[i].key[0] = '\0';
            b->slots[i].failures = 0;
        }
    }
    pthread_mutex_unlock(&b->lock);
}
