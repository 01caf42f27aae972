/* ftpline.h -- FTP control-connection input: Telnet bytes in, command
 * lines out (RFC 959 section 4.1.3, RFC 854).
 *
 * The control connection is a Telnet NVT stream.  ftpline strips what Telnet
 * puts in it -- IAC IAC is a data byte 255; IAC WILL/WONT/DO/DONT take one
 * more byte; any other IAC command (IP, DM, AYT, ...) is two bytes -- and cuts
 * the rest into lines ending in LF (a CR before it is dropped; clients send
 * CRLF, a few send LF alone).  A line longer than FTPLINE_MAX is not
 * buffered: its bytes are dropped as they come and it is reported once, as
 * FTPLINE_LONG, when its LF arrives, so a peer that never sends LF costs the
 * server no more than FTPLINE_MAX bytes.
 *
 *     ftpline lp;  ftpline_init(&lp);
 *     size_t used;
 *     int r = ftpline_feed(&lp, bytes, n, &used);  // consumes bytes[0..used)
 *     if (r == FTPLINE_READY) ... lp.line[0..lp.len) is one line, NUL-ended
 *     bytes[used..n) are not consumed yet: feed them after handling the line
 *
 * ftpline_split() then parses a line into a verb (upper-cased) and its
 * argument.  Nothing here allocates.
 */
#ifndef SSFTP_PROTO_FTPLINE_H
#define SSFTP_PROTO_FTPLINE_H

#include <stdbool.h>
#include <stddef.h>

/* The longest line kept: a verb, a space and a path of PROTO_PATH_MAX. */
#define FTPLINE_MAX (4096 + 16)
/* Verbs are 3 or 4 letters (RFC 959); a few extensions are longer. */
#define FTPLINE_VERB_MAX 8

enum {
    FTPLINE_MORE = 0,  /* every byte was taken; no line yet */
    FTPLINE_READY = 1, /* lp->line holds a line */
    FTPLINE_LONG = 2,  /* a line over FTPLINE_MAX ended (it was dropped) */
};

typedef struct ftpline {
    char line[FTPLINE_MAX + 1];
    size_t len;
    int telnet;    /* private: 0, or where in an IAC sequence we are */
    bool overlong; /* private: dropping the rest of a long line */
    bool ready;    /* private: line holds a line not yet taken */
} ftpline;

void ftpline_init(ftpline *lp);

/* Takes bytes from buf[0..n) until a line is complete (FTPLINE_READY or
 * FTPLINE_LONG) or all are taken (FTPLINE_MORE); *used says how many were
 * taken.  After READY the line stays in lp->line until the next call. */
int ftpline_feed(ftpline *lp, const unsigned char *buf, size_t n, size_t *used);

/* A command line split: verb up to the first space, upper-cased (letters
 * only, at most FTPLINE_VERB_MAX), and arg (the rest after that one space,
 * "" when none).  Returns 0, or -1 for a line that is not a command (an
 * empty line, a verb of other than letters, or too long, or a NUL byte
 * anywhere in the line). */
int ftpline_split(const char *line, size_t len, char verb[FTPLINE_VERB_MAX + 1],
                  const char **arg, size_t *arg_len);

#endif
