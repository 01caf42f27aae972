/* addr.c -- HOST:PORT as people type it (addr.h). */
#include "addr.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int proto_hostport_split(const char *s, char *host, size_t cap,
                         const char **port)
{
    const char *h = s, *end;
    *port = NULL;
    if (s[0] == '[') {
        h = s + 1;
        end = strchr(h, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return -EINVAL;
        if (end[1] == ':')
            *port = end + 2;
    } else {
        const char *colon = strchr(s, ':');
        bool one = colon != NULL && strchr(colon + 1, ':') == NULL;
        end = one ? colon : s + strlen(s);
        if (one)
            *port = colon + 1;
    }
    size_t n = (size_t)(end - h);
    if (n == 0 || (*port != NULL && **port == '\0'))
        return -EINVAL;
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(host, h, n);
    host[n] = '\0';
    return 0;
}
