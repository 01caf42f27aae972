/* kvfile.c -- one line of a settings file, split (kvfile.h). */
#include "kvfile.h"

#include <stdbool.h>
#include <string.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* s without its leading blanks and (cut in place) its trailing blanks,
 * '\r' and '\n'. */
static char *trim(char *s)
{
    while (blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && (blank(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

enum proto_kv proto_kv_split(char *line, char sep, char **key, char **value)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return PROTO_KV_SKIP;
    char *at = sep == '=' ? strchr(s, '=') : s + strcspn(s, " \t");
    if (at == NULL)
        return PROTO_KV_NO_SEP;
    char *rest = at;
    if (*at != '\0')
        *rest++ = '\0';
    char *k = trim(s);
    if (*k == '\0')
        return PROTO_KV_NO_KEY;
    *key = k;
    *value = trim(rest);
    return PROTO_KV_PAIR;
}
