/* md5.h -- MD5 through OpenSSL 3's EVP interface, for the download examples:
 *     EVP_MD_CTX *md5 = md5_begin();       (hashlib.md5())
 *     EVP_DigestUpdate(md5, data, n);      (md5.update(data))
 *     md5_end(md5, hex);                   (md5.hexdigest(); frees md5) */
#ifndef EXAMPLES_MD5_H
#define EXAMPLES_MD5_H

#include <openssl/evp.h>

#define MD5_HEX_LEN 32

/* A context ready for EVP_DigestUpdate(), or NULL. */
EVP_MD_CTX *md5_begin(void);

/* Writes the digest as 32 hex digits and a NUL into hex, frees md5.
 * Returns 0, or -1 (hex is then ""). */
int md5_end(EVP_MD_CTX *md5, char hex[MD5_HEX_LEN + 1]);

#endif
