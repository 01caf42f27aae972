/* frame.c -- length-prefixed JSON frames over a socket (frame.h). */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>

#include "body.h"
#include "wire.h"

/* The body a header announces: 0 with *size set (0 when there is no "size"),
 * or -EINVAL when "size" is present but not a non-negative integer -- such a
 * header is ambiguous about where the next frame starts. */
static int size_field(const json_t *hdr, uint64_t *size)
{
    const json_t *s = json_object_get(hdr, "size");
    *size = 0;
    if (!s)
        return 0;
    if (!json_is_integer(s) || json_integer_value(s) < 0)
        return -EINVAL;
    *size = (uint64_t)json_integer_value(s);
    return 0;
}

uint64_t proto_body_size(const json_t *hdr)
{
    uint64_t size;
    return size_field(hdr, &size) == 0 ? size : 0;
}

int proto_send(proto_io *io, json_t *hdr)
{
    uint64_t body;
    if (!json_is_object(hdr) || io->body_out != 0 || size_field(hdr, &body))
        return -EINVAL;
    size_t n = json_dumpb(hdr, NULL, 0, JSON_COMPACT);
    if (n == 0)
        return -ENOMEM; /* jansson's only failure for a valid object */
    if (n > PROTO_HEADER_MAX)
        return -EMSGSIZE;
    /* Length and JSON go out in one send() so a small frame is one packet. */
    unsigned char *buf = malloc(4 + n);
    if (!buf)
        return -ENOMEM;
    proto_be32_put(buf, (uint32_t)n);
    int64_t deadline = NO_DEADLINE;
    int r = json_dumpb(hdr, (char *)buf + 4, n, JSON_COMPACT) == n
                ? proto_wire_deadline_in(io->timeout_ms, &deadline)
                : -ENOMEM;
    if (r == 0)
        r = proto_wire_send_all(io, buf, 4 + n, deadline);
    free(buf);
    if (r == 0)
        io->body_out = body;
    return r;
}

bool proto_json_depth_ok(const char *json, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* Throw away the unread rest of the current incoming body. */
static int skip_body(proto_io *io)
{
    char sink[4096];
    while (io->body_in > 0) {
        ssize_t k = proto_read_some(io, sink, sizeof sink);
        if (k < 0)
            return (int)k;
    }
    return 0;
}

int proto_recv(proto_io *io, json_t **out)
{
    *out = NULL;
    int r = skip_body(io);
    int64_t deadline = NO_DEADLINE;
    if (r == 0)
        r = proto_wire_deadline_in(io->timeout_ms, &deadline);
    if (r)
        return r;

    /* The first recv decides between a clean close (nothing of a new frame
     * sent) and a frame cut short. */
    unsigned char len[4];
    ssize_t k = proto_wire_recv_some(io, len, sizeof len, deadline);
    if (k <= 0)
        return k == 0 ? -ENODATA : (int)k;
    r = proto_wire_recv_exact(io, len + k, sizeof len - (size_t)k, deadline);
    if (r)
        return r;
    uint32_t n = proto_be32_get(len);
    /* Refuse before allocating or reading: the length is the peer's word. */
    if (n == 0 || n > PROTO_HEADER_MAX)
        return -EMSGSIZE;

    char *json = malloc(n);
    if (!json)
        return -ENOMEM;
    r = proto_wire_recv_exact(io, json, n, deadline);
    if (r) {
        free(json);
        return r;
    }
    /* jansson's parser recurses once per level: refuse deep nesting before
     * it runs, or a few KiB of "[" overflow a worker's stack. */
    if (!proto_json_depth_ok(json, n, PROTO_DEPTH_MAX)) {
        free(json);
        return -EBADMSG;
    }
    /* Duplicate keys are refused: two "size"s would let sender and receiver
     * disagree about the body.  jansson checks UTF-8 and refuses \u0000. */
    json_error_t err;
    json_t *hdr = json_loadb(json, n, JSON_REJECT_DUPLICATES, &err);
    free(json);
    if (!hdr)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM
                                                                 : -EBADMSG;
    uint64_t body;
    if (!json_is_object(hdr) || size_field(hdr, &body)) {
        json_decref(hdr);
        return -EBADMSG;
    }
    io->body_in = body;
    io->pace_start = 0; /* a new body starts a new pacing window */
    *out = hdr;
    return 0;
}

int proto_send_raw(proto_io *io, const void *buf, size_t n)
{
    int64_t deadline;
    int r = proto_wire_deadline_in(io->timeout_ms, &deadline);
    return r != 0 ? r : proto_wire_send_all(io, buf, n, deadline);
}
