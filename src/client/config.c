/* config.c -- reading ~/.config/ssftp/config (config.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvfile.h"
#include "text.h"
#include "transfer.h"

/* Copies word into out (cap bytes); false if it does not fit. */
static bool take(char *out, size_t cap, const char *word)
{
    if (word == NULL || strlen(word) >= cap)
        return false;
    strcpy(out, word);
    return true;
}

static int line_error(char *err, size_t cap, const char *path, unsigned long n,
                      const char *what, const char *word)
{
    char *p = text_escape(path), *w = text_escape(word ? word : "");
    snprintf(err, cap, "%s:%lu: %s%s%s%s", p ? p : "?", n, what,
             word ? " \"" : "", word ? (w ? w : "?") : "", word ? "\"" : "");
    free(p);
    free(w);
    return -1;
}

/* One line, split in place: returns the error text, or NULL when fine. */
static const char *config_line(char *line, const char *name, client_config *c,
                               const char **bad)
{
    char *key, *rest, *save = NULL;
    if (proto_kv_split(line, ' ', &key, &rest) != PROTO_KV_PAIR)
        return NULL; /* blank or a comment: with ' ' nothing else */
    char *a = strtok_r(rest, " \t\r\n", &save);
    char *b = strtok_r(NULL, " \t\r\n", &save);
    char *d = strtok_r(NULL, " \t\r\n", &save);
    char *extra = strtok_r(NULL, " \t\r\n", &save);
    *bad = key;
    if (strcmp(key, "user") == 0 || strcmp(key, "port") == 0) {
        bool user = key[0] == 'u';
        if (a == NULL || b != NULL)
            return "expected one value after";
        char *end;
        long port = user ? 0 : strtol(a, &end, 10);
        if (!user && (*end || port < 1 || port > 65535))
            return "not a port: 1..65535, after";
        return take(user ? c->user : c->port,
                    user ? sizeof c->user : sizeof c->port, a)
                   ? NULL
                   : "too long, the value of";
    }
    if (strcmp(key, "limit-rate") == 0) {
        if (a == NULL || b != NULL)
            return "expected one value after";
        *bad = a;
        return transfer_rate_parse(a, &c->limit_rate) == NULL
                   ? NULL
                   : "limit-rate: not a rate (K, M, G: 1024-based; at least "
                     "1K; or off):";
    }
    if (strcmp(key, "bookmark") == 0) {
        if (a == NULL || b == NULL || extra != NULL)
            return "expected NAME HOST[:PORT] [USER] after";
        if (name == NULL || strcmp(a, name) != 0)
            return NULL;
        c->bookmarked = true;
        c->host_user[0] = '\0';
        if (!take(c->host, sizeof c->host, b) ||
            (d && !take(c->host_user, sizeof c->host_user, d)))
            return "too long, a value of";
        return NULL;
    }
    return "unknown key";
}

int config_load(const char *path, const char *name, client_config *out,
                char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return line_error(err, errcap, path, 0, strerror(errno), NULL);
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned long n = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        n++;
        const char *bad = NULL;
        const char *why = config_line(line, name, out, &bad);
        if (why != NULL)
            rc = line_error(err, errcap, path, n, why, bad);
    }
    if (rc == 0 && ferror(f))
        rc = line_error(err, errcap, path, n, strerror(errno), NULL);
    free(line);
    fclose(f);
    return rc;
}
