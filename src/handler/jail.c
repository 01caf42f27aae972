/* jail.c -- user paths resolved beneath a home fd, never through a symlink. */
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "partname.h"

/* The private names of files taken out of sight (a commit, an rm). */
#define COMMIT_PREFIX ".commit-"

/* The kernel does the confinement: no "..", absolute path, symlink, magic
 * link or mount crossing can take a lookup out of (or around inside) the
 * directory it starts from.  Every open below goes through at2(). */
#define JAIL_RESOLVE                                                           \
    (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |           \
     RESOLVE_NO_XDEV)

struct jail {
    int homefd;
    char cwd[PROTO_PATH_BUF];
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

/* openat2 beneath dirfd.  EAGAIN is the kernel asking for a retry after a
 * concurrent rename; EINTR can come from opening on slow filesystems. */
static int at2(int dirfd, const char *name, int flags, mode_t mode)
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
    if (j == NULL) {
        close(homefd);
        return S_ISDIR(st.st_mode) ? -ENOMEM : -ENOTDIR;
    }
    j->homefd = homefd;
    strcpy(j->cwd, "/");
    *out = j;
    return 0;
}

void jail_close(struct jail *j)
{
    if (j == NULL)
        return;
    close(j->homefd);
    free(j);
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
    p->dirfd = at2(j->homefd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
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
    int fd = at2(p->dirfd, p->leaf, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        strcpy(j->cwd, p->user);
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
    int f =
        at2(p->dirfd, p->leaf, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
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

int jail_dir_open(const struct jail_path *p, struct jail_dir **out)
{
    struct jail_dir *jd = malloc(sizeof *jd);
    if (jd == NULL)
        return -ENOMEM;
    int fd = at2(p->dirfd, p->leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
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

int jail_dir_next(struct jail_dir *jd, struct jail_entry *e)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(jd->d);
        if (de == NULL)
            return errno != 0 ? -errno : 0;
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
            proto_path_component_ok(n, strlen(n)) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(jd->d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* removed since readdir: not there any more */
            return -errno;
        }
        fill_entry(n, &st, e);
        return 1;
    }
}

void jail_dir_close(struct jail_dir *jd)
{
    if (jd == NULL)
        return;
    closedir(jd->d);
    free(jd);
}

/* ---- partials ----------------------------------------------------------- */

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Opens (or with create, makes) the partial dirfd/name and takes its flock.
 * Returns the locked fd, -EAGAIN if an upload in another session holds it,
 * or -ENOENT.  Once the lock is won the name must still be ours: its last
 * holder may have committed (renamed) or discarded it between our open and
 * our flock, and writing to that inode would touch the live file or a
 * deleted one. */
static int partial_lock(int dirfd, const char *name, bool create,
                        bool *created)
{
    for (int tries = 0; tries < 100; tries++) {
        /* O_EXCL first, so we know whether this call made a new entry.
         * openat2 refuses a mode without O_CREAT. */
        int fd = -EEXIST;
        if (create)
            fd = at2(dirfd, name, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
        *created = fd >= 0;
        if (fd == -EEXIST)
            fd = at2(dirfd, name, O_RDWR | O_CLOEXEC, 0);
        if (fd == -ENOENT && create)
            continue; /* removed between the two opens */
        if (fd < 0)
            return fd;
        struct stat a, b;
        int rc = 0;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
            rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        else if (fstat(fd, &a) != 0)
            rc = -errno;
        else if (!S_ISREG(a.st_mode))
            rc = -EACCES;
        else if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) != 0)
            rc = errno == ENOENT ? 1 : -errno;
        else if (!same_file(&a, &b))
            rc = 1;
        if (rc == 0)
            return fd;
        close(fd);
        if (rc < 0)
            return rc;
    }
    return -EAGAIN;
}

static void count_add(struct jail_count *c, const struct stat *st)
{
    c->entries++;
    if (S_ISREG(st->st_mode))
        c->bytes += (uint64_t)st->st_size;
}

/* Removes the partial dirfd/name whose locked fd we hold, adding it to
 * *sum; closes fd. */
static int partial_remove(int dirfd, const char *name, int fd,
                          struct jail_count *sum)
{
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -errno : 0;
    if (rc == 0 && unlinkat(dirfd, name, 0) != 0)
        rc = -errno;
    if (rc == 0)
        count_add(sum, &st);
    close(fd);
    return rc;
}

/* Discards the partial dirfd/name if there is one and no upload holds it:
 * 0 (also when there is none), -EAGAIN, or -errno. */
static int partial_discard(int dirfd, const char *name, struct jail_count *sum)
{
    bool created;
    int fd = partial_lock(dirfd, name, false, &created);
    if (fd == -ENOENT)
        return 0;
    return fd < 0 ? fd : partial_remove(dirfd, name, fd, sum);
}

/* ---- changing the tree -------------------------------------------------- */

int jail_mkdir(const struct jail_path *p)
{
    return mkdirat(p->dirfd, p->leaf, 0755) != 0 ? -errno : 0;
}

static bool is_commit_name(const char *name)
{
    return strncmp(name, COMMIT_PREFIX, sizeof COMMIT_PREFIX - 1) == 0 &&
           proto_is_part_name(name);
}

/* A fresh hidden name for moving things out of sight (a commit, an rm). */
static int private_name(char name[NAME_MAX + 1])
{
    uint64_t r;
    ssize_t n;
    do
        n = getrandom(&r, sizeof r, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof r)
        return n < 0 ? -errno : -EIO;
    snprintf(name, NAME_MAX + 1, COMMIT_PREFIX "%016" PRIx64 "%s", r,
             PROTO_PART_SUFFIX);
    return 0;
}

/* Takes the file at name out of sight under a fresh private name, so what
 * is then measured and removed is exactly what was taken, whatever other
 * sessions do to name meanwhile (a put committing a new file there).
 * Returns 0 with the private name in tmp, -ENOENT, or -errno. */
static int take_private(int dirfd, const char *name, char tmp[NAME_MAX + 1])
{
    for (int tries = 0; tries < 8; tries++) {
        int rc = private_name(tmp);
        if (rc != 0)
            return rc;
        if (renameat2(dirfd, name, dirfd, tmp, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

/* Removes the non-directory at name, adding it to *sum.  -EISDIR for a
 * directory, -ENOENT. */
static int unlink_measured(int dirfd, const char *name, struct jail_count *sum)
{
    char tmp[NAME_MAX + 1];
    int rc = take_private(dirfd, name, tmp);
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
    count_add(sum, &st);
    return 0;
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
    int pfd = proto_part_name(p->leaf, part, sizeof part);
    bool created;
    if (pfd == 0)
        pfd = partial_lock(p->dirfd, part, false, &created);
    else if (pfd == -ENAMETOOLONG)
        pfd = -ENOENT; /* a name too long to have a partial has none */
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
            rc = partial_remove(p->dirfd, part, pfd, &sum);
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
                rc = partial_discard(dirfd(d), n, sum);
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
    int fd = at2(p->dirfd, p->leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
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

/* 1 if the fds are the same directory, 0 if not, or -errno. */
static int same_dir(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0)
        return -errno;
    return same_file(&sa, &sb);
}

int jail_rename(const struct jail_path *from, const struct jail_path *to)
{
    if (from->home || to->home)
        return -EACCES;
    int same = same_dir(from->dirfd, to->dirfd);
    if (same <= 0)
        return same < 0 ? same : -EXDEV;
    if (renameat2(from->dirfd, from->leaf, to->dirfd, to->leaf,
                  RENAME_NOREPLACE) != 0)
        return -errno;
    return 0;
}

/* ---- uploads ------------------------------------------------------------ */

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
    u->dirfd = at2(p->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    int rc = u->dirfd < 0 ? u->dirfd
                          : proto_part_name(p->leaf, u->part, sizeof u->part);
    if (rc == 0) {
        u->fd = partial_lock(u->dirfd, u->part, true, &made);
        rc = u->fd < 0 ? u->fd : 0;
    }
    if (rc != 0) {
        if (u->dirfd >= 0)
            close(u->dirfd);
        free(u);
        return rc;
    }
    if (created != NULL)
        *created = made;
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
    while (ftruncate(u->fd, (off_t)len) != 0)
        if (errno != EINTR)
            return -errno;
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
        if ((errno != EINTR && errno != ENOMEM && errno != EBUSY) ||
            tries == 8)
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
        c->displaced_fd = openat(u->dirfd, tmp,
                                 O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (unlinkat(u->dirfd, tmp, 0) == 0)
        count_add(&c->replaced, st);
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
            if (exchange(u->dirfd, tmp, u->leaf) != 0)
                return 0;
            return -EISDIR;
        }
        if (errno != ENOENT)
            return -errno;
        /* No target: a plain rename, unless one appears meanwhile. */
        if (renameat2(u->dirfd, tmp, u->dirfd, u->leaf, RENAME_NOREPLACE) ==
            0)
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
    close(u->dirfd);
    free(u);
}

int jail_upload_commit(struct jail_upload *u, struct jail_commit *c)
{
    *c = (struct jail_commit){.displaced_fd = -1};
    /* fsync before the rename: after a crash the name must not point at a
     * file whose data never reached the disk. */
    int rc = fsync(u->fd) != 0 ? -errno : 0;
    /* First move the partial to a private name: while the partial name
     * could still hold the displaced file, a session opening it would take
     * the old file for a partial. */
    char tmp[NAME_MAX + 1];
    for (int tries = 0; rc == 0 && tries < 8; tries++) {
        rc = private_name(tmp);
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
        if (rc != 0)
            (void)renameat2(u->dirfd, tmp, u->dirfd, u->part, RENAME_NOREPLACE);
        else if (fsync(u->dirfd) != 0)
            c->sync_err = -errno;
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
    int rc = partial_remove(u->dirfd, u->part, u->fd, &sum);
    u->fd = -1;
    if (rc == 0 && freed != NULL)
        *freed = sum;
    upload_free(u);
    return rc;
}

/* ---- usage -------------------------------------------------------------- */

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
    if (is_commit_name(name)) {
        if (unlinkat(dirfd, name, 0) != 0)
            return 0;
        count_add(&sw->commit_leftovers, st);
        return 1;
    }
    struct timespec now;
    if (sw->partial_max_age_s < 0 || clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        now.tv_sec - st->st_mtim.tv_sec < sw->partial_max_age_s)
        return 0;
    struct jail_count gone = {0};
    if (partial_discard(dirfd, name, &gone) != 0 || gone.entries == 0)
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
                int sub =
                    at2(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
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
    int fd = at2(j->homefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    return walk(fd, 0, total, sweep);
}
