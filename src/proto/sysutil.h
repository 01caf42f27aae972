/* sysutil.h -- the application's system-call layer: EINTR and short counts
 * handled once, here.
 *
 * vsftpd's sysutil.c and libuv's uv__* wrappers are the model: a call that
 * can be interrupted by a signal, or can do less than it was asked, is
 * wrapped once and checked here, so the rest of ssftpd and ssftp (and their
 * tests and benches) cannot forget to.  Positioned file I/O is fileio.h's
 * and socket waits with deadlines are wire.c's; the library (src/server)
 * keeps its own layer, as it depends on nothing of ours.
 *
 * Every function returns 0 (or a count) or a negative errno; none retries
 * anything but EINTR (and, where said, a short count).
 */
#ifndef SSFTP_PROTO_SYSUTIL_H
#define SSFTP_PROTO_SYSUTIL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC, in milliseconds and in seconds.  It cannot fail on
 * Linux; if it ever did, these abort rather than return a wrong time. */
int64_t proto_mono_ms(void);
double proto_mono_s(void);

/* CLOCK_MONOTONIC in nanoseconds, for what a millisecond is too coarse
 * for (body.c's rate limit). */
int64_t proto_mono_ns(void);

/* Sleeps ms milliseconds, the whole of them whatever signals arrive. */
void proto_sleep_ms(int64_t ms);

/* Sleeps until proto_mono_ns() reaches ns, whatever signals arrive. */
void proto_sleep_until_ns(int64_t ns);

/* poll(), resumed after EINTR with what is left of timeout_ms (< 0: no
 * timeout).  Returns the count of ready descriptors, 0 at the timeout, or
 * -errno. */
int proto_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* read() until n bytes or end of file: the count, or -errno. */
ssize_t proto_read_full(int fd, void *buf, size_t n);
/* write() all n bytes: 0 or -errno. */
int proto_write_all(int fd, const void *buf, size_t n);

/* flock(), ftruncate() and getrandom() (all n bytes), resumed after EINTR. */
int proto_flock(int fd, int op);
int proto_ftruncate(int fd, uint64_t len);
int proto_random(void *buf, size_t n);

/* Extended attributes of an open file: the value's size, or -errno. */
ssize_t proto_fgetxattr(int fd, const char *name, void *buf, size_t cap);
int proto_fsetxattr(int fd, const char *name, const void *val, size_t n);

/* One line of fd into buf (cap bytes, the NUL included), byte by byte, so
 * nothing past the newline is consumed and no stdio buffer keeps a copy of
 * a secret; the newline (and a '\r' before it) is dropped.  Returns the
 * length, -ENODATA at an immediate end of file, -EMSGSIZE, or -errno. */
int proto_read_secret_line(int fd, char *buf, size_t cap);

/* Writes prompt to out, then reads a line from the terminal in with echo
 * off (ECHONL on, so the newline still shows and the next prompt starts a
 * line), restoring the terminal after.  Echo goes off before the prompt
 * shows, so nothing typed in answer can be echoed or flushed away.
 * Returns as proto_read_secret_line(), or -ENOTTY. */
int proto_prompt_secret(int in, int out, const char *prompt, char *buf,
                        size_t cap);

/* Big-endian 32-bit integers, as frames carry their length. */
void proto_be32_put(uint8_t out[4], uint32_t v);
uint32_t proto_be32_get(const uint8_t in[4]);

#endif
