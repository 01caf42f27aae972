/* upload_client.c -- the course's MYTCPClient: put FILE over a struct + JSON
 * header.
 *
 *     head = json.dumps({'cmd': 'put', 'filename': os.path.basename(path),
 *                        'filesize': os.path.getsize(path)}).encode()
 *     client.send(struct.pack('i', len(head)))  # 4 bytes, native order
 *     client.send(head)
 *     for line in open(path, 'rb'): client.send(line)
 *
 * The protocol has no reply: we half-close and wait for the server's EOF,
 * which comes once it has stored the file (or refused it: a server that
 * refuses ends the connection, which we may see as a reset). */
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

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hp", 2, "[--host H] [--port N] put FILE",
                        &o) < 0 ||
        strcmp(o.args[0], "put") != 0)
        return 2;
    const char *path = o.args[1], *slash = strrchr(path, '/');
    struct stat st;
    int file = open(path, O_RDONLY | O_CLOEXEC);
    if (file == -1 || fstat(file, &st) == -1 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "upload_client: %s: not a readable file\n", path);
        return 1;
    }
    json_t *head = json_pack("{s:s, s:s, s:I}", "cmd", "put", "filename",
                             slash != NULL ? slash + 1 : path, "filesize",
                             (json_int_t)st.st_size);
    char *text = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (text == NULL) /* json_pack refuses a name that is not UTF-8 */
        fprintf(stderr, "upload_client: %s: cannot make the header\n", path);
    int fd =
        text != NULL ? example_connect(o.host, o.port_text, SOCK_STREAM) : -1;
    int32_t len = text != NULL ? (int32_t)strlen(text) : 0;
    int failed = fd == -1 || example_send_all(fd, &len, sizeof len) == -1 ||
                 example_send_all(fd, text, (size_t)len) == -1;
    char buf[8192];
    ssize_t n = 0;
    while (!failed && (n = read(file, buf, sizeof buf)) != 0)
        failed = (n == -1 && errno != EINTR) ||
                 (n > 0 && example_send_all(fd, buf, (size_t)n) == -1);
    if (!failed) { /* no reply: the server's EOF says it is done */
        errno = EPROTO;
        failed = shutdown(fd, SHUT_WR) == -1 || example_recv(fd, buf, 1) != 0;
    }
    if (failed && fd != -1)
        perror("upload_client");
    else if (!failed)
        printf("put %s (%lld bytes)\n", path, (long long)st.st_size);
    free(text);
    if (close(file) == -1 || (fd != -1 && close(fd) == -1))
        perror("close");
    return failed || fflush(stdout) == EOF;
}
