/* download_server.c -- the course's get, on ThreadingTCPServer, from --dir:
 *
 *     cmd = conn.recv(1024)                      # b'get NAME'
 *     conn.send(str(os.path.getsize(path)).encode())
 *     conn.recv(1024)                            # the client's b'ready'
 *     for line in open(path, 'rb'): conn.send(line); md5.update(line)
 *     conn.send(md5.hexdigest().encode())
 *
 * The size goes alone (we wait for "ready" before the file), but the digest
 * follows the file's last bytes at once: TCP may deliver both in the same
 * recv(), so the client must count exactly size bytes of file and read the
 * digest after them.  A length-prefixed frame for every message (ssftpd's
 * protocol) removes the guesswork.
 *
 * Answers that are not a size: "error: unknown command", "error: refused
 * file name" (a plain name only: see upload_server.c), "error: NAME: why"
 * (no such file, a link, not a regular file).  The connection goes on.
 *
 * What to do better: exactly the announced size goes out, even if the file
 * grows meanwhile; one that shrinks ends the connection (the client would
 * take the digest for file bytes).  A FIFO cannot block us (O_NONBLOCK
 * until we know it is a regular file).  A client that stops reading or
 * sending lets its worker go after IDLE_TIMEOUT_MS (--timeout S), and one
 * address gets MAX_PER_ADDRESS connections at once. */
#include "common.h"
#include "md5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDLE_TIMEOUT_MS 30000
#define MAX_PER_ADDRESS 32

/* Sends a text message; 0 or -errno. */
static int say(ss_request *r, const char *text)
{
    return ss_stream_write_all(r, text, strlen(text));
}

/* Opens name in the folder for reading: a regular file only, and never
 * blocks (a FIFO would, in open() or read()).  The fd, or -1 with the
 * reason in text. */
static int open_regular(ss_request *r, const char *name, struct stat *st,
                        char *text, size_t cap)
{
    int fd = openat(*(const int *)ss_request_user(r), name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool failed = fd == -1 || fstat(fd, st) == -1;
    if (!failed && S_ISREG(st->st_mode)) {
        int flags = fcntl(fd, F_GETFL); /* then blocking reads, as a file's */
        failed = flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1;
        if (!failed)
            return fd;
    }
    snprintf(text, cap, "error: %s: %s", name,
             failed ? strerror(errno) : "not a regular file");
    if (fd != -1 && close(fd) == -1)
        perror("close");
    return -1;
}

/* Sends exactly size bytes of fd (the size announced, even if the file has
 * grown since) into md5.  0, -ENODATA if the file has shrunk, or -errno. */
static int send_file(ss_request *r, int fd, off_t size, EVP_MD_CTX *md5)
{
    char buf[8192];
    while (size > 0) {
        ssize_t n = read(fd, buf, size < 8192 ? (size_t)size : 8192);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -ENODATA : -errno;
        if (EVP_DigestUpdate(md5, buf, (size_t)n) != 1)
            return -EIO;
        int rc = ss_stream_write_all(r, buf, (size_t)n);
        if (rc < 0)
            return rc;
        size -= n;
    }
    return 0;
}

static int get(ss_request *r, const char *name, size_t len)
{
    char text[1100];
    struct stat st;
    if (!example_plain_name(name, len))
        return say(r, "error: refused file name");
    int fd = open_regular(r, name, &st, text, sizeof text);
    if (fd == -1)
        return say(r, text);
    snprintf(text, sizeof text, "%lld", (long long)st.st_size);
    int rc = say(r, text); /* the size, */
    ssize_t n = rc < 0 ? rc : ss_stream_read(r, text, sizeof text); /* ready */
    rc = n < 0 ? (int)n : n == 0 ? -ECONNRESET : 0;
    EVP_MD_CTX *md5 = rc == 0 ? md5_begin() : NULL;
    if (rc == 0 && md5 == NULL)
        rc = -ENOMEM;
    char hex[MD5_HEX_LEN + 1];
    if (rc == 0) /* the file */
        rc = send_file(r, fd, st.st_size, md5);
    if (md5 != NULL && md5_end(md5, hex) < 0 && rc == 0)
        rc = -EIO;
    if (rc == 0 && (rc = say(r, hex)) == 0) /* and its md5 */
        printf("get %s (%lld bytes) md5 %s\n", name, (long long)st.st_size,
               hex);
    if (rc == -ENODATA) /* no digest: the client counts the file's bytes */
        fprintf(stderr,
                "download_server: %s: %s: the file shrank; ending "
                "the connection\n",
                ss_request_client_str(r), name);
    if (close(fd) == -1)
        perror("close");
    return rc == -ENODATA ? -ECONNRESET : rc; /* ends the connection */
}

static int handle(ss_request *r)
{
    char cmd[1025];
    ssize_t n = 0;
    int rc = 0;
    while (rc == 0 && (n = ss_stream_read(r, cmd, sizeof cmd - 1)) > 0) {
        cmd[n] = '\0'; /* cmd = conn.recv(1024) */
        rc = strncmp(cmd, "get ", 4) == 0 ? get(r, cmd + 4, (size_t)n - 4)
                                          : say(r, "error: unknown command");
    }
    rc = rc < 0 ? rc : (int)n;
    return rc == -ECONNRESET || rc == -EPIPE ? 0 : rc; /* the client left */
}

static const ss_handler_class my_server = {.name = "MyServer",
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
    int rc = ss_server_create(&s, &cfg, &my_server, NULL, &o.dir_fd);
    if (rc == 0 && (rc = ss_server_shutdown_on_signals(s)) == 0 &&
        (rc = example_listening(s)) == 0)
        rc = ss_server_serve_forever(s, 500); /* until SIGINT or SIGTERM */
    int closed = s != NULL ? ss_server_close(s) : 0; /* drain and join */
    ss_server_destroy(s);
    return example_status(argv[0], rc < 0 ? rc : closed);
}
