/* test_files.c -- the file service: a front-end needs nothing else, and the
 * counts follow the disk through every path of an upload. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "files.h"
#include "tmpdir.h"

struct fx {
    char *root;
    struct userdb *db;
    struct quota_registry *reg;
    struct files *f;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->root = tmpdir_make();
    assert_int_equal(userdb_open(x->root, &x->db), 0);
    struct userdb_record r = {.quota = 1000, .max_files = 5};
    strcpy(r.name, "ftpuser");
    r.cred.params.opslimit = 2;
    r.cred.params.memlimit = 8192;
    assert_int_equal(userdb_add(x->db, &r), 0);
    struct quota_config cfg = {QUOTA_UNLIMITED, QUOTA_UNLIMITED, -1};
    assert_int_equal(quota_registry_create(x->db, &cfg, &x->reg), 0);
    assert_int_equal(files_open(x->db, x->reg, "ftpuser", &x->f, NULL), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    files_close(x->f);
    quota_registry_destroy(x->reg);
    userdb_close(x->db);
    tmpdir_remove(x->root);
    free(x);
    return 0;
}

static struct jail_path *at(struct fx *x, const char *path)
{
    struct jail_path *p;
    assert_int_equal(files_resolve(x->f, path, strlen(path), &p), 0);
    return p;
}

static struct quota_usage usage(struct fx *x)
{
    struct quota_usage u;
    assert_int_equal(files_usage(x->f, &u), 0);
    return u;
}

/* Writes text at off on the upload and reports it written. */
static void send_body(struct files_upload *u, const char *text, uint64_t off)
{
    size_t n = strlen(text);
    assert_int_equal(pwrite(files_upload_fd(u), text, n, (off_t)off),
                     (ssize_t)n);
    uint64_t stored = 0;
    assert_int_equal(files_upload_written(u, off, &stored), 0);
    assert_int_equal(stored, n);
}

static struct files_upload *begin(struct fx *x, const char *path,
                                  uint64_t total, uint64_t *partial)
{
    struct jail_path *p = at(x, path);
    struct files_upload *u = NULL;
    assert_int_equal(files_upload_begin(x->f, p, total, &u, partial), 0);
    jail_path_free(p);
    return u;
}

/* What an FTP handler does (MKD, STOR, REST+STOR, SIZE, RETR from an
 * offset, LIST, RNFR/RNTO, DELE, RMD), through files.h and the jail's
 * read API alone. */
static void test_a_second_front_end_needs_nothing_but_this_api(void **state)
{
    struct fx *x = *state;
    struct jail_path *p = at(x, "pub");
    assert_int_equal(files_mkdir(x->f, p), 0);
    jail_path_free(p);
    assert_int_equal(files_cd(x->f, "pub", 3), 0);
    assert_string_equal(files_cwd(x->f), "/pub");
    /* STOR cut after 5 bytes, then REST 5 + STOR */
    uint64_t partial = 9;
    struct files_upload *u = begin(x, "a.txt", 11, &partial);
    assert_int_equal(partial, 0);
    send_body(u, "hello", 0);
    files_upload_leave(u);
    u = begin(x, "a.txt", 11, &partial);
    assert_int_equal(partial, 5);
    send_body(u, " world", 5);
    struct jail_commit c;
    assert_int_equal(files_upload_commit(u, &c, true), 0);
    assert_int_equal(c.displaced_fd, -1);
    /* SIZE and RETR from offset 6 */
    p = at(x, "a.txt");
    struct jail_entry e;
    assert_int_equal(jail_stat(p, &e), 0);
    assert_int_equal(e.size, 11);
    int fd;
    assert_int_equal(jail_open_read(p, &fd, NULL), 0);
    char buf[16] = {0};
    assert_int_equal(pread(fd, buf, sizeof buf - 1, 6), 5);
    assert_string_equal(buf, "world");
    close(fd);
    /* LIST, RNFR/RNTO */
    struct jail_path *dir = at(x, "."), *to = at(x, "b.txt");
    struct jail_dir *d;
    assert_int_equal(jail_dir_open(dir, &d), 0);
    int seen = 0;
    while (jail_dir_next(d, &e) == 1)
        seen += strcmp(e.name, "a.txt") == 0;
    jail_dir_close(d);
    assert_int_equal(seen, 1); /* and no partial listed */
    assert_int_equal(files_rename(x->f, p, to), 0);
    jail_path_free(p);
    /* DELE, RMD */
    assert_int_equal(files_remove(x->f, to), 0);
    jail_path_free(to);
    jail_path_free(dir);
    assert_int_equal(files_cd(x->f, "/", 1), 0);
    p = at(x, "pub");
    assert_int_equal(files_rmdir(x->f, p), 0);
    jail_path_free(p);
    assert_int_equal(usage(x).used, 0);
    assert_int_equal(usage(x).entries, 0);
}

/* A restart that does not fit keeps the partial for another resume. */
static void test_a_refused_restart_keeps_the_partial(void **state)
{
    struct fx *x = *state;
    uint64_t partial;
    struct files_upload *u = begin(x, "f", 800, &partial);
    send_body(u, "0123456789", 0);
    files_upload_leave(u); /* 10 bytes kept */
    u = begin(x, "f", 800, &partial);
    assert_int_equal(partial, 10);
    /* 10 used + 790 promised; starting over needs 10 more: 810 <= 1000 */
    assert_int_equal(files_upload_restart(u), 0);
    files_upload_leave(u); /* empty now: removed */
    assert_int_equal(usage(x).used, 0);
    assert_int_equal(usage(x).entries, 0);

    u = begin(x, "g", 600, &partial);
    send_body(u, "abc", 0);
    files_upload_leave(u);
    struct files_upload *other = begin(x, "h", 400, &partial);
    u = begin(x, "g", 600, &partial); /* 3 + 597 + 400 = 1000: full */
    assert_int_equal(files_upload_restart(u), -EDQUOT);
    files_upload_leave(u);
    files_upload_leave(other);
    char buf[8] = {0};
    char path[700];
    snprintf(path, sizeof path, "%s/homes/ftpuser/.g.ssftp-part", x->root);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf), 3);
    close(fd);
    assert_int_equal(usage(x).used, 3);
    assert_int_equal(usage(x).reserved, 0);
}

/* A partial shorter than the total is not published. */
static void test_an_incomplete_upload_is_not_published(void **state)
{
    struct fx *x = *state;
    uint64_t partial;
    struct files_upload *u = begin(x, "f", 10, &partial);
    send_body(u, "12345", 0);
    struct jail_commit c;
    assert_int_equal(files_upload_commit(u, &c, true), -EIO);
    struct jail_path *p = at(x, "f");
    struct jail_entry e;
    assert_int_equal(jail_stat(p, &e), -ENOENT);
    jail_path_free(p);
    assert_int_equal(usage(x).used, 5); /* the partial, kept */
    assert_int_equal(usage(x).entries, 1);
}

/* At the entry limit a new upload is refused, but a partial that is there
 * already can still be resumed and published. */
static void test_at_the_entry_limit_only_a_resume_goes_on(void **state)
{
    struct fx *x = *state;
    uint64_t partial;
    struct files_upload *u = begin(x, "r", 4, &partial);
    send_body(u, "ab", 0);
    files_upload_leave(u);
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "d%d", i);
        struct jail_path *p = at(x, name);
        assert_int_equal(files_mkdir(x->f, p), 0);
        jail_path_free(p);
    }
    struct jail_path *p = at(x, "new");
    assert_int_equal(files_upload_begin(x->f, p, 1, &u, &partial), -EDQUOT);
    assert_int_equal(files_mkdir(x->f, p), -EDQUOT);
    jail_path_free(p);
    u = begin(x, "r", 4, &partial);
    assert_int_equal(partial, 2);
    send_body(u, "cd", 2);
    struct jail_commit c;
    assert_int_equal(files_upload_commit(u, &c, true), 0);
    assert_int_equal(usage(x).entries, 5);
    assert_int_equal(usage(x).used, 4);
    assert_false(tmpdir_has_suffix(tmpdir_join(x->root, "homes/ftpuser"),
                                   "new.ssftp-part"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_second_front_end_needs_nothing_but_this_api),
        T(a_refused_restart_keeps_the_partial),
        T(an_incomplete_upload_is_not_published),
        T(at_the_entry_limit_only_a_resume_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
