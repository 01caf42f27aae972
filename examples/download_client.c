/* download_client.c -- the course's get: ask for NAME, store it as NAME.new,
 * check its md5.
 *
 *     client.send(b'get NAME')
 *     size = int(client.recv(1024))
 *     client.send(b'ready')
 *     while received < size:                # exactly size bytes: the md5
 *         data = client.recv(min(8192, size - received))  # may be glued on
 *         f.write(data); md5.update(data); received += len(data)
 *     server_md5 = client.recv(1024)
 *
 * Prints both digests; exits 1 if they differ or the server answered an
 * error instead of a size.  NAME must be a plain name (NAME.new is written
 * here, never through a link).  A cut transfer or a digest that does not
 * match removes NAME.new: no half or wrong file is left behind. */
#include "common.h"
#include "md5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Receives exactly n bytes into out (a file) and md5; 0 or -1 (reported). */
static int receive_file(int fd, long long n, int out, EVP_MD_CTX *md5)
{
    char buf[8192];
    while (n > 0) {
        ssize_t got = example_recv(fd, buf, n < 8192 ? (size_t)n : 8192);
        if (got == 0) {
            fprintf(stderr, "download_client: the connection ended early\n");
            return -1;
        }
        if (got == -1 || example_write_all(out, buf, (size_t)got) == -1 ||
            EVP_DigestUpdate(md5, buf, (size_t)got) != 1) {
            perror("download_client");
            return -1;
        }
        n -= got;
    }
    return 0;
}

int main(int argc, char **argv)
{
    example_opts o;
    if (example_options(argc, argv, "hp", 2, "[--host H] [--port N] get NAME",
                        &o) < 0 ||
        strcmp(o.args[0], "get") != 0)
        return 2;
    const char *name = o.args[1];
    char buf[1100], path[1100], server_md5[MD5_HEX_LEN + 1] = "";
    char client_md5[MD5_HEX_LEN + 1];
    int n = snprintf(buf, sizeof buf, "get %s", name);
    if (!example_plain_name(name, strlen(name)) || n >= 1024) {
        fprintf(stderr, "download_client: %s: not a plain file name\n", name);
        return 1;
    }
    snprintf(path, sizeof path, "%s.new", name);
    int fd = example_connect(o.host, o.port_text, SOCK_STREAM);
    ssize_t got = -1;
    if (fd != -1 && example_send_all(fd, buf, (size_t)n) == 0)
        got = example_recv(fd, buf, sizeof buf - 1);
    if (fd != -1 && got == -1)
        perror("download_client");
    if (got == -1)
        return 1;
    buf[got] = '\0'; /* the size, or the server's error */
    char *end;
    errno = 0;
    long long size = strtoll(buf, &end, 10);
    if (got == 0 || *end != '\0' || buf[0] < '0' || buf[0] > '9' ||
        errno == ERANGE) {
        fprintf(stderr, "download_client: the server says: %s\n", buf);
        if (close(fd) == -1)
            perror("close");
        return 1;
    }
    int out =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    EVP_MD_CTX *md5 = md5_begin();
    int failed =
        out == -1 || md5 == NULL || example_send_all(fd, "ready", 5) == -1;
    if (failed)
        perror(out == -1 ? path : "download_client");
    failed = failed || receive_file(fd, size, out, md5) == -1;
    size_t have = 0;
    while (!failed &&
           have < MD5_HEX_LEN) { /* the digest, however TCP cuts it */
        got = example_recv(fd, server_md5 + have, MD5_HEX_LEN - have);
        if (got <= 0) {
            if (got == -1)
                perror("download_client: the digest");
            else
                fprintf(stderr, "download_client: the connection ended before "
                                "the digest\n");
            break;
        }
        have += (size_t)got;
    }
    int ended = md5_end(md5, client_md5); /* (frees md5) */
    if (out != -1 && close(out) == -1) {
        perror(path);
        failed = 1;
    }
    if (ended == -1 && !failed) {
        fprintf(stderr, "download_client: md5 failed\n");
        failed = 1;
    }
    if (!failed)
        printf("server md5: %s\nclient md5: %s\n", server_md5, client_md5);
    if (close(fd) == -1)
        perror("close");
    if (!failed && have == MD5_HEX_LEN && strcmp(server_md5, client_md5) != 0)
        fprintf(stderr, "download_client: md5 mismatch\n");
    failed = failed || strcmp(server_md5, client_md5) != 0;
    if (failed && out != -1 && unlink(path) == -1) /* no half or wrong file */
        perror(path);
    return failed || fflush(stdout) == EOF;
}
