/* who.h -- the sessions online, for "ssftpd who": a registry every session
 * writes its state to, and the control socket that hands it out.
 *
 * The registry is a MAP_SHARED anonymous mapping of fixed slots made before
 * anything forks, so sessions of --isolation process (forked children) and
 * pool threads write to the same table and the server process reads it.
 * Each slot has a process-shared robust mutex over its text and times (a
 * child killed while holding it leaves the slot to be reclaimed, never a
 * lock held forever); a transfer's progress is one relaxed atomic store per
 * buffer, so the transfer loops pay next to nothing.  A session that finds
 * no free slot (more sessions than the server's hard caps) goes unlisted.
 *
 * The control socket (whosock.c) is ROOT/run/ssftpd.PID.sock, a Unix stream
 * socket served by libsocketserver in a helper process the server forks
 * (not a thread: the server forks session children, which must not start
 * from a multi-threaded parent): it answers peers of its uid or root
 * (SO_PEERCRED) with a JSON snapshot, then closes.  "ssftpd who" (whocmd.c) asks every server on the data root
 * and prints their sessions.
 *
 * Every who_slot call takes NULL (no registry, or no free slot) as a no-op,
 * so sessions call them unconditionally.  A slot belongs to its session:
 * only that session's thread (or process) writes it.
 */
#ifndef SSFTP_WHO_H
#define SSFTP_WHO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct who;
struct who_slot;

/* A total not known in advance (an FTP upload). */
#define WHO_TOTAL_UNKNOWN UINT64_MAX

/* The registry, of n slots.  It lives as long as the process (forked
 * session children and the control socket's thread read it until exit).
 * Returns 0 or a negative errno. */
int who_create(struct who **out, unsigned n);

/* A new connection: proto "ssftp", "ftp" or "ftps", peer "1.2.3.4:5678".
 * Returns its slot, or NULL (w NULL, or every slot taken). */
struct who_slot *who_enter(struct who *w, const char *proto, const char *peer);
/* The connection has ended: the slot is free again. */
void who_leave(struct who_slot *s);
/* FTP's AUTH TLS: the protocol's name changes. */
void who_set_proto(struct who_slot *s, const char *proto);
/* Logged in as user (now). */
void who_login(struct who_slot *s, const char *user);
/* A request came: the session is not idle. */
void who_touch(struct who_slot *s);

/* A transfer begins: dir "put" or "get", path as the user named it, the
 * file offset it starts from and the size it will have (or
 * WHO_TOTAL_UNKNOWN). */
void who_xfer_begin(struct who_slot *s, const char *dir, const char *path,
                    uint64_t from, uint64_t total);
/* The file offset the transfer has reached: cheap, call it per buffer. */
void who_xfer_progress(struct who_slot *s, uint64_t off);
/* proto_body_hooks' progress, with ctx a struct who_slot * (or NULL). */
void who_xfer_hook(void *ctx, uint64_t off);
void who_xfer_end(struct who_slot *s);

/* The sessions now, as the control socket sends them:
 *   {"pid": P, "now": T, "sessions": [{"state" ("login", "idle", "put" or
 *    "get"), "proto", "from", "user" (null
 *    before login), "connected", "login" (null), "active", "transfer":
 *    null or {"dir", "name", "done", "total" (null: unknown), "started",
 *    "rate" (bytes/s)}}, ...]}
 * Times are Unix time in seconds (with fractions).  Slots of session
 * processes that died are freed on the way.  server is the server's pid,
 * for "pid".  NULL on ENOMEM. */
json_t *who_snapshot(struct who *w, pid_t server);

/* ---- the control socket (whosock.c) ----------------------------------- */

/* Creates ROOT/run (0700) and listens on ROOT/run/ssftpd.PID.sock (0600),
 * first removing sockets there of servers that are gone; forks the helper
 * that serves who_snapshot(w) there (it dies with the server).  As root,
 * the directory, the socket and the helper are the data root's owner's
 * (whom --user becomes).  At exit() the process that made it kills the
 * helper and removes the socket (forked children leave it alone).  Once
 * per process.  Returns 0 or a
 * negative errno (said on stderr). */
int whosock_start(struct who *w, const char *root);

/* The asking end: *servers is an array with one object per server on
 * root: its snapshot as above, or {"pid": P, "error": TEXT} when it would
 * not answer.  Sockets of servers that are gone are removed (where this
 * user may).  Returns 0, or a negative errno with err set (ROOT/run cannot
 * be read: no server ever ran there, or this user may not look). */
int whosock_ask(const char *root, json_t **servers, char *err, size_t errlen);

/* "ssftpd who [--root DIR] [--config FILE] [--json]": argv is main()'s with
 * argv[1] == "who".  Returns the exit status: 0, 1 (no server running, or
 * none would answer), 2 (usage). */
int who_main(int argc, char **argv);

#endif
