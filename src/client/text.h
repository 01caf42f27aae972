/* text.h -- what ssftp prints about remote data: names made safe for a
 * terminal, and byte counts in binary units.
 *
 * Every name, path and error text that comes from the server is untrusted:
 * a file called "\x1b]0;pwned\a" must not retitle the user's terminal.  So
 * nothing remote reaches stdout or stderr except through text_escape().
 */
#ifndef SSFTP_CLIENT_TEXT_H
#define SSFTP_CLIENT_TEXT_H

#include <stdint.h>

/* A copy of s that is safe to print: control characters (C0, DEL, C1),
 * bidirectional overrides and line separators become \xNN or \uNNNN, a
 * backslash becomes "\\", and bytes that are not UTF-8 become \xNN.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *text_escape(const char *s);

/* A byte count for people: "512 B", "1.5 KiB", "100 MiB" (one decimal unless
 * the count is an exact multiple of the unit).  Returned by value:
 *     printf("%s\n", text_size(n).s); */
typedef struct text_size_str {
    char s[24];
} text_size_str;
text_size_str text_size(uint64_t n);

#endif
