/* isolation.h -- ssftpd --isolation process: every session in its own child.
 *
 * Threads are the default: sessions run on pool workers of one process, and
 * a crash in one (a SIGSEGV) takes every session with it.  With process
 * isolation the server runs libsocketserver's forking mode (SS_FORKING): the
 * parent only accepts, and each connection is handled by a forked child, so
 * a crash costs one session.  What the sessions share has to live where
 * every child sees it:
 *
 *  - the login budget (backoff.h) is a MAP_SHARED table already;
 *  - the session count behind --max-clients: the parent keeps the count of
 *    its admitted connections -- its live children -- in a MAP_SHARED word
 *    the children read at hello.  The parent counts, not the children, so a
 *    child killed mid-session is never counted after it has been reaped;
 *  - --max-per-ip and max-clients' hard cap: the library's admission
 *    control, in the parent, released when a child is reaped;
 *  - stopping: a child cannot see the parent's ss_server_stopping(), so
 *    each holds the read end of a pipe whose write end only the parent
 *    keeps.  When the parent stops (SIGTERM, SIGINT) -- or dies -- the pipe
 *    reads EOF, and a watcher thread in the child marks the child's server
 *    stopping (idle sessions leave at once, transfers go on) and, after the
 *    drain, shuts the session's socket down as the thread pool's drain does.
 *    The parent waits a grace beyond that before the library's SIGKILL.
 *
 * Every child has the quota registry made before it forked, empty: the
 * parent never opens a ledger, so each child opens its user's own, and
 * the ledger's locks keep the counts true across children (ledger.h).
 *
 * Threads: call everything from main()'s thread, in the order below.
 */
#ifndef SSFTP_ISOLATION_H
#define SSFTP_ISOLATION_H

#include "session.h"
#include "socketserver.h"

/* How long after the drain's cut a child may take to unwind before the
 * library kills it. */
#define ISOLATION_CUT_GRACE_MS 1000

struct isolation;

/* Sets cfg up for process isolation (SS_FORKING, max_children, the drain
 * plus ISOLATION_CUT_GRACE_MS) and points srv->sessions at the shared
 * count; *handler and *ops are what to pass to ss_server_create().  Call
 * after the rest of cfg is set.  Returns 0 or a negative errno. */
int isolation_create(struct isolation **out, struct session_server *srv,
                     ss_config *cfg, int drain_ms,
                     const ss_handler_class **handler,
                     const ss_server_ops **ops);

/* After serve_forever() has returned, before ss_server_close(): tells every
 * child the server is stopping. */
void isolation_stop(struct isolation *iso);

/* After ss_server_close().  NULL is a no-op. */
void isolation_destroy(struct isolation *iso);

#endif
