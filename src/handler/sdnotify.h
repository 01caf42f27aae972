/* sdnotify.h -- systemd readiness notification (sd_notify(3)) without
 * libsystemd.
 *
 * Under a Type=notify (or notify-reload) unit, $NOTIFY_SOCKET names a Unix
 * datagram socket ("/run/systemd/notify", or "@name" for an abstract one);
 * each state change is one datagram of "KEY=VALUE" lines.  Without
 * NOTIFY_SOCKET every function here does nothing and returns 0. */
#ifndef SSFTPD_SDNOTIFY_H
#define SSFTPD_SDNOTIFY_H

/* Sends state (newline-separated assignments, e.g. "READY=1") to
 * $NOTIFY_SOCKET.  Returns 1 if sent, 0 if there is no NOTIFY_SOCKET, or a
 * negative errno (the reason is also said on stderr). */
int sdnotify_send(const char *state);

/* "READY=1", MAINPID and STATUS=status (may be NULL): every listener is up.
 * Also what a reload sends when it has finished. */
int sdnotify_ready(const char *status);

/* "RELOADING=1" with MONOTONIC_USEC (as Type=notify-reload wants): sent
 * when a reload (SIGHUP) begins; sdnotify_ready() when it is done. */
int sdnotify_reloading(void);

/* "STOPPING=1": shutdown has begun (the drain follows). */
int sdnotify_stopping(void);

#endif
