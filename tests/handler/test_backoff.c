/* test_backoff.c -- the failed-login budget and delay (src/handler/backoff.c), on a test clock. */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"

/* The test clock: seconds, moved by hand. */
static double now_s = 1000.0;

static double test_clock(void)
{
    return now_s;
}

static int setup(void **state)
{
    struct backoff *b;
    if (backoff_create(&b) != 0)
        return -1;
    now_s = 1000.0;
    backoff_set_clock(b, test_clock);
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    backoff_destroy(*state);
    return 0;
}

/* An auth of user from host, then a wrong proof.  Returns the check's
 * result (no proof is tried when it refuses). */
static int fail_once(struct backoff *b, const char *user, const char *host)
{
    unsigned retry;
    int rc = backoff_check(b, user, host, &retry);
    if (rc == 0)
        backoff_fail(b, user, host);
    return rc;
}

/* BACKOFF_BURST failures from host, each under another user name. */
static void fail_with_names(struct backoff *b, const char *host)
{
    char name[32];
    for (int i = 0; i < BACKOFF_BURST; i++) {
        snprintf(name, sizeof name, "guess%d", i);
        assert_int_equal(fail_once(b, name, host), 0);
    }
}

static int check(struct backoff *b, const char *user, const char *host,
                 unsigned *retry)
{
    unsigned r;
    return backoff_check(b, user, host, retry != NULL ? retry : &r);
}

static void test_ten_failures_then_auth_is_refused_with_retry_after(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    unsigned retry = 0;
    assert_int_equal(check(b, "alice", "10.0.0.1", &retry), -EBUSY);
    assert_int_equal(retry, BACKOFF_REFILL_S);
}

static void test_one_token_comes_back_per_refill_period(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    unsigned retry = 0;
    now_s += BACKOFF_REFILL_S - 0.5;
    assert_int_equal(check(b, "alice", "10.0.0.1", &retry), -EBUSY);
    assert_int_equal(retry, 1); /* 0.5 s rounds up, never down */
    now_s += 0.5;
    assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    assert_int_equal(check(b, "alice", "10.0.0.1", &retry), -EBUSY);
    /* A long quiet refills to the burst, not beyond. */
    now_s += 100.0 * BACKOFF_REFILL_S;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), -EBUSY);
}

static void test_rotating_user_names_is_caught_by_the_address_bucket(void **st)
{
    struct backoff *b = *st;
    fail_with_names(b, "10.0.0.1");
    assert_int_equal(check(b, "fresh-name", "10.0.0.1", NULL), -EBUSY);
    assert_int_equal(check(b, "fresh-name", "10.0.0.2", NULL), 0);
}

static void test_rotating_addresses_is_caught_by_the_user_bucket(void **st)
{
    struct backoff *b = *st;
    char host[32];
    for (int i = 0; i < BACKOFF_BURST; i++) {
        snprintf(host, sizeof host, "10.0.1.%d", i);
        assert_int_equal(fail_once(b, "alice", host), 0);
    }
    assert_int_equal(check(b, "alice", "10.0.2.1", NULL), -EBUSY);
    assert_int_equal(check(b, "bob", "10.0.2.1", NULL), 0);
}

static void test_another_user_from_another_address_is_never_refused(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < 3 * BACKOFF_BURST; i++)
        fail_once(b, "alice", "10.0.0.1");
    /* Many logins in a row, or at once, each good: never short of budget. */
    for (int i = 0; i < 10 * BACKOFF_BURST; i++)
        assert_int_equal(check(b, "bob", "10.0.0.2", NULL), 0);
    for (int i = 0; i < 10 * BACKOFF_BURST; i++)
        backoff_success(b, "bob");
    assert_int_equal(check(b, "bob", "10.0.0.2", NULL), 0);
}

static void test_a_refused_auth_takes_nothing(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    /* Hammering while refused does not push the retry further out. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(check(b, "alice", "10.0.0.1", NULL), -EBUSY);
    now_s += BACKOFF_REFILL_S;
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), 0);
}

static void test_failures_admitted_in_parallel_are_paid_back(void **st)
{
    struct backoff *b = *st;
    /* 100 connections pass the check before any of them fails... */
    for (int i = 0; i < 100; i++)
        assert_int_equal(check(b, "alice", "10.0.0.1", NULL), 0);
    for (int i = 0; i < 100; i++)
        backoff_fail(b, "alice", "10.0.0.1");
    /* ...and pay for all 100: 91 tokens short, 546 s. */
    unsigned retry = 0;
    assert_int_equal(check(b, "alice", "10.0.0.1", &retry), -EBUSY);
    assert_int_equal(retry, 91 * BACKOFF_REFILL_S);
    now_s += 91 * BACKOFF_REFILL_S - 1;
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), -EBUSY);
    now_s += 1;
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), 0);
}

static void test_a_good_login_does_not_refill_the_budget(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "alice", "10.0.0.1"), 0);
    backoff_success(b, "alice"); /* the real alice, from elsewhere */
    assert_int_equal(check(b, "alice", "10.0.0.3", NULL), -EBUSY);
}

static void test_the_reply_delay_doubles_and_is_capped(void **st)
{
    struct backoff *b = *st;
    static const int want[] = {100,           200, 400, 800, BACKOFF_MAX_MS,
                               BACKOFF_MAX_MS};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(backoff_fail(b, "alice", "10.0.0.1"), want[i]);
    /* A good login forgets the user's failures, not the address's. */
    backoff_success(b, "alice");
    assert_int_equal(backoff_fail(b, "alice", "10.0.0.9"), 100);
    assert_int_equal(backoff_fail(b, "carol", "10.0.0.1"), BACKOFF_MAX_MS);
    now_s += BACKOFF_FORGET_S + 1;
    assert_int_equal(backoff_fail(b, "carol", "10.0.0.1"), 100);
}

/* The table is full of other keys many times over; the attacker's empty
 * buckets stay empty, because fuller ones are always there to evict. */
static void test_eviction_never_resets_an_empty_bucket(void **st)
{
    struct backoff *b = *st;
    for (int i = 0; i < BACKOFF_BURST; i++)
        assert_int_equal(fail_once(b, "victim", "10.9.9.9"), 0);
    char user[32], host[32];
    for (int i = 0; i < 3 * BACKOFF_SLOTS; i++) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(host, sizeof host, "10.%d.%d.%d", 100 + i / 65536,
                 (i / 256) % 256, i % 256);
        assert_int_equal(fail_once(b, user, host), 0); /* two new keys */
        now_s += 0.0001; /* 1.2 s in all: a fifth of a refill */
    }
    assert_int_equal(check(b, "victim", "10.8.8.8", NULL), -EBUSY);
    assert_int_equal(check(b, "someone", "10.9.9.9", NULL), -EBUSY);
}

static void test_ipv6_addresses_share_a_budget_per_64(void **st)
{
    struct backoff *b = *st;
    fail_with_names(b, "2001:db8:1:2::1");
    assert_int_equal(check(b, "x", "2001:db8:1:2:ffff::9", NULL), -EBUSY);
    assert_int_equal(check(b, "x", "2001:db8:1:3::1", NULL), 0);
    /* IPv4 (also as mapped IPv6) is per address. */
    assert_int_equal(check(b, "y", "::ffff:10.0.0.1", NULL), 0);
}

static void test_the_budget_is_shared_with_forked_processes(void **st)
{
    struct backoff *b = *st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        for (int i = 0; i < BACKOFF_BURST; i++)
            bad += fail_once(b, "alice", "10.0.0.1") != 0;
        _exit(bad);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), -EBUSY);
}

/* The clock is read with the table locked: this one ends the process
 * there, as a crash inside the critical section would. */
static double dying_clock(void)
{
    _exit(0);
}

static void test_a_process_dying_with_the_lock_does_not_wedge_logins(void **st)
{
    struct backoff *b = *st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        backoff_set_clock(b, dying_clock); /* this process's handle only */
        fail_once(b, "alice", "10.0.0.1");
        _exit(3); /* not reached */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(check(b, "alice", "10.0.0.1", NULL), 0);
    assert_int_equal(backoff_fail(b, "alice", "10.0.0.1"), 100);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ten_failures_then_auth_is_refused_with_retry_after),
        T(test_one_token_comes_back_per_refill_period),
        T(test_rotating_user_names_is_caught_by_the_address_bucket),
        T(test_rotating_addresses_is_caught_by_the_user_bucket),
        T(test_another_user_from_another_address_is_never_refused),
        T(test_a_refused_auth_takes_nothing),
        T(test_failures_admitted_in_parallel_are_paid_back),
        T(test_a_good_login_does_not_refill_the_budget),
        T(test_the_reply_delay_doubles_and_is_capped),
        T(test_eviction_never_resets_an_empty_bucket),
        T(test_ipv6_addresses_share_a_budget_per_64),
        T(test_the_budget_is_shared_with_forked_processes),
        T(test_a_process_dying_with_the_lock_does_not_wedge_logins),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
