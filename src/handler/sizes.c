/* sizes.c -- parse "10G" into bytes and format bytes as "95.0 MiB". */
#include "sizes.h"

#include <errno.h>
#include <stdio.h>

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

int sizes_parse(const char *s, uint64_t *out)
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

sizes_str sizes_format(uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    sizes_str r;
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
            snprintf(r.s, sizeof r.s, "%u.%u %s", (unsigned)whole,
                     (unsigned)tenths, units[i]);
            return r;
        }
        i++;
        unit <<= 10;
    }
}
