/* socketserver.h -- Python's socketserver, in C, with a bounded thread pool.
 *
 * The design (read this first; it mirrors the docstring of CPython's
 * Lib/socketserver.py):
 *
 * What varies between servers is (1) the address family and socket type and
 * (2) how requests run concurrently.  The first is the server *kind*:
 *
 *     SS_TCP          AF_INET/AF_INET6 + SOCK_STREAM   (Python: TCPServer)
 *     SS_UDP          AF_INET/AF_INET6 + SOCK_DGRAM    (Python: UDPServer)
 *     SS_UNIX_STREAM  AF_UNIX + SOCK_STREAM            (UnixStreamServer)
 *     SS_UNIX_DGRAM   AF_UNIX + SOCK_DGRAM             (UnixDatagramServer)
 *
 * The second is the *concurrency* model, Python's mix-ins:
 *
 *     SS_SYNC       each request runs to completion on the serving thread
 *     SS_THREADING  ThreadingMixIn, but as a bounded pool of worker threads
 *     SS_FORKING    ForkingMixIn: a child process per request (max_children)
 *
 * Python composes a class by inheritance, e.g.
 *
 *         +------------+
 *         | BaseServer |
 *         +------------+
 *               |
 *               v
 *         +-----------+        +------------------+
 *         | TCPServer |------->| UnixStreamServer |
 *         +-----------+        +------------------+
 *               |
 *               v
 *         +-----------+        +--------------------+
 *         | UDPServer |------->| UnixDatagramServer |
 *         +-----------+        +--------------------+
 *
 *     class ThreadingTCPServer(ThreadingMixIn, TCPServer): pass
 *
 * Here the same lookup order is built as a vtable (struct ss_server_ops):
 * ss_server_create() starts from BaseServer's steps (ss_base_*), overlays the
 * kind's (ss_tcp_*, ss_udp_*), then the mix-in's (ss_threading_*,
 * ss_forking_*), then any non-NULL entry of the ops you pass.  Each default
 * step is a public function, so an override can call "super" either by name
 * or through ss_server_inherited_ops().
 *
 * When to pick which: threading for many long-lived connections that mostly
 * wait on I/O (the pool bounds memory and threads); forking when a request
 * must be isolated from the others (its own address space) or runs code that
 * is not thread safe; sync for a one-connection-at-a-time service or tests.
 *
 * A request handler "class" is struct ss_handler_class: setup/handle/finish
 * plus the size of its per-request state.  finish_request() instantiates it
 * for each request (an ss_request), exactly as Python instantiates
 * RequestHandlerClass(request, client_address, server).
 *
 * Conventions (as libuv): every function that can fail returns 0 (or a
 * non-negative count) on success and a negative errno on failure.  Objects are
 * created and destroyed by the library.  Unless a comment says otherwise, a
 * function may be called from any thread.
 *
 * Platform: Linux only.  The library stands on eventfd (the loop's wake-up),
 * accept4, epoll (parked connections), pidfd_open (SS_FORKING's children)
 * and SO_RCVTIMEO/SO_SNDTIMEO semantics as Linux has them.
 *
 * Where it differs from Python on purpose:
 *   - SS_THREADING is a bounded pool (max_workers, queue_capacity), not a
 *     thread per request; its default bound is high enough for Python's
 *     loop-until-EOF handlers (see max_workers), and handlers that return
 *     SS_KEEP need no thread while they wait.
 *   - A datagram longer than max_packet_size is dropped and reported
 *     (handle_error, -EMSGSIZE), never silently truncated to the buffer.
 *   - allow_reuse_address defaults to true (Python: False for TCPServer),
 *     so a restarted server binds while old connections sit in TIME_WAIT.
 *   - Admission limits (max_connections, max_per_address), idle timeouts and
 *     a drain deadline at server_close exist; Python has none of them.
 *   - Behind a load balancer, the HAProxy PROXY protocol (proxy_protocol):
 *     the client's address comes from the header a trusted proxy sends.
 */
#ifndef SOCKETSERVER_H
#define SOCKETSERVER_H

#include <errno.h> /* the -E* codes every function returns */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from the shared library; the rest of
 * the library is built with hidden visibility. */
#pragma GCC visibility push(default)

#define SS_VERSION_MAJOR 1
#define SS_VERSION_MINOR 1
#define SS_VERSION_PATCH 0

/* A server.  Created by ss_server_create(), freed by ss_server_destroy(). */
typedef struct ss_server ss_server;

/* One request handler instance: lives from finish_request() until the
 * handler's finish() returns.  Owned by the library; never free it. */
typedef struct ss_request ss_request;

/* The server kind: address family + socket type. */
typedef enum ss_kind {
    SS_TCP = 0,
    SS_UDP,
    SS_UNIX_STREAM,
    SS_UNIX_DGRAM
} ss_kind;

/* The concurrency model (Python's mix-ins). */
typedef enum ss_concurrency {
    SS_SYNC = 0,
    SS_THREADING,
    SS_FORKING
} ss_concurrency;

/* What the thread pool does with a new request when its queue is full. */
typedef enum ss_queue_full_policy {
    /* Stop accepting until a slot frees: new connections wait in the
     * kernel's listen backlog (backpressure).  Nothing is dropped. */
    SS_QUEUE_FULL_BLOCK = 0,
    /* Close the new connection at once (a stream peer sees EOF) and report
     * it through handle_error with -EBUSY.  Datagrams are dropped. */
    SS_QUEUE_FULL_REJECT
} ss_queue_full_policy;

/* Server configuration.  Always start with ss_config_init(), then change the
 * fields you care about; new fields get safe defaults there. */
typedef struct ss_config {
    ss_kind kind;
    ss_concurrency concurrency;

    /* Address.  IP kinds: host is a numeric address or name ("127.0.0.1",
     * "::1", "::", "localhost"); NULL or "" means all IPv4 interfaces.
     * port 0 binds an ephemeral port; read it back with
     * ss_server_address().  Unix kinds: path (removed on server_close() if
     * we created it).  A path starting with '@' is an abstract socket. */
    const char *host;
    uint16_t port;
    const char *path;

    /* IPv6 sockets only: -1 leave the system default, 0 dual-stack (IPv4
     * clients appear as ::ffff:a.b.c.d), 1 IPv6 only.  Default 0, so "::"
     * serves both families. */
    int ipv6_only;

    bool allow_reuse_address; /* SO_REUSEADDR; default true */
    bool allow_reuse_port;    /* SO_REUSEPORT, IP sockets only; default false */
    int request_queue_size;   /* listen() backlog; default SOMAXCONN */
    bool
        bind_and_activate; /* bind+listen in ss_server_create(); default true */

    /* handle_request(): milliseconds to wait for a request before calling
     * handle_timeout; -1 (default) waits forever (Python's timeout=None). */
    int timeout_ms;

    /* Largest datagram accepted (Python's max_packet_size); default 8192,
     * at most 65535. */
    size_t max_packet_size;

    /* Admission control, applied before anything is allocated for a
     * connection.  0 = unlimited.  A connection over a limit is closed at
     * once and reported through handle_error with -EUSERS (total) or
     * -EMLINK (per address).  Stream kinds only. */
    unsigned max_connections;
    unsigned max_per_address;

    /* Stream requests: a read or write that waits longer than this many
     * milliseconds fails with -ETIMEDOUT (enforced with poll() in the
     * helpers and SO_RCVTIMEO/SO_SNDTIMEO on the socket).  0 = none. */
    int idle_timeout_ms;

    /* SS_THREADING.  Workers are started on demand up to max_workers and
     * retire after idle_worker_ms without work, down to min_workers.  A
     * handler that loops until the peer closes (Python's usual program)
     * holds a worker per connection, as Python's ThreadingMixIn holds a
     * thread: the default max_workers, 1024, serves that many such clients
     * at once.  Past it a request waits in the queue for a worker, and the
     * wait is reported once per episode through handle_error (-EAGAIN,
     * "all workers busy"): never a silent starvation.  A handler returning
     * SS_KEEP holds a worker only while it runs; 2 x cores workers then
     * serve thousands of connections. */
    unsigned min_workers;    /* default 0 */
    unsigned max_workers;    /* default 1024 */
    unsigned queue_capacity; /* accepted requests waiting; default 64 */
    ss_queue_full_policy queue_full_policy; /* default BLOCK */
    int idle_worker_ms;                     /* default 10000 */
    size_t worker_stack_size;               /* bytes; 0 = 256 KiB */

    /* server_close(): with block_on_close (default true) and not
     * daemon_threads (default false), requests in flight get up to
     * drain_timeout_ms (default 5000, -1 = forever) to finish; then their
     * sockets are shut down so blocked handlers return, and every worker
     * or child is joined or reaped.  daemon_threads or !block_on_close
     * cut in-flight requests at once instead of waiting.  Either way no
     * thread, process or request descriptor outlives ss_server_close();
     * only the wake-up eventfd stays until ss_server_destroy(), so that a
     * signal handler calling ss_server_request_shutdown() late can never
     * write to a descriptor number that has been reused. */
    bool block_on_close;
    bool daemon_threads;
    int drain_timeout_ms;

    /* SS_FORKING: at most this many children at once; at the limit the
     * server waits for one of *its own* children to exit.  Default 40. */
    unsigned max_children;

    /* ---- since 1.1 (see "ABI" below) ---- */

    /* An already-bound socket to serve instead of making one: a listening
     * stream socket (systemd socket activation passes fd 3, LISTEN_FDS=1)
     * or a bound datagram socket, of cfg.kind's family and type (-EINVAL
     * otherwise).  The server takes it over (closed by server_close) and
     * skips server_bind and server_activate; host, port and path are not
     * used and ss_server_address() reads the socket's own.  If create
     * fails the descriptor stays the caller's.  Default -1: none. */
    int listen_fd;

    /* Behind a load balancer: the HAProxy PROXY protocol, v1 (text) or v2
     * (binary), https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt.
     * SS_TCP only (-EINVAL for other kinds).  Default false.
     *
     * proxy_from lists the trusted proxies: comma-separated IPv4/IPv6
     * addresses or CIDR blocks, "127.0.0.1,10.0.0.0/8,2001:db8::/32"
     * (an IPv4 block also matches its IPv4-mapped form on a dual-stack
     * socket).  Required with proxy_protocol; an empty or malformed list
     * is -EINVAL at create (ss_proxy_from_check() says which item).  The
     * string is copied.
     *
     * A connection from a trusted address must open with a valid header
     * (v1: "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN",
     * at most 107 bytes; v2: the 12-byte signature, version 2, LOCAL or
     * PROXY over AF_INET/AF_INET6 STREAM or AF_UNSPEC, TLVs skipped, at
     * most 4096 bytes in all).  Exactly the header's bytes are consumed:
     * the handler's first read is the client's first byte (its protocol or
     * TLS ClientHello).  PROXY replaces conn->addr with the header's source
     * before verify_request, admission and the handler, so per-address
     * limits, ss_request_client_address() and logs all see the client;
     * LOCAL, UNKNOWN and v2 AF_UNSPEC keep the proxy's own address.
     *
     * Until the header is whole the connection waits in the serving loop's
     * epoll set -- no worker thread, and the accept loop goes on -- for at
     * most proxy_timeout_ms (default 5000; 0 = no limit; < 0 -EINVAL).
     * It is not yet admitted: admission (max_connections, max_per_address)
     * counts it
     * once the header has named the client, so the proxy's own address
     * never uses up max_per_address for every client behind it.  At most
     * max_connections (or 1024 when that is 0) wait at once; more are
     * refused with -EUSERS.  A missing, malformed, cut or late header
     * closes the connection and is reported through handle_error with
     * what "PROXY header: <cause>" and -EPROTO (not a header / malformed),
     * -EMSGSIZE (too long), -ENOTSUP (a version, command or family we do
     * not take), -ECONNRESET (closed first) or -ETIMEDOUT.
     * ss_server_handle_request() waits for the header in place.
     *
     * From any other address nothing is parsed: a "PROXY ..." line from a
     * client is the handler's data like any other, never honoured. */
    bool proxy_protocol;
    const char *proxy_from;
    int proxy_timeout_ms;
} ss_config;

/* A request as get_request() returns it: Python's (request, client_address).
 * For stream kinds fd is the connected socket; for datagram kinds fd is the
 * server socket and data/len the packet (data points into a server buffer
 * until process_request copies it). */
typedef struct ss_conn {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    const void *data;
    size_t len;
    void *priv_; /* library use only */
} ss_conn;

/* The overridable steps of BaseServer.  Any NULL entry inherits. */
typedef struct ss_server_ops {
    int (*server_bind)(ss_server *s);
    int (*server_activate)(ss_server *s);
    /* Wait-free: called only when fileno() is readable.  Returns 0 and fills
     * *conn, -EAGAIN if there was nothing after all, or another -errno. */
    int (*get_request)(ss_server *s, ss_conn *conn);
    bool (*verify_request)(ss_server *s, const ss_conn *conn);
    int (*process_request)(ss_server *s, ss_conn *conn);
    /* Instantiates the handler and runs setup/handle/finish. */
    int (*finish_request)(ss_server *s, ss_conn *conn);
    /* Stream: shutdown(SHUT_WR) then close_request.  Datagram: close_request. */
    void (*shutdown_request)(ss_server *s, ss_conn *conn);
    /* Stream: close(fd).  Datagram: nothing (the socket is the server's). */
    void (*close_request)(ss_server *s, ss_conn *conn);
    /* conn may be NULL (e.g. EMFILE while accepting).  err is a -errno,
     * what names the step that failed.  Default: one line on stderr. */
    void (*handle_error)(ss_server *s, const ss_conn *conn, int err,
                         const char *what);
    void (*handle_timeout)(ss_server *s);
    /* Called once per serve_forever() loop iteration. */
    void (*service_actions)(ss_server *s);

    /* ---- since 1.1 ---- */

    /* Python's server_close, run once by ss_server_close(): closes the
     * socket and drains, joins or reaps the requests in flight (see
     * block_on_close).  An override chains to ss_base_server_close() (or
     * ss_server_inherited_ops()->server_close) to keep that. */
    void (*server_close)(ss_server *s);
} ss_server_ops;

/* A request handler "class" (Python's BaseRequestHandler subclass).  For
 * each request the library allocates an ss_request with state_size zeroed
 * bytes of per-request state, then: setup(); if it returned 0, handle() and
 * finish() (finish() runs even if handle() failed, like Python's
 * try/finally).  A negative return is passed to handle_error.  Any callback
 * may be NULL.  With SS_THREADING the callbacks run on pool workers, so
 * shared state needs locking.
 *
 * Parked connections (stream kinds).  A handler written as Python's usual
 * loop -- read a message, answer, repeat until EOF -- holds a thread for
 * the connection's whole life, idle or not.  Instead, handle() may serve
 * what has arrived and return SS_KEEP: "this connection waits for its next
 * message".  The library then parks it (epoll) at the cost of the
 * ss_request and the handler's state -- no thread, no read buffer -- and
 * calls handle() again, on any worker, once the socket is readable (data,
 * EOF or an error: handle() finds out by reading), or at once if the
 * stream helpers still hold buffered input or the handler said it holds
 * some (ss_request_set_pending()).  setup() runs once before the first
 * handle(), finish() once after the last; the state lives across calls.
 * A parked wait ends the connection (finish(), then the close) when:
 *   - the request's timeout passes (ss_stream_set_timeout(), by default
 *     idle_timeout_ms; 0 = none), or its deadline (ss_request_set_deadline())
 *     -- ss_request_status() is then -ETIMEDOUT;
 *   - the server closes -- status -ESHUTDOWN.  A connection the server is
 *     still admitting (max_connections, max_per_address) stays counted
 *     while parked.
 * Where the library cannot park -- serve_forever() is not running (e.g.
 * ss_server_handle_request()), or SS_FORKING, whose child serves its one
 * connection -- SS_KEEP waits for input in place, with the same timeouts;
 * once the server is stopping it ends the connection instead.  On datagram
 * kinds SS_KEEP reads as 0. */
typedef struct ss_handler_class {
    const char *name;
    size_t state_size;
    int (*setup)(ss_request *r);
    int (*handle)(ss_request *r);
    int (*finish)(ss_request *r);
} ss_handler_class;

/* handle()'s "park this connection until its next message" (see above). */
#define SS_KEEP 1

/* ---- ABI -------------------------------------------------------------------
 * The soname stays 1 as long as programs built against any 1.x header keep
 * working with a newer 1.y library.  ss_config, ss_server_ops and
 * ss_handler_class are allocated by the program, so:
 *   - new fields are only ever appended (under a "since 1.y" line), never
 *     inserted, resized or removed;
 *   - the program tells the library how big its structs are: the macros
 *     ss_config_init() and ss_server_create() below pass sizeof of each,
 *     and the library reads (and ss_config_init writes) only that much;
 *     fields a program's header did not have take their defaults;
 *   - the plain functions ss_config_init and ss_server_create remain for
 *     programs built against 1.0, which had no sizes: they stand for the
 *     1.0 layouts.
 * tests/lib/test_abi.c builds a program against the 1.0 header and runs it
 * on this library. */

/* ---- configuration and life cycle ------------------------------------- */

/* Fills *cfg (size bytes: sizeof(ss_config) of the caller's header) with
 * the defaults for kind (SS_SYNC concurrency).  Use ss_config_init(). */
void ss_config_init_sized(ss_config *cfg, ss_kind kind, size_t size);
/* The 1.0 entry point (the 1.0 layout of ss_config). */
void(ss_config_init)(ss_config *cfg, ss_kind kind);
/* Fills *cfg with the defaults for kind (SS_SYNC concurrency). */
#define ss_config_init(cfg, kind)                                              \
    ss_config_init_sized((cfg), (kind), sizeof(ss_config))

/* ss_server_create() with the sizes of the caller's structs (its header's
 * sizeof); -EINVAL below the 1.0 sizes.  Use ss_server_create(). */
int ss_server_create_sized(ss_server **out, const ss_config *cfg,
                           size_t cfg_size, const ss_handler_class *handler,
                           size_t handler_size, const ss_server_ops *ops,
                           size_t ops_size, void *user);
/* The 1.0 entry point (the 1.0 layouts). */
int(ss_server_create)(ss_server **out, const ss_config *cfg,
                      const ss_handler_class *handler, const ss_server_ops *ops,
                      void *user);

/* Creates a server.  cfg, ops and handler are copied: they need not outlive
 * the call.  If SIGPIPE still has its default action, it is set
 * to SIG_IGN for the whole process (a peer that goes away must cost one
 * request, never the process); a handler the program installed is kept.  ops may be NULL; user is the context every request
 * sees through ss_request_user().  With cfg->bind_and_activate the socket is
 * bound and listening on return.  On failure *out is NULL. */
#define ss_server_create(out, cfg, handler, ops, user)                         \
    ss_server_create_sized((out), (cfg), sizeof(ss_config), (handler),         \
                           sizeof(ss_handler_class), (ops),                    \
                           sizeof(ss_server_ops), (user))

/* Handles requests until ss_server_shutdown().  poll_interval_ms only sets
 * how often service_actions runs when idle (shutdown is immediate: it wakes
 * the loop through a descriptor).  Call from one thread at a time.
 * Returns 0 after a shutdown, -EALREADY if another call is already serving
 * this server, -EBADF after ss_server_close(), or -errno if the loop could
 * not run. */
int ss_server_serve_forever(ss_server *s, int poll_interval_ms);

/* Handles one request, waiting at most cfg.timeout_ms (then calls
 * handle_timeout and returns -ETIMEDOUT). */
int ss_server_handle_request(ss_server *s);

/* Asks serve_forever() to stop and waits until it has returned.  Returns at
 * once (without waiting) if called on the serving thread itself -- e.g. from
 * a handler under SS_SYNC -- or if serve_forever() is not running; the loop
 * then stops before it would handle the next request.  Safe from any
 * thread, never deadlocks. */
int ss_server_shutdown(ss_server *s);

/* Async-signal-safe: only sets a flag and writes to the wake-up descriptor.
 * Use this from SIGINT/SIGTERM handlers. */
void ss_server_request_shutdown(ss_server *s);

/* The documented way to stop on Ctrl-C or a service manager's stop:
 * installs SIGINT and SIGTERM handlers (sigaction, SA_RESTART) that call
 * ss_server_request_shutdown() on s -- and on every other server given to
 * this function in the process, up to 8.  serve_forever() then returns 0;
 * the program goes on to ss_server_close(), which drains as configured.
 * ss_server_destroy() takes s off the list.  Handlers the program had for
 * those signals are replaced.  Returns 0, -ENOSPC past 8 servers, or
 * sigaction's -errno. */
int ss_server_shutdown_on_signals(ss_server *s);

/* Closes the listening socket and drains/joins/reaps per the config (see
 * block_on_close).  Idempotent.  Must not be called from a handler. */
int ss_server_close(ss_server *s);

/* ss_server_close() if needed, then frees the server.  NULL is a no-op. */
void ss_server_destroy(ss_server *s);

/* ---- attributes --------------------------------------------------------- */

/* The listening (or datagram) socket: Python's fileno(). */
int ss_server_fileno(const ss_server *s);

/* Python's server_address: the real bound address (port filled in after
 * binding port 0).  Pointer valid for the server's life. */
const struct sockaddr *ss_server_address(const ss_server *s, socklen_t *len);

/* The bound port (IP kinds), 0 otherwise. */
uint16_t ss_server_port(const ss_server *s);

/* The configuration in force (read-only). */
const ss_config *ss_server_config(const ss_server *s);

/* The user context given to ss_server_create(). */
void *ss_server_user(const ss_server *s);

/* "Super": the ops as they were before the user's overrides were applied
 * (kind + mix-in + base), for an override to chain to. */
const ss_server_ops *ss_server_inherited_ops(const ss_server *s);

/* True once shutdown or close has begun; long handlers should poll it. */
bool ss_server_stopping(const ss_server *s);

/* Live counters, for tests and monitoring. */
typedef struct ss_server_stats {
    unsigned workers;      /* pool threads alive */
    unsigned idle_workers; /* of which waiting for work */
    unsigned queued;       /* requests waiting in the pool queue */
    unsigned active;       /* admitted connections not yet closed */
    unsigned children;     /* forked children not yet reaped */
    uint64_t handled;      /* requests whose handler has finished */
    uint64_t rejected;     /* refused by verify, limits or a full queue */
    uint64_t errors;       /* handle_error calls */
} ss_server_stats;
void ss_server_get_stats(ss_server *s, ss_server_stats *st);
/* Connections parked now (SS_KEEP), waiting for their next message. */
unsigned ss_server_parked(ss_server *s);

/* Checks a proxy_from list as ss_server_create() will.  Returns 0, or
 * -EINVAL with *bad and *badlen (if not NULL) the offset and length in
 * list of the first item that is not an address or CIDR block (an empty
 * list: 0 and 0). */
int ss_proxy_from_check(const char *list, size_t *bad, size_t *badlen);

/* Formats a socket address as "1.2.3.4:80", "[::1]:80" or a Unix path. */
int ss_format_address(const struct sockaddr *sa, socklen_t len, char *buf,
                      size_t cap);

/* ---- the default steps ("super" by name) ------------------------------- */
/* BaseServer */
void ss_base_server_close(ss_server *s);
int ss_base_server_bind(ss_server *s);
int ss_base_server_activate(ss_server *s);
bool ss_base_verify_request(ss_server *s, const ss_conn *conn);
int ss_base_process_request(ss_server *s, ss_conn *conn);
int ss_base_finish_request(ss_server *s, ss_conn *conn);
void ss_base_handle_error(ss_server *s, const ss_conn *conn, int err,
                          const char *what);
void ss_base_handle_timeout(ss_server *s);
void ss_base_service_actions(ss_server *s);
/* TCPServer (also UnixStreamServer) */
int ss_tcp_server_bind(ss_server *s);
int ss_tcp_server_activate(ss_server *s);
int ss_tcp_get_request(ss_server *s, ss_conn *conn);
void ss_tcp_shutdown_request(ss_server *s, ss_conn *conn);
void ss_tcp_close_request(ss_server *s, ss_conn *conn);
/* UDPServer (also UnixDatagramServer) */
int ss_udp_server_activate(ss_server *s);
int ss_udp_get_request(ss_server *s, ss_conn *conn);
void ss_udp_shutdown_request(ss_server *s, ss_conn *conn);
void ss_udp_close_request(ss_server *s, ss_conn *conn);
/* ThreadingMixIn */
int ss_threading_process_request(ss_server *s, ss_conn *conn);
/* ForkingMixIn */
int ss_forking_process_request(ss_server *s, ss_conn *conn);
void ss_forking_service_actions(ss_server *s);

/* ---- the request (BaseRequestHandler's attributes) ---------------------- */

/* Python's self.request: the connected socket (stream) or the server socket
 * (datagram; the packet is ss_request_packet()). */
int ss_request_fd(const ss_request *r);
ss_server *ss_request_server(const ss_request *r);
const struct sockaddr *ss_request_client_address(const ss_request *r,
                                                 socklen_t *len);
/* The client address as text ("127.0.0.1:5000"); valid for the request. */
const char *ss_request_client_str(const ss_request *r);
/* Python's client_address[0]: the client's host alone, "127.0.0.1" or
 * "::1" (IPv4 clients of a dual-stack socket read "::ffff:127.0.0.1"), a
 * Unix peer's path ("@name" if abstract) or "" for an unnamed one.  Valid
 * for the request. */
const char *ss_request_client_host(const ss_request *r);
/* The handler's per-request state (state_size zeroed bytes, or NULL). */
void *ss_request_state(const ss_request *r);
/* The server's user context. */
void *ss_request_user(const ss_request *r);
/* Parking: tells the library that the handler holds input of its own (a
 * TLS layer's decrypted records, say), so that after SS_KEEP handle() is
 * called again at once instead of after the socket turns readable.  Cleared
 * by every call of handle(). */
void ss_request_set_pending(ss_request *r, bool pending);
/* A deadline for the connection's parked waits, ms from now (a login's
 * time limit, say): whatever its idle timeout, a wait ends by then with
 * -ETIMEDOUT.  0 clears it.  Returns 0 or -EINVAL for a negative ms. */
int ss_request_set_deadline(ss_request *r, int ms);
/* Why the request ended, for finish(): 0 (handle() returned 0), handle()'s
 * negative return, -ETIMEDOUT (a parked wait's timeout or deadline passed)
 * or -ESHUTDOWN (the server closed while it was parked or waiting). */
int ss_request_status(const ss_request *r);

/* ---- StreamRequestHandler helpers ----------------------------------------
 * Buffered I/O on the request socket.  Reads and writes retry on EINTR,
 * handle short counts, never raise SIGPIPE, and fail with -ETIMEDOUT after
 * the request's timeout (default: the server's idle_timeout_ms).  Do not mix
 * buffered reads with raw read(2) on the same request. */

/* Python's StreamRequestHandler.timeout for this request; 0 = none. */
int ss_stream_set_timeout(ss_request *r, int timeout_ms);
/* Python's disable_nagle_algorithm: sets TCP_NODELAY (no-op on Unix). */
int ss_stream_disable_nagle(ss_request *r);
/* Reads one line including its '\n' into buf (NUL-terminated, so at most
 * cap-1 bytes).  Returns the length, 0 at EOF, -EMSGSIZE if no newline came
 * within cap-1 bytes (the bytes are consumed), or -errno.  A final line
 * without '\n' before EOF is returned as is. */
ssize_t ss_stream_readline(ss_request *r, char *buf, size_t cap);
/* Reads up to cap bytes (at least one unless EOF).  Returns the count, 0 at
 * EOF, or -errno. */
ssize_t ss_stream_read(ss_request *r, void *buf, size_t cap);
/* Reads exactly n bytes.  Returns 0, -ECONNRESET if the peer closed first,
 * or -errno. */
int ss_stream_read_exact(ss_request *r, void *buf, size_t n);
/* Writes all n bytes.  Returns 0 or -errno (-EPIPE if the peer went away). */
int ss_stream_write_all(ss_request *r, const void *buf, size_t n);
/* Bytes already buffered by the helpers and not yet returned. */
size_t ss_stream_buffered(const ss_request *r);

/* ---- DatagramRequestHandler helpers --------------------------------------
 * The packet is the input (Python's rfile); replies are appended to a buffer
 * (wfile) that is sent to the client with sendto() after finish(). */
const void *ss_request_packet(const ss_request *r, size_t *len);
/* Appends to the reply.  Returns 0, -EMSGSIZE past max_packet_size.  Once
 * called (even with n == 0) a reply datagram is sent after finish(), as
 * Python's DatagramRequestHandler always sends wfile; a handler that never
 * calls it sends nothing.  The packet itself is read-only: copy it to
 * change it. */
int ss_dgram_reply(ss_request *r, const void *buf, size_t n);

/* A short English text for a -errno returned by this library.  Each code has
 * one meaning here: -EUSERS too many connections, -EMLINK too many from one
 * address, -EBUSY the request queue was full (SS_QUEUE_FULL_REJECT);
 * any other code reads as strerror() does (e.g. -EALREADY from
 * ss_server_serve_forever(): already in progress). */
const char *ss_strerror(int err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SOCKETSERVER_H */
