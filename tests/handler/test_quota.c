/* test_quota.c -- walked usage, reservations that never overshoot. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "quota.h"
#include "tmpdir.h"

#define DEFAULT_LIMIT 5000

struct fx {
    char *root;
    struct userdb *db;
    struct quota_registry *reg;
    struct jail *j;
};

static void add_user(struct userdb *db, const char *name, uint64_t quota)
{
    struct userdb_record r = {.quota = quota};
    snprintf(r.name, sizeof r.name, "%s", name);
    r.cred.params.opslimit = 2;
    r.cred.params.memlimit = 8192;
    assert_int_equal(userdb_add(db, &r), 0);
}

static struct jail *home_jail(struct userdb *db, const char *name)
{
    int fd;
    struct jail *j;
    assert_int_equal(userdb_home_open(db, name, &fd), 0);
    assert_int_equal(jail_open(fd, &j), 0);
    return j;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->root = tmpdir_make();
    assert_int_equal(userdb_open(f->root, &f->db), 0);
    assert_int_equal(quota_registry_create(f->db, DEFAULT_LIMIT, &f->reg), 0);
    add_user(f->db, "alice", 1000);
    f->j = home_jail(f->db, "alice");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    jail_close(f->j);
    quota_registry_destroy(f->reg);
    userdb_close(f->db);
    tmpdir_remove(f->root);
    free(f);
    return 0;
}

static struct quota *acquire(struct fx *f)
{
    struct quota *q;
    assert_int_equal(quota_acquire(f->reg, "alice", f->j, &q), 0);
    return q;
}

static struct quota_usage usage(struct quota *q)
{
    struct quota_usage u;
    assert_int_equal(quota_report(q, &u), 0);
    return u;
}

static void test_reserve_over_the_limit_is_refused(void **state)
{
    struct fx *f = *state;
    struct quota *q = acquire(f);
    assert_int_equal(quota_reserve(q, 600), 0);
    assert_int_equal(quota_reserve(q, 401), -EDQUOT);
    assert_int_equal(quota_reserve(q, 400), 0);
    assert_int_equal(quota_reserve(q, 1), -EDQUOT);
    quota_release(q, 1000);
    assert_int_equal(quota_reserve(q, 1000), 0);
    quota_release(q, 1000);
    assert_int_equal(quota_reserve(q, UINT64_MAX), -EDQUOT);
    quota_drop(q);
}

static void
test_commit_and_free_move_bytes_between_reserved_and_used(void **state)
{
    struct fx *f = *state;
    struct quota *q = acquire(f);
    assert_int_equal(quota_reserve(q, 300), 0);
    assert_int_equal(usage(q).reserved, 300);
    quota_commit(q, 300, 120);
    struct quota_usage u = usage(q);
    assert_int_equal(u.used, 120);
    assert_int_equal(u.reserved, 0);
    assert_int_equal(u.limit, 1000);
    assert_int_equal(quota_reserve(q, 881), -EDQUOT);
    assert_int_equal(quota_reserve(q, 880), 0);
    quota_release(q, 880);
    quota_free(q, 500); /* more than used: floors at zero */
    assert_int_equal(usage(q).used, 0);
    quota_drop(q);
}

struct racer {
    struct quota *q;
    pthread_barrier_t *start;
    uint64_t got;
};

static void *reserve_until_full(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    while (quota_reserve(r->q, 7) == 0)
        r->got += 7;
    return NULL;
}

static void test_concurrent_reserves_never_overshoot(void **state)
{
    struct fx *f = *state;
    assert_int_equal(userdb_set_quota(f->db, "alice", 100003), 0);
    for (int round = 0; round < 20; round++) {
        struct quota *q = acquire(f);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 8);
        pthread_t th[8];
        struct racer r[8];
        for (int i = 0; i < 8; i++) {
            r[i] = (struct racer){q, &start, 0};
            assert_int_equal(
                pthread_create(&th[i], NULL, reserve_until_full, &r[i]), 0);
        }
        uint64_t total = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(th[i], NULL);
            total += r[i].got;
        }
        pthread_barrier_destroy(&start);
        /* Never past the limit, and stopped only when 7 more did not fit. */
        assert_true(total <= 100003);
        assert_true(100003 - total < 7);
        assert_int_equal(usage(q).reserved, total);
        quota_release(q, total);
        quota_drop(q);
    }
}

/* Writes n bytes to name in alice's home, behind the server's back. */
static void home_write(struct fx *f, const char *name, size_t n)
{
    char home[600];
    snprintf(home, sizeof home, "%s/homes/alice", f->root);
    tmpdir_write(home, name, n, NULL);
}

static void test_usage_walk_counts_partial_uploads(void **state)
{
    struct fx *f = *state;
    home_write(f, "file", 100);
    home_write(f, ".file.ssftp-part", 30);
    struct quota *q = acquire(f);
    assert_int_equal(usage(q).used, 130);
    assert_int_equal(quota_reserve(q, 871), -EDQUOT);
    assert_int_equal(quota_reserve(q, 870), 0);
    quota_release(q, 870);
    quota_drop(q);
}

static void test_sessions_of_one_user_share_an_account(void **state)
{
    struct fx *f = *state;
    struct jail *j2 = home_jail(f->db, "alice");
    struct quota *q1 = acquire(f), *q2;
    assert_int_equal(quota_acquire(f->reg, "alice", j2, &q2), 0);
    assert_ptr_equal(q1, q2);
    assert_int_equal(quota_reserve(q1, 700), 0);
    assert_int_equal(quota_reserve(q2, 700), -EDQUOT);
    quota_commit(q1, 700, 700);
    assert_int_equal(usage(q2).used, 700);
    quota_drop(q1);
    quota_drop(q2);
    /* The last drop forgets the account; the next login walks again. */
    home_write(f, "new", 10);
    q1 = acquire(f);
    assert_int_equal(usage(q1).used, 10);
    quota_drop(q1);
    jail_close(j2);
}

static void test_limit_follows_the_user_record(void **state)
{
    struct fx *f = *state;
    struct quota *q = acquire(f);
    assert_int_equal(quota_reserve(q, 2000), -EDQUOT);
    assert_int_equal(userdb_set_quota(f->db, "alice", 3000), 0);
    assert_int_equal(quota_reserve(q, 2000), 0);
    quota_release(q, 2000);
    assert_int_equal(userdb_set_quota(f->db, "alice", 0), 0);
    assert_int_equal(usage(q).limit, DEFAULT_LIMIT);
    assert_int_equal(quota_reserve(q, DEFAULT_LIMIT + 1), -EDQUOT);
    assert_int_equal(quota_reserve(q, DEFAULT_LIMIT), 0);
    quota_release(q, DEFAULT_LIMIT);
    quota_drop(q);
}

static void test_unlimited_default_cannot_wrap_around(void **state)
{
    struct fx *f = *state;
    struct quota_registry *reg;
    struct quota *q;
    assert_int_equal(quota_registry_create(f->db, QUOTA_UNLIMITED, &reg), 0);
    assert_int_equal(userdb_set_quota(f->db, "alice", 0), 0);
    assert_int_equal(quota_acquire(reg, "alice", f->j, &q), 0);
    assert_int_equal(quota_reserve(q, UINT64_MAX - 5), 0);
    assert_int_equal(quota_reserve(q, 10), -EDQUOT);
    assert_int_equal(quota_reserve(q, 5), 0);
    assert_int_equal(quota_reserve(q, 1), -EDQUOT);
    quota_release(q, UINT64_MAX);
    quota_drop(q);
    quota_registry_destroy(reg);
}

static void test_removed_user_cannot_reserve(void **state)
{
    struct fx *f = *state;
    struct quota *q = acquire(f);
    assert_int_equal(userdb_remove(f->db, "alice"), 0);
    assert_int_equal(quota_reserve(q, 1), -EACCES);
    quota_drop(q);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(reserve_over_the_limit_is_refused),
        T(commit_and_free_move_bytes_between_reserved_and_used),
        T(concurrent_reserves_never_overshoot),
        T(usage_walk_counts_partial_uploads),
        T(sessions_of_one_user_share_an_account),
        T(limit_follows_the_user_record),
        T(unlimited_default_cannot_wrap_around),
        T(removed_user_cannot_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
