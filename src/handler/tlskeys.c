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
        snprintf(err, errlen, "no key yet: %s (the server makes it at its "
                 "first start)", key_path);
        return -ENOENT;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot make %s: %s", dir, strerror(e));
        return -e;
    }
    int rc = proto_tls_make_self_signed(key_path, cert_path, "ssftpd");
    if (rc != 0)
        snprintf(err, errlen, "cannot make a key pair in %s: %s", dir,
                 strerror(-rc));
    return rc;
}

int tlskeys_context(const char *cert_path, const char *key_path,
                    SSL_CTX **ctx, char fp[PROTO_TLS_FP_SIZE], char *err,
                    size_t errlen)
{
    int rc = proto_tls_cert_file_fingerprint(cert_path, fp);
    if (rc != 0) {
        snprintf(err, errlen, "%.300s: %s", cert_path,
                 rc == -EINVAL ? "not a PEM certificate" : strerror(-rc));
        return rc;
    }
    return proto_tls_server_ctx(cert_path, key_path, ctx, err, errlen);
}
