/* kvfile.h -- one line of a settings file, split into key and value.
 *
 * ssftpd's config ("key = value", src/handler/config.c) and ssftp's
 * (~/.config/ssftp/config, "key value...", src/client/config.c) read lines
 * by one rule, kept here:
 *
 *   - a line that is empty, only blanks, or whose first non-blank is '#' is
 *     skipped;
 *   - the key is what comes before the first separator: '=' for sep '=',
 *     the first blank (space or tab) for sep ' ';
 *   - blanks around the key and the value are dropped, and so is a
 *     trailing '\r' or '\n' (a CRLF file, or a line from getline());
 *   - the value runs to the end of the line, with no quoting.
 *
 * With sep ' ' a line of one word is that key with an empty value (the
 * caller says which keys need one); with sep '=' a line without '=' is an
 * error, as is an empty key before '='.
 */
#ifndef SSFTP_PROTO_KVFILE_H
#define SSFTP_PROTO_KVFILE_H

enum proto_kv {
    PROTO_KV_PAIR,   /* *key and *value point into line */
    PROTO_KV_SKIP,   /* blank or a comment */
    PROTO_KV_NO_SEP, /* sep '=' and there is none */
    PROTO_KV_NO_KEY  /* nothing before the separator */
};

/* Splits line (NUL-terminated, one line: a '\n' only at its end) in place.
 * sep is '=' or ' '.  *key and *value are set for PROTO_KV_PAIR only. */
enum proto_kv proto_kv_split(char *line, char sep, char **key, char **value);

#endif
