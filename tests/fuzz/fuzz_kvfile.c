/* fuzz_kvfile.c -- libFuzzer: settings lines (kvfile.h), as ssftpd's and
 * ssftp's configs split them.  The input is a file's text; each line is
 * split with '=' and with ' ', and every pair must point into the line,
 * trimmed, with no separator in the key. */
#include <stdlib.h>
#include <string.h>

#include "fuzzstack.h"
#include "kvfile.h"

/* s is a piece of [line, line + n), non-empty unless empty_ok, without
 * leading blanks or trailing blanks, '\r' and '\n' (kvfile.h). */
static void check_in(const char *s, const char *line, size_t n, bool empty_ok)
{
    size_t len = strlen(s);
    if (s < line || s + len > line + n)
        abort();
    if (len == 0 ? !empty_ok
                 : s[0] == ' ' || s[0] == '\t' ||
                       strchr(" \t\r\n", s[len - 1]) != NULL)
        abort();
}

static void split_one(const char *text, size_t n, char sep)
{
    char *line = malloc(n + 1);
    if (line == NULL)
        abort();
    memcpy(line, text, n);
    line[n] = '\0';
    char *key = NULL, *value = NULL;
    if (proto_kv_split(line, sep, &key, &value) == PROTO_KV_PAIR) {
        check_in(key, line, n, false);
        check_in(value, line, n, true);
        if (key[0] == '#' || strchr(key, sep == '=' ? '=' : ' ') != NULL ||
            (sep == ' ' && strchr(key, '\t') != NULL))
            abort();
    }
    free(line);
}

static void one(const uint8_t *data, size_t size)
{
    /* Lines as config_load() cuts them: at '\n', NULs ending the text. */
    const char *text = (const char *)data;
    size_t len = strnlen(text, size);
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) + 1 : len - at;
        split_one(text + at, n, '=');
        split_one(text + at, n, ' ');
        at += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_on_worker_stack(one, data, size);
    return 0;
}
