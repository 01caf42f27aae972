/* reload.h -- SIGHUP: the server's reload, run by its own loop.
 *
 * The handler only sets a flag; the loop's service_actions (run at every
 * wake-up of ss_server_serve_forever(), at least once per poll interval)
 * sees it and calls the reload function on the loop's thread.  No thread
 * of its own: with --isolation process the parent forks sessions, and a
 * fork from a process with fewer threads is the safer one.  SIGINT and
 * SIGTERM are left to the library (a drain).
 */
#ifndef SSFTP_HANDLER_RELOAD_H
#define SSFTP_HANDLER_RELOAD_H

#include "socketserver.h"

/* Installs the SIGHUP handler (SA_RESTART), and returns the ops to give
 * ss_server_create(): next's (NULL: the kind's own) with a service_actions
 * that calls fn(arg) once per SIGHUP received, then next's.  One server
 * per process.  Returns NULL with errno set if the handler cannot be
 * installed. */
const ss_server_ops *reload_on_sighup(const ss_server_ops *next,
                                      void (*fn)(void *arg), void *arg);

#endif
