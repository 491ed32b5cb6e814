#include "crsasign.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct crsasign_key {
    EVP_PKEY *pkey;
    /* Signing contexts, set up at the first signature of each padding and reused (OpenSSL allows EVP_PKEY_sign
     * again on a context with the same parameters): setting one up costs a provider fetch each time. */
    EVP_PKEY_CTX *contexts[2];
};

crsasign_key *crsasign_key_new(const unsigned char *der, size_t der_len) {
    if (der == NULL || der_len == 0 || der_len > 65536) {
        return NULL;
    }
    const unsigned char *cursor = der;
    EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &cursor, (long)der_len);
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return NULL;
    }
    crsasign_key *key = OPENSSL_zalloc(sizeof(*key));
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    key->pkey = pkey;
    return key;
}

void crsasign_key_free(crsasign_key *key) {
    if (key == NULL) {
        return;
    }
    EVP_PKEY_CTX_free(key->contexts[0]);
    EVP_PKEY_CTX_free(key->contexts[1]);
    EVP_PKEY_free(key->pkey);
    OPENSSL_free(key);
}

size_t crsasign_key_size(const crsasign_key *key) {
    if (key == NULL) {
        return 0;
    }
    int size = EVP_PKEY_get_size(key->pkey);
    return size > 0 ? (size_t)size : 0;
}

static EVP_PKEY_CTX *signing_context(crsasign_key *key, int pss) {
    EVP_PKEY_CTX **slot = &key->contexts[pss ? 1 : 0];
    if (*slot != NULL) {
        return *slot;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
    int ok = ctx != NULL
        && EVP_PKEY_sign_init(ctx) == 1
        && EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1
        && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1
        && (!pss || (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1
                     && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1));
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    *slot = ctx;
    return ctx;
}

int crsasign_sign_sha256(crsasign_key *key, int pss, const unsigned char *digest, size_t digest_len,
                         unsigned char *out, size_t *out_len) {
    if (key == NULL || digest == NULL || digest_len != 32 || out == NULL || out_len == NULL) {
        return 0;
    }
    EVP_PKEY_CTX *ctx = signing_context(key, pss);
    *out_len = crsasign_key_size(key);
    int ok = ctx != NULL && EVP_PKEY_sign(ctx, out, out_len, digest, digest_len) == 1;
    if (!ok) {
        ERR_clear_error();
    }
    return ok;
}
