/* test_forking.c -- SS_FORKING: children are reaped (no zombies), bounded by
 * max_children, isolated from each other, and gone after server_close().
 *
 * Handlers run in child processes, so they report through a MAP_SHARED page
 * (lock-free atomics work across processes). */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct shared {
    atomic_int inflight, max_inflight, started;
    atomic_int npids;
    pid_t pids[64];
} shared;

static shared *sh;

static int fk_setup(void **state)
{
    (void)state;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -1;
    memset(sh, 0, sizeof *sh);
    fflush(NULL); /* nothing buffered for a child to write twice */
    return 0;
}

static int fk_teardown(void **state)
{
    tl_fx_teardown(state);
    munmap(sh, sizeof *sh);
    return 0;
}

static void note_pid(void)
{
    int i = atomic_fetch_add(&sh->npids, 1);
    if (i < 64)
        sh->pids[i] = getpid();
}

/* A pid the server forked has been reaped by it: not ours to wait for any
 * more (a zombie would still be returned by waitpid). */
static bool reaped(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static atomic_int loop_turns;

/* service_actions runs once per serve_forever() iteration; chaining keeps
 * ForkingMixIn's reaping. */
static void count_turn(ss_server *s)
{
    atomic_fetch_add(&loop_turns, 1);
    ss_server_inherited_ops(s)->service_actions(s);
}

static const ss_server_ops turn_ops = {.service_actions = count_turn};

static void start(ss_config *c, const ss_handler_class *h, int poll_ms)
{
    atomic_store(&loop_turns, 0);
    assert_int_equal(ss_server_create(&F.s, c, h, &turn_ops, NULL), 0);
    tl_runner_start(&F.r, F.s, poll_ms);
}

/* A child can answer its client before the parent, back from fork(), has
 * counted it.  Two more loop turns prove the parent is past that point, so
 * stats.children == 0 then means "all reaped", not "not yet counted". */
static void settle(void)
{
    int t0 = atomic_load(&loop_turns);
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&loop_turns) >= t0 + 2, 3000);
    assert_true(ok);
}

/* Reads one line, replies "<pid>:<line>". */
static int pid_handle(ss_request *r)
{
    note_pid();
    int now = atomic_fetch_add(&sh->inflight, 1) + 1;
    int cur = atomic_load(&sh->max_inflight);
    while (now > cur &&
           !atomic_compare_exchange_weak(&sh->max_inflight, &cur, now)) {
    }
    atomic_fetch_add(&sh->started, 1);
    char line[64], out[96];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    atomic_fetch_sub(&sh->inflight, 1);
    if (n <= 0)
        return (int)n;
    if (strcmp(line, "crash\n") == 0)
        kill(getpid(), SIGKILL);
    snprintf(out, sizeof out, "%d:%s", (int)getpid(), line);
    return ss_stream_write_all(r, out, strlen(out));
}

static const ss_handler_class pid_handler = {.name = "pid",
                                             .handle = pid_handle};

static pid_t ask(int fd, const char *line)
{
    assert_int_equal(tl_send_str(fd, line), 0);
    char buf[96];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    char *colon = strchr(buf, ':');
    assert_non_null(colon);
    assert_string_equal(colon + 1, line);
    return (pid_t)atoi(buf);
}

static void finished_children_are_reaped_with_no_zombie(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    start(&c, &pid_handler, 20);
    pid_t pids[5];
    for (int i = 0; i < 5; i++) {
        int fd = tl_fx_fd(tl_connect_server(F.s));
        pids[i] = ask(fd, "who?\n");
        assert_int_not_equal(pids[i], getpid()); /* really another process */
        assert_int_equal(tl_wait_closed(fd, 3000), 1);
        tl_fx_close(fd);
    }
    /* service_actions (every 20 ms idle) reaps them. */
    settle();
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).children, 0);
    for (int i = 0; i < 5; i++)
        assert_true(reaped(pids[i]));
}

static void max_children_bounds_concurrent_children(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    c.max_children = 2;
    start(&c, &pid_handler, 20);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = tl_fx_fd(tl_connect_server(F.s));
        assert_true(fds[i] >= 0);
    }
    /* Four clients wait silently; only two children may hold them. */
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&sh->started) >= 2, 3000);
    assert_true(ok);
    int64_t end = tl_now_ms() + 200;
    while (tl_now_ms() < end) {
        assert_in_range(atomic_load(&sh->started), 2, 2);
        assert_in_range(tl_stats_of(F.s).children, 0, 2);
        tl_nap_ms(5);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(tl_send_str(fds[i], "go\n"), 0);
    char buf[64];
    for (int i = 0; i < 4; i++)
        assert_true(tl_recv_line(fds[i], buf, sizeof buf, 3000) > 0);
    assert_int_equal(atomic_load(&sh->started), 4);
    assert_int_equal(atomic_load(&sh->max_inflight), 2);
    settle();
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).children, 0);
}

static void a_crashing_child_does_not_disturb_the_server(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    start(&c, &pid_handler, 20);
    int a = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(a, "crash\n"), 0);
    assert_int_equal(tl_wait_closed(a, 3000), 1);
    int b = tl_fx_fd(tl_connect_server(F.s));
    pid_t pid = ask(b, "still there?\n");
    assert_int_not_equal(pid, getpid());
    settle();
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).children, 0);
    assert_true(reaped(sh->pids[0]));
    assert_true(reaped(pid));
}

/* Counts this process's pidfds (anon inodes named "[pidfd]"). */
static int count_pidfds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k > 0) {
            target[k] = '\0';
            n += strstr(target, "pidfd") != NULL;
        }
    }
    return n;
}

/* Reads one line, replies with how many pidfds the child holds. */
static int pidfd_count_handle(ss_request *r)
{
    char line[64], out[32];
    ssize_t n = ss_stream_readline(r, line, sizeof line);
    if (n <= 0)
        return (int)n;
    snprintf(out, sizeof out, "%d\n", count_pidfds());
    return ss_stream_write_all(r, out, strlen(out));
}

static const ss_handler_class pidfd_count_handler = {
    .name = "pidfd-count", .handle = pidfd_count_handle};

/* Each child got every sibling's pidfd: with a thousand sessions a child
 * started with a thousand descriptors (near RLIMIT_NOFILE's 1024). */
static void a_child_holds_no_pidfd_of_its_siblings(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    start(&c, &pidfd_count_handler, 20);
    int held[4];
    for (int i = 0; i < 4; i++) /* four children, waiting for a line */
        held[i] = tl_fx_fd(tl_connect_server(F.s));
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 4, 3000);
    assert_true(ok);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    assert_int_equal(tl_send_str(fd, "how many?\n"), 0);
    char buf[32];
    assert_true(tl_recv_line(fd, buf, sizeof buf, 3000) > 0);
    assert_string_equal(buf, "0\n");
    for (int i = 0; i < 4; i++)
        assert_int_equal(tl_send_str(held[i], "bye\n"), 0);
}

static void server_close_reaps_children_still_running(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_TCP, SS_FORKING);
    c.drain_timeout_ms = 200;
    start(&c, &pid_handler, 20);
    for (int i = 0; i < 3; i++) /* silent clients: the children block */
        assert_true(tl_fx_fd(tl_connect_server(F.s)) >= 0);
    bool ok;
    WAIT_UNTIL(ok, atomic_load(&sh->started) == 3, 3000);
    assert_true(ok);
    /* A child can start before its parent has counted it. */
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 3, 3000);
    assert_int_equal(tl_stats_of(F.s).children, 3);
    assert_int_equal(tl_runner_stop(&F.r), 0);
    int64_t t0 = tl_now_ms();
    assert_int_equal(ss_server_close(F.s), 0);
    int64_t took = tl_now_ms() - t0;
    assert_in_range(took, 0, 200 + 800);
    assert_int_equal(tl_stats_of(F.s).children, 0);
    for (int i = 0; i < 3; i++)
        assert_true(reaped(sh->pids[i]));
}

/* UDP: the reply comes from the child, and children are reaped too. */
static void forking_udp_children_are_reaped(void **st)
{
    (void)st;
    ss_config c;
    tl_cfg_for(&c, SS_UDP, SS_FORKING);
    start(&c, &tl_echo_dgram_handler, 20);
    int fd = tl_fx_fd(tl_connect_server(F.s));
    char buf[32];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_send_str(fd, "ping"), 0);
        assert_int_equal(tl_recv_dgram(fd, buf, sizeof buf, 3000), 4);
    }
    settle();
    bool ok;
    WAIT_UNTIL(ok, tl_stats_of(F.s).children == 0, 3000);
    assert_int_equal(tl_stats_of(F.s).children, 0);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fk_setup, fk_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(finished_children_are_reaped_with_no_zombie),
        T(max_children_bounds_concurrent_children),
        T(a_crashing_child_does_not_disturb_the_server),
        T(a_child_holds_no_pidfd_of_its_siblings),
        T(server_close_reaps_children_still_running),
        T(forking_udp_children_are_reaped),
    };
    return tl_run_selected("forking", tests, sizeof tests / sizeof tests[0],
                           argc, argv);
}
