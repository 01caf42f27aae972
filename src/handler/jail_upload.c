/* jail_upload.c -- resumable uploads: the partial, then an atomic commit. */
#include "jail_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partname.h"
#include "sysutil.h"

int jail_upload_begin(const struct jail_path *p, struct jail_upload **out,
                      bool *created)
{
    bool made = false;
    if (created != NULL)
        *created = false;
    struct stat st;
    if (p->home)
        return -EISDIR;
    if (fstatat(p->dirfd, p->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return -EISDIR;
        if (!S_ISREG(st.st_mode))
            return -EACCES;
    } else if (errno != ENOENT) {
        return -errno;
    }
    struct jail_upload *u = malloc(sizeof *u);
    if (u == NULL)
        return -ENOMEM;
    strcpy(u->leaf, p->leaf);
    u->fd = -1;
    /* A readable fd of the parent, not the O_PATH one: commit fsyncs it. */
    u->dirfd = jail__open_beneath(p->dirfd, ".",
                                  O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    int rc = u->dirfd < 0 ? u->dirfd
                          : proto_part_name(p->leaf, u->part, sizeof u->part);
    if (rc == 0) {
        u->fd = jail__partial_lock(u->dirfd, u->part, true, &made);
        rc = u->fd < 0 ? u->fd : 0;
    }
    if (created != NULL)
        *created = made; /* on failure too: the entry may exist */
    if (rc != 0) {
        if (u->dirfd >= 0)
            close(u->dirfd);
        free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int jail_upload_fd(const struct jail_upload *u)
{
    return u->fd;
}

int jail_upload_size(const struct jail_upload *u, uint64_t *size)
{
    struct stat st;
    if (fstat(u->fd, &st) != 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

int jail_upload_truncate(struct jail_upload *u, uint64_t len, uint64_t *freed)
{
    uint64_t size;
    int rc = jail_upload_size(u, &size);
    if (rc != 0)
        return rc;
    if (len > size)
        return -EINVAL;
    rc = proto_ftruncate(u->fd, len);
    if (rc != 0)
        return rc;
    if (freed != NULL)
        *freed = size - len;
    return 0;
}

/* Renames a with RENAME_EXCHANGE against b, retrying what the kernel may
 * fail transiently; the one call that must not fail if it can help it. */
static int exchange(int dirfd, const char *a, const char *b)
{
    for (int tries = 0;; tries++) {
        if (renameat2(dirfd, a, dirfd, b, RENAME_EXCHANGE) == 0)
            return 0;
        if ((errno != EINTR && errno != ENOMEM && errno != EBUSY) || tries == 8)
            return -errno;
    }
}

/* Measures and removes what a commit swapped out to tmp: the displaced
 * file.  Whatever fails here, the commit has happened; an unmeasured or
 * unremoved file stays hidden (and counted) under tmp until a sweep. */
static void displaced_free(struct jail_upload *u, const char *tmp,
                           const struct stat *st, struct jail_commit *c)
{
    /* Held open, its unlink is quick: freeing a large file's pages and
     * blocks waits for the last close, which the caller can put after its
     * reply. */
    if (S_ISREG(st->st_mode))
        c->displaced_fd = jail__open_beneath(
            u->dirfd, tmp, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
    if (c->displaced_fd < 0)
        c->displaced_fd = -1; /* not held open: freed at the unlink */
    if (unlinkat(u->dirfd, tmp, 0) == 0)
        jail__count_add(&c->replaced, st);
}

/* Puts the file at private name tmp in place of the target.  Exchanging (not
 * overwriting) leaves the displaced file under tmp, where no one else can
 * reach it, so what was replaced is exactly what is measured there, whatever
 * other sessions do to the target name meanwhile.  Returns 0 once the file
 * is under the target name. */
static int upload_place(struct jail_upload *u, const char *tmp,
                        struct jail_commit *c)
{
    for (int tries = 0; tries < 100; tries++) {
        if (exchange(u->dirfd, tmp, u->leaf) == 0) {
            struct stat st;
            if (fstatat(u->dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) != 0)
                return 0; /* published; the displaced file stays hidden */
            if (!S_ISDIR(st.st_mode)) {
                displaced_free(u, tmp, &st, c);
                return 0;
            }
            /* A directory took the name since begin: give it back.  Should
             * even that fail, the file is published and the directory stays
             * whole under tmp, where the sweep leaves directories alone. */
            if (exchange(u->dirfd, tmp, u->leaf) != 0) {
                c->dir_hidden = true;
                return 0;
            }
            return -EISDIR;
        }
        if (errno != ENOENT)
            return -errno;
        /* No target: a plain rename, unless one appears meanwhile. */
        if (renameat2(u->dirfd, tmp, u->dirfd, u->leaf, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EBUSY;
}

static void upload_free(struct jail_upload *u)
{
    if (u->fd >= 0)
        close(u->fd); /* releases the flock */
    if (u->dirfd >= 0)
        close(u->dirfd);
    free(u);
}

void jail_upload_flush_start(const struct jail_upload *u)
{
    (void)sync_file_range(u->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int jail_upload_commit(struct jail_upload *u, struct jail_commit *c,
                       enum jail_sync sync)
{
    *c = (struct jail_commit){.displaced_fd = -1, .dir_fd = -1};
    /* fsync before the rename: after a crash the name must not point at a
     * file whose data never reached the disk. */
    int rc = 0;
    if ((sync == JAIL_SYNC_FULL || sync == JAIL_SYNC_DIR_LATER) &&
        fsync(u->fd) != 0)
        rc = -errno;
    /* First move the partial to a private name: while the partial name
     * could still hold the displaced file, a session opening it would take
     * the old file for a partial. */
    char tmp[NAME_MAX + 1];
    for (int tries = 0; rc == 0 && tries < 8; tries++) {
        rc = jail__private_name(tmp);
        if (rc == 0 &&
            renameat2(u->dirfd, u->part, u->dirfd, tmp, RENAME_NOREPLACE) != 0)
            rc = -errno;
        if (rc != -EEXIST)
            break;
    }
    if (rc == 0) {
        rc = upload_place(u, tmp, c);
        /* Failed: put the partial back, so it can be resumed or discarded;
         * if even that fails it stays hidden, and counted, under tmp. */
        if (rc != 0) {
            (void)renameat2(u->dirfd, tmp, u->dirfd, u->part, RENAME_NOREPLACE);
        } else if (sync == JAIL_SYNC_DIR_LATER) {
            c->dir_fd = u->dirfd; /* the caller's fsync, and close */
            u->dirfd = -1;
        } else if (sync != JAIL_SYNC_NONE && fsync(u->dirfd) != 0) {
            c->sync_err = -errno;
        }
    }
    upload_free(u);
    return rc;
}

void jail_upload_close(struct jail_upload *u)
{
    if (u != NULL)
        upload_free(u);
}

int jail_upload_discard(struct jail_upload *u, struct jail_count *freed)
{
    struct jail_count sum = {0};
    int rc = jail__partial_remove(u->dirfd, u->part, u->fd, &sum);
    u->fd = -1;
    if (rc == 0 && freed != NULL)
        *freed = sum;
    upload_free(u);
    return rc;
}
