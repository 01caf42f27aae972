/* quota.c -- the registry of per-user byte accounts and their arithmetic. */
#include "quota.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct quota {
    struct quota_registry *reg;
    struct quota *next; /* registry list; reg->mu */
    unsigned refs;      /* reg->mu */
    pthread_mutex_t mu; /* guards the rest */
    bool ready;         /* used has been computed by a walk */
    uint64_t used;
    uint64_t reserved;
    char name[USERDB_NAME_MAX + 1];
};

struct quota_registry {
    pthread_mutex_t mu;
    struct quota *head;
    struct userdb *db;
    uint64_t default_limit;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

int quota_registry_create(struct userdb *db, uint64_t default_limit,
                          struct quota_registry **out)
{
    struct quota_registry *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    int rc = pthread_mutex_init(&r->mu, NULL);
    if (rc != 0) {
        free(r);
        return -rc;
    }
    r->db = db;
    r->default_limit = default_limit;
    *out = r;
    return 0;
}

void quota_registry_destroy(struct quota_registry *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Finds or makes the account of name and takes a reference, under reg->mu. */
static int account_ref(struct quota_registry *r, const char *name,
                       struct quota **out)
{
    if (strlen(name) > USERDB_NAME_MAX)
        return -EINVAL;
    pthread_mutex_lock(&r->mu);
    struct quota *q = r->head;
    while (q != NULL && strcmp(q->name, name) != 0)
        q = q->next;
    int rc = 0;
    if (q == NULL) {
        q = calloc(1, sizeof *q);
        rc = q == NULL ? -ENOMEM : -pthread_mutex_init(&q->mu, NULL);
        if (rc == 0) {
            q->reg = r;
            strcpy(q->name, name);
            q->next = r->head;
            r->head = q;
        } else {
            free(q);
        }
    }
    if (rc == 0) {
        q->refs++;
        *out = q;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void quota_drop(struct quota *q)
{
    if (q == NULL)
        return;
    struct quota_registry *r = q->reg;
    pthread_mutex_lock(&r->mu);
    bool last = --q->refs == 0;
    if (last) {
        struct quota **pp = &r->head;
        while (*pp != q)
            pp = &(*pp)->next;
        *pp = q->next;
    }
    pthread_mutex_unlock(&r->mu);
    if (last) {
        pthread_mutex_destroy(&q->mu);
        free(q);
    }
}

int quota_acquire(struct quota_registry *r, const char *name,
                  const struct jail *j, struct quota **out)
{
    struct quota *q;
    int rc = account_ref(r, name, &q);
    if (rc != 0)
        return rc;
    /* The walk runs under the account's mutex: a second session of the
     * same user waits for it instead of walking too. */
    pthread_mutex_lock(&q->mu);
    if (!q->ready) {
        rc = jail_usage(j, &q->used);
        q->ready = rc == 0;
    }
    pthread_mutex_unlock(&q->mu);
    if (rc != 0) {
        quota_drop(q);
        return rc;
    }
    *out = q;
    return 0;
}

static int limit_of(struct quota *q, uint64_t *limit)
{
    struct userdb_record rec;
    int rc = userdb_lookup(q->reg->db, q->name, &rec);
    if (rc != 0)
        return rc == -ENOENT ? -EACCES : rc;
    *limit = rec.quota != 0 ? rec.quota : q->reg->default_limit;
    return 0;
}

int quota_reserve(struct quota *q, uint64_t n)
{
    uint64_t limit;
    int rc = limit_of(q, &limit);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    /* Written so nothing can wrap: the total may already exceed a limit
     * that was lowered since it was reached. */
    uint64_t total = add_sat(q->used, q->reserved);
    if (total > limit || n > limit - total)
        rc = -EDQUOT;
    else
        q->reserved += n;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void quota_commit(struct quota *q, uint64_t reserved, uint64_t written)
{
    pthread_mutex_lock(&q->mu);
    q->reserved = sub_floor(q->reserved, reserved);
    q->used = add_sat(q->used, written);
    pthread_mutex_unlock(&q->mu);
}

void quota_release(struct quota *q, uint64_t reserved)
{
    quota_commit(q, reserved, 0);
}

void quota_free(struct quota *q, uint64_t n)
{
    pthread_mutex_lock(&q->mu);
    q->used = sub_floor(q->used, n);
    pthread_mutex_unlock(&q->mu);
}

int quota_report(struct quota *q, struct quota_usage *u)
{
    int rc = limit_of(q, &u->limit);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    u->used = q->used;
    u->reserved = q->reserved;
    pthread_mutex_unlock(&q->mu);
    return 0;
}
