/* text.h -- what ssftp prints about remote data: names made safe for a
 * terminal (byte counts are proto_size_format()'s, size.h).
 *
 * Every name, path and error text that comes from the server is untrusted:
 * a file called "\x1b]0;pwned\a" must not retitle the user's terminal.  So
 * nothing remote reaches stdout or stderr except through text_escape().
 */
#ifndef SSFTP_CLIENT_TEXT_H
#define SSFTP_CLIENT_TEXT_H

#include <stdint.h>

#include "size.h"

/* A copy of s that is safe to print: control characters (C0, DEL, C1),
 * bidirectional overrides and line separators become \xNN or \uNNNN, a
 * backslash becomes "\\", and bytes that are not UTF-8 become \xNN.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *text_escape(const char *s);

#endif
