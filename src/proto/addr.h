/* addr.h -- HOST:PORT as people type it, for the server's --listen and the
 * client's command line alike.
 *
 * Accepted: "HOST:PORT", "[V6]:PORT", and without ":PORT" "HOST", "[V6]"
 * or a bare IPv6 address (two colons or more: its colons cannot be told
 * from a port's, so a port needs the brackets, as in URLs, RFC 3986).
 */
#ifndef SSFTP_PROTO_ADDR_H
#define SSFTP_PROTO_ADDR_H

#include <stddef.h>

/* Splits s: host gets the name (brackets stripped), *port the port's text
 * (pointing into s) or NULL when there is none.  Returns 0, -EINVAL (an
 * empty host or port, a bracket unclosed or followed by anything but
 * ":PORT"), or -ENAMETOOLONG (the host does not fit in cap). */
int proto_hostport_split(const char *s, char *host, size_t cap,
                         const char **port);

#endif
