/* test_digestcache.c -- a recorded digest is trusted only for the exact
 * size, mtime and inode it was recorded for, and never recorded for a file
 * that changed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "digestcache.h"
#include "tmpdir.h"

#define RECORD 64 /* digestcache.c: "b2c1" | digest | size | mtime | ino */

struct fx {
    char *dir;
    int fd; /* dir/file, read-write, 4096 bytes of 'x' */
};

/* A digest that is not all zeros and differs per seed. */
static void fake_digest(uint8_t d[PROTO_DIGEST_BYTES], uint8_t seed)
{
    for (int i = 0; i < PROTO_DIGEST_BYTES; i++)
        d[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static int open_rw(const char *dir, const char *name)
{
    int fd = open(tmpdir_join(dir, name), O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static struct stat fstat_ok(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st;
}

static void set_mtime(int fd, struct timespec mtime)
{
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, mtime};
    assert_int_equal(futimens(fd, ts), 0);
}

static struct timespec later(struct timespec t, long sec, long nsec)
{
    t.tv_sec += sec;
    t.tv_nsec += nsec;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_nsec -= 1000000000L;
        t.tv_sec++;
    }
    return t;
}

static void pwrite_ok(int fd, const void *buf, size_t n, off_t off)
{
    assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
}

/* Skips the test (with the reason) where the file system of /tmp has no
 * user extended attributes: nothing here can work there. */
static void need_user_xattrs(int fd)
{
    if (fsetxattr(fd, "user.ssftp.probe", "1", 1, 0) == 0) {
        assert_int_equal(fremovexattr(fd, "user.ssftp.probe"), 0);
        return;
    }
    if (errno == ENOTSUP || errno == EOPNOTSUPP) {
        /* The module says so too, and finds nothing. */
        uint8_t d[PROTO_DIGEST_BYTES] = {1}, out[PROTO_DIGEST_BYTES];
        assert_int_equal(digestcache_store(fd, d, NULL), -ENOTSUP);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(digestcache_load(fd, &st, out), -ENODATA);
        fprintf(stderr, "skipped: the file system of /tmp has no user "
                        "extended attributes (fsetxattr: ENOTSUP)\n");
        skip();
    }
    fail_msg("fsetxattr probe: %s", strerror(errno));
}

/* The raw attribute of fd; its length, or -errno. */
static ssize_t raw_get(int fd, uint8_t *buf, size_t cap)
{
    ssize_t n = fgetxattr(fd, DIGESTCACHE_XATTR, buf, cap);
    return n < 0 ? -errno : n;
}

static void raw_set(int fd, const void *buf, size_t n)
{
    assert_int_equal(fsetxattr(fd, DIGESTCACHE_XATTR, buf, n, 0), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tmpdir_make();
    tmpdir_write(f->dir, "file", 4096, NULL);
    f->fd = open_rw(f->dir, "file");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->fd >= 0)
        assert_int_equal(close(f->fd), 0);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* Stores d for f->fd as it is now (checking against its fstat). */
static void store_now(struct fx *f, const uint8_t d[PROTO_DIGEST_BYTES])
{
    struct stat st = fstat_ok(f->fd);
    assert_int_equal(digestcache_store(f->fd, d, &st), 0);
}

static int load_now(int fd, uint8_t out[PROTO_DIGEST_BYTES])
{
    struct stat st = fstat_ok(fd);
    return digestcache_load(fd, &st, out);
}

static void store_then_load_round_trips(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 1);
    store_now(f, d);
    memset(out, 0, sizeof out);
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);

    /* It is on the file, not in this fd: a fresh open sees it too. */
    int fd2 = open_rw(f->dir, "file");
    memset(out, 0, sizeof out);
    assert_int_equal(load_now(fd2, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
    uint8_t raw[RECORD + 16];
    assert_int_equal(raw_get(fd2, raw, sizeof raw), RECORD);
    assert_int_equal(close(fd2), 0);

    /* Without expect it records the file as it is; a new store replaces
     * the old record. */
    fake_digest(d, 2);
    assert_int_equal(digestcache_store(f->fd, d, NULL), 0);
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
}

static void load_without_a_record_is_enodata(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t out[PROTO_DIGEST_BYTES];
    assert_int_equal(load_now(f->fd, out), -ENODATA);
    /* Another attribute of the file is not a record either. */
    assert_int_equal(fsetxattr(f->fd, "user.other", "abc", 3, 0), 0);
    assert_int_equal(load_now(f->fd, out), -ENODATA);
}

static void new_content_with_a_new_mtime_is_not_trusted(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 3);
    store_now(f, d);
    struct stat before = fstat_ok(f->fd);
    pwrite_ok(f->fd, "changed!", 8, 100);
    set_mtime(f->fd, later(before.st_mtim, 10, 0));
    struct stat after = fstat_ok(f->fd);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(load_now(f->fd, out), -ENODATA);

    /* A difference of one nanosecond is a difference. */
    store_now(f, d);
    assert_int_equal(load_now(f->fd, out), 0);
    set_mtime(f->fd, later(after.st_mtim, 0, 1));
    assert_int_equal(load_now(f->fd, out), -ENODATA);
    /* And the old mtime back makes the record good again: the stamp, not
     * the content, is what is compared (a forged mtime fools it; the
     * client's check is what catches that). */
    set_mtime(f->fd, after.st_mtim);
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
}

static void new_size_is_not_trusted(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 4);
    store_now(f, d);
    struct stat before = fstat_ok(f->fd);
    /* Only the size differs: the mtime is put back exactly. */
    assert_int_equal(ftruncate(f->fd, before.st_size + 1), 0);
    set_mtime(f->fd, before.st_mtim);
    struct stat after = fstat_ok(f->fd);
    assert_int_equal(after.st_size, before.st_size + 1);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(load_now(f->fd, out), -ENODATA);
    /* Shorter, too. */
    assert_int_equal(ftruncate(f->fd, before.st_size - 1), 0);
    set_mtime(f->fd, before.st_mtim);
    assert_int_equal(load_now(f->fd, out), -ENODATA);
}

static void another_inode_under_the_name_is_not_trusted(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 5);
    store_now(f, d);
    struct stat old = fstat_ok(f->fd);
    uint8_t rec[RECORD];
    assert_int_equal(raw_get(f->fd, rec, sizeof rec), RECORD);

    /* A twin: same size, same mtime, even the same attribute -- only the
     * inode differs.  Renamed over the original. */
    tmpdir_write(f->dir, "twin", 4096, NULL);
    int twin = open_rw(f->dir, "twin");
    raw_set(twin, rec, sizeof rec);
    set_mtime(twin, old.st_mtim);
    assert_int_equal(close(twin), 0);
    char from[4096];
    snprintf(from, sizeof from, "%s", tmpdir_join(f->dir, "twin"));
    assert_int_equal(rename(from, tmpdir_join(f->dir, "file")), 0);

    int fd = open_rw(f->dir, "file");
    struct stat now = fstat_ok(fd);
    assert_true(now.st_ino != old.st_ino);
    assert_int_equal(now.st_size, old.st_size);
    assert_int_equal(now.st_mtim.tv_sec, old.st_mtim.tv_sec);
    assert_int_equal(now.st_mtim.tv_nsec, old.st_mtim.tv_nsec);
    assert_int_equal(digestcache_load(fd, &now, out), -ENODATA);
    assert_int_equal(close(fd), 0);
    /* The original inode (still open) keeps its good record. */
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
}

static void store_refuses_a_file_that_changed_since_expect(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES], raw[RECORD + 16];

    /* Changed content and mtime after expect was taken: nothing stored. */
    struct stat expect = fstat_ok(f->fd);
    pwrite_ok(f->fd, "more", 4, 0);
    set_mtime(f->fd, later(expect.st_mtim, 5, 0));
    fake_digest(d, 6);
    assert_int_equal(digestcache_store(f->fd, d, &expect), -ESTALE);
    assert_int_equal(raw_get(f->fd, raw, sizeof raw), -ENODATA);
    assert_int_equal(load_now(f->fd, out), -ENODATA);

    /* A good record is left as it was by a refused store. */
    store_now(f, d);
    uint8_t good[RECORD];
    assert_int_equal(raw_get(f->fd, good, sizeof good), RECORD);
    uint8_t d2[PROTO_DIGEST_BYTES];
    fake_digest(d2, 7);
    struct stat cur = fstat_ok(f->fd);

    struct stat e = cur;
    e.st_size++;
    assert_int_equal(digestcache_store(f->fd, d2, &e), -ESTALE);
    e = cur;
    e.st_ino++;
    assert_int_equal(digestcache_store(f->fd, d2, &e), -ESTALE);
    e = cur;
    e.st_mtim.tv_sec--;
    assert_int_equal(digestcache_store(f->fd, d2, &e), -ESTALE);
    e = cur;
    e.st_mtim.tv_nsec = (e.st_mtim.tv_nsec + 1) % 1000000000L;
    assert_int_equal(digestcache_store(f->fd, d2, &e), -ESTALE);

    assert_int_equal(raw_get(f->fd, raw, sizeof raw), RECORD);
    assert_memory_equal(raw, good, RECORD);
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
}

static void foreign_values_are_not_records(void **state)
{
    struct fx *f = *state;
    need_user_xattrs(f->fd);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 8);
    store_now(f, d);
    uint8_t good[RECORD];
    assert_int_equal(raw_get(f->fd, good, sizeof good), RECORD);

    /* Wrong lengths: empty, one short, one long (a good record plus a
     * byte), far too long. */
    uint8_t junk[300];
    memcpy(junk, good, RECORD);
    junk[RECORD] = 0;
    static const size_t lens[] = {0, 1, RECORD - 1, RECORD + 1, sizeof junk};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        raw_set(f->fd, junk, lens[i]);
        assert_int_equal(load_now(f->fd, out), -ENODATA);
    }
    /* Right length, wrong magic. */
    uint8_t bad[RECORD];
    memcpy(bad, good, RECORD);
    bad[3] ^= 0x01;
    raw_set(f->fd, bad, RECORD);
    assert_int_equal(load_now(f->fd, out), -ENODATA);
    /* Right magic, a stamp field with one bit off (the last byte of the
     * inode). */
    memcpy(bad, good, RECORD);
    bad[RECORD - 1] ^= 0x80;
    raw_set(f->fd, bad, RECORD);
    assert_int_equal(load_now(f->fd, out), -ENODATA);
    /* 64 bytes of noise. */
    memset(bad, 0xa5, RECORD);
    raw_set(f->fd, bad, RECORD);
    assert_int_equal(load_now(f->fd, out), -ENODATA);

    /* The genuine value back: trusted again (so the refusals above were
     * about the values, not the file). */
    raw_set(f->fd, good, RECORD);
    assert_int_equal(load_now(f->fd, out), 0);
    assert_memory_equal(out, d, PROTO_DIGEST_BYTES);
}

static void no_record_where_xattrs_cannot_be_set(void **state)
{
    (void)state;
    /* User attributes exist only on regular files and directories. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    uint8_t d[PROTO_DIGEST_BYTES], out[PROTO_DIGEST_BYTES];
    fake_digest(d, 9);
    int rc = digestcache_store(p[1], d, NULL);
    assert_true(rc < 0);
    struct stat st = fstat_ok(p[1]);
    assert_int_equal(digestcache_load(p[1], &st, out), -ENODATA);
    assert_int_equal(close(p[0]), 0);
    assert_int_equal(close(p[1]), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(store_then_load_round_trips),
        T(load_without_a_record_is_enodata),
        T(new_content_with_a_new_mtime_is_not_trusted),
        T(new_size_is_not_trusted),
        T(another_inode_under_the_name_is_not_trusted),
        T(store_refuses_a_file_that_changed_since_expect),
        T(foreign_values_are_not_records),
        T(no_record_where_xattrs_cannot_be_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
