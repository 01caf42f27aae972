/* common.h -- the plumbing the examples share: options, signals, the listening line, I/O. */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <socketserver.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- servers ---- */

/* Parses --host H / --port N (IP kinds) or --path P (Unix kinds) into cfg.
 * Defaults: 127.0.0.1 and port 9999 (Python's docs), or
 * /tmp/socketserver-echo.sock.  Returns 0, or prints usage and returns -1. */
int example_parse_args(int argc, char **argv, ss_config *cfg);

/* Creates the server, or says why not on stderr and returns NULL. */
ss_server *example_create(const ss_config *cfg, const ss_handler_class *h);

/* Makes stdout line buffered, installs SIGINT/SIGTERM handlers that stop s,
 * prints "listening on ADDR" as the first line of stdout, serves until a
 * signal, then closes and destroys s.  Returns the exit status for main(). */
int example_serve(ss_server *s);

/* Python's bytes.strip(): skips ASCII whitespace at both ends of buf[0..*n)
 * and returns the start of what is left (*n updated). */
const char *example_strip(const char *buf, size_t *n);

/* Python's bytes.upper() (ASCII letters only): dst[i] = upper(src[i]).
 * dst may be src. */
void example_upper(char *dst, const char *src, size_t n);

/* Prints "{client ip} wrote:" and the data (escaped), as one block even when
 * several workers print at once. */
void example_print_wrote(const ss_request *r, const void *data, size_t n);

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

#endif
