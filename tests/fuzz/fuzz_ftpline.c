/* fuzz_ftpline.c -- libFuzzer: the FTP control-line parser (ftpline.h).
 * The input is fed twice, whole and in pieces whose sizes come from the
 * input itself; both must cut the same lines (a line's bytes never depend
 * on how TCP split them), every line is NUL-ended and within FTPLINE_MAX,
 * and each is split into a verb and argument inside its bounds. */
#include <stdlib.h>
#include <string.h>

#include "ftpline.h"
#include "fuzzstack.h"

/* A digest of the lines seen: their lengths, kinds and bytes, folded. */
static uint64_t run(const uint8_t *data, size_t size, bool pieces)
{
    ftpline *lp = malloc(sizeof *lp);
    if (lp == NULL)
        abort();
    ftpline_init(lp);
    uint64_t h = 1469598103934665603ULL;
    size_t off = 0, step = 0;
    while (off < size) {
        size_t len = size - off;
        if (pieces) {
            len = (size_t)(data[step++ % size] % 7) + 1;
            if (len > size - off)
                len = size - off;
        }
        size_t used = 0;
        int r = ftpline_feed(lp, data + off, len, &used);
        if (used > len || (r == FTPLINE_MORE && used != len))
            abort();
        off += used;
        if (r == FTPLINE_MORE)
            continue;
        h = (h ^ (uint64_t)r) * 1099511628211ULL;
        if (r != FTPLINE_READY)
            continue;
        if (lp->len > FTPLINE_MAX || lp->line[lp->len] != '\0')
            abort();
        for (size_t i = 0; i < lp->len; i++)
            h = (h ^ (unsigned char)lp->line[i]) * 1099511628211ULL;
        char verb[FTPLINE_VERB_MAX + 1];
        const char *arg;
        size_t n;
        if (ftpline_split(lp->line, lp->len, verb, &arg, &n) == 0) {
            size_t v = strlen(verb);
            if (v == 0 || v > FTPLINE_VERB_MAX || arg < lp->line ||
                arg + n != lp->line + lp->len)
                abort();
        }
    }
    free(lp);
    return h;
}

static void one(const uint8_t *data, size_t size)
{
    if (run(data, size, false) != run(data, size, true))
        abort();
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
