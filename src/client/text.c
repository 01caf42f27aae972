/* text.c -- terminal-safe spelling of remote names. */
#include "text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

char *text_escape(const char *s)
{
    /* Worst case: every byte becomes \xNN (4 bytes). */
    size_t len = strlen(s);
    char *out = malloc(4 * len + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    size_t o = 0;
    while (*p) {
        uint32_t cp = 0;
        size_t n = proto_utf8_next(p, (size_t)(end - p), &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f) {
            o += (size_t)sprintf(out + o, "\\x%02x", *p);
            p++;
        } else if (cp == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
            p++;
        } else if (proto_cp_misleading(cp)) {
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
