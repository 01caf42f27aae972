/* quota.c -- the registry of per-user accounts, their limits and counts. */
#include "quota.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"

struct quota {
    struct quota_registry *reg;
    struct quota *next; /* registry list; reg->mu */
    unsigned refs;      /* reg->mu */
    pthread_mutex_t mu; /* guards the ledger handle (one open file: its
                           locks do not exclude our own threads) */
    bool open;          /* the ledger is open (the first acquire opens it) */
    bool lost;          /* a change could not be written: the counts are
                           in doubt until the home is counted again */
    struct ledger *ledger;
    char name[USERDB_NAME_MAX + 1];
};

struct quota_registry {
    pthread_mutex_t mu;
    struct quota *head;
    struct userdb *db;
    struct quota_config cfg;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

int quota_registry_create(struct userdb *db, const struct quota_config *cfg,
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
    r->cfg = *cfg;
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
        ledger_close(q->ledger);
        pthread_mutex_destroy(&q->mu);
        free(q);
    }
}

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* Between ledger_begin and ledger_end, with no other process on the
 * account: counts the home (sweeping as configured) into *st. */
static void count_home(struct quota *q, const struct jail *j,
                       struct ledger_state *st, struct quota_opened *ev)
{
    ev->sweep =
        (struct jail_sweep){.partial_max_age_s = q->reg->cfg.partial_max_age_s};
    struct jail_count total;
    ev->count_err = jail_usage(j, &total, &ev->sweep);
    ev->counted = true;
    st->bytes = total.bytes;
    st->entries = total.entries;
    st->counted = now_s();
    /* An error is logged by the caller; counting again at every login would
     * not mend it (a tree deeper than any user path, say).  "ssftpd user
     * rescan" does it on demand. */
    st->dirty = false;
}

static bool sweep_due(const struct quota_registry *r,
                      const struct ledger_state *st)
{
    int64_t every = r->cfg.partial_max_age_s, now = now_s();
    if (every < 0)
        return false;
    if (every > QUOTA_SWEEP_INTERVAL_S)
        every = QUOTA_SWEEP_INTERVAL_S;
    /* A time from the file is checked before any arithmetic: one from the
     * future (a host whose clock was ahead) must not postpone sweeps. */
    return st->counted <= 0 || st->counted > now || now - st->counted >= every;
}

/* ledger_begin(), marking the counts dirty if an earlier change of ours
 * was lost.  Under q->mu. */
static int q_begin(struct quota *q, struct ledger_state *st)
{
    int rc = ledger_begin(q->ledger, st);
    if (rc == 0 && q->lost)
        st->dirty = true;
    return rc;
}

/* ledger_end(), writing st if it changed (or if a lost change must be
 * marked).  A failure to write marks the counts lost, to be made dirty at
 * the next chance. */
static int q_end(struct quota *q, struct ledger_state *st, bool changed)
{
    bool write = changed || q->lost;
    int rc = ledger_end(q->ledger, write ? st : NULL);
    if (write)
        q->lost = rc != 0;
    return rc;
}

/* Opens q's ledger if this is its first use here, then counts if due (or
 * forced).  Under q->mu. */
static int account_open(struct quota *q, const struct jail *j, bool force,
                        struct quota_opened *ev)
{
    unsigned others = 0;
    int rc = 0;
    if (q->open && !force)
        return 0;
    if (!q->open) {
        int fd;
        rc = userdb_ledger_open(q->reg->db, q->name, &fd);
        if (rc == 0)
            rc = ledger_open(fd, &q->ledger);
        if (rc != 0)
            return rc;
    }
    struct ledger_state st;
    rc = q_begin(q, &st);
    if (rc != 0)
        goto unopened;
    /* One locked section: who else is on the account is known exactly when
     * our slot is taken and the home perhaps counted (a process that came
     * between two sections might be uploading already). */
    rc = ledger_reap(q->ledger, &st, &others);
    if (rc == 0)
        rc = ledger_claim(q->ledger);
    if (rc != 0 && !q->open) {
        (void)q_end(q, &st, true); /* what the reap took back */
        goto unopened;
    }
    q->open = true;
    if (force)
        st.dirty = true;
    if (rc == 0 && (st.dirty || sweep_due(q->reg, &st))) {
        /* Our own other sessions (force: an admin process has none) are
         * not others: acquire counts only before the first of them. */
        if (others == 0)
            count_home(q, j, &st, ev);
        else
            ev->deferred = st.dirty;
    }
    /* The reap may have changed the counts even when rc is an error. */
    int end = q_end(q, &st, true);
    return rc != 0 ? rc : end;
unopened:
    if (!q->open) { /* a later session of the user tries afresh */
        ledger_close(q->ledger);
        q->ledger = NULL;
    }
    return rc;
}

int quota_acquire(struct quota_registry *r, const char *name,
                  const struct jail *j, struct quota **out,
                  struct quota_opened *ev)
{
    struct quota_opened unused;
    if (ev == NULL)
        ev = &unused;
    *ev = (struct quota_opened){0};
    struct quota *q;
    int rc = account_ref(r, name, &q);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    rc = account_open(q, j, false, ev);
    pthread_mutex_unlock(&q->mu);
    if (rc != 0) {
        quota_drop(q);
        return rc;
    }
    *out = q;
    return 0;
}

int quota_rescan(struct quota_registry *r, const char *name,
                 const struct jail *j, struct quota_opened *ev)
{
    struct quota *q;
    int rc = quota_acquire(r, name, j, &q, ev);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    bool alone = q->refs == 1;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&q->mu);
    /* Our own sessions would count as nobody: only an account with no
     * session in this process may be counted on demand. */
    if (!ev->counted)
        rc = alone ? account_open(q, j, true, ev) : -EBUSY;
    pthread_mutex_unlock(&q->mu);
    quota_drop(q);
    return rc;
}

/* The limits of q's user: the record's, or the defaults. */
static int limits_of(struct quota *q, uint64_t *bytes, uint64_t *entries)
{
    struct userdb_record rec;
    int rc = userdb_lookup(q->reg->db, q->name, &rec);
    if (rc != 0)
        return rc == -ENOENT ? -EACCES : rc;
    *bytes = rec.quota != 0 ? rec.quota : q->reg->cfg.default_bytes;
    *entries = rec.max_files != 0 ? rec.max_files : q->reg->cfg.default_entries;
    return 0;
}

/* Whether have + n fits under limit; written so nothing can wrap, since the
 * total may already exceed a limit lowered since it was reached. */
static bool fits(uint64_t have, uint64_t n, uint64_t limit)
{
    return have <= limit && n <= limit - have;
}

/* Adds n bytes (promised) or entries to the ledger if they fit the limit;
 * a miss first takes back what dead processes promised, then looks again. */
static int take(struct quota *q, uint64_t n, bool entry)
{
    uint64_t lim_bytes, lim_entries;
    int rc = limits_of(q, &lim_bytes, &lim_entries);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    struct ledger_state st;
    rc = q_begin(q, &st);
    if (rc == 0) {
        bool ok = false, reaped = false;
        for (int pass = 0; rc == 0 && pass < 2 && !ok; pass++) {
            unsigned others;
            if (pass == 1) {
                rc = ledger_reap(q->ledger, &st, &others);
                reaped = true;
            }
            ok = entry ? fits(st.entries, n, lim_entries)
                       : fits(add_sat(st.bytes, st.reserved), n, lim_bytes);
        }
        ok = ok && rc == 0;
        if (ok && entry)
            st.entries += n;
        else if (ok)
            st.reserved += n;
        int end = q_end(q, &st, ok || reaped);
        rc = rc != 0 ? rc : end != 0 ? end : ok ? 0 : -EDQUOT;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int quota_reserve(struct quota *q, uint64_t n)
{
    return take(q, n, false);
}

int quota_take_entry(struct quota *q)
{
    return take(q, 1, true);
}

/* Applies a change to the counts that needs no check. */
static int adjust(struct quota *q, uint64_t unreserve, struct jail_count add,
                  struct jail_count gone)
{
    /* Nothing to change (an upload with nothing left reserved, a commit
     * that replaced nothing): no trip to the ledger. */
    if (unreserve == 0 && add.bytes == 0 && add.entries == 0 &&
        gone.bytes == 0 && gone.entries == 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    struct ledger_state st;
    int rc = q_begin(q, &st);
    if (rc == 0) {
        st.reserved = sub_floor(st.reserved, unreserve);
        st.bytes = sub_floor(add_sat(st.bytes, add.bytes), gone.bytes);
        st.entries = sub_floor(add_sat(st.entries, add.entries), gone.entries);
        rc = q_end(q, &st, true);
    } else {
        q->lost = true;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static const struct jail_count nothing;

int quota_commit(struct quota *q, uint64_t reserved, uint64_t written)
{
    return adjust(q, reserved, (struct jail_count){.bytes = written}, nothing);
}

int quota_release(struct quota *q, uint64_t reserved)
{
    return adjust(q, reserved, nothing, nothing);
}

int quota_count_entry(struct quota *q)
{
    return adjust(q, 0, (struct jail_count){.entries = 1}, nothing);
}

int quota_free(struct quota *q, struct jail_count gone)
{
    return adjust(q, 0, nothing, gone);
}

int quota_report(struct quota *q, struct quota_usage *u)
{
    int rc = limits_of(q, &u->limit, &u->entries_limit);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->mu);
    struct ledger_state st;
    rc = q_begin(q, &st);
    if (rc == 0) {
        u->used = st.bytes;
        u->reserved = st.reserved;
        u->entries = st.entries;
        rc = q_end(q, &st, false);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}
