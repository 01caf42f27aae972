/* reload.h -- SIGHUP: a thread of its own runs the server's reload.
 *
 * SIGHUP is blocked in every thread (reload_start() must run before the
 * process starts any other thread, so they inherit the mask) and taken by
 * sigwait() on the reload thread, which calls the reload function there:
 * nothing runs in a signal handler, and a reload may take locks, read files
 * and log.  SIGINT and SIGTERM are left to the library (a drain).
 */
#ifndef SSFTP_HANDLER_RELOAD_H
#define SSFTP_HANDLER_RELOAD_H

struct reload;

/* Blocks SIGHUP in the calling thread and starts the thread that calls
 * fn(arg) at each SIGHUP.  Returns 0 or a negative errno. */
int reload_start(struct reload **out, void (*fn)(void *arg), void *arg);

/* Stops and joins the thread (a reload under way finishes first).  NULL is
 * a no-op. */
void reload_stop(struct reload *r);

#endif
