/* admin.h -- "ssftpd user ...": the command line that manages users.json.
 *
 *     ssftpd user add NAME [--quota SIZE]   new user; asks for the password
 *     ssftpd user passwd NAME               new password (new salt and keys)
 *     ssftpd user del NAME                  removes the record; the home and
 *                                           its files are kept
 *     ssftpd user quota NAME SIZE           SIZE as sizes.h; 0 = server default
 *     ssftpd user list                      name, quota and bytes used
 *
 * Every command takes --root DIR (default ./ssftp-data, created if missing;
 * a DIR given must exist, except for add, which makes it).
 * The password is one line of stdin when stdin is not a terminal (the
 * newline is stripped), or typed twice with echo off when it is.  It is
 * wiped from memory once the keys are derived.  Messages go to stderr; only
 * "list" writes to stdout.  Exit status: 0 done, 1 failed, 2 usage error.
 *
 * Hidden, for tests: --kdf-ops N and --kdf-mem BYTES choose cheaper Argon2id
 * costs, within the bounds clients accept (proto_auth_params_check()).
 */
#ifndef SSFTP_ADMIN_H
#define SSFTP_ADMIN_H

/* The data root without --root: meson -Ddefault_root= (an installed server
 * may want its state directory, e.g. /var/lib/ssftpd). */
#ifndef SSFTPD_DEFAULT_ROOT
#define SSFTPD_DEFAULT_ROOT "./ssftp-data"
#endif

/* argv is main()'s whole argv with argv[1] == "user"; ssftpd's main() hands
 * over when it sees that word.  Returns the exit status. */
int admin_main(int argc, char **argv);

/* "ssftpd init [--root DIR]": makes the data root with its modes (0700,
 * homes/, an empty users.json 0600); idempotent.  Returns the exit
 * status. */
int admin_init_main(int argc, char **argv);

#endif
