/* config.h -- ~/.config/ssftp/config: defaults and bookmarks.
 *
 * One setting a line; blank lines and lines starting with '#' are skipped:
 *
 *     user alice
 *     port 2121
 *     bookmark work files.example.org:2200 alice
 *     limit-rate 1M
 *
 * "user" and "port" are the defaults for -u and -p, "limit-rate" for
 * --limit-rate; "bookmark NAME
 * HOST[:PORT] [USER]" lets NAME stand for that server (and user) on the
 * command line.  The command line wins over a bookmark, a bookmark over the
 * defaults.  An unknown key or a malformed line is an error naming the
 * file and line.
 */
#ifndef SSFTP_CLIENT_CONFIG_H
#define SSFTP_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct client_config {
    char user[256], port[16]; /* "" when not set */
    uint64_t limit_rate;      /* bytes a second; 0: none */
    /* The bookmark named by the HOST argument, when there is one. */
    bool bookmarked;
    char host[256], host_user[256]; /* its HOST[:PORT] and USER ("") */
} client_config;

/* Reads path (a missing file is an empty configuration) looking for the
 * bookmark name.  Returns 0, or -1 with one line in err. */
int config_load(const char *path, const char *name, client_config *out,
                char *err, size_t errcap);

#endif
