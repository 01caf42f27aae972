/* forking.c -- ForkingMixIn: a child per request, at most max_children, only our own reaped. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

struct child {
    pid_t pid;
    int pidfd;   /* -1 if pidfd_open is unavailable: then we poll waitpid */
    void *admit; /* the conn's accounting token, released at reap */
};

struct ss_forking {
    struct child *kids;
    atomic_uint n; /* read by ss_server_get_stats from any thread */
};

int ss__forking_create(ss_server *s)
{
    struct ss_forking *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    s->forking = f;
    f->kids = calloc(s->cfg.max_children, sizeof *f->kids);
    s->pfds = calloc((size_t)s->cfg.max_children + 3, sizeof *s->pfds);
    if (!f->kids || !s->pfds)
        return -ENOMEM;
    atomic_init(&f->n, 0);
    return 0;
}

void ss__forking_free(ss_server *s)
{
    if (s->forking)
        free(s->forking->kids);
    free(s->pfds);
    s->pfds = NULL;
    free(s->forking);
    s->forking = NULL;
}

unsigned ss__forking_children(ss_server *s)
{
    return atomic_load(&s->forking->n);
}
static bool has_children(ss_server *s)
{
    return ss__forking_children(s) > 0;
}

static void forget(ss_server *s, unsigned i)
{
    struct ss_forking *f = s->forking;
    ss_conn gone = {.fd = -1, .priv_ = f->kids[i].admit};
    ss__close(f->kids[i].pidfd);
    unsigned last = atomic_load(&f->n) - 1;
    f->kids[i] = f->kids[last];
    atomic_store(&f->n, last);
    ss__release(s, &gone);
}

/* Python's collect_children calls waitpid(-1, ...) and so can reap (or block
 * on) children that are not the server's.  We ask for our own pids only. */
static void reap(ss_server *s, bool block)
{
    struct ss_forking *f = s->forking;
    for (unsigned i = 0; i < atomic_load(&f->n);) {
        int st;
        pid_t r;
        do {
            r = waitpid(f->kids[i].pid, &st, block ? 0 : WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == f->kids[i].pid || (r < 0 && errno == ECHILD))
            forget(s, i); /* ECHILD: SIGCHLD is ignored, the kernel reaped */
        else
            i++;
    }
}

/* Waits up to timeout_ms (-1 forever) for any of our children to exit. */
static void wait_any(ss_server *s, int timeout_ms)
{
    struct ss_forking *f = s->forking;
    unsigned n = atomic_load(&f->n);
    struct pollfd *p = calloc(n ? n : 1, sizeof *p);
    unsigned k = 0;
    for (unsigned i = 0; p && i < n; i++)
        if (f->kids[i].pidfd >= 0)
            p[k++] = (struct pollfd){.fd = f->kids[i].pidfd, .events = POLLIN};
    if (p && k == n) {
        int rc = poll(p, k, timeout_ms);
        (void)rc; /* EINTR or timeout: the reap below sorts it out */
    } else {
        /* No pidfds: check again shortly rather than waitpid(-1). */
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(p);
    reap(s, false);
}

/* The serving loop polls our children's pidfds, so an exit is reaped as it
 * happens rather than on the next poll_interval.  A child without a pidfd
 * (pidfd_open unsupported) is still reaped by service_actions. */
unsigned ss__forking_pollfds(ss_server *s, struct pollfd *p)
{
    struct ss_forking *f = s->forking;
    unsigned k = 0, n = atomic_load(&f->n);
    for (unsigned i = 0; i < n; i++)
        if (f->kids[i].pidfd >= 0)
            p[k++] = (struct pollfd){.fd = f->kids[i].pidfd, .events = POLLIN};
    return k;
}

bool ss__forking_has_room(ss_server *s)
{
    reap(s, false);
    return ss__forking_children(s) < s->cfg.max_children;
}

void ss_forking_service_actions(ss_server *s)
{
    reap(s, false);
}

/* ForkingMixIn.process_request: fork; the child handles the request and
 * exits, the parent closes its copy of the connection and goes on. */
int ss_forking_process_request(ss_server *s, ss_conn *conn)
{
    struct ss_forking *f = s->forking;
    while (!ss__forking_has_room(s))
        wait_any(s, -1); /* only via handle_request: the loop checks first */
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        ss__report(s, conn, err, "fork");
        ss__end_request(s, conn);
        return err;
    }
    if (pid == 0) {
        /* The child must not accept, and must not wake the parent's loop
         * should its handler call ss_server_shutdown. */
        if (ss__is_stream(s))
            ss__close(s->fd);
        ss__close(s->wake_fd);
        s->wake_fd = -1;
        /* Nor hold its siblings' pidfds: with a thousand sessions each
         * child would start with a thousand descriptors it never uses. */
        for (unsigned i = 0; i < atomic_load(&f->n); i++)
            ss__close(f->kids[i].pidfd);
        atomic_store(&f->n, 0);
        ss__proxy_child(s);
        int rc = s->ops.finish_request(s, conn);
        s->ops.shutdown_request(s, conn);
        _exit(rc < 0 ? 1 : 0);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec */
    unsigned n = atomic_load(&f->n);
    f->kids[n] =
        (struct child){.pid = pid, .pidfd = pidfd, .admit = conn->priv_};
    atomic_store(&f->n, n + 1);
    conn->priv_ = NULL; /* released when the child is reaped */
    s->ops.close_request(s, conn);
    return 0;
}

/* block_on_close: give children until the deadline, then kill what is
 * left and reap it, so no child outlives ss_server_close. */
void ss__forking_close(ss_server *s, int drain_ms)
{
    if (!s->forking || !s->forking->kids)
        return;
    int64_t deadline = ss__now_ms() + (drain_ms > 0 ? drain_ms : 0);
    while (has_children(s)) {
        int left = -1;
        if (drain_ms >= 0) {
            int64_t l = deadline - ss__now_ms();
            if (l <= 0)
                break;
            left = (int)l;
        }
        wait_any(s, left);
    }
    struct ss_forking *f = s->forking;
    for (unsigned i = 0; i < atomic_load(&f->n); i++)
        (void)kill(f->kids[i].pid, SIGKILL);
    reap(s, true);
}
