/* test_userdb.c -- names, atomic locked rewrites, reloads, the secret. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "tmpdir.h"
#include "userdb.h"

struct fx {
    char *root;
    struct userdb *db;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->root = tmpdir_make();
    assert_int_equal(userdb_open(f->root, &f->db), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    userdb_close(f->db);
    tmpdir_remove(f->root);
    free(f);
    return 0;
}

/* A record with recognisable bytes; no key derivation needed here. */
static struct userdb_record rec(const char *name, uint8_t fill, uint64_t quota)
{
    struct userdb_record r = {.quota = quota};
    snprintf(r.name, sizeof r.name, "%s", name);
    memset(r.cred.params.salt, fill, sizeof r.cred.params.salt);
    memset(r.cred.stored_key, fill + 1, sizeof r.cred.stored_key);
    memset(r.cred.server_key, fill + 2, sizeof r.cred.server_key);
    r.cred.params.opslimit = 2;
    r.cred.params.memlimit = 65536;
    return r;
}

static void assert_same_record(const struct userdb_record *a,
                               const struct userdb_record *b)
{
    assert_string_equal(a->name, b->name);
    assert_memory_equal(a->cred.params.salt, b->cred.params.salt,
                        PROTO_AUTH_SALT_BYTES);
    assert_memory_equal(a->cred.stored_key, b->cred.stored_key,
                        PROTO_AUTH_KEY_BYTES);
    assert_memory_equal(a->cred.server_key, b->cred.server_key,
                        PROTO_AUTH_KEY_BYTES);
    assert_int_equal(a->cred.params.opslimit, b->cred.params.opslimit);
    assert_int_equal(a->cred.params.memlimit, b->cred.params.memlimit);
    assert_int_equal(a->quota, b->quota);
}

static void test_added_user_is_found_with_the_same_record(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 1000), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    assert_same_record(&a, &got);
    assert_int_equal(userdb_lookup(f->db, "bob", &got), -ENOENT);
    /* And from a fresh handle: it really is on disk. */
    struct userdb *db2;
    assert_int_equal(userdb_open(f->root, &db2), 0);
    assert_int_equal(userdb_lookup(db2, "alice", &got), 0);
    assert_same_record(&a, &got);
    userdb_close(db2);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(f->root, "homes/alice"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_invalid_names_are_refused(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {"",
                         ".hidden",
                         "..",
                         "a/b",
                         "a b",
                         "caf\xc3\xa9",
                         "123456789012345678901234567890123",
                         "a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(userdb_name_valid(bad[i]));
        struct userdb_record r = rec("x", 1, 0);
        snprintf(r.name, sizeof r.name, "%s", bad[i]);
        if (strlen(bad[i]) <= USERDB_NAME_MAX)
            assert_int_equal(userdb_add(f->db, &r), -EINVAL);
    }
    assert_true(userdb_name_valid("A.b_c-9"));
    assert_true(userdb_name_valid("12345678901234567890123456789012"));
    assert_int_equal(userdb_remove(f->db, "../x"), -EINVAL);
    int fd;
    assert_int_equal(userdb_home_open(f->db, "..", &fd), -EINVAL);
}

static void test_adding_a_taken_name_is_eexist(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 0), b = rec("alice", 9, 5), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_add(f->db, &b), -EEXIST);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    assert_same_record(&a, &got);
}

static void test_set_cred_replaces_keys_and_keeps_quota(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 777), b = rec("alice", 50, 0), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_set_cred(f->db, "alice", &b.cred), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    b.quota = 777;
    assert_same_record(&b, &got);
    assert_int_equal(userdb_set_cred(f->db, "nobody", &b.cred), -ENOENT);
}

static void test_set_quota_changes_only_the_quota(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 0), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_set_quota(f->db, "alice", 5ull << 30), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    a.quota = 5ull << 30;
    assert_same_record(&a, &got);
    assert_int_equal(userdb_set_quota(f->db, "alice", UINT64_MAX), -ERANGE);
    assert_int_equal(userdb_set_quota(f->db, "nobody", 1), -ENOENT);
}

static void test_remove_drops_the_record_and_keeps_the_home(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 0), b = rec("bob", 2, 0), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_add(f->db, &b), 0);
    tmpdir_write(f->root, "homes/alice/keep", 4, NULL);
    assert_int_equal(userdb_remove(f->db, "alice"), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), -ENOENT);
    assert_int_equal(userdb_lookup(f->db, "bob", &got), 0);
    assert_int_equal(userdb_remove(f->db, "alice"), -ENOENT);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(f->root, "homes/alice/keep"), &st), 0);
    /* Re-adding gets the old files back. */
    assert_int_equal(userdb_add(f->db, &a), 0);
    int fd;
    assert_int_equal(userdb_home_open(f->db, "alice", &fd), 0);
    assert_int_equal(fstatat(fd, "keep", &st, 0), 0);
    close(fd);
}

static void test_list_returns_all_records_sorted(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"carol", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        struct userdb_record r = rec(names[i], (uint8_t)i, 0);
        assert_int_equal(userdb_add(f->db, &r), 0);
    }
    struct userdb_record *v;
    size_t n;
    assert_int_equal(userdb_list(f->db, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "alice");
    assert_string_equal(v[1].name, "bob");
    assert_string_equal(v[2].name, "carol");
    free(v);
}

static void test_writes_are_atomic_and_leave_no_temp_file(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 0);
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_set_quota(f->db, "alice", 10), 0);
    assert_int_equal(userdb_set_cred(f->db, "alice", &a.cred), 0);
    assert_int_equal(userdb_remove(f->db, "alice"), 0);
    assert_int_equal(userdb_add(f->db, &a), 0);
    DIR *d = opendir(f->root);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        const char *s = de->d_name;
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
            continue;
        n++;
        assert_true(strcmp(s, "users.json") == 0 ||
                    strcmp(s, "users.lock") == 0 || strcmp(s, "secret") == 0 ||
                    strcmp(s, "homes") == 0);
    }
    closedir(d);
    assert_int_equal(n, 4);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(f->root, "users.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_unknown_name_gets_the_costs_of_a_real_user(void **state)
{
    struct fx *f = *state;
    struct userdb_record got;
    assert_int_equal(userdb_lookup(f->db, "nobody", &got), -ENOENT);
    assert_int_equal(got.cred.params.opslimit, PROTO_AUTH_DEFAULT_OPSLIMIT);
    assert_int_equal(got.cred.params.memlimit, PROTO_AUTH_DEFAULT_MEMLIMIT);
    struct userdb_record a = rec("alice", 1, 0);
    a.cred.params.opslimit = 7;
    a.cred.params.memlimit = 1 << 24;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_lookup(f->db, "nobody", &got), -ENOENT);
    assert_int_equal(got.cred.params.opslimit, 7);
    assert_int_equal(got.cred.params.memlimit, 1 << 24);
    assert_int_equal(userdb_lookup(f->db, "bad/name", &got), -ENOENT);
    assert_int_equal(got.cred.params.opslimit, 7);
}

static int cmp_ns(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nanoseconds: the lookups timed here take a few microseconds, below what
 * proto_mono_ms() can tell apart. */
static int64_t ns_now(void)
{
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* With 5,000 users, a lookup of an unknown name and of a known one take the
 * same time: medians of interleaved samples within 10 % (the unknown path
 * once copied the whole table: 3.6 times slower with 20,001 users). */
static void test_unknown_and_known_lookups_take_the_same_time(void **state)
{
    struct fx *f = *state;
    enum { USERS = 5000, SAMPLES = 20001 };
    FILE *io = fopen(tmpdir_join(f->root, "users.json"), "w");
    assert_non_null(io);
    fprintf(io, "{\"version\": 1, \"users\": [");
    for (int i = 0; i < USERS; i++)
        fprintf(io,
                "%s{\"name\": \"u%05d\", \"salt\": \"%s\", "
                "\"opslimit\": 2, \"memlimit\": 65536, "
                "\"stored_key\": \"%s\", \"server_key\": \"%s\", "
                "\"quota\": 0}",
                i ? ", " : "", i, "AAAAAAAAAAAAAAAAAAAAAA==",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    fprintf(io, "]}\n");
    assert_int_equal(fclose(io), 0);
    int64_t *t[2];
    for (int k = 0; k < 2; k++) {
        t[k] = malloc(SAMPLES * sizeof *t[k]);
        assert_non_null(t[k]);
    }
    struct userdb_record got;
    assert_int_equal(userdb_lookup(f->db, "u00001", &got), 0); /* load */
    for (int i = 0; i < SAMPLES; i++) {
        for (int k = 0; k < 2; k++) {
            char name[16];
            snprintf(name, sizeof name, k ? "x%05d" : "u%05d", i % USERS);
            int64_t t0 = ns_now();
            int rc = userdb_lookup(f->db, name, &got);
            t[k][i] = ns_now() - t0;
            assert_int_equal(rc, k ? -ENOENT : 0);
        }
    }
    qsort(t[0], SAMPLES, sizeof *t[0], cmp_ns);
    qsort(t[1], SAMPLES, sizeof *t[1], cmp_ns);
    int64_t known = t[0][SAMPLES / 2], unknown = t[1][SAMPLES / 2];
    printf("userdb lookup, %d users: known median %lld ns (p10 %lld, p90 "
           "%lld), unknown median %lld ns (p10 %lld, p90 %lld)\n",
           USERS, (long long)known, (long long)t[0][SAMPLES / 10],
           (long long)t[0][SAMPLES * 9 / 10], (long long)unknown,
           (long long)t[1][SAMPLES / 10], (long long)t[1][SAMPLES * 9 / 10]);
    assert_true(unknown * 10 <= known * 11 && known * 10 <= unknown * 11);
    free(t[0]);
    free(t[1]);
}

static void test_lookup_reloads_when_the_file_changes(void **state)
{
    struct fx *f = *state;
    struct userdb *other;
    struct userdb_record a = rec("alice", 1, 0), got;
    assert_int_equal(userdb_open(f->root, &other), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), -ENOENT);
    assert_int_equal(userdb_add(other, &a), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    assert_int_equal(userdb_set_quota(other, "alice", 42), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    assert_int_equal(got.quota, 42);
    /* A hand edit in place (same inode, no rename) is seen too. */
    char *text = NULL;
    size_t len = 0;
    FILE *io = fopen(tmpdir_join(f->root, "users.json"), "r+");
    assert_non_null(io);
    assert_true(getdelim(&text, &len, '\0', io) > 0);
    char *q = strstr(text, "\"quota\": 42");
    assert_non_null(q);
    rewind(io);
    fprintf(io, "%.*s\"quota\": 999%s", (int)(q - text), text, q + 11);
    assert_int_equal(fclose(io), 0);
    free(text);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    assert_int_equal(got.quota, 999);
    assert_int_equal(userdb_remove(other, "alice"), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), -ENOENT);
    userdb_close(other);
}

static void test_corrupt_file_fails_lookups_and_writes(void **state)
{
    struct fx *f = *state;
    struct userdb_record a = rec("alice", 1, 0), got;
    assert_int_equal(userdb_add(f->db, &a), 0);
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
    tmpdir_write(f->root, "users.json", 0, "{\"version\": 1, \"users\": [");
    assert_int_equal(userdb_lookup(f->db, "alice", &got), -EINVAL);
    struct userdb_record b = rec("bob", 2, 0);
    assert_int_equal(userdb_add(f->db, &b), -EINVAL);
    /* A duplicate name is as broken as bad JSON. */
#define REC                                                                    \
    "{\"name\": \"alice\", \"salt\": \"AAAAAAAAAAAAAAAAAAAAAA==\", "           \
    "\"opslimit\": 2, \"memlimit\": 65536, \"stored_key\": "                   \
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"server_key\": "       \
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"quota\": 0}"
    tmpdir_write(f->root, "users.json", 0,
                 "{\"version\": 1, \"users\": [" REC ", " REC "]}");
    assert_int_equal(userdb_lookup(f->db, "alice", &got), -EINVAL);
    tmpdir_write(f->root, "users.json", 0,
                 "{\"version\": 1, \"users\": [" REC "]}\n");
    assert_int_equal(userdb_lookup(f->db, "alice", &got), 0);
#undef REC
}

static void test_secret_is_made_once_and_must_be_private(void **state)
{
    struct fx *f = *state;
    uint8_t s1[PROTO_AUTH_SECRET_BYTES], s2[PROTO_AUTH_SECRET_BYTES],
        zero[PROTO_AUTH_SECRET_BYTES] = {0};
    userdb_secret(f->db, s1);
    assert_memory_not_equal(s1, zero, sizeof s1);
    struct userdb *again;
    assert_int_equal(userdb_open(f->root, &again), 0);
    userdb_secret(again, s2);
    userdb_close(again);
    assert_memory_equal(s1, s2, sizeof s1);
    struct stat st;
    const char *path = tmpdir_join(f->root, "secret");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, PROTO_AUTH_SECRET_BYTES);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(userdb_open(f->root, &again), -EPERM);
}

struct adder {
    const char *root;
    int id;
    int rc;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    struct userdb *db;
    a->rc = userdb_open(a->root, &db);
    if (a->rc != 0)
        return NULL;
    for (int i = 0; a->rc == 0 && i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "u%d-%d", a->id, i);
        struct userdb_record r = rec(name, (uint8_t)i, 0);
        a->rc = userdb_add(db, &r);
    }
    userdb_close(db);
    return NULL;
}

static void test_concurrent_writers_lose_no_update(void **state)
{
    struct fx *f = *state;
    pthread_t th[8];
    struct adder ad[8];
    for (int i = 0; i < 8; i++) {
        ad[i] = (struct adder){f->root, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, add_many, &ad[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ad[i].rc, 0);
    struct userdb_record *v;
    size_t n;
    assert_int_equal(userdb_list(f->db, &v, &n), 0);
    free(v);
    assert_int_equal(n, 40);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(added_user_is_found_with_the_same_record),
        T(invalid_names_are_refused),
        T(adding_a_taken_name_is_eexist),
        T(set_cred_replaces_keys_and_keeps_quota),
        T(set_quota_changes_only_the_quota),
        T(remove_drops_the_record_and_keeps_the_home),
        T(list_returns_all_records_sorted),
        T(writes_are_atomic_and_leave_no_temp_file),
        T(lookup_reloads_when_the_file_changes),
        T(unknown_name_gets_the_costs_of_a_real_user),
        T(unknown_and_known_lookups_take_the_same_time),
        T(corrupt_file_fails_lookups_and_writes),
        T(secret_is_made_once_and_must_be_private),
        T(concurrent_writers_lose_no_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
