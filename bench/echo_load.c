/* echo_load.c -- closed-loop load generator for the upper-case echo servers: N connections, T seconds. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A round trip is what the Python docs' client does against the docs'
 * server, which closes after one reply: connect, send, read until EOF,
 * close.  Each connection slot runs those back to back ("closed loop"), so
 * the offered load is exactly N requests in flight.
 *
 * The client closes with SO_LINGER 0 (an RST).  At tens of thousands of
 * connections a second, orderly closes would leave one TIME_WAIT per round
 * trip (on the server side, which closes first) and, with the FIN_WAIT_2
 * peers, run the 28k ephemeral ports dry within seconds; the RST frees both
 * ends at once.  The reply has been read in full by then, so nothing the
 * server does is cut short. */

enum state { IDLE, CONNECTING, READING };

struct conn {
    int fd;
    enum state st;
    uint64_t t0_ns;
    size_t got;
    char buf[256];
};

struct worker {
    pthread_t tid;
    int ep;
    struct conn *conns;
    unsigned n;
    uint32_t *lat_us; /* one per completed round trip */
    size_t nlat, caplat;
    uint64_t errors;
    uint64_t
        err_by_errno[134]; /* index 0: wrong or short reply; 133: timeout */
};

static struct sockaddr_in g_addr;
static const char *g_msg = "Hello, World\n";
static char g_expect[256];
static size_t g_msglen, g_expectlen;
static uint64_t g_end_ns;
static uint64_t g_timeout_ns = 5000000000ull;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(struct worker *w, struct conn *c, int err)
{
    w->errors++;
    w->err_by_errno[err > 0 && err < 133 ? err : (err == -1 ? 133 : 0)]++;
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    c->st = IDLE;
}

static void finish(struct worker *w, struct conn *c)
{
    uint64_t dt = now_ns() - c->t0_ns;
    close(c->fd); /* SO_LINGER 0: RST, no TIME_WAIT anywhere */
    c->fd = -1;
    c->st = IDLE;
    if (c->got != g_expectlen || memcmp(c->buf, g_expect, g_expectlen) != 0) {
        fail(w, c, 0);
        return;
    }
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 65536;
        uint32_t *p = realloc(w->lat_us, cap * sizeof *p);
        if (p == NULL) {
            perror("realloc");
            exit(1);
        }
        w->lat_us = p;
        w->caplat = cap;
    }
    uint64_t us = dt / 1000;
    w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Reads what is there; finishes the round trip at EOF. */
static void on_readable(struct worker *w, struct conn *c)
{
    for (;;) {
        char tmp[256];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            size_t room = sizeof c->buf - c->got;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(c->buf + c->got, tmp, k);
            c->got += (size_t)n; /* an over-long reply then fails the compare */
            if (c->got > sizeof c->buf)
                c->got = sizeof c->buf;
            continue;
        }
        if (n == 0) {
            finish(w, c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            fail(w, c, errno);
        return;
    }
}

static void on_writable(struct worker *w, struct conn *c)
{
    ssize_t n = send(c->fd, g_msg, g_msglen, MSG_NOSIGNAL);
    if (n == (ssize_t)g_msglen) {
        c->st = READING;
        return;
    }
    if (n == -1 && errno == EAGAIN)
        return; /* still connecting; EPOLLOUT comes again */
    fail(w, c, n == -1 ? errno : 0);
}

static void start(struct worker *w, struct conn *c)
{
    c->t0_ns = now_ns();
    c->got = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        fail(w, c, errno);
        return;
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* One registration per round trip; close() removes it.  Edge
     * triggered: OUT once the connect completes, IN when the reply or the
     * FIN arrives. */
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
        fail(w, c, errno);
        return;
    }
    c->st = CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) == -1 &&
        errno != EINPROGRESS)
        fail(w, c, errno);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[512];
    uint64_t next_sweep = 0;
    for (unsigned i = 0; i < w->n; i++)
        start(w, &w->conns[i]);
    for (;;) {
        uint64_t now = now_ns();
        if (now >= g_end_ns)
            break;
        if (now >= next_sweep) { /* lost replies, failed starts */
            for (unsigned i = 0; i < w->n; i++) {
                struct conn *c = &w->conns[i];
                if (c->st != IDLE && now - c->t0_ns > g_timeout_ns)
                    fail(w, c, -1);
                if (c->st == IDLE)
                    start(w, c);
            }
            next_sweep = now + 10000000ull;
        }
        int n = epoll_wait(w->ep, evs, 512, 10);
        if (n == -1 && errno != EINTR) {
            perror("epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->st == CONNECTING && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                on_writable(w, c);
            if (c->st == READING &&
                (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
                on_readable(w, c);
            if (c->st == IDLE && now_ns() < g_end_ns)
                start(w, c);
        }
    }
    for (unsigned i = 0; i < w->n; i++) /* in flight at the bell: not counted */
        if (w->conns[i].fd != -1)
            close(w->conns[i].fd);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void usage(const char *argv0)
{
    fprintf(
        stderr,
        "usage: %s --port N [--host IPV4] [--conns N] [--duration SECONDS]\n"
        "          [--threads N] [--timeout-ms MS] [--message TEXT]\n"
        "prints: rt_s=... p50_us=... p99_us=... errors=... completed=...\n",
        argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"conns", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 'j'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"message", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1";
    long port = -1, conns = 1, threads = 1, timeout_ms = 5000;
    double duration = 3.0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = strtol(optarg, &end, 10);
            break;
        case 'c':
            conns = strtol(optarg, &end, 10);
            break;
        case 'j':
            threads = strtol(optarg, &end, 10);
            break;
        case 't':
            timeout_ms = strtol(optarg, &end, 10);
            break;
        case 'd':
            duration = strtod(optarg, &end);
            break;
        case 'm':
            g_msg = optarg;
            break;
        default:
            usage(argv[0]);
        }
        if (end != NULL && (*end != '\0' || end == optarg))
            usage(argv[0]);
    }
    if (optind != argc || port < 1 || port > 65535 || conns < 1 ||
        conns > 100000 || threads < 1 || threads > conns || timeout_ms < 1 ||
        !(duration > 0))
        usage(argv[0]);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1) {
        fprintf(stderr, "--host: not an IPv4 address: %s\n", host);
        return 2;
    }
    /* The expected reply: Python's data.strip().upper() on one recv(1024). */
    g_msglen = strlen(g_msg);
    const char *s = g_msg;
    size_t len = g_msglen;
    while (len > 0 && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
        s++;
        len--;
    }
    while (len > 0 &&
           (s[len - 1] == ' ' || (s[len - 1] >= '\t' && s[len - 1] <= '\r')))
        len--;
    if (len >= sizeof g_expect || g_msglen > 1024) {
        fprintf(stderr, "--message: too long\n");
        return 2;
    }
    for (size_t i = 0; i < len; i++)
        g_expect[i] =
            (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    g_expectlen = len;
    g_timeout_ns = (uint64_t)timeout_ms * 1000000ull;

    /* One descriptor per connection plus epoll and stdio. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1 ||
            rl.rlim_cur < (rlim_t)conns + 64)
            fprintf(stderr, "RLIMIT_NOFILE %llu < %ld connections\n",
                    (unsigned long long)rl.rlim_cur, conns);
    }
    signal(SIGPIPE, SIG_IGN);

    struct worker *ws = calloc((size_t)threads, sizeof *ws);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (ws == NULL || cs == NULL) {
        perror("calloc");
        return 1;
    }
    uint64_t t0 = now_ns();
    g_end_ns = t0 + (uint64_t)(duration * 1e9);
    long done = 0;
    for (long i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        w->n = (unsigned)((conns - done) / (threads - i));
        w->conns = cs + done;
        done += w->n;
        for (unsigned k = 0; k < w->n; k++)
            w->conns[k].fd = -1;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        int rc = w->ep == -1 ? errno : pthread_create(&w->tid, NULL, run, w);
        if (rc != 0) {
            fprintf(stderr, "worker %ld: %s\n", i, strerror(rc));
            return 1;
        }
    }
    size_t total = 0;
    uint64_t errors = 0, by[134] = {0};
    for (long i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        total += ws[i].nlat;
        errors += ws[i].errors;
        for (int k = 0; k < 134; k++)
            by[k] += ws[i].err_by_errno[k];
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL) {
        perror("malloc");
        return 1;
    }
    size_t at = 0;
    for (long i = 0; i < threads; i++) {
        memcpy(all + at, ws[i].lat_us, ws[i].nlat * sizeof *all);
        at += ws[i].nlat;
    }
    qsort(all, total, sizeof *all, cmp_u32);
    uint32_t p50 = total ? all[(total - 1) * 50 / 100] : 0;
    uint32_t p99 = total ? all[(total - 1) * 99 / 100] : 0;
    printf("rt_s=%.1f p50_us=%u p99_us=%u errors=%llu completed=%zu "
           "seconds=%.3f\n",
           (double)total / secs, p50, p99, (unsigned long long)errors, total,
           secs);
    for (int k = 0; k < 134; k++)
        if (by[k] != 0)
            fprintf(stderr, "errors: %llu x %s\n", (unsigned long long)by[k],
                    k == 0     ? "wrong reply"
                    : k == 133 ? "timeout"
                               : strerror(k));
    return 0;
}
