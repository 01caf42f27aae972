/* who.c -- the registry of sessions online: shared slots (who.h). */
#include "who.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "logesc.h"

/* A transfer's name as shown: longer paths are cut (it is a display). */
#define WHO_NAME_MAX 512

enum { SLOT_FREE = 0, SLOT_TAKEN = 1 };

struct who_slot {
    /* Process-shared and robust: over everything below but the atomics. */
    pthread_mutex_t lock;
    atomic_int state; /* SLOT_FREE or SLOT_TAKEN; taken by CAS */
    pid_t pid;        /* the process the session runs in */
    char proto[8];
    char peer[80];
    char user[PROTO_AUTH_USER_MAX + 1]; /* "" before login */
    double connected, login;            /* Unix time; login 0: not yet */
    bool xfer;
    char dir[4];
    char name[WHO_NAME_MAX];
    uint64_t from, total;
    double xfer_started;
    /* Written per buffer by the session, read by snapshots: no lock. */
    _Atomic uint64_t done; /* the file offset reached */
    _Atomic int64_t active_ms;
};

/* All of it in the one shared mapping. */
struct who {
    size_t map_len;
    unsigned n;
    atomic_uint used_max; /* slots below this may be taken */
    struct who_slot slots[];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t now_ms_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A holder that died leaves the lock to the next taker (robust mutex). */
static void slot_lock(struct who_slot *s)
{
    if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
        (void)pthread_mutex_consistent(&s->lock);
}

static void slot_unlock(struct who_slot *s)
{
    (void)pthread_mutex_unlock(&s->lock);
}

int who_create(struct who **out, unsigned n)
{
    *out = NULL;
    size_t len = sizeof(struct who) + (size_t)n * sizeof(struct who_slot);
    struct who *w = mmap(NULL, len, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED)
        return -errno;
    w->map_len = len;
    w->n = n;
    atomic_init(&w->used_max, 0);
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        rc = pthread_mutex_init(&w->slots[i].lock, &a);
        atomic_init(&w->slots[i].state, SLOT_FREE);
        atomic_init(&w->slots[i].done, 0);
        atomic_init(&w->slots[i].active_ms, 0);
    }
    (void)pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        munmap(w, len);
        return -rc;
    }
    *out = w;
    return 0;
}

struct who_slot *who_enter(struct who *w, const char *proto, const char *peer)
{
    if (w == NULL)
        return NULL;
    for (unsigned i = 0; i < w->n; i++) {
        struct who_slot *s = &w->slots[i];
        int free_ = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&s->state, &free_, SLOT_TAKEN))
            continue;
        unsigned seen = atomic_load(&w->used_max);
        while (seen < i + 1 &&
               !atomic_compare_exchange_weak(&w->used_max, &seen, i + 1))
            ;
        slot_lock(s);
        s->pid = getpid();
        snprintf(s->proto, sizeof s->proto, "%s", proto);
        snprintf(s->peer, sizeof s->peer, "%s", peer);
        s->user[0] = '\0';
        s->connected = now_s();
        s->login = 0;
        s->xfer = false;
        atomic_store_explicit(&s->active_ms, now_ms_coarse(),
                              memory_order_relaxed);
        slot_unlock(s);
        return s;
    }
    return NULL;
}

void who_leave(struct who_slot *s)
{
    if (s == NULL)
        return;
    slot_lock(s);
    s->xfer = false;
    s->pid = 0;
    slot_unlock(s);
    atomic_store(&s->state, SLOT_FREE);
}

void who_set_proto(struct who_slot *s, const char *proto)
{
    if (s == NULL)
        return;
    slot_lock(s);
    snprintf(s->proto, sizeof s->proto, "%s", proto);
    slot_unlock(s);
}

void who_login(struct who_slot *s, const char *user)
{
    if (s == NULL)
        return;
    slot_lock(s);
    snprintf(s->user, sizeof s->user, "%s", user);
    s->login = now_s();
    slot_unlock(s);
}

void who_touch(struct who_slot *s)
{
    if (s != NULL)
        atomic_store_explicit(&s->active_ms, now_ms_coarse(),
                              memory_order_relaxed);
}

void who_xfer_begin(struct who_slot *s, const char *dir, const char *path,
                    uint64_t from, uint64_t total)
{
    if (s == NULL)
        return;
    slot_lock(s);
    s->xfer = true;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->name, sizeof s->name, "%s", path);
    s->from = from;
    s->total = total;
    s->xfer_started = now_s();
    atomic_store_explicit(&s->done, from, memory_order_relaxed);
    slot_unlock(s);
    who_touch(s);
}

void who_xfer_progress(struct who_slot *s, uint64_t off)
{
    if (s == NULL)
        return;
    atomic_store_explicit(&s->done, off, memory_order_relaxed);
    who_touch(s);
}

void who_xfer_hook(void *ctx, uint64_t off)
{
    who_xfer_progress(ctx, off);
}

void who_xfer_end(struct who_slot *s)
{
    if (s == NULL)
        return;
    slot_lock(s);
    s->xfer = false;
    slot_unlock(s);
    who_touch(s);
}

/* A string from a session: names are bytes, JSON wants UTF-8. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) {
        char esc[4 * WHO_NAME_MAX];
        log_escape(s, esc, sizeof esc);
        j = json_string(esc);
    }
    return j;
}

/* A copy of a taken slot, made under its lock. */
static json_t *slot_json(struct who_slot *c, double now)
{
    json_t *x = json_null();
    if (c->xfer) {
        uint64_t done = atomic_load_explicit(&c->done, memory_order_relaxed);
        double t = now - c->xfer_started;
        double rate = t > 0.05 && done > c->from ? (done - c->from) / t : 0;
        x = json_pack("{s:s, s:o, s:I, s:o, s:f, s:f}", "dir", c->dir, "name",
                      jstr(c->name), "done", (json_int_t)done, "total",
                      c->total == WHO_TOTAL_UNKNOWN
                          ? json_null()
                          : json_integer((json_int_t)c->total),
                      "started", c->xfer_started, "rate", rate);
    }
    int64_t active = atomic_load_explicit(&c->active_ms, memory_order_relaxed);
    const char *state = c->user[0] == '\0' ? "login"
                        : c->xfer          ? c->dir
                                           : "idle";
    return json_pack("{s:s, s:s, s:o, s:o, s:f, s:o, s:f, s:o, s:i}", "state",
                     state, "proto", c->proto, "from", jstr(c->peer), "user",
                     c->user[0] ? jstr(c->user) : json_null(), "connected",
                     c->connected, "login",
                     c->login > 0 ? json_real(c->login) : json_null(), "active",
                     active / 1000.0, "transfer", x, "pid", (int)c->pid);
}

/* A slot whose process is gone (a session child killed): freed. */
static bool slot_dead(const struct who_slot *s)
{
    return s->pid > 0 && kill(s->pid, 0) != 0 && errno == ESRCH;
}

json_t *who_snapshot(struct who *w, pid_t server)
{
    json_t *list = json_array();
    double now = now_s();
    unsigned top = atomic_load(&w->used_max);
    for (unsigned i = 0; list != NULL && i < top; i++) {
        struct who_slot *s = &w->slots[i];
        if (atomic_load(&s->state) != SLOT_TAKEN)
            continue;
        slot_lock(s);
        json_t *j = NULL;
        bool dead = s->pid > 0 && slot_dead(s);
        if (!dead && s->pid > 0 && atomic_load(&s->state) == SLOT_TAKEN)
            j = slot_json(s, now);
        if (dead)
            s->pid = 0;
        slot_unlock(s);
        if (dead)
            atomic_store(&s->state, SLOT_FREE);
        if (j != NULL && json_array_append_new(list, j) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    if (list == NULL)
        return NULL;
    return json_pack("{s:i, s:f, s:o}", "pid", (int)server, "now", now,
                     "sessions", list);
}
