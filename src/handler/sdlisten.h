/* sdlisten.h -- systemd socket activation without libsystemd.
 *
 * The protocol of sd_listen_fds(3): the service manager passes listening
 * sockets as descriptors 3, 4, ... (SD_LISTEN_FDS_START), and says so in
 * the environment: LISTEN_PID (the process they are for: ours, not a
 * parent's we inherited them from), LISTEN_FDS (how many) and, if the
 * socket units set FileDescriptorName=, LISTEN_FDNAMES ("native:ftp").
 * ssftpd.socket names its socket "native"; an FTP socket is named "ftp". */
#ifndef SSFTPD_SDLISTEN_H
#define SSFTPD_SDLISTEN_H

#include <stdbool.h>

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define SDLISTEN_FDS_START 3

/* If this process was socket-activated (LISTEN_PID is getpid(), LISTEN_FDS
 * at least 1), sets *native to the descriptor named "native", or else the
 * first one (3); and, if want_ftp, *ftp to the one named "ftp", or else
 * the second one if there are two or more and it is not the native one.
 * What it does not set stays as it was (-1 for "make your own socket").
 * Every passed descriptor gets FD_CLOEXEC, and one left unused is said on
 * stderr.  LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are unset in every
 * case, so nothing this process starts takes them for its own.  Returns
 * the number of descriptors passed (0: not activated), or -EINVAL after
 * saying on stderr what was wrong (a malformed variable, a descriptor that
 * is not open). */
int sdlisten_take(bool want_ftp, int *native, int *ftp);

#endif
