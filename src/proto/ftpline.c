/* ftpline.c -- see ftpline.h. */
#include "ftpline.h"

#include <string.h>

#define IAC 255
#define WILL 251
#define DONT 254

/* Where in a Telnet sequence the parser is. */
enum { T_DATA, T_IAC, T_OPTION };

void ftpline_init(ftpline *lp)
{
    memset(lp, 0, sizeof *lp);
}

/* One data byte of the current line. */
static void keep(ftpline *lp, unsigned char c)
{
    if (lp->overlong)
        return;
    if (lp->len == FTPLINE_MAX) {
        lp->overlong = true;
        return;
    }
    lp->line[lp->len++] = (char)c;
}

int ftpline_feed(ftpline *lp, const unsigned char *buf, size_t n, size_t *used)
{
    if (lp->ready) { /* the last line was taken: start the next */
        lp->ready = false;
        lp->len = 0;
        lp->overlong = false;
    }
    size_t i = 0;
    while (i < n) {
        unsigned char c = buf[i++];
        if (lp->telnet == T_IAC) {
            /* IAC IAC is a data byte; WILL..DONT name an option next; the
             * rest (IP, DM, AYT, SB's bytes, ...) are commands alone. */
            lp->telnet = c >= WILL && c <= DONT ? T_OPTION : T_DATA;
            if (c == IAC)
                keep(lp, c);
            continue;
        }
        if (lp->telnet == T_OPTION) {
            lp->telnet = T_DATA;
            continue;
        }
        if (c == IAC) {
            lp->telnet = T_IAC;
            continue;
        }
        if (c != '\n') {
            keep(lp, c);
            continue;
        }
        if (lp->len > 0 && lp->line[lp->len - 1] == '\r')
            lp->len--;
        lp->line[lp->len] = '\0';
        lp->ready = true;
        *used = i;
        return lp->overlong ? FTPLINE_LONG : FTPLINE_READY;
    }
    *used = i;
    return FTPLINE_MORE;
}

int ftpline_split(const char *line, size_t len, char verb[FTPLINE_VERB_MAX + 1],
                  const char **arg, size_t *arg_len)
{
    if (memchr(line, '\0', len) != NULL)
        return -1;
    size_t v = 0;
    while (v < len && line[v] != ' ') {
        char c = line[v];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z' || v == FTPLINE_VERB_MAX)
            return -1;
        verb[v++] = c;
    }
    if (v == 0)
        return -1;
    verb[v] = '\0';
    size_t a = v < len ? v + 1 : v; /* past the one space */
    *arg = line + a;
    *arg_len = len - a;
    return 0;
}
