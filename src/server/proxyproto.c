/* proxyproto.c -- the PROXY protocol header parser (v1 and v2) and the trusted-source list: pure functions over bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

/* Spec 2.2: "\r\n\r\n\0\r\nQUIT\n", chosen so that no text protocol's
 * first line can begin with it. */
static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_prefix[] = "PROXY ";

static int fail(struct ss__proxy_hdr *h, int err, const char *why)
{
    h->why = why;
    return err;
}

/* A v1 port: decimal 0..65535, no sign, no leading zero (spec 2.1). */
static bool v1_port(const char *s, uint16_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* The next single-space-separated word of *p (NUL-terminated in place),
 * or NULL at the end.  Two spaces in a row make an empty word. */
static char *word(char **p)
{
    char *w = *p;
    if (w == NULL)
        return NULL;
    char *sp = strchr(w, ' ');
    if (sp) {
        *sp = '\0';
        *p = sp + 1;
    } else {
        *p = NULL;
    }
    return w;
}

static void set_src(struct ss__proxy_hdr *h, int fam, const void *addr,
                    const void *port_be)
{
    memset(&h->src, 0, sizeof h->src);
    if (fam == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&h->src;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr, 4);
        memcpy(&in->sin_port, port_be, 2);
        h->srclen = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&h->src;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, addr, 16);
        memcpy(&in6->sin6_port, port_be, 2);
        h->srclen = sizeof *in6;
    }
    h->has_addr = true;
}

/* Spec 2.1: "PROXY TCP4 src dst sport dport\r\n", TCP6 alike, or
 * "PROXY UNKNOWN[ anything]\r\n"; at most 107 bytes with the CRLF. */
static int parse_v1(const uint8_t *buf, size_t len, struct ss__proxy_hdr *h)
{
    size_t lim = len < SS__PROXY_V1_MAX ? len : SS__PROXY_V1_MAX;
    const uint8_t *lf = memchr(buf, '\n', lim);
    h->version = 1;
    if (lf == NULL) {
        if (len >= SS__PROXY_V1_MAX)
            return fail(h, -EMSGSIZE, "v1 line longer than 107 bytes");
        return fail(h, 0, "the rest of the v1 line");
    }
    /* '\n' is past "PROXY ", so a '\r' before it leaves n >= 0 */
    size_t end = (size_t)(lf - buf);
    if (buf[end - 1] != '\r')
        return fail(h, -EPROTO, "v1 line not ended by CRLF");
    char line[SS__PROXY_V1_MAX];
    size_t n = end - 1 - (sizeof v1_prefix - 1);
    memcpy(line, buf + sizeof v1_prefix - 1, n);
    line[n] = '\0';
    if (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL)
        return fail(h, -EPROTO, "v1 line holds a NUL or CR");
    char *p = line;
    const char *proto = word(&p);
    if (strcmp(proto, "UNKNOWN") == 0) {
        /* "the receiver must ignore anything presented before the CRLF" */
        return (int)end + 1;
    }
    int fam;
    if (strcmp(proto, "TCP4") == 0)
        fam = AF_INET;
    else if (strcmp(proto, "TCP6") == 0)
        fam = AF_INET6;
    else
        return fail(h, -EPROTO, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
    const char *src = word(&p), *dst = word(&p);
    const char *sport = word(&p), *dport = word(&p);
    if (dport == NULL || p != NULL)
        return fail(h, -EPROTO,
                    "v1 line is not 'PROXY TCPn src dst sport "
                    "dport' with single spaces");
    uint8_t a[16], b[16];
    uint16_t sp, dp;
    if (inet_pton(fam, src, a) != 1 || inet_pton(fam, dst, b) != 1)
        return fail(h, -EPROTO, "v1 address is not of the line's family");
    if (!v1_port(sport, &sp) || !v1_port(dport, &dp))
        return fail(h, -EPROTO, "v1 port is not a number 0-65535");
    uint16_t sp_be = htons(sp);
    set_src(h, fam, a, &sp_be);
    return (int)end + 1;
}

/* Spec 2.2: the 12-byte signature, version and command, family and
 * transport, a 16-bit big-endian length, then the addresses and TLVs. */
static int parse_v2(const uint8_t *buf, size_t len, struct ss__proxy_hdr *h)
{
    h->version = 2;
    if (len < 16)
        return fail(h, 0, "the rest of the v2 header's first 16 bytes");
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0F, fam = buf[13];
    size_t plen = ((size_t)buf[14] << 8) | buf[15];
    if (ver != 2)
        return fail(h, -ENOTSUP, "v2 signature with a version other than 2");
    if (cmd > 1)
        return fail(h, -ENOTSUP, "v2 command is neither LOCAL nor PROXY");
    if (16 + plen > SS__PROXY_MAX)
        return fail(h, -EMSGSIZE, "v2 length over 4080 bytes");
    size_t need = 0;
    if (cmd == 1) {
        if (fam == 0x11) /* AF_INET, STREAM */
            need = 12;
        else if (fam == 0x21) /* AF_INET6, STREAM */
            need = 36;
        else if (fam != 0x00) /* AF_UNSPEC, UNSPEC */
            return fail(h, -ENOTSUP,
                        "v2 PROXY over a family or transport other than "
                        "TCP over IPv4 or IPv6");
        if (plen < need)
            return fail(h, -EPROTO, "v2 length shorter than its addresses");
    }
    if (len < 16 + plen)
        return fail(h, 0, "the rest of the v2 header's addresses and TLVs");
    /* LOCAL (the proxy's own health check, say): "the receiver must ...
     * use the real connection endpoints"; PROXY over AF_UNSPEC alike.
     * TLVs are skipped: nothing here needs them.  Ports are in network
     * order in the header as in a sockaddr. */
    const uint8_t *a = buf + 16;
    if (need == 12)
        set_src(h, AF_INET, a, a + 8);
    else if (need == 36)
        set_src(h, AF_INET6, a, a + 32);
    return (int)(16 + plen);
}

int ss__proxy_parse(const uint8_t *buf, size_t len, struct ss__proxy_hdr *h)
{
    h->has_addr = false;
    h->srclen = 0;
    h->version = 0;
    h->why = "the header";
    if (len == 0)
        return 0;
    size_t n1 = sizeof v1_prefix - 1;
    if (buf[0] == v2_sig[0] && len > 1 && buf[1] == v2_sig[1]) {
        size_t k = len < sizeof v2_sig ? len : sizeof v2_sig;
        if (memcmp(buf, v2_sig, k) != 0)
            return fail(h, -EPROTO, "neither a v1 nor a v2 header");
        if (len < sizeof v2_sig)
            return fail(h, 0, "the rest of the v2 signature");
        return parse_v2(buf, len, h);
    }
    if (len == 1 && buf[0] == v2_sig[0])
        return fail(h, 0, "the rest of the v2 signature");
    size_t k = len < n1 ? len : n1;
    if (memcmp(buf, v1_prefix, k) != 0)
        return fail(h, -EPROTO, "neither a v1 nor a v2 header");
    if (len < n1)
        return fail(h, 0, "the rest of 'PROXY '");
    return parse_v1(buf, len, h);
}

/* ---- trusted sources ------------------------------------------------------ */

/* One item, "addr" or "addr/bits", of n bytes at s. */
static bool cidr_item(const char *s, size_t n, struct ss__cidr *c)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *slash = strchr(tmp, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        size_t bl = strlen(b);
        if (bl == 0 || bl > 3 || (bl > 1 && b[0] == '0'))
            return false;
        bits = 0;
        for (size_t i = 0; i < bl; i++) {
            if (b[i] < '0' || b[i] > '9')
                return false;
            bits = bits * 10 + (b[i] - '0');
        }
    }
    memset(c->key, 0, 16);
    if (inet_pton(AF_INET, tmp, c->key + 12) == 1) {
        if (bits > 32)
            return false;
        c->key[10] = c->key[11] = 0xff;
        c->bits = 96 + (unsigned)(bits < 0 ? 32 : bits);
    } else if (inet_pton(AF_INET6, tmp, c->key) == 1) {
        if (bits > 128)
            return false;
        c->bits = (unsigned)(bits < 0 ? 128 : bits);
    } else {
        return false;
    }
    return true;
}

int ss__cidr_parse(const char *list, struct ss__cidr *out, size_t cap,
                   size_t *bad, size_t *badlen)
{
    size_t count = 0, i = 0;
    if (list == NULL)
        list = "";
    for (;;) {
        while (list[i] == ' ')
            i++;
        size_t start = i;
        while (list[i] != '\0' && list[i] != ',')
            i++;
        size_t end = i;
        while (end > start && list[end - 1] == ' ')
            end--;
        struct ss__cidr c;
        if (!cidr_item(list + start, end - start, &c) || count == INT_MAX) {
            *bad = start;
            *badlen = end - start;
            return -EINVAL;
        }
        if (out != NULL && count < cap)
            out[count] = c;
        count++;
        if (list[i] == '\0')
            return (int)count;
        i++; /* the ',' */
    }
}

bool ss__cidr_match(const struct ss__cidr *l, size_t n,
                    const struct sockaddr *sa)
{
    uint8_t key[16];
    if (!ss__addr_key(sa, key))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned full = l[i].bits / 8, rest = l[i].bits % 8;
        if (memcmp(key, l[i].key, full) != 0)
            continue;
        if (rest == 0)
            return true;
        uint8_t mask = (uint8_t)(0xFF00u >> rest);
        if (((key[full] ^ l[i].key[full]) & mask) == 0)
            return true;
    }
    return false;
}
