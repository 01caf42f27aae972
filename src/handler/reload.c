/* reload.c -- SIGHUP on a thread of its own (reload.h). */
#include "reload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reload {
    pthread_t thread;
    void (*fn)(void *arg);
    void *arg;
    atomic_bool stop;
};

static void *reload_main(void *p)
{
    struct reload *r = p;
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    for (;;) {
        int sig;
        int rc = sigwait(&hup, &sig); /* never EINTR (POSIX) */
        if (atomic_load(&r->stop))
            break;
        if (rc != 0) {
            fprintf(stderr, "ssftpd: waiting for SIGHUP: %s\n", strerror(rc));
            break;
        }
        r->fn(r->arg);
    }
    return NULL;
}

int reload_start(struct reload **out, void (*fn)(void *arg), void *arg)
{
    struct reload *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->fn = fn;
    r->arg = arg;
    atomic_init(&r->stop, false);
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    int rc = pthread_sigmask(SIG_BLOCK, &hup, NULL);
    if (rc == 0)
        rc = pthread_create(&r->thread, NULL, reload_main, r);
    if (rc != 0) {
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

void reload_stop(struct reload *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stop, true);
    int rc = pthread_kill(r->thread, SIGHUP); /* wakes its sigwait() */
    if (rc == 0)
        rc = pthread_join(r->thread, NULL);
    else
        rc = pthread_detach(r->thread);
    if (rc != 0)
        fprintf(stderr, "ssftpd: stopping the reload thread: %s\n",
                strerror(rc));
    else
        free(r);
}
