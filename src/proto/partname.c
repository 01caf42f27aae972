/* partname.c -- the hidden name a resumable upload grows under. */
#include "partname.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

bool proto_is_part_name(const char *component)
{
    size_t n = strlen(component), s = sizeof PROTO_PART_SUFFIX - 1;
    return n >= s && memcmp(component + n - s, PROTO_PART_SUFFIX, s) == 0;
}

int proto_part_name(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strchr(name, '/') || proto_is_part_name(name))
        return -EINVAL;
    if (n + PROTO_PART_EXTRA > PROTO_NAME_MAX)
        return -ENAMETOOLONG;
    if (cap < n + PROTO_PART_EXTRA + 1)
        return -ENOBUFS;
    (void)snprintf(out, cap, ".%s" PROTO_PART_SUFFIX, name);
    return 0;
}
