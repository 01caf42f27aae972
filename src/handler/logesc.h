/* logesc.h -- make peer-supplied text safe to put in a log line.
 *
 * User names and rejected paths come from the wire.  Written raw, a control
 * character can forge a line (CR, LF), drive a terminal (ESC, the C1 CSI
 * 0x9b), or reorder what a reader sees (U+202E RIGHT-TO-LEFT OVERRIDE makes
 * "txt.exe" look like "exe.txt").  Everything but printable text is escaped.
 */
#ifndef SSFTP_HANDLER_LOGESC_H
#define SSFTP_HANDLER_LOGESC_H

#include <stddef.h>

/* Copies the NUL-terminated in to out (cap bytes, cap >= 1), escaping:
 * C0 controls and DEL as \xNN; a backslash as \\; bytes that are not valid
 * UTF-8 as \xNN; C1 controls (U+0080..U+009F), bidirectional controls
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and line and
 * paragraph separators (U+2028, U+2029) as \u{XXXX}.  Other UTF-8 passes
 * through.  The result is always terminated; it is cut at a character
 * boundary (never inside an escape) when out is too small. */
void log_escape(const char *in, char *out, size_t cap);

#endif
