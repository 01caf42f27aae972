/* tlskeys.c -- the server's TLS key pair (tlskeys.h). */
#include "tlskeys.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Run as root on a data root owned by another user (who runs the server
 * with --user), the new pair is that user's, so a reload (SIGHUP) after
 * the server dropped to that user can read it. */
static int give_to_root_owner(const char *root, const char *tmp, const char *k,
                              const char *c)
{
    struct stat st;
    if (geteuid() != 0)
        return 0;
    if (stat(root, &st) != 0)
        return -errno;
    if (st.st_uid == 0)
        return 0;
    const char *paths[] = {tmp, k, c};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (chown(paths[i], st.st_uid, st.st_gid) != 0)
            return -errno;
    return 0;
}

/* Makes root/tls with a new pair in it, all at once: the pair is made in
 * a private directory renamed into place, so servers starting together on
 * one data root agree on one key (the loser's is thrown away). */
static int make_pair_dir(const char *root, const char *dir, char *err,
                         size_t errlen)
{
    char tmp[PATH_CAP], k[PATH_CAP], c[PATH_CAP];
    if (snprintf(tmp, sizeof tmp, "%s/.tls-XXXXXX", root) >= 4000)
        return -ENAMETOOLONG;   /* room for the names below */
    if (mkdtemp(tmp) == NULL) { /* mode 0700 */
        int e = errno;
        snprintf(err, errlen, "cannot make a directory in %.300s: %s", root,
                 strerror(e));
        return -e;
    }
    int rc = snprintf(k, sizeof k, "%s/key.pem", tmp) >= (int)sizeof k ||
                     snprintf(c, sizeof c, "%s/cert.pem", tmp) >= (int)sizeof c
                 ? -ENAMETOOLONG
                 : proto_tls_make_self_signed(k, c, "ssftpd");
    if (rc != 0)
        snprintf(err, errlen, "cannot make a key pair: %s", strerror(-rc));
    else if ((rc = give_to_root_owner(root, tmp, k, c)) != 0)
        snprintf(err, errlen, "cannot give the key pair to %.300s's owner: %s",
                 root, strerror(-rc));
    if (rc == 0 && rename(tmp, dir) != 0 && errno != EEXIST &&
        errno != ENOTEMPTY) {
        rc = -errno;
        snprintf(err, errlen, "cannot make %.300s: %s", dir, strerror(-rc));
    }
    /* Whatever is left here lost the race, or failed. */
    (void)unlink(k);
    (void)unlink(c);
    (void)rmdir(tmp);
    return rc;
}

int tlskeys_locate(const char *root, const char *cert, const char *key,
                   bool make, char *cert_path, char *key_path, char *err,
                   size_t errlen)
{
    if ((cert == NULL) != (key == NULL)) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return -EINVAL;
    }
    if (cert != NULL) {
        if (snprintf(cert_path, PATH_CAP, "%s", cert) >= PATH_CAP ||
            snprintf(key_path, PATH_CAP, "%s", key) >= PATH_CAP) {
            snprintf(err, errlen, "TLS file name too long");
            return -ENAMETOOLONG;
        }
        return 0;
    }
    char dir[PATH_CAP];
    if (snprintf(dir, sizeof dir, "%s/tls", root) >= (int)sizeof dir ||
        snprintf(cert_path, PATH_CAP, "%s/cert.pem", dir) >= PATH_CAP ||
        snprintf(key_path, PATH_CAP, "%s/key.pem", dir) >= PATH_CAP) {
        snprintf(err, errlen, "data root path too long");
        return -ENAMETOOLONG;
    }
    bool have_cert = exists(cert_path), have_key = exists(key_path);
    if (have_cert && have_key)
        return 0;
    if (have_cert || have_key) {
        snprintf(err, errlen,
                 "%s exists without %s: restore it, or move both away to "
                 "make a new key (users will see a new fingerprint)",
                 have_cert ? cert_path : key_path,
                 have_cert ? key_path : cert_path);
        return -ENOENT;
    }
    if (!make) {
        snprintf(err, errlen,
                 "no key yet: %s (the server makes it at its "
                 "first start)",
                 key_path);
        return -ENOENT;
    }
    if (exists(dir)) {
        snprintf(err, errlen,
                 "%.300s holds no key pair: restore it, or move "
                 "it away to make a new key",
                 dir);
        return -ENOENT;
    }
    return make_pair_dir(root, dir, err, errlen);
}

int tlskeys_context(const char *cert_path, const char *key_path, SSL_CTX **ctx,
                    char fp[PROTO_TLS_FP_SIZE], char *err, size_t errlen)
{
    int rc = proto_tls_cert_file_fingerprint(cert_path, fp);
    if (rc != 0) {
        snprintf(err, errlen, "%.300s: %s", cert_path,
                 rc == -EINVAL ? "not a PEM certificate" : strerror(-rc));
        return rc;
    }
    return proto_tls_server_ctx(cert_path, key_path, ctx, err, errlen);
}

/* One lock for every slot, held only to copy or swap a pointer; taken
 * around fork() so that a child (process isolation) never inherits it
 * held by a thread it does not have. */
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_lock(void)
{
    int rc = pthread_mutex_lock(&slot_mu);
    if (rc != 0) /* only a corrupt mutex; nothing sane is left */
        abort();
}

static void slot_unlock(void)
{
    (void)pthread_mutex_unlock(&slot_mu);
}

static void slot_atfork(void)
{
    if (pthread_atfork(slot_lock, slot_unlock, slot_unlock) != 0)
        abort(); /* ENOMEM at start: a fork could deadlock a child */
}

SSL_CTX *tlsslot_get(struct tlsslot *slot)
{
    (void)pthread_once(&slot_once, slot_atfork);
    slot_lock();
    SSL_CTX *ctx = slot->ctx;
    if (ctx != NULL && SSL_CTX_up_ref(ctx) != 1)
        ctx = NULL;
    slot_unlock();
    return ctx;
}

void tlsslot_set(struct tlsslot *slot, SSL_CTX *ctx)
{
    (void)pthread_once(&slot_once, slot_atfork);
    slot_lock();
    SSL_CTX *old = slot->ctx;
    slot->ctx = ctx;
    slot_unlock();
    SSL_CTX_free(old);
}
