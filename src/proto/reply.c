/* reply.c -- ok/error replies and the errno to error-code table. */
#include "reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "field.h"

int proto_send_ok(proto_io *io, json_t *extra)
{
    json_t *hdr = extra ? json_incref(extra) : json_object();
    int r =
        hdr && json_object_set_new(hdr, "ok", json_true()) == 0 ? 0 : -ENOMEM;
    if (r == 0)
        r = proto_send(io, hdr);
    json_decref(hdr);
    return r;
}

static int send_error_v(proto_io *io, const char *code, json_t *extra,
                        const char *fmt, va_list ap)
{
    char text[PROTO_ERROR_MAX + 1];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    if (n < 0)
        text[0] = '\0';
    json_t *msg = json_string(text);
    if (!msg) {
        /* jansson refuses invalid UTF-8; keep the ASCII, which is what a log
         * reader needs, rather than losing the whole message. */
        for (char *p = text; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        msg = json_string(text);
    }
    if (!msg)
        return -ENOMEM;
    /* "o" hands msg to the new object, and jansson frees it on failure. */
    json_t *hdr =
        json_pack("{s:b, s:s, s:o}", "ok", 0, "code", code, "error", msg);
    int r = hdr ? 0 : -ENOMEM;
    /* Only keys not set yet are added: the three above always win. */
    if (r == 0 && extra != NULL && json_object_update_missing(hdr, extra) != 0)
        r = -ENOMEM;
    if (r == 0)
        r = proto_send(io, hdr);
    json_decref(hdr);
    return r;
}

int proto_send_error(proto_io *io, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = send_error_v(io, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int proto_send_error_with(proto_io *io, const char *code, json_t *extra,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = send_error_v(io, code, extra, fmt, ap);
    va_end(ap);
    return r;
}

const char *proto_errno_code(int err)
{
    switch (err < 0 ? -err : err) {
    case ENOENT:
        return PROTO_E_NOT_FOUND;
    case EEXIST:
        return PROTO_E_EXISTS;
    case ENOTDIR:
        return PROTO_E_NOT_A_DIRECTORY;
    case EISDIR:
        return PROTO_E_IS_A_DIRECTORY;
    case ENOTEMPTY:
        return PROTO_E_NOT_EMPTY;
    case EACCES:
    case EPERM:
    case EROFS:
        return PROTO_E_PERMISSION_DENIED;
    case ENAMETOOLONG:
    case ELOOP: /* a symbolic link met under O_NOFOLLOW/RESOLVE_NO_SYMLINKS */
    case EXDEV: /* RESOLVE_BENEATH: the path would leave the home */
        return PROTO_E_BAD_PATH;
    case EDQUOT:
        return PROTO_E_QUOTA_EXCEEDED;
    case ENOSPC:
        return PROTO_E_NO_SPACE;
    case EFBIG:
        return PROTO_E_TOO_LARGE;
    case EBUSY:
    case EAGAIN: /* a non-blocking lock held by another session */
    /* The server's resources, not a fault: the client may try later. */
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
    case EUSERS:
        return PROTO_E_BUSY;
    case EINVAL:
        return PROTO_E_BAD_REQUEST;
    case EMSGSIZE:
    case EBADMSG:
        return PROTO_E_BAD_FRAME;
    default:
        return PROTO_E_INTERNAL;
    }
}

int proto_reply_check(const json_t *reply, const char **code,
                      const char **error)
{
    bool ok;
    const char *c = NULL, *e = NULL;
    if (proto_get_bool(reply, "ok", &ok) != 0)
        return -EBADMSG;
    if (!ok) {
        if (proto_get_str(reply, "code", &c) != 0)
            return -EBADMSG;
        if (proto_get_str(reply, "error", &e) != 0)
            e = ""; /* the text is for humans; its absence changes nothing */
    }
    if (code)
        *code = c;
    if (error)
        *error = e;
    return ok ? 0 : -EREMOTEIO;
}
