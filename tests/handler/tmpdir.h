/* tmpdir.h -- private scratch directories under /tmp for the handler tests. */
#ifndef SSFTP_TEST_TMPDIR_H
#define SSFTP_TEST_TMPDIR_H

#include <stddef.h>

/* mkdtemp("/tmp/ssftp-test-XXXXXX"); the path is malloc()ed. */
char *tmpdir_make(void);
/* Removes the tree (never following symlinks) and frees path. */
void tmpdir_remove(char *path);
/* "dir/name" into a static buffer, valid until the next call. */
const char *tmpdir_join(const char *dir, const char *name);
/* Writes n bytes of 'x' (or text, when not NULL) to dir/name, replacing it. */
void tmpdir_write(const char *dir, const char *name, size_t n,
                  const char *text);
/* Whether dir holds an entry whose name ends with suffix. */
int tmpdir_has_suffix(const char *dir, const char *suffix);

#endif
