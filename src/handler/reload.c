/* reload.c -- SIGHUP, handled by the server's loop (reload.h). */
#include "reload.h"

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_int hup_pending; /* lock-free: safe in a signal handler */
static ss_server_ops ops;
static const ss_server_ops *next_ops;
static void (*reload_fn)(void *arg);
static void *reload_arg;

static void on_sighup(int sig)
{
    (void)sig;
    atomic_store(&hup_pending, 1);
}

static void reload_service_actions(ss_server *s)
{
    if (atomic_exchange(&hup_pending, 0) != 0)
        reload_fn(reload_arg);
    if (next_ops != NULL && next_ops->service_actions != NULL)
        next_ops->service_actions(s);
    else
        ss_server_inherited_ops(s)->service_actions(s);
}

const ss_server_ops *reload_on_sighup(const ss_server_ops *next,
                                      void (*fn)(void *arg), void *arg)
{
    next_ops = next;
    reload_fn = fn;
    reload_arg = arg;
    if (next != NULL)
        ops = *next;
    ops.service_actions = reload_service_actions;
    struct sigaction act = {.sa_handler = on_sighup, .sa_flags = SA_RESTART};
    sigemptyset(&act.sa_mask);
    return sigaction(SIGHUP, &act, NULL) == 0 ? &ops : NULL;
}
