/* util.c -- clients, waits and stock handlers for the library tests. */
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t tl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tl_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Absolute CLOCK_MONOTONIC deadline for pthread_cond_timedwait. */
static struct timespec deadline_in(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- ev / gate ------------------------------------------------------------ */

void tl_ev_init(tl_ev *e)
{
    pthread_mutex_init(&e->mu, NULL);
    cond_init_monotonic(&e->cv);
    e->count = 0;
}

void tl_ev_destroy(tl_ev *e)
{
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

void tl_ev_post(tl_ev *e)
{
    pthread_mutex_lock(&e->mu);
    e->count++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

unsigned tl_ev_count(tl_ev *e)
{
    pthread_mutex_lock(&e->mu);
    unsigned n = e->count;
    pthread_mutex_unlock(&e->mu);
    return n;
}

bool tl_ev_wait(tl_ev *e, unsigned n, int timeout_ms)
{
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    while (e->count < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&e->cv, &e->mu, &dl);
    bool ok = e->count >= n;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

void tl_gate_init(tl_gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    cond_init_monotonic(&g->cv);
    g->open = false;
}

void tl_gate_destroy(tl_gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

void tl_gate_open(tl_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

bool tl_gate_wait(tl_gate *g, int timeout_ms)
{
    struct timespec dl = deadline_in(timeout_ms);
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (!g->open && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    bool ok = g->open;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* ---- runner --------------------------------------------------------------- */

static void *runner_main(void *arg)
{
    tl_runner *r = arg;
    atomic_store(&r->tid, (int)gettid());
    int rc = ss_server_serve_forever(r->s, r->poll_ms);
    pthread_mutex_lock(&r->done.mu);
    r->rc = rc;
    pthread_mutex_unlock(&r->done.mu);
    tl_ev_post(&r->done);
    return NULL;
}

void tl_runner_start(tl_runner *r, ss_server *s, int poll_ms)
{
    r->s = s;
    r->poll_ms = poll_ms;
    r->rc = 1;
    atomic_store(&r->tid, 0);
    tl_ev_init(&r->done);
    r->started = pthread_create(&r->th, NULL, runner_main, r) == 0;
}

bool tl_runner_wait(tl_runner *r, int timeout_ms)
{
    return tl_ev_wait(&r->done, 1, timeout_ms);
}

int tl_runner_join(tl_runner *r)
{
    if (!r->started)
        return -ESRCH;
    pthread_join(r->th, NULL);
    r->started = false;
    pthread_mutex_lock(&r->done.mu);
    int rc = r->rc;
    pthread_mutex_unlock(&r->done.mu);
    tl_ev_destroy(&r->done);
    return rc;
}

bool tl_runner_sleeping(tl_runner *r)
{
    int tid = atomic_load(&r->tid);
    if (tid <= 0)
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')'); /* comm may hold spaces */
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
}

int tl_runner_stop(tl_runner *r)
{
    if (!r->started)
        return -ESRCH;
    ss_server_shutdown(r->s);
    return tl_runner_join(r);
}

/* ---- servers --------------------------------------------------------------- */

ss_server_stats tl_stats_of(ss_server *s)
{
    ss_server_stats st;
    memset(&st, 0, sizeof st);
    ss_server_get_stats(s, &st);
    return st;
}

static char tmpdir_[64];

static void remove_tmpdir(void)
{
    if (tmpdir_[0])
        rmdir(tmpdir_);
}

const char *tl_unix_path(bool abstract)
{
    static char paths[64][108];
    static unsigned n;
    char *p = paths[n % 64];
    if (abstract) {
        snprintf(p, sizeof paths[0], "@ss-test-%d-%u", (int)getpid(), n);
    } else {
        if (!tmpdir_[0]) {
            snprintf(tmpdir_, sizeof tmpdir_, "/tmp/ss-test-XXXXXX");
            if (!mkdtemp(tmpdir_))
                return NULL;
            atexit(remove_tmpdir);
        }
        snprintf(p, sizeof paths[0], "%s/s%u", tmpdir_, n);
    }
    n++;
    return p;
}

void tl_cfg_for(ss_config *c, ss_kind kind, ss_concurrency cc)
{
    ss_config_init(c, kind);
    c->concurrency = cc;
    if (kind == SS_TCP || kind == SS_UDP) {
        c->host = "127.0.0.1";
        c->port = 0;
    } else {
        c->path = tl_unix_path(true);
    }
}

/* ---- clients ---------------------------------------------------------------- */

static int connect_addr(int type, const struct sockaddr *sa, socklen_t len,
                        const struct sockaddr *src, socklen_t srclen,
                        int timeout_ms)
{
    int fd = socket(sa->sa_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (src && bind(fd, src, srclen) != 0)
        goto fail;
    if (sa->sa_family == AF_UNIX && type == SOCK_DGRAM) {
        /* Autobind to an abstract name so the server can reply. */
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (bind(fd, (struct sockaddr *)&un, sizeof(sa_family_t)) != 0)
            goto fail;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (connect(fd, sa, len) != 0) {
        if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
            /* Unix stream with a full backlog: connect() blocks (bounded by
             * SO_SNDTIMEO) until the server accepts. */
            struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
            fcntl(fd, F_SETFL, fl);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(fd, sa, len) != 0)
                goto fail;
            struct timeval zero = {0, 0};
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
            return fd;
        }
        if (errno != EINPROGRESS)
            goto fail;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int64_t end = tl_now_ms() + timeout_ms;
        for (;;) {
            int left = (int)(end - tl_now_ms());
            if (left < 0) {
                errno = ETIMEDOUT;
                goto fail;
            }
            int n = poll(&p, 1, left);
            if (n > 0)
                break;
            if (n < 0 && errno != EINTR)
                goto fail;
        }
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            errno = err;
            goto fail;
        }
    }
    fcntl(fd, F_SETFL, fl);
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

static int fill_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
                   socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return 0;
    }
    return -EINVAL;
}

int tl_connect_tcp(const char *host, uint16_t port, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (fill_ip(host, port, &ss, &len) != 0)
        return -EINVAL;
    return connect_addr(SOCK_STREAM, (struct sockaddr *)&ss, len, NULL, 0,
                        timeout_ms);
}

int tl_connect_tcp_from(const char *src, const char *host, uint16_t port,
                        int timeout_ms)
{
    struct sockaddr_storage ss, from;
    socklen_t len, flen;
    if (fill_ip(host, port, &ss, &len) != 0 || fill_ip(src, 0, &from, &flen))
        return -EINVAL;
    return connect_addr(SOCK_STREAM, (struct sockaddr *)&ss, len,
                        (struct sockaddr *)&from, flen, timeout_ms);
}

int tl_connect_unix(const char *path, int type)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof un.sun_path)
        return -ENAMETOOLONG;
    memcpy(un.sun_path, path, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (path[0] == '@')
        un.sun_path[0] = '\0';
    else
        len++;
    return connect_addr(type, (struct sockaddr *)&un, len, NULL, 0, 2000);
}

int tl_connect_server(ss_server *s)
{
    socklen_t len = 0;
    const struct sockaddr *sa = ss_server_address(s, &len);
    if (!sa || len == 0 || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, sa, len);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY))
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
    }
    ss_kind k = ss_server_config(s)->kind;
    int type = (k == SS_TCP || k == SS_UNIX_STREAM) ? SOCK_STREAM : SOCK_DGRAM;
    return connect_addr(type, (struct sockaddr *)&ss, len, NULL, 0, 2000);
}

int tl_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int tl_send_str(int fd, const char *s)
{
    return tl_send_all(fd, s, strlen(s));
}

/* Waits for fd readable until end; 0 ready, -ETIMEDOUT, or -errno. */
static int wait_readable(int fd, int64_t end)
{
    for (;;) {
        int left = (int)(end - tl_now_ms());
        if (left < 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

ssize_t tl_recv_n(int fd, void *buf, size_t n, int timeout_ms)
{
    int64_t end = tl_now_ms() + timeout_ms;
    size_t got = 0;
    while (got < n) {
        int rc = wait_readable(fd, end);
        if (rc)
            return rc;
        ssize_t k = recv(fd, (char *)buf + got, n - got, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        got += (size_t)k;
    }
    return (ssize_t)got;
}

ssize_t tl_recv_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t end = tl_now_ms() + timeout_ms;
    size_t got = 0;
    while (got + 1 < cap) {
        int rc = wait_readable(fd, end);
        if (rc)
            return rc;
        ssize_t k = recv(fd, buf + got, 1, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (buf[got++] == '\n')
            break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

int tl_wait_closed(int fd, int timeout_ms)
{
    int rc = wait_readable(fd, tl_now_ms() + timeout_ms);
    if (rc == -ETIMEDOUT)
        return 0;
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
    if (k == 0 || (k < 0 && (errno == ECONNRESET || errno == EPIPE)))
        return 1;
    return -1;
}

ssize_t tl_recv_dgram(int fd, void *buf, size_t cap, int timeout_ms)
{
    int rc = wait_readable(fd, tl_now_ms() + timeout_ms);
    if (rc)
        return rc;
    ssize_t k = recv(fd, buf, cap, MSG_DONTWAIT);
    return k < 0 ? -errno : k;
}

void tl_close_reset(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* ---- process accounting ----------------------------------------------------- */

int tl_count_threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

int tl_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* ---- stock handlers ------------------------------------------------------------ */

static int echo_stream_handle(ss_request *r)
{
    char line[4096];
    for (;;) {
        ssize_t n = ss_stream_readline(r, line, sizeof line);
        if (n <= 0)
            return (int)n;
        int rc = ss_stream_write_all(r, line, (size_t)n);
        if (rc)
            return rc;
    }
}

const ss_handler_class tl_echo_stream_handler = {.name = "echo-stream",
                                                 .handle = echo_stream_handle};

static int echo_once_handle(ss_request *r)
{
    char out[4096 + 8] = "echo:";
    ssize_t n = ss_stream_readline(r, out + 5, sizeof out - 5);
    if (n <= 0)
        return (int)n;
    return ss_stream_write_all(r, out, (size_t)n + 5);
}

const ss_handler_class tl_echo_once_handler = {.name = "echo-once",
                                               .handle = echo_once_handle};

static int echo_dgram_handle(ss_request *r)
{
    size_t n = 0;
    const void *p = ss_request_packet(r, &n);
    if (!p)
        return -EINVAL;
    return ss_dgram_reply(r, p, n);
}

const ss_handler_class tl_echo_dgram_handler = {.name = "echo-dgram",
                                                .handle = echo_dgram_handle};

int tl_roundtrip_once(ss_server *s, const char *msg, bool once_handler)
{
    ss_kind k = ss_server_config(s)->kind;
    bool stream = k == SS_TCP || k == SS_UNIX_STREAM;
    int fd = tl_connect_server(s);
    if (fd < 0)
        return -1;
    char want[512], got[512];
    int rc = 0;
    if (stream) {
        snprintf(want, sizeof want, "%s%s\n", once_handler ? "echo:" : "", msg);
        char line[512];
        snprintf(line, sizeof line, "%s\n", msg);
        if (tl_send_str(fd, line) != 0)
            rc = -2;
        else if (tl_recv_line(fd, got, sizeof got, 3000) <= 0)
            rc = -3;
    } else {
        snprintf(want, sizeof want, "%s", msg);
        if (tl_send_str(fd, msg) != 0)
            rc = -2;
        else {
            ssize_t n = tl_recv_dgram(fd, got, sizeof got - 1, 3000);
            if (n < 0)
                rc = -3;
            else
                got[n] = '\0';
        }
    }
    if (rc == 0 && strcmp(want, got) != 0)
        rc = -4;
    if (stream)
        shutdown(fd, SHUT_WR); /* the FIN reaches the handler even if a
                                  forked child holds a copy of fd */
    close(fd);
    return rc;
}

/* ---- err_log ---------------------------------------------------------------------- */

void tl_err_log_init(tl_err_log *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

void tl_err_log_add(tl_err_log *l, const ss_conn *conn, int err,
                    const char *what)
{
    pthread_mutex_lock(&l->mu);
    if (l->n < 64) {
        l->err[l->n] = err;
        l->had_conn[l->n] = conn != NULL;
        snprintf(l->what[l->n], sizeof l->what[0], "%s", what ? what : "");
    }
    l->n++;
    pthread_mutex_unlock(&l->mu);
}

unsigned tl_err_log_count(tl_err_log *l, int err, int conn_must)
{
    pthread_mutex_lock(&l->mu);
    unsigned c = 0;
    for (unsigned i = 0; i < l->n && i < 64; i++)
        if (l->err[i] == err &&
            (conn_must < 0 || l->had_conn[i] == (conn_must != 0)))
            c++;
    pthread_mutex_unlock(&l->mu);
    return c;
}

unsigned tl_err_log_total(tl_err_log *l)
{
    pthread_mutex_lock(&l->mu);
    unsigned n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* ---- fixture ----------------------------------------------------------------------- */

tl_fixture F;

int tl_fx_fd(int fd)
{
    if (fd >= 0 && F.nfds < (int)(sizeof F.fds / sizeof F.fds[0]))
        F.fds[F.nfds++] = fd;
    return fd;
}

void tl_fx_close(int fd)
{
    for (int i = 0; i < F.nfds; i++)
        if (F.fds[i] == fd) {
            F.fds[i] = F.fds[--F.nfds];
            break;
        }
    close(fd);
}

int tl_fx_teardown(void **state)
{
    (void)state;
    if (F.r.started)
        tl_runner_stop(&F.r);
    for (int i = 0; i < F.nfds; i++)
        close(F.fds[i]);
    F.nfds = 0;
    ss_server_destroy(F.s);
    F.s = NULL;
    return 0;
}

int tl_run_selected(const char *group, const struct CMUnitTest *tests, size_t n,
                    int argc, char **argv)
{
    struct CMUnitTest *sel = calloc(n ? n : 1, sizeof *sel);
    if (!sel) {
        fprintf(stderr, "%s: out of memory selecting tests\n", group);
        return 1;
    }
    size_t k = 0;
    bool any_include = false;
    for (int a = 1; a < argc; a++)
        any_include |= argv[a][0] != '!';
    for (size_t i = 0; i < n; i++) {
        bool want = !any_include;
        for (int a = 1; a < argc; a++) {
            bool excl = argv[a][0] == '!';
            const char *pre = argv[a] + excl;
            if (strncmp(tests[i].name, pre, strlen(pre)) == 0)
                want = !excl;
        }
        if (want)
            sel[k++] = tests[i];
    }
    int rc = _cmocka_run_group_tests(group, sel, k, NULL, NULL);
    free(sel);
    return rc;
}

/* ---- requests held in flight ------------------------------------------------------ */

tl_held H;

static void atomic_max(_Atomic int *m, int v)
{
    int cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static int held_handle(ss_request *r)
{
    char out[300] = "echo:";
    ssize_t n = ss_stream_readline(r, out + 5, sizeof out - 5);
    if (n <= 0)
        return (int)n;
    int now = atomic_fetch_add(&H.inflight, 1) + 1;
    atomic_max(&H.max_inflight, now);
    ss_server_stats st;
    ss_server_get_stats(ss_request_server(r), &st);
    atomic_max(&H.max_workers_seen, (int)st.workers);
    tl_ev_post(&H.entered);
    tl_gate_wait(&H.release, 10000);
    atomic_fetch_sub(&H.inflight, 1);
    int rc = ss_stream_write_all(r, out, (size_t)n + 5);
    tl_ev_post(&H.finished);
    return rc;
}

const ss_handler_class tl_held_handler = {.name = "held",
                                          .handle = held_handle};

void tl_log_error(ss_server *s, const ss_conn *conn, int err, const char *what)
{
    (void)s;
    tl_err_log_add(&H.errs, conn, err, what);
}

const ss_server_ops tl_logging_ops = {.handle_error = tl_log_error};

int tl_held_setup(void **state)
{
    (void)state;
    tl_ev_init(&H.entered);
    tl_ev_init(&H.finished);
    tl_gate_init(&H.release);
    atomic_store(&H.inflight, 0);
    atomic_store(&H.max_inflight, 0);
    atomic_store(&H.max_workers_seen, 0);
    tl_err_log_init(&H.errs);
    return 0;
}

int tl_held_teardown(void **state)
{
    tl_gate_open(&H.release); /* never leave a handler parked */
    tl_fx_teardown(state);
    tl_gate_destroy(&H.release);
    tl_ev_destroy(&H.entered);
    tl_ev_destroy(&H.finished);
    return 0;
}
