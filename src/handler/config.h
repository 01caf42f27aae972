/* config.h -- ssftpd's config file: the command line's long options as
 * "key = value" lines.
 *
 *     # a comment; blank lines are skipped
 *     listen = 0.0.0.0:2121
 *     ftp-allow-plaintext = yes
 *
 * A key is a long option without its dashes; a flag takes yes or no.
 * Spaces around the key and the value are dropped; a value runs to the end
 * of its line (no quoting).  The caller's function parses each pair with
 * the command line's own parser, so no option has a second spelling.
 */
#ifndef SSFTP_HANDLER_CONFIG_H
#define SSFTP_HANDLER_CONFIG_H

/* Called for each pair in file order, with where it is (for messages);
 * returns 0, or a negative errno after saying what is wrong. */
typedef int (*config_fn)(void *arg, const char *file, unsigned line,
                         const char *key, const char *value);

/* Reads path and calls fn for every pair.  The strings handed to fn stay
 * valid for the life of the process (options keep pointers into them).
 * Returns 0, fn's error (which stops the reading), or -errno for a file
 * that cannot be read or a line that is not "key = value" (said, as
 * "ssftpd: FILE:LINE: ..."). */
int config_load(const char *path, config_fn fn, void *arg);

#endif
