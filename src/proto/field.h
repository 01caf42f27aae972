/* field.h -- typed, validating access to the fields of a received header.
 *
 * A header comes from the peer, so no field is trusted: each getter checks
 * presence, JSON type and (for encoded bytes) exact length, and every failure
 * is -EINVAL -- which proto_errno_code() maps to PROTO_E_BAD_REQUEST.  For an
 * optional field, test proto_has() first; a present field of the wrong type
 * (including null) is still an error.
 */
#ifndef SSFTP_PROTO_FIELD_H
#define SSFTP_PROTO_FIELD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest binary field the hex/base64 helpers handle (a digest, key, nonce
 * or salt is at most 32 bytes). */
#define PROTO_FIELD_BIN_MAX 64

/* Whether obj has key at all (with any value, null included). */
bool proto_has(const json_t *obj, const char *key);

/* A string field.  *out is borrowed from obj (valid while obj lives); it is
 * valid UTF-8 without embedded NULs (proto_recv refuses both). */
int proto_get_str(const json_t *obj, const char *key, const char **out);

/* An integer field (JSON reals such as 1.0 are refused). */
int proto_get_i64(const json_t *obj, const char *key, int64_t *out);

/* A non-negative integer field: sizes, offsets, limits. */
int proto_get_u64(const json_t *obj, const char *key, uint64_t *out);

int proto_get_bool(const json_t *obj, const char *key, bool *out);

/* A string field holding exactly n bytes as lowercase hex / base64
 * (n <= PROTO_FIELD_BIN_MAX). */
int proto_get_hex(const json_t *obj, const char *key, void *out, size_t n);
int proto_get_b64(const json_t *obj, const char *key, void *out, size_t n);

/* Set obj[key] to the hex / base64 spelling of n bytes
 * (n <= PROTO_FIELD_BIN_MAX).  Returns 0, -EINVAL or -ENOMEM. */
int proto_set_hex(json_t *obj, const char *key, const void *bin, size_t n);
int proto_set_b64(json_t *obj, const char *key, const void *bin, size_t n);

#endif
