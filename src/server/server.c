/* server.c -- a server's life cycle and attributes: composes the vtable, creates, closes, destroys. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The 1.0 layouts: what a program built against the 1.0 header has. */
#define CONFIG_SIZE_1_0 offsetof(ss_config, listen_fd)
#define OPS_SIZE_1_0 offsetof(ss_server_ops, server_close)
#define HANDLER_SIZE_1_0 sizeof(ss_handler_class)

static void config_defaults(ss_config *cfg, ss_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->concurrency = SS_SYNC;
    cfg->host = "127.0.0.1";
    cfg->ipv6_only = 0;
    cfg->allow_reuse_address = true;
    cfg->allow_reuse_port = false;
    /* Python's request_queue_size = 5 drops connections under any burst;
     * the kernel caps SOMAXCONN at net.core.somaxconn anyway. */
    cfg->request_queue_size = SOMAXCONN;
    cfg->bind_and_activate = true;
    cfg->timeout_ms = -1;
    cfg->max_packet_size = 8192;
    cfg->min_workers = 0;
    cfg->max_workers = 1024;
    cfg->queue_capacity = 64;
    cfg->queue_full_policy = SS_QUEUE_FULL_BLOCK;
    cfg->idle_worker_ms = 10000;
    cfg->worker_stack_size = 0;
    cfg->block_on_close = true;
    cfg->daemon_threads = false;
    cfg->drain_timeout_ms = 5000;
    cfg->max_children = 40;
    cfg->listen_fd = -1;
    cfg->proxy_protocol = false;
    cfg->proxy_from = NULL;
    cfg->proxy_timeout_ms = 5000;
}

void ss_config_init_sized(ss_config *cfg, ss_kind kind, size_t size)
{
    ss_config c;
    config_defaults(&c, kind);
    memcpy(cfg, &c, size < sizeof c ? size : sizeof c);
}

void(ss_config_init)(ss_config *cfg, ss_kind kind)
{
    ss_config_init_sized(cfg, kind, CONFIG_SIZE_1_0);
}

/* ---- the vtable: base <- kind <- mix-in <- user ---------------------- */

static void overlay(ss_server_ops *dst, const ss_server_ops *src)
{
#define OV(f)                                                                  \
    if (src->f)                                                                \
    dst->f = src->f
    OV(server_bind);
    OV(server_activate);
    OV(get_request);
    OV(verify_request);
    OV(process_request);
    OV(finish_request);
    OV(shutdown_request);
    OV(close_request);
    OV(handle_error);
    OV(handle_timeout);
    OV(service_actions);
    OV(server_close);
#undef OV
}

static const ss_server_ops base_ops = {
    .server_close = ss_base_server_close,
    .server_bind = ss_base_server_bind,
    .server_activate = ss_base_server_activate,
    .verify_request = ss_base_verify_request,
    .process_request = ss_base_process_request,
    .finish_request = ss_base_finish_request,
    .handle_error = ss_base_handle_error,
    .handle_timeout = ss_base_handle_timeout,
    .service_actions = ss_base_service_actions,
};

/* TCPServer; UnixStreamServer is a TCPServer with another family. */
static const ss_server_ops tcp_ops = {
    .server_bind = ss_tcp_server_bind,
    .server_activate = ss_tcp_server_activate,
    .get_request = ss_tcp_get_request,
    .shutdown_request = ss_tcp_shutdown_request,
    .close_request = ss_tcp_close_request,
};

/* UDPServer(TCPServer): inherits server_bind, overrides the rest. */
static const ss_server_ops udp_ops = {
    .server_bind = ss_tcp_server_bind,
    .server_activate = ss_udp_server_activate,
    .get_request = ss_udp_get_request,
    .shutdown_request = ss_udp_shutdown_request,
    .close_request = ss_udp_close_request,
};

static const ss_server_ops threading_ops = {
    .process_request = ss_threading_process_request,
};

static const ss_server_ops forking_ops = {
    .process_request = ss_forking_process_request,
    .service_actions = ss_forking_service_actions,
};

static void compose_ops(ss_server *s, const ss_server_ops *user)
{
    ss_server_ops o = base_ops;
    overlay(&o, ss__is_stream(s) ? &tcp_ops : &udp_ops);
    if (s->cfg.concurrency == SS_THREADING)
        overlay(&o, &threading_ops);
    else if (s->cfg.concurrency == SS_FORKING)
        overlay(&o, &forking_ops);
    s->inherited = o;
    if (user)
        overlay(&o, user);
    s->ops = o;
}

static int check_config(const ss_config *c)
{
    if (c->kind > SS_UNIX_DGRAM || c->concurrency > SS_FORKING)
        return -EINVAL;
    if (c->concurrency == SS_THREADING &&
        (c->max_workers == 0 || c->min_workers > c->max_workers ||
         c->queue_capacity == 0))
        return -EINVAL;
    if (c->concurrency == SS_FORKING && c->max_children == 0)
        return -EINVAL;
    if (c->max_packet_size == 0 || c->max_packet_size > 65535)
        return -EINVAL;
    if (c->ipv6_only < -1 || c->ipv6_only > 1)
        return -EINVAL;
    return 0;
}

static char *dup_opt(const char *p, int *err)
{
    if (!p)
        return NULL;
    char *d = strdup(p);
    if (!d)
        *err = -ENOMEM;
    return d;
}

int ss_server_create_sized(ss_server **out, const ss_config *ucfg,
                           size_t cfg_size, const ss_handler_class *uhandler,
                           size_t handler_size, const ss_server_ops *uops,
                           size_t ops_size, void *user)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ucfg || !uhandler || cfg_size < CONFIG_SIZE_1_0 ||
        handler_size < HANDLER_SIZE_1_0 || (uops && ops_size < OPS_SIZE_1_0))
        return -EINVAL;
    /* What the caller's header had, over the defaults for the rest. */
    ss_config cfgv;
    config_defaults(&cfgv, ucfg->kind);
    memcpy(&cfgv, ucfg, cfg_size < sizeof cfgv ? cfg_size : sizeof cfgv);
    ss_handler_class handler = {0};
    memcpy(&handler, uhandler,
           handler_size < sizeof handler ? handler_size : sizeof handler);
    ss_server_ops opsv = {0};
    if (uops)
        memcpy(&opsv, uops, ops_size < sizeof opsv ? ops_size : sizeof opsv);
    const ss_config *cfg = &cfgv;
    const ss_server_ops *ops = uops ? &opsv : NULL;
    int rc = check_config(cfg);
    if (rc < 0)
        return rc;

    ss_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    s->fd = -1;
    s->wake_fd = -1;
    s->handler_copy = handler;
    s->handler = &s->handler_copy;
    s->user = user;
    s->accept_backoff_ms = 10;
    atomic_init(&s->shutdown_request, false);
    atomic_init(&s->stopping, false);
    atomic_init(&s->handled, 0);
    atomic_init(&s->rejected, 0);
    atomic_init(&s->errors, 0);
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return -ENOMEM;
    }
    if (pthread_cond_init(&s->shut_cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -ENOMEM;
    }
    rc = 0;
    s->host = dup_opt(cfg->host, &rc);
    s->path = dup_opt(cfg->path, &rc);
    s->proxy_from = dup_opt(cfg->proxy_from, &rc);
    s->cfg.host = s->host;
    s->cfg.path = s->path;
    s->cfg.proxy_from = s->proxy_from;
    if (rc == 0)
        rc = ss__limits_init(s);
    if (rc == 0)
        rc = ss__running_init(s);
    bool adopt = cfg->listen_fd >= 0;
    if (rc == 0)
        rc = adopt ? ss__adopt_socket(s, cfg->listen_fd) : ss__resolve(s);
    if (rc == 0) {
        compose_ops(s, ops);
        int w = ss__eventfd();
        if (w < 0)
            rc = w;
        else
            s->wake_fd = w;
    }
    if (rc == 0 && !ss__is_stream(s)) {
        s->pkt = malloc(s->cfg.max_packet_size);
        if (!s->pkt)
            rc = -ENOMEM;
    }
    if (rc == 0 && !adopt)
        rc = ss__open_socket(s);
    if (rc == 0 && ss__is_stream(s) && cfg->concurrency != SS_FORKING)
        rc = ss__park_create(s);
    if (rc == 0)
        rc = ss__proxy_create(s);
    if (rc == 0 && cfg->concurrency == SS_THREADING)
        rc = ss__pool_create(s);
    if (rc == 0 && cfg->concurrency == SS_FORKING)
        rc = ss__forking_create(s);
    if (rc == 0 && cfg->bind_and_activate && !adopt) {
        rc = s->ops.server_bind(s);
        if (rc == 0)
            rc = s->ops.server_activate(s);
    }
    if (rc < 0) {
        if (adopt && s->fd == cfg->listen_fd)
            s->fd = -1; /* a failed create leaves the socket the caller's */
        ss_server_destroy(s);
        return rc;
    }
    ss__ignore_sigpipe();
    *out = s;
    return 0;
}

int(ss_server_create)(ss_server **out, const ss_config *cfg,
                      const ss_handler_class *handler, const ss_server_ops *ops,
                      void *user)
{
    return ss_server_create_sized(out, cfg, CONFIG_SIZE_1_0, handler,
                                  HANDLER_SIZE_1_0, ops, OPS_SIZE_1_0, user);
}

/* Closes the listening or datagram socket, and removes a Unix socket's
 * file if it is still the one we made.  Idempotent. */
static void close_socket(ss_server *s)
{
    if (s->fd < 0)
        return;
    ss__close(s->fd);
    s->fd = -1;
    if (s->unlink_on_close && s->path) {
        struct stat st;
        if (lstat(s->path, &st) == 0 && st.st_dev == s->path_dev &&
            st.st_ino == s->path_ino)
            (void)unlink(s->path);
    }
}

int ss_server_close(ss_server *s)
{
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    bool was_closed = s->closed;
    s->closed = true;
    pthread_mutex_unlock(&s->mu);
    if (!was_closed) {
        /* A create that failed early has no vtable yet: the base step. */
        if (s->ops.server_close)
            s->ops.server_close(s);
        else
            ss_base_server_close(s);
    }
    return 0;
}

/* Python's BaseServer.server_close and the mix-ins' (join the threads,
 * reap the children), in one step. */
void ss_base_server_close(ss_server *s)
{
    atomic_store(&s->stopping, true);

    /* A stream server stops accepting first, so the drain only has to wait
     * for what is already in.  A datagram server's socket is also every
     * in-flight request's (replies go out on it): it closes after the
     * drain, or a late reply would fail with EBADF -- or, the number being
     * reused meanwhile, go out on someone else's descriptor. */
    if (ss__is_stream(s))
        close_socket(s);

    /* Parked connections wait for a message the server will not serve:
     * they end now (finish() sees -ESHUTDOWN); the drain is for work in
     * progress.  No request can park after this. */
    for (ss_request *r = ss__park_close(s), *next; r; r = next) {
        next = r->qnext;
        ss__request_abort(s, r, -ESHUTDOWN);
    }

    /* Connections still waiting for their PROXY header were never
     * admitted: they are closed, unreported. */
    ss__proxy_close(s);

    int drain = s->cfg.drain_timeout_ms;
    if (s->cfg.daemon_threads || !s->cfg.block_on_close)
        drain = 0;
    if (s->pool)
        ss__pool_close(s, drain);
    if (s->forking)
        ss__forking_close(s, drain);
    close_socket(s);
}

void ss_server_destroy(ss_server *s)
{
    if (!s)
        return;
    ss_server_close(s);
    ss__signals_forget(s); /* before the wake-up descriptor goes */
    ss__close(s->wake_fd);
    ss__limits_destroy(s);
    ss__running_destroy(s);
    ss__pool_free(s);
    ss__park_free(s);
    ss__proxy_free(s);
    ss__forking_free(s);
    free(s->pkt);
    free(s->host);
    free(s->path);
    free(s->proxy_from);
    pthread_cond_destroy(&s->shut_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- attributes ---------------------------------------------------------- */

int ss_server_fileno(const ss_server *s)
{
    return s ? s->fd : -EINVAL;
}

const struct sockaddr *ss_server_address(const ss_server *s, socklen_t *len)
{
    if (len)
        *len = s->addrlen;
    return (const struct sockaddr *)&s->addr;
}

uint16_t ss_server_port(const ss_server *s)
{
    if (s->family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&s->addr)->sin_port);
    if (s->family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&s->addr)->sin6_port);
    return 0;
}

const ss_config *ss_server_config(const ss_server *s)
{
    return &s->cfg;
}
void *ss_server_user(const ss_server *s)
{
    return s->user;
}
const ss_server_ops *ss_server_inherited_ops(const ss_server *s)
{
    return &s->inherited;
}
bool ss_server_stopping(const ss_server *s)
{
    return atomic_load(&((ss_server *)s)->stopping);
}

unsigned ss_server_parked(ss_server *s)
{
    return ss__park_count(s);
}

void ss_server_get_stats(ss_server *s, ss_server_stats *st)
{
    memset(st, 0, sizeof *st);
    st->active = ss__active(s);
    st->handled = atomic_load(&s->handled);
    st->rejected = atomic_load(&s->rejected);
    st->errors = atomic_load(&s->errors);
    if (s->pool)
        ss__pool_stats(s, st);
    if (s->forking)
        st->children = ss__forking_children(s);
}
