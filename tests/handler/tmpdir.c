/* tmpdir.c -- make, fill and remove scratch directories for the tests. */
#include "tmpdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tmpdir_make(void)
{
    char *p = strdup("/tmp/ssftp-test-XXXXXX");
    if (p == NULL || mkdtemp(p) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st, (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0)
        perror(path);
    return 0;
}

void tmpdir_remove(char *path)
{
    if (path == NULL)
        return;
    /* Tests may leave directories without write permission behind. */
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

const char *tmpdir_join(const char *dir, const char *name)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

void tmpdir_write(const char *dir, const char *name, size_t n, const char *text)
{
    const char *path = tmpdir_join(dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        abort();
    }
    if (text != NULL)
        fputs(text, f);
    else
        for (size_t i = 0; i < n; i++)
            fputc('x', f);
    if (fclose(f) != 0) {
        perror(path);
        abort();
    }
}

int tmpdir_has_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int found = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(de->d_name);
        if (n >= sl && strcmp(de->d_name + n - sl, suffix) == 0)
            found = 1;
    }
    closedir(d);
    return found;
}
