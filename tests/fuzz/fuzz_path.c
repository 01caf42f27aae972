/* fuzz_path.c -- libFuzzer: the path model against a home full of hostile
 * symlinks.  The input is a cwd and a path (split at the first NUL); each is
 * normalised and resolved, then every read-only file operation runs, and
 * every descriptor the jail hands out must be inside the home. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzstack.h"
#include "jail.h"
#include "proto.h"

static char base[64], home[96];
static size_t home_len;

/* fd's file is the home or beneath it. */
static void check_inside(int fd)
{
    char link[64], where[PATH_MAX + 1];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, where, sizeof where - 1);
    if (n < 0)
        abort();
    where[n] = '\0';
    if (strncmp(where, home, home_len) != 0 ||
        (where[home_len] != '\0' && where[home_len] != '/'))
        abort();
}

static void one(const uint8_t *data, size_t size)
{
    const char *cwd_in = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t cwd_len = nul ? (size_t)(nul - data) : 0;
    const char *path = nul ? (const char *)nul + 1 : (const char *)data;
    size_t len = nul ? size - cwd_len - 1 : size;
    int hfd = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct jail *j;
    if (hfd < 0 || jail_open(hfd, &j) != 0)
        abort();
    if (cwd_len > 0)
        (void)jail_cd(j, cwd_in, cwd_len);
    char norm[PROTO_PATH_BUF];
    (void)proto_path_normalize(jail_cwd(j), path, len, norm);
    struct jail_path *p;
    if (jail_resolve(j, path, len, &p) == 0) {
        int fd;
        struct stat st;
        if (jail_open_read(p, &fd, &st) == 0) {
            check_inside(fd);
            close(fd);
        }
        struct jail_entry e;
        (void)jail_stat(p, &e);
        struct jail_dir *d;
        if (jail_dir_open(p, &d) == 0) {
            for (int i = 0; i < 64 && jail_dir_next(d, &e) == 1; i++)
                ;
            jail_dir_close(d);
        }
        jail_path_free(p);
    }
    (void)jail_cd(j, path, len);
    jail_close(j);
}

static void mk(const char *rel, const char *target)
{
    char at[160];
    snprintf(at, sizeof at, "%s/%s", base, rel);
    if (target == NULL ? mkdir(at, 0755) : symlink(target, at))
        abort();
}

int fuzz_setup(void)
{
    snprintf(base, sizeof base, "/tmp/fuzz-path-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    snprintf(home, sizeof home, "%s/home", base);
    home_len = strlen(home);
    mk("home", NULL);
    mk("outside", NULL);
    mk("home/d", NULL);
    mk("home/d/e", NULL);
    mk("home/up", "..");
    mk("home/abs", "/etc");
    mk("home/loop", "loop");
    mk("home/d/esc", "../../outside");
    mk("home/d/e/back", "../..");
    mk("home/proc", "/proc/self/root");
    char f[160];
    snprintf(f, sizeof f, "%s/home/d/file", base);
    int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0)
        return -1;
    snprintf(f, sizeof f, "%s/outside/secret", base);
    fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || close(fd) != 0)
        return -1;
    return 0;
}

FUZZ_HARNESS(one)
