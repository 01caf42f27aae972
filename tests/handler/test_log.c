/* test_log.c -- the log's one line format (log.h) and the transfer log's
 * xferlog(5) lines (xferlog.h). */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "xferlog.h"

/* 2026-12-05T23:10:00Z, a Saturday */
#define STAMP ((time_t)1796512200)

static void line(enum log_form form, enum log_level level, const char *proto,
                 const char *peer, const char *user, const char *msg,
                 const char *want)
{
    char out[512];
    log_format(out, sizeof out, form, STAMP, level, proto, peer, user, msg);
    assert_string_equal(out, want);
}

static void
test_plain_lines_have_stamp_program_and_level_unless_info(void **state)
{
    (void)state;
    line(LOG_FORM_PLAIN, LOG_LEVEL_NOTICE, NULL, NULL, NULL, "stopped",
         "2026-12-05T23:10:00Z ssftpd notice: stopped");
    line(LOG_FORM_PLAIN, LOG_LEVEL_INFO, NULL, NULL, NULL, "TLS key x",
         "2026-12-05T23:10:00Z ssftpd: TLS key x");
    line(LOG_FORM_PLAIN, LOG_LEVEL_INFO, NULL, "1.2.3.4:5", "alice", "login ok",
         "2026-12-05T23:10:00Z ssftpd 1.2.3.4:5 alice: login ok");
    line(LOG_FORM_PLAIN, LOG_LEVEL_WARNING, "ftp", "[::1]:7", NULL, "x",
         "2026-12-05T23:10:00Z ssftpd warning ftp [::1]:7 -: x");
}

static void test_journal_lines_have_a_priority_and_no_stamp(void **state)
{
    (void)state;
    line(LOG_FORM_JOURNAL, LOG_LEVEL_ERROR, NULL, NULL, NULL, "cannot",
         "<3>ssftpd error: cannot");
    line(LOG_FORM_JOURNAL, LOG_LEVEL_INFO, "ftp", "1.2.3.4:5", "bob", "hi",
         "<6>ssftpd ftp 1.2.3.4:5 bob: hi");
    line(LOG_FORM_JOURNAL, LOG_LEVEL_DEBUG, NULL, NULL, NULL, "d",
         "<7>ssftpd debug: d");
}

static void test_syslog_lines_have_neither_stamp_nor_program(void **state)
{
    (void)state;
    line(LOG_FORM_SYSLOG, LOG_LEVEL_INFO, NULL, NULL, NULL, "started",
         "started");
    line(LOG_FORM_SYSLOG, LOG_LEVEL_WARNING, NULL, "1.2.3.4:5", NULL,
         "admission: full", "warning 1.2.3.4:5 -: admission: full");
}

static void test_peer_text_is_escaped(void **state)
{
    (void)state;
    line(LOG_FORM_PLAIN, LOG_LEVEL_INFO, NULL, "1.2.3.4:5", "al\nice",
         "get a\n2026-12-05T23:10:00Z ssftpd: forged",
         "2026-12-05T23:10:00Z ssftpd 1.2.3.4:5 al\\x0aice: get "
         "a\\x0a2026-12-05T23:10:00Z ssftpd: forged");
}

static void test_levels_parse(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARNING);
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warn", &l), -EINVAL);
    assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
}

static void xfer(const struct xferlog_entry *e, const char *want)
{
    char out[512];
    xferlog_format(out, sizeof out, STAMP, e);
    assert_string_equal(out, want);
}

static void test_xferlog_lines_have_the_wu_ftpd_fields(void **state)
{
    (void)state;
    xfer(&(struct xferlog_entry){.service = "ssftp",
                                 .peer = "10.0.0.1:4242",
                                 .user = "alice",
                                 .path = "/a/b.txt",
                                 .bytes = 1234,
                                 .seconds = 2.6,
                                 .upload = true,
                                 .complete = true},
         "Sat Dec  5 23:10:00 2026 3 10.0.0.1 1234 /a/b.txt b _ i r alice "
         "ssftp 0 * c\n");
    xfer(&(struct xferlog_entry){.service = "ftp",
                                 .peer = "[2001:db8::1]:21",
                                 .user = "bob",
                                 .path = "/x",
                                 .bytes = 0,
                                 .seconds = 0.01,
                                 .upload = false,
                                 .complete = false},
         "Sat Dec  5 23:10:00 2026 1 2001:db8::1 0 /x b _ o r bob ftp 0 * "
         "i\n");
}

static void test_xferlog_names_stay_one_field(void **state)
{
    (void)state;
    /* A space as '_' (vsftpd's rule); a control byte, a bidi override and
     * a byte that is not UTF-8 as '?'; other UTF-8 as it is. */
    xfer(&(struct xferlog_entry){.service = "ftp",
                                 .peer = "1.2.3.4:5",
                                 .user = "al ice",
                                 .path = "/my file\n\t\xe2\x80\xae"
                                         "x\xff caf\xc3\xa9",
                                 .bytes = 1,
                                 .seconds = 1,
                                 .upload = true,
                                 .complete = true},
         "Sat Dec  5 23:10:00 2026 1 1.2.3.4 1 /my_file???x?_caf\xc3\xa9 b _ i "
         "r al_ice ftp 0 * c\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_plain_lines_have_stamp_program_and_level_unless_info),
        cmocka_unit_test(test_journal_lines_have_a_priority_and_no_stamp),
        cmocka_unit_test(test_syslog_lines_have_neither_stamp_nor_program),
        cmocka_unit_test(test_peer_text_is_escaped),
        cmocka_unit_test(test_levels_parse),
        cmocka_unit_test(test_xferlog_lines_have_the_wu_ftpd_fields),
        cmocka_unit_test(test_xferlog_names_stay_one_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
