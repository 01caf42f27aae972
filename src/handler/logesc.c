/* logesc.c -- escape peer-supplied text for the log (logesc.h). */
#include "logesc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "path.h"

void log_escape(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    const unsigned char *end = s + strlen(in);
    size_t o = 0;
    while (*s != '\0') {
        char esc[16];
        const char *piece = esc;
        size_t len;
        uint32_t cp;
        size_t n = proto_utf8_next(s, (size_t)(end - s), &cp);
        if (n == 0 || (n == 1 && (cp < 0x20 || cp == 0x7f))) {
            len = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *s);
            n = 1;
        } else if (n == 1 && cp == '\\') {
            len = 2;
            piece = "\\\\";
        } else if (proto_cp_misleading(cp)) {
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
