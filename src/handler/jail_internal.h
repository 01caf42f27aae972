/* jail_internal.h -- what the jail's files share (jail.c, jail_partial.c,
 * jail_upload.c, jail_usage.c); not for anyone else: jail.h is the API.
 * Internal names carry "jail__".
 */
#ifndef SSFTP_JAIL_INTERNAL_H
#define SSFTP_JAIL_INTERNAL_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "jail.h"

/* The private names of files taken out of sight (a commit, an rm). */
#define COMMIT_PREFIX ".commit-"

struct jail {
    int homefd; /* -1 while resting (jail_rest()) */
    dev_t dev;  /* the home's identity, checked by jail_wake() */
    ino_t ino;
    char *cwd; /* sized to fit: an idle session's jail is small */
};

struct jail_path {
    int dirfd; /* O_PATH parent directory, beneath the home */
    bool home; /* the path is the home itself; leaf is "." */
    char leaf[NAME_MAX + 1];
    char user[PROTO_PATH_BUF];
};

struct jail_dir {
    DIR *d;
};

struct jail_upload {
    int dirfd; /* our own dup of the parent: the upload may outlive the path */
    int fd;    /* the partial, flock()ed */
    char leaf[NAME_MAX + 1];
    char part[NAME_MAX + 1];
};

/* openat2 beneath dirfd, with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV: every open of the jail's files
 * goes through it.  Returns the fd or -errno. */
int jail__open_beneath(int dirfd, const char *name, int flags, mode_t mode);

bool jail__same_file(const struct stat *a, const struct stat *b);
/* One more entry, and its bytes if it is a regular file. */
void jail__count_add(struct jail_count *c, const struct stat *st);

/* Opens (or with create, makes: *created says whether) the partial
 * dirfd/name and takes its flock.  Returns the locked fd, -EAGAIN if an
 * upload in another session holds it, or -ENOENT. */
int jail__partial_lock(int dirfd, const char *name, bool create, bool *created);
/* Removes the partial whose locked fd we hold, adding it to *sum; closes
 * fd. */
int jail__partial_remove(int dirfd, const char *name, int fd,
                         struct jail_count *sum);
/* Discards the partial dirfd/name if there is one and no upload holds it:
 * 0 (also when there is none), -EAGAIN, or -errno. */
int jail__partial_discard(int dirfd, const char *name, struct jail_count *sum);

/* Whether name is a private ".commit-*" name. */
bool jail__is_commit_name(const char *name);
/* A fresh private name into name. */
int jail__private_name(char name[NAME_MAX + 1]);
/* Takes the file at name out of sight under a fresh private name (tmp):
 * 0, -ENOENT, or -errno. */
int jail__take_private(int dirfd, const char *name, char tmp[NAME_MAX + 1]);

#endif
