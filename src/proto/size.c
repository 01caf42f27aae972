/* size.c -- parse "10G" into bytes and "7d" into seconds; format bytes as
 * "95.0 MiB". */
#include "size.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int suffix_shift(char c)
{
    switch (c) {
    case 'K':
    case 'k':
        return 10;
    case 'M':
    case 'm':
        return 20;
    case 'G':
    case 'g':
        return 30;
    case 'T':
    case 't':
        return 40;
    default:
        return -1;
    }
}

int proto_size_parse(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (*p != '\0') {
        int shift = suffix_shift(*p);
        if (shift < 0 || p[1] != '\0')
            return -EINVAL;
        if (v > (UINT64_MAX >> shift))
            return -ERANGE;
        v <<= shift;
    }
    *out = v;
    return 0;
}

int proto_duration_parse(const char *s, int64_t *out)
{
    static const struct {
        char c;
        int64_t secs;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    if (s != NULL && strcmp(s, "off") == 0) {
        *out = -1;
        return 0;
    }
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    const int64_t max = 100LL * 366 * 86400;
    int64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -ERANGE;
    }
    int64_t unit = *p == '\0' ? 1 : 0;
    for (size_t i = 0; unit == 0 && i < sizeof units / sizeof units[0]; i++)
        if (*p == units[i].c && p[1] == '\0')
            unit = units[i].secs;
    if (unit == 0)
        return -EINVAL;
    if (v > max / unit)
        return -ERANGE;
    *out = v * unit;
    return 0;
}

proto_size_str proto_size_format(uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    proto_size_str r;
    if (n < 1024) {
        snprintf(r.s, sizeof r.s, "%u B", (unsigned)n);
        return r;
    }
    /* Whole part and tenths are computed separately: n * 10 would overflow
     * for sizes above 1.6 EiB, rem * 10 cannot (rem < 2^60). */
    unsigned i = 0;
    uint64_t unit = 1024;
    for (;;) {
        uint64_t whole = n / unit;
        uint64_t tenths = (n % unit * 10 + unit / 2) / unit;
        if (tenths == 10) {
            whole++;
            tenths = 0;
        }
        if (whole < 1024 || i + 1 == sizeof units / sizeof units[0]) {
            /* An exact multiple of the unit is shown whole ("100 MiB"); one
             * that only rounds to it keeps its ".0" ("1.0 MiB" for one byte
             * less), so a whole number is never a rounded one. */
            if (n % unit == 0)
                snprintf(r.s, sizeof r.s, "%u %s", (unsigned)whole, units[i]);
            else
                snprintf(r.s, sizeof r.s, "%u.%u %s", (unsigned)whole,
                         (unsigned)tenths, units[i]);
            return r;
        }
        i++;
        unit <<= 10;
    }
}
