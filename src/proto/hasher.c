/* hasher.c -- see hasher.h.  Threaded mode is a ring of PROTO_HASHER_NBUF
 * buffers between two threads: the I/O thread fills slot `filled`, the
 * helper hashes slot `hashed`, and a slot is free again once hashed. */
#include "hasher.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct hashpipe {
    pthread_mutex_t mu;
    pthread_cond_t work; /* the helper waits here for a filled slot */
    pthread_cond_t room; /* the I/O thread waits here for a free slot */
    pthread_t thread;
    proto_digest_state *d;
    proto_hasher_file file; /* the helper's own; err is read under mu */
    unsigned long filled;   /* slots handed over so far */
    unsigned long hashed;   /* slots hashed so far (<= filled) */
    bool stop;
    size_t len[PROTO_HASHER_NBUF];
    unsigned char *buf[PROTO_HASHER_NBUF];
};

/* Write n bytes to f's file (unless an earlier write failed). */
static void file_write(proto_hasher_file *f, const unsigned char *buf, size_t n)
{
    if (f->fd < 0 || f->err != 0)
        return;
    int e = proto_pwrite_all(f->fd, buf, n, f->off);
    if (e != 0) {
        f->err = e;
        return;
    }
    f->off += n;
    proto_writeback_note(&f->wb, f->off);
}

static void *hash_main(void *arg)
{
    struct hashpipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->hashed == p->filled && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->hashed == p->filled)
            break; /* stopped, and nothing left */
        size_t i = p->hashed % PROTO_HASHER_NBUF;
        proto_hasher_file f = p->file;
        pthread_mutex_unlock(&p->mu);
        file_write(&f, p->buf[i], p->len[i]);
        proto_digest_update(p->d, p->buf[i], p->len[i]);
        pthread_mutex_lock(&p->mu);
        p->file = f;
        p->hashed++;
        pthread_cond_signal(&p->room);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pipe_free(struct hashpipe *p)
{
    for (size_t i = 0; i < PROTO_HASHER_NBUF; i++)
        free(p->buf[i]);
    free(p);
}

/* The helper, or NULL when memory or a thread is not to be had (the caller
 * then hashes inline, which is slower but just as right). */
static struct hashpipe *pipe_start(proto_digest_state *d)
{
    struct hashpipe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < PROTO_HASHER_NBUF; i++)
        if ((p->buf[i] = malloc(PROTO_HASHER_BUF)) == NULL) {
            pipe_free(p);
            return NULL;
        }
    p->d = d;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pipe_free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        pipe_free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->room, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        pipe_free(p);
        return NULL;
    }
    /* Signals stay with the threads that handle them; hashing needs only a
     * small stack. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        (void)pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&p->thread, &attr, hash_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_cond_destroy(&p->room);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        pipe_free(p);
        return NULL;
    }
    return p;
}

/* Helpers running now, process-wide.  More than there are cores buys
 * nothing, and each holds PROTO_HASHER_NBUF buffers: a server with a
 * thousand uploads in flight must not hold a thousand of them. */
static atomic_int helpers;

static bool helper_slot(void)
{
    static atomic_int limit;
    int max = atomic_load(&limit);
    if (max == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        max = n < 1 ? 2 : n > 64 ? 128 : 2 * (int)n;
        atomic_store(&limit, max);
    }
    if (atomic_fetch_add(&helpers, 1) < max)
        return true;
    atomic_fetch_sub(&helpers, 1);
    return false;
}

int proto_hasher_begin(proto_hasher *h, proto_digest_state *d, uint64_t total)
{
    h->d = d;
    h->file = (proto_hasher_file){.fd = -1};
    h->pipe = NULL;
    h->buf = NULL;
    h->cap = 0;
    if (d != NULL && total >= PROTO_HASHER_THREADED && helper_slot()) {
        if ((h->pipe = pipe_start(d)) != NULL)
            return 0;
        atomic_fetch_sub(&helpers, 1);
    }
    /* Inline: one buffer, and small bodies must not cost a full one. */
    h->cap = total < PROTO_HASHER_INLINE ? (size_t)total : PROTO_HASHER_INLINE;
    if (h->cap == 0)
        h->cap = 1;
    h->buf = malloc(h->cap);
    return h->buf == NULL ? -ENOMEM : 0;
}

void proto_hasher_to_file(proto_hasher *h, int fd, uint64_t off)
{
    proto_hasher_file f = {.fd = fd, .off = off};
    proto_writeback_init(&f.wb, fd, off);
    struct hashpipe *p = h->pipe;
    if (p == NULL) {
        h->file = f;
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->file = f;
    pthread_mutex_unlock(&p->mu);
}

int proto_hasher_file_err(proto_hasher *h)
{
    struct hashpipe *p = h->pipe;
    if (p == NULL)
        return h->file.err;
    pthread_mutex_lock(&p->mu);
    int e = p->file.err;
    pthread_mutex_unlock(&p->mu);
    return e;
}

unsigned char *proto_hasher_buf(proto_hasher *h, size_t *cap)
{
    struct hashpipe *p = h->pipe;
    if (p == NULL) {
        *cap = h->cap;
        return h->buf;
    }
    pthread_mutex_lock(&p->mu);
    while (p->filled - p->hashed >= PROTO_HASHER_NBUF)
        pthread_cond_wait(&p->room, &p->mu);
    unsigned char *b = p->buf[p->filled % PROTO_HASHER_NBUF];
    pthread_mutex_unlock(&p->mu);
    *cap = PROTO_HASHER_BUF;
    return b;
}

void proto_hasher_put(proto_hasher *h, unsigned char *buf, size_t n)
{
    struct hashpipe *p = h->pipe;
    if (p == NULL) {
        if (n > 0)
            file_write(&h->file, buf, n);
        if (h->d != NULL && n > 0)
            proto_digest_update(h->d, buf, n);
        return;
    }
    if (n == 0)
        return; /* the slot stays the next one to fill */
    pthread_mutex_lock(&p->mu);
    p->len[p->filled % PROTO_HASHER_NBUF] = n;
    p->filled++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int proto_hasher_end(proto_hasher *h)
{
    struct hashpipe *p = h->pipe;
    int err = h->file.err;
    if (p != NULL) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        err = p->file.err;
        pthread_cond_destroy(&p->room);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        pipe_free(p);
        h->pipe = NULL;
        atomic_fetch_sub(&helpers, 1);
    }
    free(h->buf);
    h->buf = NULL;
    return err;
}
