/* fuzz_userdb.c -- libFuzzer: users.json as the server reads it (an admin's
 * hand edit, a torn or hostile file): load, look up, list. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzstack.h"
#include "proto.h"
#include "userdb.h"

static char root[64];

static void one(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/users.json", root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) ||
        close(fd) != 0)
        abort();
    struct userdb *db;
    if (userdb_open(root, &db) != 0)
        abort();
    struct userdb_record rec;
    (void)userdb_lookup(db, "alice", &rec);
    (void)userdb_lookup(db, "nobody", &rec);
    struct userdb_record *all;
    size_t n;
    if (userdb_list(db, &all, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!userdb_name_valid(all[i].name))
                abort(); /* the loader let a bad name in */
        free(all);
    }
    userdb_close(db);
}

int fuzz_setup(void)
{
    snprintf(root, sizeof root, "/tmp/fuzz-userdb-XXXXXX");
    return mkdtemp(root) != NULL ? 0 : -1;
}

FUZZ_HARNESS(one)
