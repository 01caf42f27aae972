/* jail.c -- user paths resolved beneath a home fd, never through a symlink;
 * reading and changing the tree there. */
#include "jail_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "partname.h"

/* The kernel does the confinement: no "..", absolute path, symlink, magic
 * link or mount crossing can take a lookup out of (or around inside) the
 * directory it starts from.  Every open below goes through at2(). */
#define JAIL_RESOLVE                                                           \
    (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |           \
     RESOLVE_NO_XDEV)

/* openat2 beneath dirfd.  EAGAIN is the kernel asking for a retry after a
 * concurrent rename; EINTR can come from opening on slow filesystems. */
int jail__open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)flags, .mode = mode, .resolve = JAIL_RESOLVE};
    for (int tries = 0;; tries++) {
        long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if ((errno != EAGAIN && errno != EINTR) || tries == 100)
            return -errno;
    }
}

int jail_supported(void)
{
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -errno;
    int fd = jail__open_beneath(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    close(root);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* ---- the jail and its paths --------------------------------------------- */

int jail_open(int homefd, struct jail **out)
{
    struct stat st;
    if (fstat(homefd, &st) != 0) {
        int rc = -errno;
        close(homefd);
        return rc;
    }
    struct jail *j = S_ISDIR(st.st_mode) ? malloc(sizeof *j) : NULL;
    char *cwd = j != NULL ? strdup("/") : NULL;
    if (cwd == NULL) {
        free(j);
        close(homefd);
        return S_ISDIR(st.st_mode) ? -ENOMEM : -ENOTDIR;
    }
    j->homefd = homefd;
    j->dev = st.st_dev;
    j->ino = st.st_ino;
    j->cwd = cwd;
    *out = j;
    return 0;
}

void jail_close(struct jail *j)
{
    if (j == NULL)
        return;
    if (j->homefd >= 0)
        close(j->homefd);
    free(j->cwd);
    free(j);
}

void jail_rest(struct jail *j)
{
    if (j->homefd >= 0)
        close(j->homefd);
    j->homefd = -1;
}

int jail_wake(struct jail *j, int homefd)
{
    struct stat st;
    int rc = fstat(homefd, &st) != 0 ? -errno : 0;
    if (rc == 0 && (st.st_dev != j->dev || st.st_ino != j->ino))
        rc = -ESTALE; /* replaced since login: not the home we jailed */
    if (rc != 0) {
        close(homefd);
        return rc;
    }
    if (j->homefd >= 0)
        close(j->homefd);
    j->homefd = homefd;
    return 0;
}

bool jail_resting(const struct jail *j)
{
    return j->homefd < 0;
}

const char *jail_cwd(const struct jail *j)
{
    return j->cwd;
}

int jail_resolve(const struct jail *j, const char *path, size_t len,
                 struct jail_path **out)
{
    struct jail_path *p = malloc(sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    int rc = proto_path_normalize(j->cwd, path, len, p->user);
    if (rc != 0) {
        free(p);
        return rc;
    }
    /* Split "/a/b/c" into parent "a/b" and leaf "c"; "/x" has parent "." */
    char parent[PROTO_PATH_BUF];
    size_t dir = proto_path_dir_len(p->user); /* "/a/b/" */
    p->home = p->user[1] == '\0';
    strcpy(p->leaf, p->home ? "." : p->user + dir);
    if (dir <= 1) {
        strcpy(parent, ".");
    } else {
        memcpy(parent, p->user + 1, dir - 2);
        parent[dir - 2] = '\0';
    }
    p->dirfd = jail__open_beneath(j->homefd, parent,
                                  O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (p->dirfd < 0) {
        rc = p->dirfd;
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void jail_path_free(struct jail_path *p)
{
    if (p == NULL)
        return;
    close(p->dirfd);
    free(p);
}

const char *jail_path_user(const struct jail_path *p)
{
    return p->user;
}

int jail_cd(struct jail *j, const char *path, size_t len)
{
    struct jail_path *p;
    int rc = jail_resolve(j, path, len, &p);
    if (rc != 0)
        return rc;
    int fd = jail__open_beneath(p->dirfd, p->leaf,
                                O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        char *cwd = strdup(p->user);
        if (cwd == NULL) {
            fd = -ENOMEM;
        } else {
            free(j->cwd);
            j->cwd = cwd;
        }
    }
    jail_path_free(p);
    return fd < 0 ? fd : 0;
}

/* ---- reading ------------------------------------------------------------ */

static void fill_entry(const char *name, const struct stat *st,
                       struct jail_entry *e)
{
    snprintf(e->name, sizeof e->name, "%s", name);
    e->type = S_ISREG(st->st_mode)   ? JAIL_FILE
              : S_ISDIR(st->st_mode) ? JAIL_DIR
                                     : JAIL_OTHER;
    e->size = e->type == JAIL_FILE ? (uint64_t)st->st_size : 0;
    e->mtime = (int64_t)st->st_mtim.tv_sec;
}

int jail_open_read(const struct jail_path *p, int *fd, struct stat *st)
{
    /* O_NONBLOCK so a fifo cannot hang the open; it is refused just below. */
    int f = jail__open_beneath(p->dirfd, p->leaf,
                               O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
    if (f < 0)
        return f;
    struct stat s;
    int rc = 0, fl;
    if (fstat(f, &s) != 0)
        rc = -errno;
    else if (S_ISDIR(s.st_mode))
        rc = -EISDIR;
    else if (!S_ISREG(s.st_mode))
        rc = -EACCES;
    else if ((fl = fcntl(f, F_GETFL)) < 0 ||
             fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0)
        rc = -errno;
    if (rc != 0) {
        close(f);
        return rc;
    }
    if (st != NULL)
        *st = s;
    *fd = f;
    return 0;
}

int jail_stat(const struct jail_path *p, struct jail_entry *e)
{
    struct stat st;
    if (fstatat(p->dirfd, p->leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    fill_entry(p->leaf, &st, e);
    return 0;
}

int jail_set_mtime(const struct jail_path *p, int64_t sec)
{
    struct stat st;
    if (fstatat(p->dirfd, p->leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode)   ? -EISDIR
               : S_ISLNK(st.st_mode) ? -ELOOP
                                     : -EACCES;
    const struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
                                   {.tv_sec = (time_t)sec}};
    if (utimensat(p->dirfd, p->leaf, ts, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    return 0;
}

int jail_dir_open(const struct jail_path *p, struct jail_dir **out)
{
    struct jail_dir *jd = malloc(sizeof *jd);
    if (jd == NULL)
        return -ENOMEM;
    int fd = jail__open_beneath(p->dirfd, p->leaf,
                                O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
        free(jd);
        return fd;
    }
    jd->d = fdopendir(fd);
    if (jd->d == NULL) {
        int rc = -errno;
        close(fd);
        free(jd);
        return rc;
    }
    *out = jd;
    return 0;
}

/* The next entry users can name (partials false), or the next upload
 * partial, named after its target (partials true). */
static int dir_next(struct jail_dir *jd, struct jail_entry *e, bool partials)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(jd->d);
        if (de == NULL)
            return errno != 0 ? -errno : 0;
        const char *n = de->d_name;
        size_t len = strlen(n), suffix = sizeof PROTO_PART_SUFFIX - 1;
        if (partials) {
            /* ".NAME.ssftp-part" names NAME, which must be typeable */
            if (!proto_is_part_name(n) || len <= PROTO_PART_EXTRA ||
                proto_path_component_ok(n + 1, len - 1 - suffix) != 0)
                continue;
        } else if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
                   proto_path_component_ok(n, len) != 0) {
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(jd->d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* removed since readdir: not there any more */
            return -errno;
        }
        if (!partials) {
            fill_entry(n, &st, e);
            return 1;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        char target[NAME_MAX + 1];
        snprintf(target, sizeof target, "%.*s", (int)(len - 1 - suffix), n + 1);
        fill_entry(target, &st, e);
        return 1;
    }
}

int jail_dir_next(struct jail_dir *jd, struct jail_entry *e)
{
    return dir_next(jd, e, false);
}

int jail_dir_next_partial(struct jail_dir *jd, struct jail_entry *e)
{
    return dir_next(jd, e, true);
}

void jail_dir_close(struct jail_dir *jd)
{
    if (jd == NULL)
        return;
    closedir(jd->d);
    free(jd);
}

/* ---- changing the tree -------------------------------------------------- */

int jail_mkdir(const struct jail_path *p)
{
    return mkdirat(p->dirfd, p->leaf, 0755) != 0 ? -errno : 0;
}

/* Removes the non-directory at name, adding it to *sum.  -EISDIR for a
 * directory, -ENOENT. */
static int unlink_measured(int dirfd, const char *name, struct jail_count *sum)
{
    char tmp[NAME_MAX + 1];
    int rc = jail__take_private(dirfd, name, tmp);
    if (rc != 0)
        return rc;
    struct stat st;
    if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR; /* a directory took the name since the caller looked */
    if (rc != 0) {
        /* Give it back; should the name be taken again meanwhile, it stays
         * hidden (and is swept as a commit leftover). */
        (void)renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
        return rc;
    }
    if (unlinkat(dirfd, tmp, 0) != 0)
        return -errno; /* hidden and still counted: nothing was freed */
    jail__count_add(sum, &st);
    return 0;
}

/* Locks the upload partial of p's name (its name into part): the locked
 * fd, -ENOENT when there is none, -EAGAIN when an upload holds it, or
 * -errno. */
static int lock_partial_of(const struct jail_path *p, char part[NAME_MAX + 1])
{
    int rc = proto_part_name(p->leaf, part, NAME_MAX + 1);
    if (rc == -ENAMETOOLONG)
        return -ENOENT; /* a name too long to have a partial has none */
    bool created;
    return rc != 0 ? rc : jail__partial_lock(p->dirfd, part, false, &created);
}

int jail_unlink(const struct jail_path *p, struct jail_count *freed)
{
    if (p->home)
        return -EACCES;
    struct stat st;
    bool file = fstatat(p->dirfd, p->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!file && errno != ENOENT)
        return -errno;
    if (file && S_ISDIR(st.st_mode))
        return -EISDIR;
    /* The partial is locked first, so a busy one stops the whole rm. */
    char part[NAME_MAX + 1];
    int pfd = lock_partial_of(p, part);
    if (pfd < 0 && pfd != -ENOENT)
        return pfd; /* -EAGAIN: an upload holds it */
    if (pfd < 0 && !file)
        return -ENOENT;
    struct jail_count sum = {0};
    int rc = file ? unlink_measured(p->dirfd, p->leaf, &sum) : 0;
    if (rc == -ENOENT && pfd >= 0)
        rc = 0; /* gone meanwhile; the partial is still ours to remove */
    if (pfd >= 0) {
        if (rc == 0)
            rc = jail__partial_remove(p->dirfd, part, pfd, &sum);
        else
            close(pfd);
    }
    if (freed != NULL)
        *freed = sum;
    return rc;
}

/* Discards the partials in directory fd (which it closes), or fails with
 * -ENOTEMPTY when anything else is in it.  Two passes, so a directory that
 * is not empty keeps its partials. */
static int discard_all_partials(int fd, struct jail_count *sum)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int rc = 0;
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        rewinddir(d);
        struct dirent *de;
        while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
            const char *n = de->d_name;
            if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                continue;
            if (!proto_is_part_name(n))
                rc = -ENOTEMPTY;
            else if (pass == 1)
                rc = jail__partial_discard(dirfd(d), n, sum);
        }
        if (rc == 0 && errno != 0)
            rc = -errno;
    }
    closedir(d);
    return rc;
}

int jail_rmdir(const struct jail_path *p, struct jail_count *freed)
{
    if (p->home)
        return -EACCES;
    int fd = jail__open_beneath(p->dirfd, p->leaf,
                                O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    struct jail_count sum = {0};
    int rc = fd < 0 ? fd : discard_all_partials(fd, &sum);
    if (rc == 0 && unlinkat(p->dirfd, p->leaf, AT_REMOVEDIR) != 0)
        rc = errno == EEXIST ? -ENOTEMPTY : -errno;
    if (rc == 0)
        sum.entries++;
    if (freed != NULL)
        *freed = sum; /* discarded even if the rmdir then failed */
    return rc;
}

int jail_rename(const struct jail_path *from, const struct jail_path *to)
{
    if (from->home || to->home)
        return -EACCES;
    /* A file being uploaded is not moved away from its upload: the
     * partial's lock is taken (as rm takes it) and held over the rename, so
     * an upload cannot start in between either.  A partial no upload holds
     * stays, under the old name, to be resumed or listed there. */
    char part[NAME_MAX + 1];
    int pfd = lock_partial_of(from, part);
    if (pfd < 0 && pfd != -ENOENT)
        return pfd; /* -EAGAIN: an upload holds it */
    /* Both parents were opened beneath the home without following a
     * symlink (jail_resolve()), so both ends are in it; the kernel refuses
     * a directory into its own subtree (-EINVAL) and, with NOREPLACE, any
     * existing name at to, a symlink included (-EEXIST). */
    int rc = renameat2(from->dirfd, from->leaf, to->dirfd, to->leaf,
                       RENAME_NOREPLACE) != 0
                 ? -errno
                 : 0;
    if (pfd >= 0)
        close(pfd);
    return rc;
}
