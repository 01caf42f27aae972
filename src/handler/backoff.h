/* backoff.h -- slows down password guessing, per user name and per address.
 *
 * A small fixed table (LRU eviction) of recent failed logins under one
 * mutex.  A failure returns how long to hold back the auth_failed reply:
 * doubling from 100 ms with each failure of that name or address, capped at
 * BACKOFF_MAX_MS so a worker is never parked for long.  Entries quiet for
 * BACKOFF_FORGET_S are forgotten; a good login clears its user's entry.
 *
 * Threads: all functions are thread safe.
 */
#ifndef SSFTP_BACKOFF_H
#define SSFTP_BACKOFF_H

#define BACKOFF_MAX_MS 1500
#define BACKOFF_FORGET_S 900
#define BACKOFF_SLOTS 512

struct backoff;

int backoff_create(struct backoff **out);
void backoff_destroy(struct backoff *b);

/* Records a failed login of user from host; returns the delay in ms. */
int backoff_fail(struct backoff *b, const char *user, const char *host);

/* A good login of user: forget its failures (the address's stay). */
void backoff_success(struct backoff *b, const char *user);

#endif
