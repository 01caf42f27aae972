/* hostkey.h -- whom the client is talking to.
 *
 * A server whose certificate chains to the system's CA store and matches
 * the host name is accepted, as HTTPS does.  Any other is known by its key,
 * pinned on first use as OpenSSH does: known_hosts under
 * $XDG_CONFIG_HOME/ssftp/ (default ~/.config/ssftp/) holds one line per
 * server, "HOST:PORT SHA256:<base64>" ([HOST]:PORT for an IPv6 address).
 *
 *   - a key that differs from the one on file is refused, always;
 *   - an unknown server is asked about on a terminal; without one it is
 *     refused unless --accept-new-host-key (store it and go on) or
 *     --host-key SHA256:... (this key and no other) says what to do.
 *
 * Refusals are SSFTP_AUTH (exit 4) with one line in c->err.
 */
#ifndef SSFTP_CLIENT_HOSTKEY_H
#define SSFTP_CLIENT_HOSTKEY_H

#include <stdbool.h>

#include "conn.h"

typedef struct hostkey_opts {
    bool accept_new; /* --accept-new-host-key */
    const char *pin; /* --host-key, or NULL */
    bool verbose;    /* -v: say the TLS version, cipher and key */
} hostkey_opts;

/* After the handshake of c with host:port.  Returns SSFTP_OK or SSFTP_AUTH
 * (or SSFTP_FAIL when known_hosts cannot be read or written). */
int hostkey_check(client_conn *c, const char *host, const char *port,
                  const hostkey_opts *o);

/* The known_hosts file's path (cap bytes).  Returns 0 or -ENOENT when
 * neither XDG_CONFIG_HOME nor HOME is set. */
int hostkey_file(char *path, size_t cap);

/* The path of leaf in ssftp's configuration directory:
 * $XDG_CONFIG_HOME/ssftp/LEAF, else ~/.config/ssftp/LEAF.  0, -ENOENT
 * (neither variable set) or -ENAMETOOLONG. */
int config_file(const char *leaf, char *path, size_t cap);

/* mkdir -p of path's directory, 0700 for what it makes: 0 or -errno. */
int config_make_parent(const char *path);

#endif
