/* jail_partial.c -- the hidden files uploads grow in, and private names:
 * locking, measuring and removing them. */
#include "jail_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "partname.h"
#include "sysutil.h"

bool jail__same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* How long a partial's lock is waited for: a client killed mid-upload and
 * started again at once meets its old session still holding it for the
 * moment that session takes to see the connection gone.  The looks start
 * 1 ms apart and double up to 32 ms: two puts racing on one new name meet
 * a lock held only for the winner's commit, and a fixed 20 ms step made
 * each such meeting cost 20 ms (2000 of them took 47 s in test_quota). */
#define LOCK_GRACE_MS 1000
#define LOCK_STEP_MIN_MS 1
#define LOCK_STEP_MAX_MS 32

/* flock(LOCK_EX), waiting up to LOCK_GRACE_MS: 0, -EAGAIN or -errno. */
static int lock_with_grace(int fd)
{
    int step = LOCK_STEP_MIN_MS;
    for (int waited = 0;; waited += step) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        if (waited >= LOCK_GRACE_MS)
            return -EAGAIN;
        if (waited > 0 && step < LOCK_STEP_MAX_MS)
            step *= 2;
        struct timespec ts = {.tv_nsec = step * 1000000L};
        (void)nanosleep(&ts, NULL); /* EINTR: the loop looks again */
    }
}

/* Opens (or with create, makes) the partial dirfd/name and takes its flock.
 * Returns the locked fd, -EAGAIN if an upload in another session holds it
 * (after a grace of LOCK_GRACE_MS for one that is ending),
 * or -ENOENT.  Once the lock is won the name must still be ours: its last
 * holder may have committed (renamed) or discarded it between our open and
 * our flock, and writing to that inode would touch the live file or a
 * deleted one.  *created says whether this call made the file, also when it
 * then fails: the entry exists (or was removed by whoever took it), and
 * the caller's count must say so.  It is made at most once per call. */
int jail__partial_lock(int dirfd, const char *name, bool create, bool *created)
{
    *created = false;
    for (int tries = 0; tries < 100; tries++) {
        /* O_EXCL first, so we know whether this call made a new entry.
         * openat2 refuses a mode without O_CREAT. */
        int fd = -EEXIST;
        if (create && !*created) {
            fd = jail__open_beneath(
                dirfd, name, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
            *created = fd >= 0;
        }
        if (fd == -EEXIST)
            fd = jail__open_beneath(dirfd, name, O_RDWR | O_CLOEXEC, 0);
        if (fd == -ENOENT && create)
            /* removed between the two opens, or ours removed by an rm */
            fd = *created ? -EAGAIN : -EINTR;
        if (fd == -EINTR)
            continue;
        if (fd < 0)
            return fd;
        struct stat a, b;
        int rc = lock_with_grace(fd);
        if (rc == 0) {
            if (fstat(fd, &a) != 0)
                rc = -errno;
            else if (!S_ISREG(a.st_mode))
                rc = -EACCES;
            else if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) != 0)
                rc = errno == ENOENT ? 1 : -errno;
            else if (!jail__same_file(&a, &b))
                rc = 1;
        }
        if (rc == 0)
            return fd;
        close(fd);
        if (rc == 1 && *created)
            rc = -EAGAIN; /* what we made is another session's now */
        if (rc < 0)
            return rc;
    }
    return -EAGAIN;
}

void jail__count_add(struct jail_count *c, const struct stat *st)
{
    c->entries++;
    if (S_ISREG(st->st_mode))
        c->bytes += (uint64_t)st->st_size;
}

/* Removes the partial dirfd/name whose locked fd we hold, adding it to
 * *sum; closes fd. */
int jail__partial_remove(int dirfd, const char *name, int fd,
                         struct jail_count *sum)
{
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -errno : 0;
    if (rc == 0 && unlinkat(dirfd, name, 0) != 0)
        rc = -errno;
    if (rc == 0)
        jail__count_add(sum, &st);
    close(fd);
    return rc;
}

/* Discards the partial dirfd/name if there is one and no upload holds it:
 * 0 (also when there is none), -EAGAIN, or -errno. */
int jail__partial_discard(int dirfd, const char *name, struct jail_count *sum)
{
    bool created;
    int fd = jail__partial_lock(dirfd, name, false, &created);
    if (fd == -ENOENT)
        return 0;
    return fd < 0 ? fd : jail__partial_remove(dirfd, name, fd, sum);
}

bool jail__is_commit_name(const char *name)
{
    return strncmp(name, COMMIT_PREFIX, sizeof COMMIT_PREFIX - 1) == 0 &&
           proto_is_part_name(name);
}

/* A fresh hidden name for moving things out of sight (a commit, an rm). */
int jail__private_name(char name[NAME_MAX + 1])
{
    uint64_t r;
    int rc = proto_random(&r, sizeof r);
    if (rc != 0)
        return rc;
    snprintf(name, NAME_MAX + 1, COMMIT_PREFIX "%016" PRIx64 "%s", r,
             PROTO_PART_SUFFIX);
    return 0;
}

/* Takes the file at name out of sight under a fresh private name, so what
 * is then measured and removed is exactly what was taken, whatever other
 * sessions do to name meanwhile (a put committing a new file there).
 * Returns 0 with the private name in tmp, -ENOENT, or -errno. */
int jail__take_private(int dirfd, const char *name, char tmp[NAME_MAX + 1])
{
    for (int tries = 0; tries < 8; tries++) {
        int rc = jail__private_name(tmp);
        if (rc != 0)
            return rc;
        if (renameat2(dirfd, name, dirfd, tmp, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int jail_partial_size(const struct jail_path *p, uint64_t *size)
{
    char part[NAME_MAX + 1];
    if (p->home || proto_part_name(p->leaf, part, sizeof part) != 0)
        return -ENOENT;
    struct stat st;
    if (fstatat(p->dirfd, part, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    *size = (uint64_t)st.st_size;
    return 0;
}
