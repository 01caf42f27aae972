/* backoff.h -- rate-limits password guessing, per user name and per address.
 *
 * Two defences share one small fixed table keyed by "u:NAME" and "a:ADDRESS"
 * (an IPv6 address counts by its /64, which one host usually holds whole):
 *
 *  - A budget (token bucket): each key holds BACKOFF_BURST tokens and gets
 *    one back every BACKOFF_REFILL_S seconds; every failed login spends one
 *    of the user's and one of the address's.  backoff_check(), called on
 *    every `auth` before the user database is touched, refuses (-EBUSY, with
 *    the seconds until a token is back) when either bucket is empty.  A
 *    bucket may go into debt: logins admitted together (parallel
 *    connections, each past the check before any of them failed) are all
 *    paid back before the next try, so over any time T a key gets at most
 *    BACKOFF_BURST + T / BACKOFF_REFILL_S guesses plus those in flight.
 *    Nothing is spent at `auth` itself, so good logins are never limited,
 *    however many run at once from one address.
 *  - A delay: backoff_fail() returns how long to hold back the auth_failed
 *    reply, doubling from 100 ms with each failure of that name or address,
 *    capped at BACKOFF_MAX_MS so a worker is never parked for long.
 *    Failures quiet for BACKOFF_FORGET_S are forgotten.
 *
 * The table is BACKOFF_SLOTS entries.  A new key takes a free slot, else
 * the one with the most tokens (a full bucket carries no information), the
 * least recently used of those: an empty bucket -- an attacker's -- is the
 * last to go, and only once every other slot is as empty (see backoff.c).
 *
 * Processes: the table lives in a MAP_SHARED anonymous mapping under a
 * process-shared robust mutex, so sessions in forked children (ssftpd
 * --isolation process) spend one budget, and a child that dies holding the
 * lock cannot wedge logins.  Create it before forking.  The struct backoff
 * handle itself is per process (fork copies it).
 *
 * Threads: all functions are thread safe.
 */
#ifndef SSFTP_BACKOFF_H
#define SSFTP_BACKOFF_H

#define BACKOFF_BURST 10   /* failed logins a quiet key may have at once */
#define BACKOFF_REFILL_S 6 /* then one more per this many seconds */
#define BACKOFF_MAX_MS 1500
#define BACKOFF_FORGET_S 900
#define BACKOFF_SLOTS 4096

struct backoff;

/* Seconds on a clock that never goes back and is the same in every process
 * (the default is CLOCK_MONOTONIC). */
typedef double (*backoff_clock)(void);

/* Maps the shared table.  Returns 0 or a negative errno. */
int backoff_create(struct backoff **out);
/* Unmaps it.  Call once no other process uses it.  NULL is a no-op. */
void backoff_destroy(struct backoff *b);

/* Tests: this process reads the time from now instead.  The clock is read
 * with the table locked. */
void backoff_set_clock(struct backoff *b, backoff_clock now);

/* May user try to log in from host?  Returns 0; -EBUSY when either bucket
 * is empty, with *retry_after_s the whole seconds (at least 1) until both
 * have a token again; or another negative errno (the lock failed).  Takes
 * nothing and makes no slot. */
int backoff_check(struct backoff *b, const char *user, const char *host,
                  unsigned *retry_after_s);

/* Records a failed login of user (or "-": no challenge was asked for) from
 * host: a token from each bucket, one more failure for the delay.  Returns
 * the delay in ms. */
int backoff_fail(struct backoff *b, const char *user, const char *host);

/* A good login of user: forget its failures (the address's stay).  The
 * budget is not refilled: an attacker guessing from elsewhere spent it. */
void backoff_success(struct backoff *b, const char *user);

#endif
