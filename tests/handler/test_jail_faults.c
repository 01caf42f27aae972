/* test_jail_faults.c -- a commit whose last steps fail still tells the truth.
 *
 * Linked with -Wl,--wrap=fsync,--wrap=fstatat64 (tests/handler/meson.build),
 * so the jail's calls to those go through the wrappers below, which fail on
 * demand: the failures no test can cause from outside (a disk error on a
 * directory fsync, a stat failing between two renames).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "jail.h"
#include "partname.h"
#include "tmpdir.h"

int __real_fsync(int fd);
int __real_fstatat64(int dirfd, const char *name, struct stat *st, int flags);
int __wrap_fsync(int fd);
int __wrap_fstatat64(int dirfd, const char *name, struct stat *st, int flags);

static int fsync_fail_at; /* fail the nth fsync from now (1 = next); 0: never */
static bool stat_commit_fails; /* fail stats of ".commit-*" names */

int __wrap_fsync(int fd)
{
    if (fsync_fail_at > 0 && --fsync_fail_at == 0) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_fstatat64(int dirfd, const char *name, struct stat *st, int flags)
{
    if (stat_commit_fails && strncmp(name, ".commit-", 8) == 0) {
        errno = EIO;
        return -1;
    }
    return __real_fstatat64(dirfd, name, st, flags);
}

struct fx {
    char *tmp;
    struct jail *j;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->tmp = tmpdir_make();
    int fd = open(f->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(jail_open(fd, &f->j), 0);
    fsync_fail_at = 0;
    stat_commit_fails = false;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fsync_fail_at = 0;
    stat_commit_fails = false;
    jail_close(f->j);
    tmpdir_remove(f->tmp);
    free(f);
    return 0;
}

/* An upload of text to name, ready to commit. */
static struct jail_upload *upload(struct fx *f, const char *name,
                                  const char *text)
{
    struct jail_path *p;
    struct jail_upload *u;
    assert_int_equal(jail_resolve(f->j, name, strlen(name), &p), 0);
    assert_int_equal(jail_upload_begin(p, &u, NULL), 0);
    jail_path_free(p);
    size_t n = strlen(text);
    assert_int_equal(pwrite(jail_upload_fd(u), text, n, 0), (ssize_t)n);
    return u;
}

static void read_file(struct fx *f, const char *name, char *buf, size_t cap)
{
    int fd = open(tmpdir_join(f->tmp, name), O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    close(fd);
}

/* The directory fsync after the rename failing used to report a completed
 * put as failed, and the displaced file's bytes were never freed. */
static void
test_directory_fsync_failure_after_the_rename_is_not_a_failure(void **state)
{
    struct fx *f = *state;
    char buf[32];
    tmpdir_write(f->tmp, "t", 10, NULL);
    struct jail_upload *u = upload(f, "t", "fresh");
    fsync_fail_at = 2; /* the partial's fsync passes, the directory's fails */
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    assert_int_equal(c.sync_err, -EIO);
    assert_int_equal(c.replaced.bytes, 10);
    assert_int_equal(c.replaced.entries, 1);
    if (c.displaced_fd >= 0)
        close(c.displaced_fd);
    read_file(f, "t", buf, sizeof buf);
    assert_string_equal(buf, "fresh");
    assert_int_equal(tmpdir_has_suffix(f->tmp, PROTO_PART_SUFFIX), 0);
}

/* The partial's own fsync failing is a real failure: nothing is published
 * and the partial stays for a resume. */
static void test_partial_fsync_failure_publishes_nothing(void **state)
{
    struct fx *f = *state;
    char buf[32];
    tmpdir_write(f->tmp, "t", 3, "old");
    struct jail_upload *u = upload(f, "t", "fresh");
    fsync_fail_at = 1;
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), -EIO);
    assert_int_equal(c.displaced_fd, -1);
    read_file(f, "t", buf, sizeof buf);
    assert_string_equal(buf, "old");
    read_file(f, ".t.ssftp-part", buf, sizeof buf);
    assert_string_equal(buf, "fresh");
}

/* A stat failing after the exchange used to report the put as failed and
 * then move the *old* file under the partial's name, where the next resume
 * would have taken it for the new file's prefix.  The commit has happened:
 * it says so, and the displaced file stays hidden and counted until a
 * sweep removes it. */
static void test_stat_failure_after_the_exchange_keeps_the_commit(void **state)
{
    struct fx *f = *state;
    char buf[32];
    tmpdir_write(f->tmp, "t", 3, "old");
    struct jail_upload *u = upload(f, "t", "fresh");
    stat_commit_fails = true;
    struct jail_commit c;
    assert_int_equal(jail_upload_commit(u, &c, true), 0);
    stat_commit_fails = false;
    assert_int_equal(c.replaced.bytes, 0); /* not measured, not freed */
    assert_int_equal(c.replaced.entries, 0);
    assert_int_equal(c.displaced_fd, -1);
    read_file(f, "t", buf, sizeof buf);
    assert_string_equal(buf, "fresh");
    assert_int_equal(access(tmpdir_join(f->tmp, ".t.ssftp-part"), F_OK), -1);
    struct jail_count total;
    assert_int_equal(jail_usage(f->j, &total, NULL), 0);
    assert_int_equal(total.bytes, 5 + 3); /* the old file, hidden, counted */
    struct jail_sweep sw = {.partial_max_age_s = -1};
    assert_int_equal(jail_usage(f->j, &total, &sw), 0);
    assert_int_equal(sw.commit_leftovers.bytes, 3);
    assert_int_equal(total.bytes, 5);
    assert_int_equal(total.entries, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(directory_fsync_failure_after_the_rename_is_not_a_failure),
        T(partial_fsync_failure_publishes_nothing),
        T(stat_failure_after_the_exchange_keeps_the_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
