/* path.c -- user paths: normalize, split, join, and the UTF-8 rule (path.h). */
#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "partname.h"
#include "proto.h"

size_t proto_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, *cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, *cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, *cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at a NUL */
            return 0;
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

bool proto_cp_misleading(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

bool proto_text_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = proto_utf8_next(p + i, n - i, &cp);
        /* cp <= 0x9f past ASCII: C1 controls, e.g. U+009B, a one-character
         * CSI */
        if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return false;
        i += len;
    }
    return true;
}

int proto_path_component_ok(const char *s, size_t n)
{
    if (n > PROTO_NAME_MAX)
        return -ENAMETOOLONG;
    if (!proto_text_ok(s, n))
        return -EXDEV;
    char name[PROTO_NAME_MAX + 1];
    memcpy(name, s, n);
    name[n] = '\0';
    return proto_is_part_name(name) ? -EXDEV : 0;
}

/* A path being built: "" stands for "/", each component adds "/name". */
struct upath {
    char s[PROTO_PATH_BUF];
    size_t n;
    unsigned depth;
};

/* Applies p (len bytes) to u, as a shell applies cd. */
static int upath_walk(struct upath *u, const char *p, size_t len)
{
    if (len > 0 && p[0] == '/')
        u->n = 0, u->depth = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        const char *c = p + i;
        while (i < len && p[i] != '/')
            i++;
        size_t cn = (size_t)(p + i - c);
        if (cn == 0 || (cn == 1 && c[0] == '.'))
            continue;
        if (cn == 2 && c[0] == '.' && c[1] == '.') {
            if (u->depth > 0) { /* at "/", ".." stays at "/" */
                while (u->s[--u->n] != '/')
                    ;
                u->depth--;
            }
            continue;
        }
        int rc = proto_path_component_ok(c, cn);
        if (rc != 0)
            return rc;
        if (u->depth == PROTO_PATH_DEPTH_MAX || u->n + 1 + cn >= PROTO_PATH_BUF)
            return -ENAMETOOLONG;
        u->s[u->n++] = '/';
        memcpy(u->s + u->n, c, cn);
        u->n += cn;
        u->depth++;
    }
    return 0;
}

int proto_path_normalize(const char *cwd, const char *path, size_t len,
                         char out[PROTO_PATH_BUF])
{
    size_t cwdlen = strnlen(cwd, PROTO_PATH_BUF);
    if (cwd[0] != '/' || cwdlen == PROTO_PATH_BUF)
        return -EINVAL;
    if (path == NULL)
        len = 0;
    else if (memchr(path, '\0', len) != NULL)
        return -EINVAL;
    struct upath u = {.n = 0};
    int rc = upath_walk(&u, cwd, cwdlen);
    if (rc == 0)
        rc = upath_walk(&u, path, len);
    if (rc != 0)
        return rc;
    if (u.n == 0)
        u.s[u.n++] = '/';
    u.s[u.n] = '\0';
    memcpy(out, u.s, u.n + 1);
    return 0;
}

int proto_path_base(const char *path, char *out, size_t cap)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (start == end && end == 1)
        start = 0; /* "/" is its own base */
    size_t n = end - start;
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(out, path + start, n);
    out[n] = '\0';
    return 0;
}

size_t proto_path_dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL ? 0 : (size_t)(slash - path) + 1;
}

int proto_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    const char *sep = n && dir[n - 1] == '/' ? "" : "/";
    int k = snprintf(out, cap, "%s%s%s", dir, sep, name);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}
