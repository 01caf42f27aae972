/* logesc.c -- escape peer-supplied text for the log (logesc.h). */
#include "logesc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4) with its code point in *cp,
 * or 0 if the bytes there are not one (overlong, surrogate, above U+10FFFF,
 * truncated). */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2, min = 0x80, *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, min = 0x800, *cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return n;
}

static bool invisible_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void log_escape(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    while (*s != '\0') {
        char esc[16];
        const char *piece = esc;
        size_t len;
        uint32_t cp;
        size_t n = utf8_seq(s, &cp);
        if (n == 0 || (n == 1 && (cp < 0x20 || cp == 0x7f))) {
            len = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *s);
            n = 1;
        } else if (n == 1 && cp == '\\') {
            len = 2;
            piece = "\\\\";
        } else if (invisible_control(cp)) {
            len = (size_t)snprintf(esc, sizeof esc, "\\u{%04x}", cp);
        } else {
            piece = (const char *)s;
            len = n;
        }
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        s += n;
    }
    out[o] = '\0';
}
