/* test_addr.c -- HOST:PORT as the server's --listen and the client take it. */
#include <errno.h>
#include <string.h>

#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "proto.h"

static void split_is(const char *s, const char *host, const char *port)
{
    char h[64];
    const char *p = "unset";
    assert_int_equal(proto_hostport_split(s, h, sizeof h, &p), 0);
    assert_string_equal(h, host);
    if (port == NULL)
        assert_null(p);
    else
        assert_string_equal(p, port);
}

static void test_host_and_port_split_as_in_urls(void **state)
{
    (void)state;
    split_is("127.0.0.1:2121", "127.0.0.1", "2121");
    split_is("example.org", "example.org", NULL);
    split_is("[::1]:0", "::1", "0");
    split_is("[::1]", "::1", NULL);
    split_is("::1", "::1", NULL); /* bare: every colon is the address's */
    split_is("fe80::1:2121", "fe80::1:2121", NULL);
}

static void test_malformed_addresses_are_refused(void **state)
{
    (void)state;
    char h[8];
    const char *p;
    const char *bad[] = {"",       ":2121", "host:", "[::1",
                         "[::1]x", "[]:1",  "[::1]:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_hostport_split(bad[i], h, sizeof h, &p),
                         -EINVAL);
    assert_int_equal(proto_hostport_split("averylonghost:1", h, sizeof h, &p),
                     -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_and_port_split_as_in_urls),
        cmocka_unit_test(test_malformed_addresses_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
