/* test_jail.c -- paths stay beneath the home; symlinks are never followed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "jail.h"
#include "partname.h"
#include "tmpdir.h"

/* <tmp>/home is the jail; <tmp>/outside holds what must stay unreachable. */
struct fx {
    char *tmp;
    char home[512];
    char outside[512];
    struct jail *j;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->tmp = tmpdir_make();
    snprintf(f->home, sizeof f->home, "%s/home", f->tmp);
    snprintf(f->outside, sizeof f->outside, "%s/outside", f->tmp);
    assert_int_equal(mkdir(f->home, 0755), 0);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    tmpdir_write(f->outside, "secret", 0, "outside");
    int fd = open(f->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(jail_open(fd, &f->j), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    jail_close(f->j);
    tmpdir_remove(f->tmp);
    free(f);
    return 0;
}

static int resolve(struct fx *f, const char *path, struct jail_path **p)
{
    return jail_resolve(f->j, path, strlen(path), p);
}

/* Resolves path and applies op; the first error, or 0. */
static int at(struct fx *f, const char *path,
              int (*op)(const struct jail_path *))
{
    struct jail_path *p;
    int rc = resolve(f, path, &p);
    if (rc == 0) {
        rc = op(p);
        jail_path_free(p);
    }
    return rc;
}

static int do_unlink(const struct jail_path *p)
{
    return jail_unlink(p, NULL);
}

static int do_rmdir(const struct jail_path *p)
{
    return jail_rmdir(p, NULL);
}

/* Opens path for reading and returns its first bytes in buf, or -errno. */
static int read_at(struct fx *f, const char *path, char *buf, size_t cap)
{
    struct jail_path *p;
    int fd, rc = resolve(f, path, &p);
    if (rc != 0)
        return rc;
    rc = jail_open_read(p, &fd, NULL);
    jail_path_free(p);
    if (rc != 0)
        return rc;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return 0;
}

/* An open listing of path, which must succeed. */
static struct jail_dir *list(struct fx *f, const char *path)
{
    struct jail_path *p;
    struct jail_dir *d;
    assert_int_equal(resolve(f, path, &p), 0);
    assert_int_equal(jail_dir_open(p, &d), 0);
    jail_path_free(p);
    return d;
}

static void in_home(struct fx *f, const char *target, const char *link)
{
    assert_int_equal(symlink(target, tmpdir_join(f->home, link)), 0);
}

/* ---- paths (the rules themselves: tests/proto/test_path.c) ---------- */

static void test_absolute_paths_map_to_home(void **state)
{
    struct fx *f = *state;
    char buf[64];
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    tmpdir_write(f->home, "f", 0, "home file");
    assert_int_equal(jail_cd(f->j, "d", 1), 0);
    assert_int_equal(read_at(f, "/f", buf, sizeof buf), 0);
    assert_string_equal(buf, "home file");
    /* The host's /etc/passwd is not reachable as "/etc/passwd". */
    assert_int_equal(read_at(f, "/etc/passwd", buf, sizeof buf), -ENOENT);
    struct jail_path *p;
    assert_int_equal(resolve(f, "/", &p), 0);
    assert_string_equal(jail_path_user(p), "/");
    jail_path_free(p);
}

/* The jail applies the protocol's rule, the one the wire has: ".." at "/"
 * stays at "/", so it reaches the home, never above it. */
static void test_dotdot_at_root_stays_in_the_home(void **state)
{
    struct fx *f = *state;
    char buf[64];
    tmpdir_write(f->home, "f", 0, "home file");
    assert_int_equal(read_at(f, "../../f", buf, sizeof buf), 0);
    assert_string_equal(buf, "home file");
    assert_int_equal(read_at(f, "/../outside/secret", buf, sizeof buf),
                     -ENOENT);
    assert_int_equal(jail_cd(f->j, "..", 2), 0);
    assert_string_equal(jail_cwd(f->j), "/");
}

/* ---- symlinks ----------------------------------------------------------- */

static void test_symlink_to_outside_is_not_followed_by_open(void **state)
{
    struct fx *f = *state;
    char buf[64];
    in_home(f, tmpdir_join(f->outside, "secret"), "abs");
    in_home(f, "../outside/secret", "rel");
    assert_int_equal(read_at(f, "abs", buf, sizeof buf), -ELOOP);
    assert_int_equal(read_at(f, "rel", buf, sizeof buf), -ELOOP);
}

static void test_symlink_is_listed_as_other_and_not_entered(void **state)
{
    struct fx *f = *state;
    in_home(f, f->outside, "out");
    tmpdir_write(f->home, "file", 3, NULL);
    struct jail_path *p;
    struct jail_dir *d = list(f, "/");
    struct jail_entry e;
    int seen = 0;
    while (jail_dir_next(d, &e) == 1) {
        if (strcmp(e.name, "out") == 0) {
            assert_int_equal(e.type, JAIL_OTHER);
            assert_int_equal(e.size, 0);
            seen |= 1;
        } else if (strcmp(e.name, "file") == 0) {
            assert_int_equal(e.type, JAIL_FILE);
            seen |= 2;
        }
    }
    jail_dir_close(d);
    assert_int_equal(seen, 3);
    assert_int_equal(resolve(f, "out", &p), 0);
    assert_int_equal(jail_dir_open(p, &d), -ELOOP);
    jail_path_free(p);
    assert_int_equal(jail_cd(f->j, "out", 3), -ELOOP);
    assert_string_equal(jail_cwd(f->j), "/");
}

static void test_mkdir_under_symlinked_dir_is_refused(void **state)
{
    struct fx *f = *state;
    in_home(f, f->outside, "out");
    assert_int_equal(at(f, "out/new", jail_mkdir), -ELOOP);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(f->outside, "new"), &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_rm_through_symlinked_dir_is_refused(void **state)
{
    struct fx *f = *state;
    struct stat st;
    in_home(f, f->outside, "out");
    assert_int_equal(at(f, "out/secret", do_unlink), -ELOOP);
    assert_int_equal(stat(tmpdir_join(f->outside, "secret"), &st), 0);
    /* Removing the link itself is fine and leaves the target alone. */
    assert_int_equal(at(f, "out", do_unlink), 0);
    assert_int_equal(stat(tmpdir_join(f->outside, "secret"), &st), 0);
    assert_int_equal(lstat(tmpdir_join(f->home, "out"), &st), -1);
}

static void test_symlink_to_dir_as_middle_component_is_refused(void **state)
{
    struct fx *f = *state;
    char buf[64];
    assert_int_equal(mkdir(tmpdir_join(f->home, "real"), 0755), 0);
    tmpdir_write(f->home, "real/f", 0, "inside");
    in_home(f, "real", "alias"); /* even one that stays inside the home */
    assert_int_equal(read_at(f, "real/f", buf, sizeof buf), 0);
    assert_int_equal(read_at(f, "alias/f", buf, sizeof buf), -ELOOP);
    assert_int_equal(at(f, "alias/g", jail_mkdir), -ELOOP);
}

struct flipper {
    char dir[600], link[600], real[600], outside[600];
    atomic_bool stop;
};

/* Swaps <home>/race between a real directory and a symlink to outside. */
static void *flip(void *arg)
{
    struct flipper *fl = arg;
    while (!atomic_load(&fl->stop)) {
        if (renameat2(AT_FDCWD, fl->link, AT_FDCWD, fl->dir, RENAME_EXCHANGE) !=
            0)
            abort();
    }
    return NULL;
}

static void test_symlink_raced_in_is_never_followed(void **state)
{
    struct fx *f = *state;
    struct flipper fl = {.stop = false};
    snprintf(fl.dir, sizeof fl.dir, "%s/race", f->home);
    snprintf(fl.link, sizeof fl.link, "%s/race-link", f->home);
    assert_int_equal(mkdir(fl.dir, 0755), 0);
    tmpdir_write(fl.dir, "secret", 0, "inside");
    assert_int_equal(symlink(f->outside, fl.link), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flip, &fl), 0);
    int inside = 0, refused = 0, leaked = 0;
    for (int i = 0; i < 20000; i++) {
        char buf[64];
        int rc = read_at(f, "race/secret", buf, sizeof buf);
        if (rc == 0 && strcmp(buf, "inside") == 0)
            inside++;
        else if (rc == 0)
            leaked++;
        else
            refused++;
    }
    atomic_store(&fl.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(leaked, 0);
    assert_true(inside > 0); /* the race really ran both ways */
    assert_true(refused > 0);
}

/* ---- operations --------------------------------------------------------- */

/* A resting jail holds no descriptor; waking it takes the home back, with
 * the cwd kept, but only the same directory: a home replaced meanwhile
 * (renamed away, a new one made in its place) is refused. */
static void
test_rest_and_wake_keep_the_cwd_and_refuse_a_replaced_home(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    assert_int_equal(jail_cd(f->j, "/d", 2), 0);
    jail_rest(f->j);
    assert_true(jail_resting(f->j));
    int fd = open(f->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(jail_wake(f->j, fd), 0);
    assert_false(jail_resting(f->j));
    assert_string_equal(jail_cwd(f->j), "/d");
    jail_rest(f->j);
    char moved[600];
    snprintf(moved, sizeof moved, "%s/home-old", f->tmp);
    assert_int_equal(rename(f->home, moved), 0);
    assert_int_equal(mkdir(f->home, 0755), 0);
    fd = open(f->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(jail_wake(f->j, fd), -ESTALE);
    assert_true(jail_resting(f->j));
    fd = open(moved, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(jail_wake(f->j, fd), 0);
}

static void test_mkdir_reports_eexist_and_enoent(void **state)
{
    struct fx *f = *state;
    assert_int_equal(at(f, "d", jail_mkdir), 0);
    assert_int_equal(at(f, "d", jail_mkdir), -EEXIST);
    assert_int_equal(at(f, "/", jail_mkdir), -EEXIST);
    assert_int_equal(at(f, "none/d", jail_mkdir), -ENOENT);
    in_home(f, "nowhere", "dangling");
    assert_int_equal(at(f, "dangling", jail_mkdir), -EEXIST);
}

static void
test_unlink_refuses_directories_and_reports_freed_bytes(void **state)
{
    struct fx *f = *state;
    tmpdir_write(f->home, "f", 100, NULL);
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    struct jail_path *p;
    struct jail_count freed = {7, 7};
    assert_int_equal(resolve(f, "f", &p), 0);
    assert_int_equal(jail_unlink(p, &freed), 0);
    assert_int_equal(freed.bytes, 100);
    assert_int_equal(freed.entries, 1);
    assert_int_equal(jail_unlink(p, &freed), -ENOENT);
    jail_path_free(p);
    assert_int_equal(at(f, "d", do_unlink), -EISDIR);
    assert_int_equal(at(f, "/", do_unlink), -EACCES);
}

static void test_rmdir_removes_only_empty_directories(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    tmpdir_write(f->home, "d/f", 1, NULL);
    assert_int_equal(at(f, "d", do_rmdir), -ENOTEMPTY);
    assert_int_equal(at(f, "d/f", do_rmdir), -ENOTDIR);
    assert_int_equal(at(f, "nope", do_rmdir), -ENOENT);
    assert_int_equal(at(f, "/", do_rmdir), -EACCES);
    assert_int_equal(at(f, "d/f", do_unlink), 0);
    assert_int_equal(at(f, "d", do_rmdir), 0);
}

static void test_cd_needs_a_directory_and_keeps_cwd_on_error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    tmpdir_write(f->home, "d/f", 1, NULL);
    assert_int_equal(jail_cd(f->j, "d", 1), 0);
    assert_string_equal(jail_cwd(f->j), "/d");
    assert_int_equal(jail_cd(f->j, "f", 1), -ENOTDIR);
    assert_int_equal(jail_cd(f->j, "none", 4), -ENOENT);
    assert_int_equal(jail_cd(f->j, "../.x.ssftp-part", 16), -EXDEV);
    assert_string_equal(jail_cwd(f->j), "/d");
    assert_int_equal(jail_cd(f->j, "../..", 5), 0); /* stays at "/" */
    assert_string_equal(jail_cwd(f->j), "/");
}

static void test_ls_shows_what_can_be_named_with_size_and_mtime(void **state)
{
    struct fx *f = *state;
    tmpdir_write(f->home, "file", 42, NULL);
    tmpdir_write(f->home, ".file.ssftp-part", 9, NULL);
    tmpdir_write(f->home, "bad\xff", 1, NULL);
    assert_int_equal(mkdir(tmpdir_join(f->home, "dir"), 0755), 0);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(f->home, "file"), &st), 0);
    struct jail_path *p;
    struct jail_dir *d = list(f, "/");
    struct jail_entry e;
    int n = 0;
    while (jail_dir_next(d, &e) == 1) {
        n++;
        if (strcmp(e.name, "file") == 0) {
            assert_int_equal(e.type, JAIL_FILE);
            assert_int_equal(e.size, 42);
            assert_int_equal(e.mtime, st.st_mtim.tv_sec);
        } else {
            assert_string_equal(e.name, "dir");
            assert_int_equal(e.type, JAIL_DIR);
            assert_int_equal(e.size, 0);
        }
    }
    jail_dir_close(d);
    assert_int_equal(n, 2);
    assert_int_equal(resolve(f, "file", &p), 0);
    assert_int_equal(jail_stat(p, &e), 0);
    assert_int_equal(e.size, 42);
    assert_int_equal(jail_dir_open(p, &d), -ENOTDIR);
    jail_path_free(p);
}

static void test_open_read_refuses_directories_and_fifos(void **state)
{
    struct fx *f = *state;
    char buf[8];
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    assert_int_equal(mkfifo(tmpdir_join(f->home, "fifo"), 0644), 0);
    assert_int_equal(read_at(f, "d", buf, sizeof buf), -EISDIR);
    assert_int_equal(read_at(f, "/", buf, sizeof buf), -EISDIR);
    assert_int_equal(read_at(f, "fifo", buf, sizeof buf), -EACCES);
    assert_int_equal(read_at(f, "none", buf, sizeof buf), -ENOENT);
}

static int rename_paths(struct fx *f, const char *a, const char *b)
{
    struct jail_path *pa, *pb;
    int rc = resolve(f, a, &pa);
    if (rc != 0)
        return rc;
    rc = resolve(f, b, &pb);
    if (rc == 0) {
        rc = jail_rename(pa, pb);
        jail_path_free(pb);
    }
    jail_path_free(pa);
    return rc;
}

static void test_rename_moves_within_the_home_and_never_overwrites(void **state)
{
    struct fx *f = *state;
    char buf[16];
    tmpdir_write(f->home, "a", 0, "A");
    tmpdir_write(f->home, "b", 0, "B");
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    assert_int_equal(mkdir(tmpdir_join(f->home, "d/e"), 0755), 0);
    assert_int_equal(rename_paths(f, "a", "b"), -EEXIST);
    assert_int_equal(rename_paths(f, "/", "x"), -EACCES);
    assert_int_equal(rename_paths(f, "a", "c"), 0);
    assert_int_equal(read_at(f, "c", buf, sizeof buf), 0);
    assert_string_equal(buf, "A");
    assert_int_equal(read_at(f, "b", buf, sizeof buf), 0);
    assert_string_equal(buf, "B");
    /* into another directory, and back up */
    assert_int_equal(rename_paths(f, "c", "d/e/c"), 0);
    assert_int_equal(read_at(f, "d/e/c", buf, sizeof buf), 0);
    assert_string_equal(buf, "A");
    assert_int_equal(rename_paths(f, "d/e/c", "../../../c2"), 0);
    assert_int_equal(read_at(f, "c2", buf, sizeof buf), 0);
    /* never over a name, a symlink included, nor through one */
    assert_int_equal(symlink("/", tmpdir_join(f->home, "d/ln")), 0);
    assert_int_equal(rename_paths(f, "c2", "d/ln"), -EEXIST);
    assert_int_equal(rename_paths(f, "c2", "d/ln/c2"), -ELOOP);
    /* a directory not into itself or below */
    assert_int_equal(rename_paths(f, "d", "d/e/d"), -EINVAL);
    assert_int_equal(rename_paths(f, "d", "d/d"), -EINVAL);
    assert_int_equal(rename_paths(f, "d/e", "e"), 0);
}

/* ---- uploads ------------------------------------------------------------ */

static struct jail_upload *upload(struct fx *f, const char *path, int *rc)
{
    struct jail_path *p;
    struct jail_upload *u = NULL;
    *rc = resolve(f, path, &p);
    if (*rc == 0) {
        *rc = jail_upload_begin(p, &u, NULL);
        jail_path_free(p);
    }
    return u;
}

static void put(struct jail_upload *u, const char *text, uint64_t off)
{
    size_t n = strlen(text);
    assert_int_equal(pwrite(jail_upload_fd(u), text, n, (off_t)off),
                     (ssize_t)n);
}

static void
test_upload_commit_replaces_target_and_reports_old_size(void **state)
{
    struct fx *f = *state;
    char buf[32];
    int rc;
    tmpdir_write(f->home, "t", 10, NULL);
    struct jail_upload *u = upload(f, "t", &rc);
    assert_int_equal(rc, 0);
    put(u, "fresh", 0);
    /* Until the commit, readers see the old file and no partial. */
    assert_int_equal(read_at(f, "t", buf, sizeof buf), 0);
    assert_string_equal(buf, "xxxxxxxxxx");
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 1);
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(c.replaced.bytes, 10);
    assert_int_equal(c.replaced.entries, 1);
    assert_int_equal(c.sync_err, 0);
    assert_true(c.displaced_fd >= 0);
    close(c.displaced_fd);
    assert_int_equal(read_at(f, "t", buf, sizeof buf), 0);
    assert_string_equal(buf, "fresh");
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 0);

    u = upload(f, "new", &rc);
    assert_int_equal(rc, 0);
    put(u, "n", 0);
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(c.replaced.bytes, 0);
    assert_int_equal(c.replaced.entries, 0);
    assert_int_equal(c.dir_fd, -1);

    /* Grouped commits: the file is in place, the directory's fsync is
     * handed over with its fd (the same directory as the file's). */
    u = upload(f, "grouped", &rc);
    assert_int_equal(rc, 0);
    put(u, "g", 0);
    jail_upload_flush_start(u);
    assert_int_equal(jail_upload_commit(u, &c, false), 0);
    assert_true(c.dir_fd >= 0);
    assert_int_equal(c.sync_err, 0);
    struct stat a, b;
    assert_int_equal(fstat(c.dir_fd, &a), 0);
    assert_int_equal(stat(f->home, &b), 0);
    assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    assert_int_equal(fsync(c.dir_fd), 0);
    close(c.dir_fd);
    assert_int_equal(read_at(f, "grouped", buf, sizeof buf), 0);
    assert_string_equal(buf, "g");
}

/* ---- rm racing a commit ---------------------------------------------- */

struct race {
    struct fx *f;
    atomic_bool done;
    int64_t ledger; /* bytes written - bytes reported freed */
    pthread_mutex_t mu;
    int removed;
    int bad; /* the first unexpected error of the remover */
};

static void ledger_add(struct race *r, int64_t n)
{
    pthread_mutex_lock(&r->mu);
    r->ledger += n;
    pthread_mutex_unlock(&r->mu);
}

static void *remover(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->done)) {
        struct jail_path *p;
        struct jail_count freed = {0};
        /* No cmocka asserts off the main thread: record, check later. */
        int rc = resolve(r->f, "f", &p);
        if (rc == 0) {
            rc = jail_unlink(p, &freed);
            jail_path_free(p);
        }
        if (rc != 0 && rc != -ENOENT && rc != -EAGAIN && r->bad == 0)
            r->bad = rc;
        if (rc == 0) {
            ledger_add(r, -(int64_t)freed.bytes);
            r->removed++;
        }
    }
    return NULL;
}

/* An rm freeing the size it saw before a put committed another file under
 * the name undercounted the quota (10 MiB quota, 15 MiB stored).  What rm
 * and commit report freed must add up to what is on disk. */
static void test_rm_racing_commits_frees_exactly_what_it_removed(void **state)
{
    struct fx *f = *state;
    struct race r = {.f = f};
    pthread_mutex_init(&r.mu, NULL);
    static char big[65537];
    memset(big, 'b', sizeof big - 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, remover, &r), 0);
    for (int i = 0; i < 3000; i++) {
        int rc;
        struct jail_upload *u;
        do /* -EAGAIN: the rm holds the partial's lock for a moment */
            u = upload(f, "f", &rc);
        while (rc == -EAGAIN);
        assert_int_equal(rc, 0);
        const char *text = i % 2 ? "s" : big;
        put(u, text, 0);
        ledger_add(&r, (int64_t)strlen(text));
        struct jail_commit c;
        assert_int_equal(jail_upload_commit(u, &c, true), 0);
        if (c.displaced_fd >= 0)
            close(c.displaced_fd);
        ledger_add(&r, -(int64_t)c.replaced.bytes);
    }
    atomic_store(&r.done, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    struct stat st;
    char path[600];
    snprintf(path, sizeof path, "%s/f", f->home);
    int64_t on_disk = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    printf("rm race: %d removals, ledger %lld, on disk %lld\n", r.removed,
           (long long)r.ledger, (long long)on_disk);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.ledger, on_disk);
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 0);
    pthread_mutex_destroy(&r.mu);
}

/* commit hands back the displaced file, already unlinked: readable until
 * closed (that close is what frees it), invisible in the home. */
static void test_upload_commit_hands_back_the_displaced_file(void **state)
{
    struct fx *f = *state;
    char buf[32];
    int rc;
    tmpdir_write(f->home, "k", 7, NULL);
    struct jail_upload *u = upload(f, "k", &rc);
    assert_int_equal(rc, 0);
    put(u, "newer", 0);
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(c.replaced.bytes, 7);
    int old = c.displaced_fd;
    assert_true(old >= 0);
    struct stat st;
    assert_int_equal(fstat(old, &st), 0);
    assert_int_equal(st.st_size, 7);
    assert_int_equal(st.st_nlink, 0); /* gone from every directory */
    assert_int_equal(read_at(f, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "newer");
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 0);
    assert_int_equal(close(old), 0);

    /* Nothing displaced: -1. */
    u = upload(f, "k2", &rc);
    assert_int_equal(rc, 0);
    put(u, "x", 0);
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(c.replaced.bytes, 0);
    assert_int_equal(c.displaced_fd, -1);
}

static void test_upload_partial_survives_close_for_resume(void **state)
{
    struct fx *f = *state;
    char buf[32];
    int rc;
    uint64_t size, cut;
    struct jail_upload *u = upload(f, "r", &rc);
    assert_int_equal(rc, 0);
    put(u, "abcX", 0);
    jail_upload_close(u);
    u = upload(f, "r", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(jail_upload_size(u, &size), 0);
    assert_int_equal(size, 4);
    assert_int_equal(jail_upload_truncate(u, 5, &cut), -EINVAL);
    assert_int_equal(jail_upload_truncate(u, 3, &cut), 0);
    assert_int_equal(cut, 1);
    put(u, "def", 3);
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(read_at(f, "r", buf, sizeof buf), 0);
    assert_string_equal(buf, "abcdef");
}

static void test_second_upload_of_one_file_is_busy(void **state)
{
    struct fx *f = *state;
    int rc;
    struct jail_upload *u = upload(f, "b", &rc);
    assert_int_equal(rc, 0);
    assert_null(upload(f, "b", &rc));
    assert_int_equal(rc, -EAGAIN);
    struct jail_count freed = {9, 9};
    put(u, "xy", 0);
    assert_int_equal(jail_upload_discard(u, &freed), 0);
    assert_int_equal(freed.bytes, 2);
    assert_int_equal(freed.entries, 1);
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 0);
    u = upload(f, "b", &rc);
    assert_int_equal(rc, 0);
    jail_upload_close(u);
}

static void *close_after_200ms(void *u)
{
    struct timespec ts = {.tv_nsec = 200 * 1000000L};
    nanosleep(&ts, NULL);
    jail_upload_close(u);
    return NULL;
}

/* A client killed mid-upload and started again meets its old session
 * still ending: the partial's lock is waited for, a moment. */
static void test_upload_waits_for_one_that_is_ending(void **state)
{
    struct fx *f = *state;
    int rc;
    struct jail_upload *u = upload(f, "w", &rc);
    assert_int_equal(rc, 0);
    put(u, "abc", 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, close_after_200ms, u), 0);
    struct jail_upload *v = upload(f, "w", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(v);
    uint64_t size = 0;
    assert_int_equal(jail_upload_size(v, &size), 0);
    assert_int_equal(size, 3); /* the same partial, resumed */
    assert_int_equal(pthread_join(t, NULL), 0);
    jail_upload_close(v);
}

static void test_rm_discards_the_partial_and_is_busy_during_upload(void **state)
{
    struct fx *f = *state;
    int rc;
    struct jail_count freed = {0};
    struct jail_path *p;
    tmpdir_write(f->home, "f", 10, NULL);
    struct jail_upload *u = upload(f, "f", &rc);
    assert_int_equal(rc, 0);
    put(u, "abc", 0);
    assert_int_equal(resolve(f, "f", &p), 0);
    assert_int_equal(jail_unlink(p, &freed), -EAGAIN);
    assert_int_equal(read_at(f, "f", (char[16]){0}, 16), 0); /* untouched */
    jail_upload_close(u); /* interrupted: the partial stays */
    assert_int_equal(jail_unlink(p, &freed), 0);
    assert_int_equal(freed.bytes, 13);
    assert_int_equal(freed.entries, 2); /* the file and its partial */
    assert_int_equal(tmpdir_has_suffix(f->home, PROTO_PART_SUFFIX), 0);
    /* A partial alone is enough for rm to succeed. */
    u = upload(f, "f", &rc);
    assert_int_equal(rc, 0);
    put(u, "abcd", 0);
    jail_upload_close(u);
    assert_int_equal(jail_unlink(p, &freed), 0);
    assert_int_equal(freed.bytes, 4);
    assert_int_equal(freed.entries, 1);
    assert_int_equal(jail_unlink(p, &freed), -ENOENT);
    jail_path_free(p);
}

static void test_rmdir_discards_partials_inside_unless_busy(void **state)
{
    struct fx *f = *state;
    int rc;
    struct jail_count freed = {0};
    struct jail_path *p;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    struct jail_upload *u = upload(f, "d/f", &rc);
    assert_int_equal(rc, 0);
    put(u, "12345", 0);
    assert_int_equal(resolve(f, "d", &p), 0);
    assert_int_equal(jail_rmdir(p, &freed), -EAGAIN);
    jail_upload_close(u);
    tmpdir_write(f->home, "d/visible", 1, NULL);
    assert_int_equal(jail_rmdir(p, &freed), -ENOTEMPTY);
    assert_int_equal(freed.bytes, 0); /* a non-empty directory keeps them */
    assert_int_equal(freed.entries, 0);
    assert_int_equal(at(f, "d/visible", do_unlink), 0);
    assert_int_equal(jail_rmdir(p, &freed), 0);
    assert_int_equal(freed.bytes, 5);
    assert_int_equal(freed.entries, 2); /* the partial and the directory */
    jail_path_free(p);
}

static void
test_upload_onto_dir_symlink_or_overlong_name_is_refused(void **state)
{
    struct fx *f = *state;
    int rc;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    assert_null(upload(f, "d", &rc));
    assert_int_equal(rc, -EISDIR);
    assert_null(upload(f, "/", &rc));
    assert_int_equal(rc, -EISDIR);
    char name[NAME_MAX + 1];
    memset(name, 'n', NAME_MAX);
    name[NAME_MAX] = '\0';
    assert_null(upload(f, name, &rc));
    assert_int_equal(rc, -ENAMETOOLONG);
    in_home(f, f->outside, "out");
    assert_null(upload(f, "out/x", &rc));
    assert_int_equal(rc, -ELOOP);
    assert_null(upload(f, "out", &rc)); /* not replaced, not followed */
    assert_int_equal(rc, -EACCES);
}

static void test_usage_counts_files_and_partials_but_not_symlinks(void **state)
{
    struct fx *f = *state;
    tmpdir_write(f->home, "a", 100, NULL);
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    tmpdir_write(f->home, "d/b", 50, NULL);
    tmpdir_write(f->home, "d/.b.ssftp-part", 7, NULL);
    tmpdir_write(f->outside, "big", 5000, NULL);
    in_home(f, tmpdir_join(f->outside, "big"), "link");
    in_home(f, f->outside, "dirlink");
    struct jail_count used;
    assert_int_equal(jail_usage(f->j, &used, NULL), 0);
    assert_int_equal(used.bytes, 157);
    /* a, d, d/b, the partial, and the two symlinks (names cost alike) */
    assert_int_equal(used.entries, 6);
}

static void test_upload_begin_tells_whether_it_made_the_partial(void **state)
{
    struct fx *f = *state;
    struct jail_path *p;
    struct jail_upload *u;
    bool created = false;
    assert_int_equal(resolve(f, "c", &p), 0);
    assert_int_equal(jail_upload_begin(p, &u, &created), 0);
    assert_true(created);
    jail_upload_close(u);
    assert_int_equal(jail_upload_begin(p, &u, &created), 0);
    assert_false(created); /* a resume: the partial was there */
    jail_upload_close(u);
    jail_path_free(p);
}

/* Sets a file's mtime age seconds into the past. */
static void age(struct fx *f, const char *name, time_t age)
{
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age;
    t[1] = t[0];
    assert_int_equal(utimensat(AT_FDCWD, tmpdir_join(f->home, name), t, 0), 0);
}

/* A server killed between the two renames of a commit (or of an rm) left a
 * hidden ".commit-*" file that ls hides, no user can remove, and the quota
 * counted forever.  The sweep takes those, and partials older than the
 * age, but never one an upload holds, a fresh one, or a directory. */
static void test_sweep_removes_commit_leftovers_and_old_partials(void **state)
{
    struct fx *f = *state;
    int rc;
    assert_int_equal(mkdir(tmpdir_join(f->home, "d"), 0755), 0);
    tmpdir_write(f->home, "d/.commit-00000000000000aa.ssftp-part", 40, NULL);
    tmpdir_write(f->home, ".old.ssftp-part", 30, NULL);
    age(f, ".old.ssftp-part", 3600);
    tmpdir_write(f->home, ".new.ssftp-part", 20, NULL);
    tmpdir_write(f->home, "kept", 10, NULL);
    assert_int_equal(mkdir(tmpdir_join(f->home, ".commit-00000000000000bb"
                                                ".ssftp-part"),
                           0755),
                     0);
    struct jail_upload *u = upload(f, "held", &rc);
    assert_int_equal(rc, 0);
    put(u, "12345", 0);
    age(f, ".held.ssftp-part", 3600);
    struct jail_sweep sw = {.partial_max_age_s = 600};
    struct jail_count total;
    assert_int_equal(jail_usage(f->j, &total, &sw), 0);
    assert_int_equal(sw.commit_leftovers.entries, 1);
    assert_int_equal(sw.commit_leftovers.bytes, 40);
    assert_int_equal(sw.old_partials.entries, 1);
    assert_int_equal(sw.old_partials.bytes, 30);
    /* d, the new partial, kept, the hidden directory, the held partial */
    assert_int_equal(total.entries, 5);
    assert_int_equal(total.bytes, 20 + 10 + 5);
    assert_int_equal(access(tmpdir_join(f->home, ".old.ssftp-part"), F_OK), -1);
    assert_int_equal(access(tmpdir_join(f->home, ".held.ssftp-part"), F_OK), 0);
    jail_upload_close(u);
    /* Without a sweep nothing is removed. */
    tmpdir_write(f->home, ".commit-00000000000000cc.ssftp-part", 1, NULL);
    assert_int_equal(jail_usage(f->j, &total, NULL), 0);
    assert_int_equal(total.entries, 6);
}

/* A count that meets a subtree deeper than any user path can reach counts
 * the rest and says so. */
static void test_usage_counts_past_a_too_deep_subtree(void **state)
{
    struct fx *f = *state;
    char path[4096] = "";
    for (int i = 0; i <= PROTO_PATH_DEPTH_MAX + 1; i++) {
        strcat(path, i == 0 ? "x" : "/x");
        assert_int_equal(mkdir(tmpdir_join(f->home, path), 0755), 0);
    }
    tmpdir_write(f->home, "z", 9, NULL);
    struct jail_count total;
    assert_int_equal(jail_usage(f->j, &total, NULL), -ENAMETOOLONG);
    assert_int_equal(total.bytes, 9);
    assert_true(total.entries >= PROTO_PATH_DEPTH_MAX);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(rest_and_wake_keep_the_cwd_and_refuse_a_replaced_home),
        T(absolute_paths_map_to_home),
        T(dotdot_at_root_stays_in_the_home),
        T(symlink_to_outside_is_not_followed_by_open),
        T(symlink_is_listed_as_other_and_not_entered),
        T(mkdir_under_symlinked_dir_is_refused),
        T(rm_through_symlinked_dir_is_refused),
        T(symlink_to_dir_as_middle_component_is_refused),
        T(symlink_raced_in_is_never_followed),
        T(mkdir_reports_eexist_and_enoent),
        T(unlink_refuses_directories_and_reports_freed_bytes),
        T(rmdir_removes_only_empty_directories),
        T(cd_needs_a_directory_and_keeps_cwd_on_error),
        T(ls_shows_what_can_be_named_with_size_and_mtime),
        T(open_read_refuses_directories_and_fifos),
        T(rename_moves_within_the_home_and_never_overwrites),
        T(upload_commit_replaces_target_and_reports_old_size),
        T(upload_commit_hands_back_the_displaced_file),
        T(upload_begin_tells_whether_it_made_the_partial),
        T(sweep_removes_commit_leftovers_and_old_partials),
        T(usage_counts_past_a_too_deep_subtree),
        T(rm_racing_commits_frees_exactly_what_it_removed),
        T(upload_partial_survives_close_for_resume),
        T(second_upload_of_one_file_is_busy),
        T(upload_waits_for_one_that_is_ending),
        T(rm_discards_the_partial_and_is_busy_during_upload),
        T(rmdir_discards_partials_inside_unless_busy),
        T(upload_onto_dir_symlink_or_overlong_name_is_refused),
        T(usage_counts_files_and_partials_but_not_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
