/* partname.h -- the hidden name a resumable upload grows under.
 *
 * An upload of NAME is written to ".NAME.ssftp-part" in the same directory
 * and renamed over NAME once its digest checks out.  Any name ending in
 * PROTO_PART_SUFFIX is reserved: ls hides it and no user path may name it
 * (docs/protocol.md, "Paths").
 */
#ifndef SSFTP_PROTO_PARTNAME_H
#define SSFTP_PROTO_PARTNAME_H

#include <stdbool.h>
#include <stddef.h>

#define PROTO_PART_SUFFIX ".ssftp-part"
/* What the partial adds to a name: the leading '.' and the suffix. */
#define PROTO_PART_EXTRA (1 + sizeof PROTO_PART_SUFFIX - 1)

/* Whether one path component is reserved for partials. */
bool proto_is_part_name(const char *component);

/* The partial's name for component name (no '/') into out.  Returns 0;
 * -ENAMETOOLONG if the result would exceed PROTO_NAME_MAX bytes (name longer
 * than 243); -EINVAL if name is empty, ".", "..", holds '/', or is itself
 * reserved; -ENOBUFS if cap is too small. */
int proto_part_name(const char *name, char *out, size_t cap);

#endif
