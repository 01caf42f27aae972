/* tlskeys.c -- the server's TLS key pair (tlskeys.h). */
#include "tlskeys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
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
