/* text.c -- terminal-safe spelling of remote names; human byte counts. */
#include "text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p and its code point, or 0 when p
 * does not start one (overlong forms and surrogates included). */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
    size_t n;
    uint32_t v, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        n = 2, v = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3, v = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4, v = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL */
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Code points a terminal acts on rather than shows: C1 controls (ESC's
 * single-byte cousins), and the bidi and line-separator marks that make a
 * name display as something it is not. */
static bool unsafe_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200e && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *text_escape(const char *s)
{
    /* Worst case: every byte becomes \xNN (4 bytes). */
    size_t len = strlen(s);
    char *out = malloc(4 * len + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        uint32_t cp = 0;
        size_t n = utf8_decode(p, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f) {
            o += (size_t)sprintf(out + o, "\\x%02x", *p);
            p++;
        } else if (cp == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
            p++;
        } else if (unsafe_cp(cp)) {
            /* n >= 2 here, so "\uNNNN" (6) fits in the 4n reserved. */
            o += (size_t)sprintf(out + o, "\\u%04x", (unsigned)cp);
            p += n;
        } else {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        }
    }
    out[o] = '\0';
    return out;
}

text_size_str text_size(uint64_t n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB"};
    text_size_str r;
    unsigned i = 0;
    double v = (double)n;
    /* 1023.95 and up would print as "1024.0": move to the next unit. */
    while (v >= 1023.95 && i + 1 < sizeof unit / sizeof unit[0]) {
        v /= 1024.0;
        i++;
    }
    bool exact = i == 0 || (n & ((UINT64_C(1) << (10 * i)) - 1)) == 0;
    snprintf(r.s, sizeof r.s, exact ? "%.0f %s" : "%.1f %s", v, unit[i]);
    return r;
}
