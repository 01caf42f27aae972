/* config.c -- ssftpd's config file (config.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvfile.h"
#include "log.h"

#define CONFIG_MAX (1 << 20) /* bytes: a config, not a data file */

/* Every text read, kept for the life of the process (config.h): the
 * options point into them, and a reload (SIGHUP) reads the file again. */
struct kept {
    struct kept *next;
    char text[];
};
static struct kept *kept_texts;
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;

/* The file's text, NUL-terminated, in *out (kept: above). */
static int slurp(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    char *buf = malloc(CONFIG_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CONFIG_MAX + 1, f);
    int rc = ferror(f)                      ? -EIO
             : n > CONFIG_MAX               ? -EFBIG
             : memchr(buf, '\0', n) != NULL ? -EINVAL /* not text */
                                            : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    struct kept *k = rc == 0 ? malloc(sizeof *k + n + 1) : NULL;
    if (rc == 0 && k == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        memcpy(k->text, buf, n);
        k->text[n] = '\0';
        (void)pthread_mutex_lock(&kept_mu);
        k->next = kept_texts;
        kept_texts = k;
        (void)pthread_mutex_unlock(&kept_mu);
        *out = k->text;
    }
    free(buf);
    return rc;
}

int config_load(const char *path, config_fn fn, void *arg)
{
    char *text = NULL;
    int rc = slurp(path, &text);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "config %s: %s", path, strerror(-rc));
        return rc;
    }
    unsigned lineno = 0;
    for (char *line = text, *next; line != NULL && rc == 0; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *key, *value;
        switch (proto_kv_split(line, '=', &key, &value)) {
        case PROTO_KV_SKIP:
            continue;
        case PROTO_KV_NO_SEP:
            log_msg(LOG_LEVEL_ERROR, "%s:%u: not \"key = value\"", path,
                    lineno);
            rc = -EINVAL;
            break;
        case PROTO_KV_NO_KEY:
            log_msg(LOG_LEVEL_ERROR, "%s:%u: no key before '='", path, lineno);
            rc = -EINVAL;
            break;
        case PROTO_KV_PAIR:
            rc = fn(arg, path, lineno, key, value);
            break;
        }
    }
    return rc;
}
