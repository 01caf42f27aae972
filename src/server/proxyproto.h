/* proxyproto.h -- the HAProxy PROXY protocol header (v1 text, v2 binary)
 * and the list of trusted sources: pure functions over bytes, no I/O.
 * The spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt */
#ifndef SS_PROXYPROTO_H
#define SS_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest header we take: a v1 line is at most 107 bytes (spec 2.1);
 * a v2 header is 16 bytes plus its length field, which we bound at 4080
 * (addresses are 36 bytes at most, the rest is TLVs, which we skip).  A
 * longer v2 header is refused, not read. */
#define SS__PROXY_V1_MAX 107
#define SS__PROXY_MAX 4096

/* What a complete header says. */
struct ss__proxy_hdr {
    /* true: src is the client (PROXY TCP4/TCP6, v2 PROXY over AF_INET or
     * AF_INET6); false: keep the connection's own address (v1 UNKNOWN, v2
     * LOCAL, v2 PROXY with AF_UNSPEC) */
    bool has_addr;
    struct sockaddr_storage src;
    socklen_t srclen;
    int version;     /* 1 or 2 */
    const char *why; /* after an error or "need more": the cause, in words */
};

/* Parses the first len bytes a trusted peer sent.  Returns the header's
 * length (> 0: exactly the bytes to consume) and fills *h; 0 if the bytes
 * so far are a valid beginning of a header and more must come (h->why
 * says what is awaited); or -EPROTO (not a header, or a malformed one),
 * -EMSGSIZE (longer than the spec or SS__PROXY_MAX allows) or -ENOTSUP (a
 * version, command, family or transport we do not take), h->why naming
 * the fault.  Never reads past buf[len - 1]. */
int ss__proxy_parse(const uint8_t *buf, size_t len, struct ss__proxy_hdr *h);

/* A list of trusted sources: addresses and CIDR blocks, IPv4 keyed as
 * IPv4-mapped IPv6 so that a dual-stack socket's ::ffff:a.b.c.d matches
 * a.b.c.d/n. */
struct ss__cidr {
    uint8_t key[16];
    unsigned bits; /* 0..128 */
};

/* Parses "a[/n][,b[/n]...]" (spaces around items allowed).  Returns the
 * number of items, storing at most cap of them in out (out may be NULL to
 * count), or -EINVAL with *bad and *badlen set to the offending item. */
int ss__cidr_parse(const char *list, struct ss__cidr *out, size_t cap,
                   size_t *bad, size_t *badlen);

/* An IP address as 16 bytes, IPv4 as IPv4-mapped IPv6, so that both
 * forms of one client are one key (the per-address limits key them so
 * too); false for other families.  In inet.c. */
bool ss__addr_key(const struct sockaddr *sa, uint8_t key[16]);

/* Whether sa (AF_INET or AF_INET6) lies in one of the n blocks. */
bool ss__cidr_match(const struct ss__cidr *l, size_t n,
                    const struct sockaddr *sa);

#endif
