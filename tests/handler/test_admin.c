/* test_admin.c -- "ssftpd user ...": stdin passwords, exit codes, files. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "admin.h"
#include "auth.h"
#include "tmpdir.h"
#include "userdb.h"

static char *root;     /* a fresh data root per test */
static char out[4096]; /* what the last run wrote to stdout */

static int setup(void **state)
{
    (void)state;
    char *tmp = tmpdir_make();
    /* Below the temp dir, so "created if missing" is exercised each time. */
    root = malloc(strlen(tmp) + 8);
    assert_non_null(root);
    sprintf(root, "%s/data", tmp);
    free(tmp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    *strrchr(root, '/') = '\0';
    tmpdir_remove(root);
    return 0;
}

/* Runs "ssftpd user --root <root> ARGS" with cheap Argon2 parameters, input
 * on stdin (a pipe, so never a terminal) and stdout captured in out. */
static int run_argv(const char *input, const char *const *args)
{
    /* The defaults come first, so a test's own options override them. */
    char *argv[32] = {"ssftpd",    "user", "--root",    root,
                      "--kdf-ops", "2",    "--kdf-mem", "8M"};
    int argc = 8;
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;

    /* -1 until pipe() fills them: cmocka's assert_true is not declared
     * noreturn, so gcc -fanalyzer follows a failed check onwards. */
    int p[2] = {-1, -1}, in0 = dup(0), out1 = dup(1);
    FILE *cap = tmpfile();
    assert_true(in0 >= 0 && out1 >= 0 && cap != NULL && pipe(p) == 0);
    size_t n = input ? strlen(input) : 0;
    assert_int_equal(write(p[1], input ? input : "", n), (ssize_t)n);
    close(p[1]);
    fflush(stdout);
    assert_true(dup2(p[0], 0) == 0 && dup2(fileno(cap), 1) == 1);
    int status = admin_main(argc, argv);
    fflush(stdout);
    assert_true(dup2(in0, 0) == 0 && dup2(out1, 1) == 1);
    close(p[0]), close(in0), close(out1);
    rewind(cap);
    size_t got = fread(out, 1, sizeof out - 1, cap);
    out[got] = '\0';
    fclose(cap);
    return status;
}
#define RUN(input, ...)                                                        \
    run_argv(input, (const char *const[]){__VA_ARGS__, NULL})

static struct userdb_record lookup(const char *name, int want)
{
    struct userdb *db;
    struct userdb_record r;
    memset(&r, 0, sizeof r);
    assert_int_equal(userdb_open(root, &db), 0);
    assert_int_equal(userdb_lookup(db, name, &r), want);
    userdb_close(db);
    return r;
}

static void assert_keys_from(const struct userdb_record *r, const char *pw)
{
    uint8_t ck[PROTO_AUTH_KEY_BYTES], sk[PROTO_AUTH_KEY_BYTES],
        stored[PROTO_AUTH_KEY_BYTES];
    assert_int_equal(proto_auth_derive(pw, &r->cred.params, ck, sk), 0);
    proto_auth_stored_key(ck, stored);
    assert_memory_equal(sk, r->cred.server_key, PROTO_AUTH_KEY_BYTES);
    assert_memory_equal(stored, r->cred.stored_key, PROTO_AUTH_KEY_BYTES);
}

static void test_add_stores_verifiers_of_the_stdin_password(void **state)
{
    (void)state;
    assert_int_equal(RUN("s3cret pass\n", "add", "alice", "--quota", "10M"), 0);
    struct userdb_record r = lookup("alice", 0);
    assert_int_equal(r.quota, 10u << 20);
    assert_int_equal(r.cred.params.opslimit, 2);
    assert_int_equal(r.cred.params.memlimit, 8u << 20);
    assert_keys_from(&r, "s3cret pass"); /* the newline was stripped */
    /* The file holds no trace of the password. */
    char buf[8192] = {0};
    FILE *f = fopen(tmpdir_join(root, "users.json"), "r");
    assert_non_null(f);
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_null(strstr(buf, "s3cret"));
    struct stat st;
    assert_int_equal(stat(tmpdir_join(root, "homes/alice"), &st), 0);
}

static void test_add_of_a_taken_name_fails_with_status_1(void **state)
{
    (void)state;
    assert_int_equal(RUN("pw1\n", "add", "alice"), 0);
    assert_int_equal(RUN("pw2\n", "add", "alice"), 1);
    struct userdb_record r = lookup("alice", 0);
    assert_keys_from(&r, "pw1");
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    assert_int_equal(RUN("pw\n", "frob"), 2);
    assert_int_equal(RUN("pw\n", "add"), 2);
    assert_int_equal(RUN("pw\n", "add", "a", "b"), 2);
    assert_int_equal(RUN("pw\n", "add", ".hidden"), 2);
    assert_int_equal(RUN("pw\n", "add", "a/b"), 2);
    assert_int_equal(RUN("pw\n", "add", "a", "--quota", "10GB"), 2);
    assert_int_equal(RUN("pw\n", "add", "a", "--quota"), 2);
    assert_int_equal(RUN("pw\n", "add", "a", "--kdf-ops", "1"), 2);
    assert_int_equal(RUN("pw\n", "add", "a", "--kdf-mem", "1M"), 2);
    assert_int_equal(RUN("pw\n", "del", "a", "--quota", "1"), 2);
    assert_int_equal(RUN("pw\n", "quota", "a", "lots"), 2);
    assert_int_equal(RUN("pw\n", "list", "--bogus"), 2);
    char *argv[] = {"ssftpd", "serve", NULL};
    assert_int_equal(admin_main(2, argv), 2);
    lookup("a", -ENOENT);
}

static void test_empty_password_is_refused(void **state)
{
    (void)state;
    assert_int_equal(RUN("\n", "add", "alice"), 1);
    assert_int_equal(RUN("", "add", "alice"), 1);
    lookup("alice", -ENOENT);
}

static void test_passwd_changes_salt_and_keys_but_not_quota(void **state)
{
    (void)state;
    assert_int_equal(RUN("old\n", "add", "alice", "--quota", "1K"), 0);
    struct userdb_record a = lookup("alice", 0);
    assert_int_equal(RUN("new\r\n", "passwd", "alice"), 0);
    struct userdb_record b = lookup("alice", 0);
    assert_memory_not_equal(a.cred.params.salt, b.cred.params.salt,
                            PROTO_AUTH_SALT_BYTES);
    assert_keys_from(&b, "new");
    assert_int_equal(b.quota, 1024);
    assert_int_equal(RUN("x\n", "passwd", "nobody"), 1);
}

static void test_del_removes_the_record_and_keeps_the_home(void **state)
{
    (void)state;
    assert_int_equal(RUN("pw\n", "add", "alice"), 0);
    char home[600];
    snprintf(home, sizeof home, "%s/homes/alice", root);
    tmpdir_write(home, "kept", 5, NULL);
    assert_int_equal(RUN(NULL, "del", "alice"), 0);
    lookup("alice", -ENOENT);
    struct stat st;
    assert_int_equal(stat(tmpdir_join(home, "kept"), &st), 0);
    assert_int_equal(RUN(NULL, "del", "alice"), 1);
}

static void test_quota_sets_and_resets_to_default(void **state)
{
    (void)state;
    assert_int_equal(RUN("pw\n", "add", "alice"), 0);
    assert_int_equal(RUN(NULL, "quota", "alice", "2G"), 0);
    assert_int_equal(lookup("alice", 0).quota, 2ull << 30);
    assert_int_equal(RUN(NULL, "quota", "alice", "0"), 0);
    assert_int_equal(lookup("alice", 0).quota, 0);
    assert_int_equal(RUN(NULL, "quota", "nobody", "1"), 1);
}

static void test_list_prints_names_quotas_and_bytes_used(void **state)
{
    (void)state;
    assert_int_equal(RUN("pw\n", "add", "bob"), 0);
    assert_int_equal(RUN("pw\n", "add", "alice", "--quota", "1G"), 0);
    char home[600];
    snprintf(home, sizeof home, "%s/homes/alice", root);
    tmpdir_write(home, "f", 1234, NULL);
    /* Written behind the server's back: counted once rescanned. */
    assert_int_equal(RUN(NULL, "rescan", "alice"), 0);
    assert_int_equal(RUN(NULL, "list"), 0);
    char *a = strstr(out, "alice"), *b = strstr(out, "bob");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b); /* sorted */
    assert_non_null(strstr(a, "1 GiB"));
    assert_non_null(strstr(a, "(1234 bytes)"));
    assert_non_null(strstr(b, "default"));
    assert_non_null(strstr(b, "(0 bytes)"));
}

/* The typist at a terminal: waits for each prompt on the pty master, then
 * types the next line; keeps everything the terminal showed. */
struct typist {
    int master;
    const char *lines[2];
    char shown[4096];
};

static void *type_lines(void *arg)
{
    struct typist *t = arg;
    size_t len = 0;
    const char *prompts[2] = {"New password: ", "Retype password: "};
    for (int i = 0; i < 2; i++) {
        while (strstr(t->shown, prompts[i]) == NULL) {
            struct pollfd p = {.fd = t->master, .events = POLLIN};
            if (poll(&p, 1, 5000) != 1)
                return NULL; /* the test then fails on the missing prompt */
            ssize_t n =
                read(t->master, t->shown + len, sizeof t->shown - 1 - len);
            if (n <= 0)
                return NULL;
            len += (size_t)n;
            t->shown[len] = '\0';
        }
        if (write(t->master, t->lines[i], strlen(t->lines[i])) < 0)
            return NULL;
    }
    return NULL;
}

/* Runs "add alice" with stdin and stderr on a terminal that types a, b. */
static int add_at_terminal(const char *a, const char *b, char *shown,
                           size_t cap)
{
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct typist t = {.master = master, .lines = {a, b}};
    pthread_t th;
    int in0 = dup(0), err2 = dup(2);
    assert_true(in0 >= 0 && err2 >= 0);
    assert_true(dup2(slave, 0) == 0 && dup2(slave, 2) == 2);
    assert_int_equal(pthread_create(&th, NULL, type_lines, &t), 0);
    char *argv[] = {"ssftpd",    "user", "add",       "alice", "--root", root,
                    "--kdf-ops", "2",    "--kdf-mem", "8M",    NULL};
    int status = admin_main(10, argv);
    assert_true(dup2(in0, 0) == 0 && dup2(err2, 2) == 2);
    close(slave), close(in0), close(err2);
    pthread_join(th, NULL);
    close(master);
    snprintf(shown, cap, "%s", t.shown);
    return status;
}

static void test_terminal_password_is_asked_twice_without_echo(void **state)
{
    (void)state;
    char shown[4096];
    assert_int_equal(
        add_at_terminal("tty pw\n", "tty pw\n", shown, sizeof shown), 0);
    assert_non_null(strstr(shown, "Retype password: "));
    assert_null(strstr(shown, "tty pw"));
    struct userdb_record r = lookup("alice", 0);
    assert_keys_from(&r, "tty pw");
}

static void test_terminal_passwords_that_differ_are_refused(void **state)
{
    (void)state;
    char shown[4096];
    assert_int_equal(add_at_terminal("one\n", "two\n", shown, sizeof shown), 1);
    lookup("alice", -ENOENT);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(add_stores_verifiers_of_the_stdin_password),
        T(add_of_a_taken_name_fails_with_status_1),
        T(usage_errors_exit_2),
        T(empty_password_is_refused),
        T(passwd_changes_salt_and_keys_but_not_quota),
        T(del_removes_the_record_and_keeps_the_home),
        T(quota_sets_and_resets_to_default),
        T(list_prints_names_quotas_and_bytes_used),
        T(terminal_password_is_asked_twice_without_echo),
        T(terminal_passwords_that_differ_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
