/* progress.c -- a one-line transfer progress bar, redrawn in place. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sysutil.h"
#include "text.h"

#define PROGRESS_REDRAW_MS 100

void progress_begin(progress *p, bool enabled, const char *name, uint64_t total,
                    uint64_t done)
{
    memset(p, 0, sizeof *p);
    p->on = enabled;
    if (!enabled)
        return;
    const char *base = strrchr(name, '/');
    char *safe = text_escape(base && base[1] ? base + 1 : name);
    const char *s = safe ? safe : "?";
    size_t n = strlen(s);
    if (n >= sizeof p->label) /* keep the end: it tells files apart */
        snprintf(p->label, sizeof p->label, "...%s",
                 s + n - (sizeof p->label - 4));
    else
        snprintf(p->label, sizeof p->label, "%s", s);
    free(safe);
    p->total = total;
    p->start = done;
    p->t0_ms = proto_mono_ms();
    p->drawn_ms = -1;
    progress_update(p, done);
}

static void draw(progress *p, uint64_t done, int64_t now)
{
    unsigned pct = p->total ? (unsigned)(done * 100.0 / (double)p->total) : 100;
    double secs = (double)(now - p->t0_ms) / 1000.0;
    double rate = secs > 0.05 ? (double)(done - p->start) / secs : 0.0;
    char eta[32] = "--:--";
    if (rate > 0 && done <= p->total) {
        uint64_t left = (uint64_t)((double)(p->total - done) / rate);
        if (left >= 3600)
            snprintf(eta, sizeof eta, "%u:%02u:%02u", (unsigned)(left / 3600),
                     (unsigned)(left / 60 % 60), (unsigned)(left % 60));
        else
            snprintf(eta, sizeof eta, "%u:%02u", (unsigned)(left / 60),
                     (unsigned)(left % 60));
    }
    fprintf(stderr, "\r%s %3u%% %s/%s  %s/s  ETA %s\x1b[K", p->label, pct,
            proto_size_format(done).s, proto_size_format(p->total).s,
            proto_size_format((uint64_t)rate).s, eta);
    fflush(stderr);
    p->drawn_ms = now;
}

void progress_update(progress *p, uint64_t done)
{
    if (!p->on)
        return;
    int64_t now = proto_mono_ms();
    if (p->drawn_ms >= 0 && now - p->drawn_ms < PROGRESS_REDRAW_MS)
        return;
    draw(p, done, now);
}

void progress_end(progress *p, uint64_t done, bool ok)
{
    if (!p->on)
        return;
    if (ok)
        draw(p, done, proto_mono_ms());
    fputs("\n", stderr);
    fflush(stderr);
    p->on = false;
}
