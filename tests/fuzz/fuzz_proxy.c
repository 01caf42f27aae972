/* fuzz_proxy.c -- libFuzzer: the PROXY protocol header parser and the
 * trusted-source list (src/server/proxyproto.h).  A header is whole only
 * at its last byte (every shorter prefix is "need more" or the same
 * error), it is never longer than the input or SS__PROXY_MAX, parsing
 * exactly its bytes gives the same answer, and an address it returns is a
 * well-formed IPv4 or IPv6 sockaddr.  The input as a string goes through
 * the CIDR list parser and matcher too. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/server/proxyproto.h"
#include "fuzzstack.h"

static void check_header(const uint8_t *data, size_t size)
{
    struct ss__proxy_hdr h, h2;
    int rc = ss__proxy_parse(data, size, &h);
    if (h.why == NULL)
        abort();
    if (rc < 0) {
        if (rc != -EPROTO && rc != -EMSGSIZE && rc != -ENOTSUP)
            abort();
        return;
    }
    if (rc == 0)
        return;
    if ((size_t)rc > size || rc > SS__PROXY_MAX)
        abort();
    if (ss__proxy_parse(data, (size_t)rc, &h2) != rc ||
        h2.has_addr != h.has_addr ||
        (h.has_addr &&
         (h.srclen != h2.srclen || memcmp(&h.src, &h2.src, h.srclen) != 0)))
        abort();
    int before = ss__proxy_parse(data, (size_t)rc - 1, &h2);
    if (before != 0)
        abort();
    if (h.has_addr) {
        if (h.src.ss_family == AF_INET) {
            if (h.srclen != sizeof(struct sockaddr_in))
                abort();
        } else if (h.src.ss_family != AF_INET6 ||
                   h.srclen != sizeof(struct sockaddr_in6)) {
            abort();
        }
    }
}

static void check_cidr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    size_t bad = 0, badlen = 0;
    int n = ss__cidr_parse(s, NULL, 0, &bad, &badlen);
    if (n < 0) {
        if (n != -EINVAL || bad > strlen(s) || badlen > strlen(s) - bad)
            abort();
    } else {
        struct ss__cidr *l = calloc((size_t)n, sizeof *l);
        if (l == NULL && n > 0)
            abort();
        if (ss__cidr_parse(s, l, (size_t)n, &bad, &badlen) != n)
            abort();
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        memcpy(&in6.sin6_addr, data, size < 16 ? size : 16);
        (void)ss__cidr_match(l, (size_t)n, (const struct sockaddr *)&in6);
        free(l);
    }
    free(s);
}

static void one(const uint8_t *data, size_t size)
{
    check_header(data, size);
    check_cidr(data, size);
}

int fuzz_setup(void)
{
    return 0;
}

FUZZ_HARNESS(one)
