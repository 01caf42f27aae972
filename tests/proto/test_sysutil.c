/* test_sysutil.c -- the wrapped system calls finish what a signal cut short. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "proto.h"

static void on_alarm(int sig)
{
    (void)sig;
}

/* SIGUSR1 without SA_RESTART: every blocking call it lands in returns
 * EINTR, which the wrappers must absorb. */
static void no_restart_handler(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

struct poker {
    pthread_t target;
    int fd; /* written after the signals, or -1 */
    int signals;
};

/* Signals the target a few times, 20 ms apart, then writes 4 bytes. */
static void *poke(void *arg)
{
    struct poker *p = arg;
    for (int i = 0; i < p->signals; i++) {
        proto_sleep_ms(20);
        pthread_kill(p->target, SIGUSR1);
    }
    if (p->fd >= 0 && write(p->fd, "data", 4) != 4)
        return (void *)1;
    return NULL;
}

static void
test_a_read_cut_by_signals_still_returns_the_whole_buffer(void **state)
{
    (void)state;
    no_restart_handler();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct poker p = {pthread_self(), fds[1], 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poke, &p), 0);
    char buf[4];
    assert_int_equal(proto_read_full(fds[0], buf, 4), 4);
    assert_memory_equal(buf, "data", 4);
    pthread_join(t, NULL);
    close(fds[1]);
    assert_int_equal(proto_read_full(fds[0], buf, 4), 0); /* end of file */
    close(fds[0]);
}

static void test_a_poll_cut_by_signals_waits_out_its_timeout(void **state)
{
    (void)state;
    no_restart_handler();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct poker p = {pthread_self(), -1, 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poke, &p), 0);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int64_t t0 = proto_mono_ms();
    assert_int_equal(proto_poll(&pfd, 1, 150), 0);
    int64_t took = proto_mono_ms() - t0;
    pthread_join(t, NULL);
    assert_in_range(took, 140, 2000);
    close(fds[0]);
    close(fds[1]);
}

static void test_a_sleep_cut_by_signals_sleeps_it_all(void **state)
{
    (void)state;
    no_restart_handler();
    struct poker p = {pthread_self(), -1, 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poke, &p), 0);
    int64_t t0 = proto_mono_ms();
    proto_sleep_ms(120);
    int64_t took = proto_mono_ms() - t0;
    pthread_join(t, NULL);
    assert_in_range(took, 118, 2000);
}

static void test_be32_is_big_endian_and_round_trips(void **state)
{
    (void)state;
    uint8_t b[4];
    proto_be32_put(b, 0x01020304u);
    assert_memory_equal(b, "\x01\x02\x03\x04", 4);
    assert_int_equal(proto_be32_get(b), 0x01020304u);
    proto_be32_put(b, UINT32_MAX);
    assert_int_equal(proto_be32_get(b), UINT32_MAX);
}

static void test_write_all_and_ftruncate_report_errors(void **state)
{
    (void)state;
    assert_int_equal(proto_write_all(-1, "x", 1), -EBADF);
    assert_int_equal(proto_ftruncate(-1, 0), -EBADF);
    assert_int_equal(proto_ftruncate(0, UINT64_MAX), -EFBIG);
    uint8_t r[64] = {0}, zero[64] = {0};
    assert_int_equal(proto_random(r, sizeof r), 0);
    assert_memory_not_equal(r, zero, sizeof r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_a_read_cut_by_signals_still_returns_the_whole_buffer),
        cmocka_unit_test(test_a_poll_cut_by_signals_waits_out_its_timeout),
        cmocka_unit_test(test_a_sleep_cut_by_signals_sleeps_it_all),
        cmocka_unit_test(test_be32_is_big_endian_and_round_trips),
        cmocka_unit_test(test_write_all_and_ftruncate_report_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
