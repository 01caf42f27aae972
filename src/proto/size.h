/* size.h -- byte counts ("10G", "95 MiB") and durations ("7d") as people
 * type and read them.
 *
 * Parsing is strict on purpose: a quota typed wrong should be an error, not a
 * surprise.  Accepted: one or more decimal digits, then at most one suffix
 * K, M, G or T (either case), each a power of 1024.  Nothing else: no sign,
 * no spaces, no fraction, no "B"/"iB" ("10GB" is refused, so nobody has to
 * guess whether it meant 10^9 or 2^30).
 *
 * All functions are pure and thread safe.
 */
#ifndef SSFTP_PROTO_SIZE_H
#define SSFTP_PROTO_SIZE_H

#include <stdint.h>

/* Parses s into *out.  Returns 0, -EINVAL (not of the form above; *out is
 * untouched) or -ERANGE (does not fit in 64 bits). */
int proto_size_parse(const char *s, uint64_t *out);

/* A duration in whole seconds: digits, then at most one suffix s, m, h or
 * d (seconds, minutes, hours, days); "off" is -1.  Returns 0, -EINVAL or
 * -ERANGE (more than 100 years). */
int proto_duration_parse(const char *s, int64_t *out);

/* A formatted size, returned by value so no caller sizes a buffer:
 *     printf("%s\n", proto_size_format(n).s);
 * Below 1 KiB: "512 B"; above: a binary unit chosen so the number stays
 * below 1024 after rounding, whole for an exact multiple ("100 MiB"), else
 * with one decimal ("1.5 KiB", and "1.0 MiB" for one byte less than 1 MiB).
 * The server's admin commands and the client show sizes alike. */
typedef struct proto_size_str {
    char s[16]; /* the longest, "1023.9 KiB", needs 11 */
} proto_size_str;
proto_size_str proto_size_format(uint64_t n);

#endif
