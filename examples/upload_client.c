/* upload_client.c -- the course's MYTCPClient: put FILE over a struct + JSON
 * header.
 *
 *     head = json.dumps({'cmd': 'put', 'filename': os.path.basename(path),
 *                        'filesize': os.path.getsize(path)}).encode()
 *     client.send(struct.pack('i', len(head)))  # 4 bytes, native order
 *     client.send(head)
 *     for line in open(path, 'rb'): client.send(line)
 *
 * The course's protocol has no reply: we half-close and wait for the
 * server's EOF.  That EOF does not prove the file was stored: a server
 * that refuses it, or fails to write it, ends the connection the same way
 * (or with a reset).  Only a reply could say so; ssftpd's protocol has one.
 *
 * We send exactly the size announced, even if the file grows meanwhile,
 * and fail if it shrinks; and the name sent must be a plain name (as the
 * server checks it), which we check before connecting. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading: a regular file only, and a FIFO cannot block
 * us.  The fd, or -1 (reported). */
static int open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags = -1;
    if (fd != -1 && fstat(fd, st) == 0 && S_ISREG(st->st_mode))
        flags = fcntl(fd, F_GETFL);
    if (flags != -1 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
        return fd;
    fprintf(stderr, "upload_client: %s: not a readable file\n", path);
    if (fd != -1 && close(fd) == -1)
        perror("close");
    return -1;
}

/* Sends exactly size bytes of file; 0, or -1 (reported). */
static int send_file(int fd, int file, off_t size)
{
    char buf[8192];
    while (size > 0) {
        ssize_t n = read(file, buf, size < 8192 ? (size_t)size : 8192);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0) {
            fprintf(stderr, "upload_client: the file shrank while sent\n");
            return -1;
        }
        if (n == -1 || example_send_all(fd, buf, (size_t)n) == -1) {
            perror("upload_client");
            return -1;
        }
        size -= n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hp", 2, "[--host H] [--port N] put FILE",
                        &o) < 0 ||
        strcmp(o.args[0], "put") != 0)
        return 2;
    const char *path = o.args[1], *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    if (!example_plain_name(name, strlen(name))) {
        fprintf(stderr, "upload_client: %s: not a plain file name\n", path);
        return 1;
    }
    struct stat st;
    int file = open_regular(path, &st);
    if (file == -1)
        return 1;
    json_t *head = json_pack("{s:s, s:s, s:I}", "cmd", "put", "filename", name,
                             "filesize", (json_int_t)st.st_size);
    char *text = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (text == NULL) /* json_pack refuses a name that is not UTF-8 */
        fprintf(stderr, "upload_client: %s: cannot make the header\n", path);
    int fd =
        text != NULL ? example_connect(o.host, o.port_text, SOCK_STREAM) : -1;
    int32_t len = text != NULL ? (int32_t)strlen(text) : 0;
    int failed = fd == -1;
    if (!failed && (example_send_all(fd, &len, sizeof len) == -1 ||
                    example_send_all(fd, text, (size_t)len) == -1)) {
        perror("upload_client");
        failed = 1;
    }
    failed = failed || send_file(fd, file, st.st_size) == -1;
    char c;
    if (!failed) { /* no reply: wait for the server's EOF (see the top) */
        errno = EPROTO;
        failed = shutdown(fd, SHUT_WR) == -1 || example_recv(fd, &c, 1) != 0;
        if (failed)
            perror("upload_client");
    }
    if (!failed)
        printf("put %s (%lld bytes)\n", path, (long long)st.st_size);
    free(text);
    if (close(file) == -1)
        perror("close");
    if (fd != -1 && close(fd) == -1)
        perror("close");
    return failed || fflush(stdout) == EOF;
}
