/* userdb.h -- the ssftpd user file: SCRAM verifiers, quotas, homes, secret.
 *
 * Layout of a data root (made on first use, mode 0700):
 *
 *     <root>/users.json   the records, rewritten atomically (temp file, fsync,
 *                         rename, fsync of the directory); mode 0600
 *     <root>/users.lock   flock()ed by every writer, so two admin commands
 *                         (or an admin and the server) never lose an update
 *     <root>/secret       32 random bytes, mode 0600, made once; refused if
 *                         group or others may read it
 *     <root>/homes/NAME/  each user's files (see jail.h)
 *     <root>/ledger/NAME  each user's quota counts (ledger.h), mode 0600
 *
 * users.json holds {"version": 1, "users": [record, ...]}, a record being
 * {"name", "salt", "opslimit", "memlimit", "stored_key", "server_key",
 * "quota"}, and "max_files" when it is not 0, with binary fields in
 * standard base64.  It never holds a password
 * or anything a password can be checked against without the Argon2 work:
 * stored_key = H(client_key) and server_key are SCRAM verifiers (see
 * src/proto/auth.h).
 *
 * Readers (the server) need no lock: each lookup stats users.json and reloads
 * it when its inode, size or mtime changed, so admin changes apply to the
 * next lookup.  A users.json that does not parse fails every lookup (-EINVAL)
 * rather than serving a stale copy that may still hold a deleted user.
 *
 * Threads: all functions may be called from any thread on one struct userdb.
 */
#ifndef SSFTP_USERDB_H
#define SSFTP_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

/* Below PROTO_AUTH_USER_MAX, and a sane directory name. */
#define USERDB_NAME_MAX 32

/* What authenticates a user; replaced as a whole by "user passwd".  params
 * (salt and Argon2id costs) go into the login challenge as they are. */
struct userdb_cred {
    proto_auth_params params;
    uint8_t stored_key[PROTO_AUTH_KEY_BYTES];
    uint8_t server_key[PROTO_AUTH_KEY_BYTES];
};

struct userdb_record {
    char name[USERDB_NAME_MAX + 1];
    struct userdb_cred cred;
    uint64_t quota;     /* bytes; 0 = the server's default */
    uint64_t max_files; /* entries; 0 = the server's default */
};

struct userdb;

/* [A-Za-z0-9._-]{1,32}, not starting with '.': safe as a directory name and
 * in logs, and never "." or "..". */
bool userdb_name_valid(const char *name);

/* Opens the data root, creating it, homes/ and the secret if missing. */
int userdb_open(const char *root, struct userdb **out);

/* Writes an empty users.json (mode 0600) if there is none ("ssftpd
 * init"). */
int userdb_init_file(struct userdb *db);
void userdb_close(struct userdb *db);

/* The server secret (for what must be stable per server but unguessable,
 * e.g. proto_auth_fake_salt() for unknown users). */
void userdb_secret(const struct userdb *db,
                   uint8_t out[PROTO_AUTH_SECRET_BYTES]);

/* Copies the record of name into *out: 0, -ENOENT, or a reload error.
 * With -ENOENT, out->cred.params holds the argon2id costs of some real user
 * (PROTO_AUTH_DEFAULT_* when there is none), to answer an unknown name as a known
 * one; both outcomes do the same work, whatever the number of users. */
int userdb_lookup(struct userdb *db, const char *name,
                  struct userdb_record *out);

/* All records, sorted by name, in a malloc()ed array the caller frees. */
int userdb_list(struct userdb *db, struct userdb_record **out, size_t *n);

/* Writers.  Each takes users.lock, re-reads users.json, changes it and
 * writes it back atomically.  -EINVAL for an invalid name, -ERANGE for
 * a quota, opslimit or memlimit above INT64_MAX (JSON integers). */

/* Adds rec (-EEXIST if the name is taken) after creating homes/NAME/; an
 * existing home is kept, so a re-added user gets their old files back. */
int userdb_add(struct userdb *db, const struct userdb_record *rec);
/* Replaces the credentials of name, keeping its quota.  -ENOENT. */
int userdb_set_cred(struct userdb *db, const char *name,
                    const struct userdb_cred *cred);
int userdb_set_quota(struct userdb *db, const char *name, uint64_t quota);
int userdb_set_max_files(struct userdb *db, const char *name,
                         uint64_t max_files);
/* Removes the record only; homes/NAME/ and its files stay. */
int userdb_remove(struct userdb *db, const char *name);

/* Opens homes/NAME/ (O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC) for
 * jail_open(), which takes it over.  -ENOENT if the home is missing, -ELOOP
 * if it is a symlink. */
int userdb_home_open(struct userdb *db, const char *name, int *fd);

/* Opens (creating ledger/ and the file, mode 0600, if missing) the ledger
 * of name, O_RDWR|O_CLOEXEC, for ledger_open(), which takes it over. */
int userdb_ledger_open(struct userdb *db, const char *name, int *fd);

#endif
