/* keycache.h -- argon2id results kept for the life of the process.
 *
 * Deriving the login keys is the costly step of a session by design (tens of
 * milliseconds and 64 MiB at the default cost).  A process that opens many
 * sessions to the same server -- a benchmark, a future parallel transfer --
 * should pay it once, so the keys are remembered per (user, password, salt,
 * opslimit, memlimit).  The password itself is never stored, only a BLAKE2b
 * hash of it used to tell entries apart.  Entries live in memory only and are
 * wiped by keycache_clear() (called at exit).  Not thread safe: one session
 * at a time may call it, or wrap it in a lock.
 */
#ifndef SSFTP_CLIENT_KEYCACHE_H
#define SSFTP_CLIENT_KEYCACHE_H

#include "proto.h"

/* The ClientKey and ServerKey for password under p, from the cache or from
 * proto_auth_derive() (then cached).  Returns 0, or proto_auth_derive()'s negative errno
 * (-EPROTO for costs outside proto_auth_params_check(), -ENOMEM). */
int keycache_derive(const char *user, const char *password,
                    const proto_auth_params *p,
                    uint8_t client_key[PROTO_AUTH_KEY_BYTES],
                    uint8_t server_key[PROTO_AUTH_KEY_BYTES]);

/* How many derivations ran proto_auth_derive() (for tests and benchmarks). */
unsigned keycache_misses(void);

/* Wipe every entry. */
void keycache_clear(void);

#endif
