/* jail_usage.c -- counting a home, and sweeping what crashes left in it. */
#include "jail_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "partname.h"

static void count_sat(struct jail_count *c, const struct stat *st)
{
    uint64_t sz = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    c->bytes = c->bytes > UINT64_MAX - sz ? UINT64_MAX : c->bytes + sz;
    c->entries++;
}

/* Whether the sweep removes name (a part name, st its stat) in directory
 * dirfd; 1 when it did, adding it to the sweep's counts. */
static int sweep_one(int dirfd, const char *name, const struct stat *st,
                     struct jail_sweep *sw)
{
    if (!S_ISREG(st->st_mode))
        return 0; /* a directory hidden by a failed commit stays whole */
    if (jail__is_commit_name(name)) {
        if (unlinkat(dirfd, name, 0) != 0)
            return 0;
        jail__count_add(&sw->commit_leftovers, st);
        return 1;
    }
    struct timespec now;
    if (sw->partial_max_age_s < 0 || clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        now.tv_sec - st->st_mtim.tv_sec < sw->partial_max_age_s)
        return 0;
    struct jail_count gone = {0};
    if (jail__partial_discard(dirfd, name, &gone) != 0 || gone.entries == 0)
        return 0; /* held by an upload, or gone meanwhile */
    sw->old_partials.entries += gone.entries;
    sw->old_partials.bytes += gone.bytes;
    return 1;
}

/* Counts the tree below the directory fd (which it closes) at depth.  Goes
 * on past errors; returns the first. */
static int walk(int fd, unsigned depth, struct jail_count *sum,
                struct jail_sweep *sw)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int first = 0;
    struct dirent *de;
    while ((errno = 0, de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        struct stat st;
        int rc = 0;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = errno == ENOENT ? 0 : -errno;
        } else if (sw != NULL && proto_is_part_name(n) &&
                   sweep_one(dirfd(d), n, &st, sw)) {
            continue;
        } else {
            count_sat(sum, &st);
        }
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            if (depth + 1 > PROTO_PATH_DEPTH_MAX) {
                rc = -ENAMETOOLONG;
            } else {
                int sub = jail__open_beneath(
                    dirfd(d), n, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
                /* Gone, or swapped for a symlink since the stat, or another
                 * mount: none of it is this user's data. */
                if (sub == -ENOENT || sub == -ELOOP || sub == -ENOTDIR ||
                    sub == -EXDEV)
                    continue;
                rc = sub < 0 ? sub : walk(sub, depth + 1, sum, sw);
            }
        }
        if (first == 0)
            first = rc;
    }
    if (first == 0 && errno != 0)
        first = -errno;
    closedir(d);
    return first;
}

int jail_usage(const struct jail *j, struct jail_count *total,
               struct jail_sweep *sweep)
{
    *total = (struct jail_count){0};
    if (sweep != NULL) {
        sweep->commit_leftovers = (struct jail_count){0};
        sweep->old_partials = (struct jail_count){0};
    }
    int fd = jail__open_beneath(j->homefd, ".",
                                O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    return walk(fd, 0, total, sweep);
}
