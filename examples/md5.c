/* md5.c -- MD5 through OpenSSL 3's EVP interface (see md5.h). */
#include "md5.h"

#include <stdio.h>

EVP_MD_CTX *md5_begin(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "MD5", NULL); /* the default provider's */
    EVP_MD_CTX *ctx = md != NULL ? EVP_MD_CTX_new() : NULL;
    if (ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    EVP_MD_free(md); /* the context keeps its own reference */
    return ctx;
}

int md5_end(EVP_MD_CTX *md5, char hex[MD5_HEX_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    int ok = md5 != NULL && EVP_DigestFinal_ex(md5, digest, &len) == 1 &&
             len * 2 == MD5_HEX_LEN;
    EVP_MD_CTX_free(md5);
    hex[0] = '\0';
    for (unsigned i = 0; ok && i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return ok ? 0 : -1;
}
