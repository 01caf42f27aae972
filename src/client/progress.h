/* progress.h -- the transfer progress bar on stderr.
 *
 *     big.iso  42% 420.0 MiB/1000 MiB  85.3 MiB/s  ETA 0:07
 *
 * Redrawn in place ("\r", then erase to end of line) at most 10 times a
 * second, so a fast transfer does not spend its time writing to the
 * terminal.  When disabled (stderr is not a terminal, or --no-progress)
 * every call is a no-op.
 */
#ifndef SSFTP_CLIENT_PROGRESS_H
#define SSFTP_CLIENT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct progress {
    bool on;
    char label[48];   /* escaped, shortened name */
    uint64_t total;   /* bytes of the whole file */
    uint64_t start;   /* bytes already there when the transfer began */
    int64_t t0_ms;    /* when it began */
    int64_t drawn_ms; /* last redraw, or -1 */
} progress;

/* Start a bar for name (a remote or local name; escaped here) of total
 * bytes of which done are already transferred (a resume). */
void progress_begin(progress *p, bool enabled, const char *name, uint64_t total,
                    uint64_t done);

/* done bytes so far; redraws if the last redraw is 100 ms old. */
void progress_update(progress *p, uint64_t done);

/* Final redraw at done and a newline (or, when ok is false, just the
 * newline so the error that follows starts on its own line). */
void progress_end(progress *p, uint64_t done, bool ok);

#endif
