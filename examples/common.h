/* common.h -- what the examples share: option parsing and printing.  Each
 * server's main() creates, serves and closes its own server. */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <socketserver.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- options ---- */

typedef struct example_opts {
    const char *host;    /* --host H: default 127.0.0.1 */
    uint16_t port;       /* --port N: default 9999; 0 = any free port */
    char port_text[6];   /* the same, as text (for getaddrinfo) */
    const char *path;    /* --path P: default /tmp/socketserver-echo.sock */
    const char *dir;     /* --dir D: default "." */
    int dir_fd;          /* with 'd' accepted: dir, opened (until exit) */
    const char *message; /* --message TEXT: default NULL */
    long count;          /* --count N: default -1 (forever) */
    long timeout;        /* --timeout S: seconds; default -1 (the program's) */
    bool park;           /* --park */
    char **args;         /* the words after the options */
    int nargs;
} example_opts;

/* Parses the options whose letters are in `accepted` (h host, p port,
 * u path, d dir, m message, c count, k park, t timeout) and nargs words
 * after them.
 * Returns 0, or prints "usage: PROG USAGE" (or why the folder does not
 * open) and returns -1. */
int example_options(int argc, char **argv, const char *accepted, int nargs,
                    const char *usage, example_opts *o);

/* The echo clients' options: --host, --port, --message (default: message),
 * --count.  0 or -1 as example_options(). */
int example_client_options(int argc, char **argv, const char *message,
                           example_opts *o);

/* ---- servers ---- */

/* Makes stdout line buffered (each line reaches a pipe at once) and prints
 * "listening on ADDR", the first line of every server.  0 or -errno. */
int example_listening(const ss_server *s);

/* main()'s exit status for the library result rc: 0, or 1 after printing
 * "PROG: what went wrong" on stderr. */
int example_status(const char *prog, int rc);

/* Python's bytes.strip(): skips ASCII whitespace at both ends of buf[0..*n)
 * and returns the start of what is left (*n updated). */
const char *example_strip(const char *buf, size_t *n);

/* Python's bytes.upper() (ASCII letters only): dst[i] = upper(src[i]).
 * dst may be src. */
void example_upper(char *dst, const char *src, size_t n);

/* Prints "{client ip} wrote:" and the data (escaped), as one block even when
 * several workers print at once. */
void example_print_wrote(const ss_request *r, const void *data, size_t n);

/* Prints data as Python's repr(bytes) does: b'ab\n\x00', or b"it's" when
 * the data has a ' and no ". */
void example_print_bytes(const void *data, size_t n);

/* Writes a socket address as Python's tuple: ('127.0.0.1', 5000), or
 * ('::1', 5000, 0, 0).  0, or -1 if it is not an IP address. */
int example_addr_tuple(const struct sockaddr *sa, char *buf, size_t cap);

/* True for a plain file name: not empty, no '/', no NUL or other control
 * byte, not "." or "..".  A name from the network must pass this before it
 * is opened in a folder. */
bool example_plain_name(const char *name, size_t len);

/* ---- clients ---- */

/* Joins argv[first..argc) with spaces into buf (cap > 0; NUL-terminated).
 * Returns the length, or -1 if it does not fit. */
ssize_t example_join(int argc, char **argv, int first, char *buf, size_t cap);

/* Connects a socket of type socktype to host:port, with a 5 s receive
 * timeout so a lost reply cannot hang us.  Returns the fd or -1 (reported). */
int example_connect(const char *host, const char *port, int socktype);

/* Stream sockets: send() all n bytes, retrying on EINTR and short writes,
 * without SIGPIPE.  Returns 0 or -1 (errno set). */
int example_send_all(int fd, const void *buf, size_t n);

/* Files: write() all n bytes, retrying on EINTR and short writes.  Returns
 * 0 or -1 (errno set). */
int example_write_all(int fd, const void *buf, size_t n);

/* recv() up to n bytes, retrying on EINTR.  Returns the count (0 at EOF) or
 * -1 (errno set). */
ssize_t example_recv(int fd, void *buf, size_t n);

#endif
