/* upload_server.c -- the course's MYTCPServer: uploads over a struct + JSON
 * header, on ThreadingTCPServer, into --dir DIR.  Per connection, a loop:
 *
 *     head_len = struct.unpack('i', conn.recv(4))[0]      # native order
 *     head = json.loads(conn.recv(head_len))  # {"cmd":"put","filename":..,
 *     getattr(self, head['cmd'])(head)        #  "filesize":..}
 *     # put(): recv() exactly filesize bytes, 8192 at most at a time
 *
 * What to do better than the course: it joins the client's file name onto
 * the folder, so "../x" or "/etc/x" writes anywhere.  We take a plain name
 * only (no '/', not "." or "..", not empty, not one of our partial files)
 * and work with openat() in the folder.  It writes in place under the final
 * name, so an upload that starts wipes the old file, a cut one leaves half
 * a file, and two at once mix their bytes.  We write into a hidden partial
 * file of our own (.upload-PID-N, created new) and rename it over the name
 * only once exactly filesize bytes came; otherwise it is removed and the
 * old file stays as it was.  The name must be free or a regular file (never
 * a link, a FIFO or a folder).  We also read the header exactly (one
 * recv() may return less) and bound its length.  A bad header ends the
 * connection; the server serves the others on.  And a client that stops
 * sending must not hold a worker for ever, nor one address take them all:
 * a read waits IDLE_TIMEOUT_MS at most (--timeout S), and an address gets
 * MAX_PER_ADDRESS connections at once. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER 8192
#define CHUNK 8192         /* max_packet_size */
#define PARTIAL ".upload-" /* our partial files: .upload-PID-N */
#define IDLE_TIMEOUT_MS 30000
#define MAX_PER_ADDRESS 32

/* Says why this connection ends, on stderr; returns -1 for "end it". */
static int refuse(ss_request *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "upload_server: %s: ", ss_request_client_str(r));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
    return -1;
}

/* ss_stream_read_exact() says -ECONNRESET for an early EOF too;
 * replaceable() says -EEXIST for a name that is not a regular file. */
static const char *why(int rc)
{
    return rc == -ECONNRESET ? "the connection ended"
           : rc == -EEXIST   ? "not a regular file"
                             : ss_strerror(rc);
}

/* 0 if name may be replaced: absent, or a regular file; else -errno. */
static int replaceable(int dir, const char *name)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return errno == ENOENT ? 0 : -errno;
    return S_ISREG(st.st_mode) ? 0 : -EEXIST;
}

/* Creates a new partial file in dir, its name in tmp.  The fd or -errno. */
static int partial_open(int dir, char *tmp, size_t cap)
{
    static atomic_uint next;
    int fd;
    do {
        snprintf(tmp, cap, PARTIAL "%ld-%u", (long)getpid(),
                 atomic_fetch_add(&next, 1u));
        fd = openat(dir, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    } while (fd == -1 && (errno == EEXIST || errno == EINTR));
    return fd == -1 ? -errno : fd;
}

static int put(ss_request *r, json_t *head)
{
    json_t *jname = json_object_get(head, "filename");
    json_t *jsize = json_object_get(head, "filesize");
    const char *name = json_string_value(jname);
    if (name == NULL || !example_plain_name(name, json_string_length(jname)) ||
        strncmp(name, PARTIAL, strlen(PARTIAL)) == 0)
        return refuse(r, "refused file name (a plain name only)");
    if (!json_is_integer(jsize) || json_integer_value(jsize) < 0)
        return refuse(r, "bad filesize");
    json_int_t size = json_integer_value(jsize), left = size;
    int dir = *(const int *)ss_request_user(r);
    char tmp[64] = "";
    int rc = replaceable(dir, name);
    int fd = rc < 0 ? rc : partial_open(dir, tmp, sizeof tmp);
    if (fd < 0)
        return refuse(r, "%s: %s", name, why(fd));
    char buf[CHUNK];
    while (left > 0 && rc == 0) { /* recv(8192) until filesize bytes came */
        ssize_t n = ss_stream_read(r, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (n <= 0)
            rc = n == 0 ? -ECONNRESET : (int)n;
        else if (example_write_all(fd, buf, (size_t)n) == -1)
            rc = -errno;
        left -= n > 0 ? n : 0;
    }
    if (rc == 0 && fsync(fd) == -1)
        rc = -errno;
    if (close(fd) == -1 && rc == 0)
        rc = -errno;
    if (rc == 0 && (rc = replaceable(dir, name)) == 0 &&
        renameat(dir, tmp, dir, name) == -1) /* published in one step */
        rc = -errno;
    if (rc < 0) { /* a cut or failed upload leaves the old file as it was */
        if (unlinkat(dir, tmp, 0) == -1)
            perror("unlinkat");
        return refuse(r, "%s: upload failed: %s", name, why(rc));
    }
    printf("put %s (%lld bytes)\n", name, (long long)size);
    return 0;
}

/* The commands, as the course's getattr(self, cmd). */
static const struct {
    const char *name;
    int (*run)(ss_request *r, json_t *head);
} commands[] = {{"put", put}};

static int one_header(ss_request *r)
{
    char json[MAX_HEADER];
    int32_t len; /* struct.unpack('i', ...) */
    ssize_t n = ss_stream_read(r, &len, 1);
    if (n <= 0) /* EOF between uploads: the client is done */
        return n == 0 || n == -ECONNRESET
                   ? -1
                   : refuse(r, "%s", ss_strerror((int)n));
    int rc = ss_stream_read_exact(r, (char *)&len + 1, sizeof len - 1);
    if (rc == 0 && (len <= 0 || len > MAX_HEADER))
        return refuse(r, "bad header length %d", len);
    if (rc == 0)
        rc = ss_stream_read_exact(r, json, (size_t)len);
    if (rc < 0)
        return refuse(r, "header cut short: %s", why(rc));
    json_error_t err;
    json_t *head = json_loadb(json, (size_t)len, 0, &err);
    if (head == NULL)
        return refuse(r, "bad JSON header: %s", err.text);
    const char *cmd = json_string_value(json_object_get(head, "cmd"));
    size_t i = 0, ncommands = sizeof commands / sizeof commands[0];
    while (i < ncommands && (cmd == NULL || strcmp(cmd, commands[i].name) != 0))
        i++;
    rc = i < ncommands ? commands[i].run(r, head)
                       : refuse(r, "unknown command %s", cmd ? cmd : "(none)");
    json_decref(head);
    return rc;
}

static int handle(ss_request *r)
{
    while (one_header(r) == 0) /* the communication loop */
        ;
    return 0; /* reported already; returning ends the connection */
}

static const ss_handler_class my_handler = {.name = "MYTCPServer",
                                            .handle = handle};

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hpdt", 0,
                        "[--port N] [--dir DIR] [--timeout S]", &o) < 0)
        return 2; /* (o.dir_fd: the folder, open until we exit) */
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);
    cfg.concurrency = SS_THREADING;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.idle_timeout_ms = /* what to do better: see the top */
        o.timeout >= 0 ? (int)o.timeout * 1000 : IDLE_TIMEOUT_MS;
    cfg.max_per_address = MAX_PER_ADDRESS;
    ss_server *s;
    int rc = ss_server_create(&s, &cfg, &my_handler, NULL, &o.dir_fd);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
