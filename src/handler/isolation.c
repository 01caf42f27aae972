/* isolation.c -- sessions in forked children: the shared count, the stop pipe and its watcher (see isolation.h). */
#include "isolation.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "log_server.h"

struct isolation {
    atomic_uint *count; /* MAP_SHARED: the parent writes, children read */
    int stop_rd;        /* every process holds it */
    int stop_wr;        /* the parent's alone; -1 once closed */
    int drain_ms;
};

/* ---- in the child ------------------------------------------------------ */

/* The one session of this child process, as its watcher sees it. */
static struct {
    int stop_fd;
    int sock;
    ss_server *server;
    int drain_ms;
} watched;

/* Waits for the parent to stop, then does what the thread pool's drain does
 * to a session: stopping at once (an idle session leaves), the socket shut
 * down after the drain (a transfer is cut, its partial kept). */
static void *watch_parent(void *arg)
{
    (void)arg;
    char byte;
    for (;;) { /* nobody writes: this returns at EOF */
        ssize_t n = proto_read_full(watched.stop_fd, &byte, 1);
        if (n == 0)
            break;
        if (n < 0) {
            log_msg(LOG_LEVEL_ERROR, "session process %ld: stop pipe: %s",
                    (long)getpid(), strerror((int)-n));
            return NULL;
        }
    }
    ss_server_request_shutdown(watched.server);
    proto_sleep_ms(watched.drain_ms);
    if (shutdown(watched.sock, SHUT_RDWR) != 0 && errno != ENOTCONN)
        log_msg(LOG_LEVEL_ERROR, "session process %ld: shutdown: %s",
                (long)getpid(), strerror(errno));
    return NULL;
}

static int child_setup(ss_request *r)
{
    struct session_server *srv = ss_request_user(r);
    struct isolation *iso = srv->isolation;
    /* While any child held the write end, the parent's close would never
     * read as EOF. */
    if (iso->stop_wr >= 0 && close(iso->stop_wr) != 0)
        log_msg(LOG_LEVEL_ERROR, "session process: close: %s", strerror(errno));
    iso->stop_wr = -1;
    watched.stop_fd = iso->stop_rd;
    watched.sock = ss_request_fd(r);
    watched.server = ss_request_server(r);
    watched.drain_ms = iso->drain_ms;
    pthread_t t;
    int rc = pthread_create(&t, NULL, watch_parent, NULL);
    if (rc == 0)
        rc = pthread_detach(t);
    /* Without a watcher the session still runs; a stop then ends it at the
     * parent's drain deadline instead. */
    if (rc != 0)
        log_msg(LOG_LEVEL_ERROR, "session process %ld: watcher: %s",
                (long)getpid(), strerror(rc));
    return session_handler_class.setup(r);
}

/* The session's own handle and finish: in a child, SS_KEEP waits for the
 * next request in place (the library parks only in the serving process). */
static const ss_handler_class child_class = {
    .name = "ssftp-session-process",
    .state_size = sizeof(struct session),
    .setup = child_setup,
    .handle = session_handle,
    .finish = session_finish,
};

/* ---- in the parent ----------------------------------------------------- */

/* The admitted connections (live children, and the one about to be
 * forked) become the count the children read at hello. */
static void publish(ss_server *s)
{
    struct session_server *srv = ss_server_user(s);
    ss_server_stats st;
    ss_server_get_stats(s, &st);
    atomic_store(srv->sessions, st.active);
}

static int parent_process_request(ss_server *s, ss_conn *conn)
{
    publish(s); /* before the fork, so the child finds itself counted */
    return ss_server_inherited_ops(s)->process_request(s, conn);
}

/* Runs after every wake-up of the loop, a child's exit included: the count
 * drops as soon as the child is reaped, however it died. */
static void parent_service_actions(ss_server *s)
{
    ss_server_inherited_ops(s)->service_actions(s);
    publish(s);
}

static const ss_server_ops parent_ops = {
    .process_request = parent_process_request,
    .service_actions = parent_service_actions,
    .handle_error = log_server_error,
};

int isolation_create(struct isolation **out, struct session_server *srv,
                     ss_config *cfg, int drain_ms,
                     const ss_handler_class **handler,
                     const ss_server_ops **ops)
{
    *out = NULL;
    struct isolation *iso = calloc(1, sizeof *iso);
    if (iso == NULL)
        return -ENOMEM;
    void *m = mmap(NULL, sizeof *iso->count, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        int err = -errno;
        free(iso);
        return err;
    }
    iso->count = m;
    atomic_init(iso->count, 0);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        int err = -errno;
        munmap(m, sizeof *iso->count);
        free(iso);
        return err;
    }
    iso->stop_rd = p[0];
    iso->stop_wr = p[1];
    iso->drain_ms = drain_ms;
    cfg->concurrency = SS_FORKING;
    /* A child per admitted connection: the hard cap bounds them already. */
    cfg->max_children =
        cfg->max_connections != 0 ? cfg->max_connections : cfg->max_children;
    cfg->drain_timeout_ms = drain_ms + ISOLATION_CUT_GRACE_MS;
    srv->sessions = iso->count;
    srv->isolation = iso;
    *handler = &child_class;
    *ops = &parent_ops;
    *out = iso;
    return 0;
}

void isolation_stop(struct isolation *iso)
{
    if (iso == NULL || iso->stop_wr < 0)
        return;
    if (close(iso->stop_wr) != 0)
        log_msg(LOG_LEVEL_ERROR, "close of the stop pipe: %s", strerror(errno));
    iso->stop_wr = -1;
}

void isolation_destroy(struct isolation *iso)
{
    if (iso == NULL)
        return;
    isolation_stop(iso);
    if (close(iso->stop_rd) != 0)
        log_msg(LOG_LEVEL_ERROR, "close of the stop pipe: %s", strerror(errno));
    if (munmap(iso->count, sizeof *iso->count) != 0)
        log_msg(LOG_LEVEL_ERROR, "munmap of the session count: %s",
                strerror(errno));
    free(iso);
}
