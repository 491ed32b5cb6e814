#ifndef CRSASIGN_H
#define CRSASIGN_H

/*
 * RSA signatures with the system OpenSSL 3 libcrypto (the library this target already uses for PKCS#12).
 *
 * Why not only swift-crypto: on CPUs with AVX-512 IFMA, OpenSSL 3 computes RSA-2048 private-key operations with
 * IFMA code that BoringSSL does not have, 2.4 times faster (measured by `make bench`, bench/README.md).
 *
 * The key is parsed once and keeps its signing contexts, so one key must not sign on two threads at once: callers
 * serialise (the Swift wrapper, OpenSSLRSASigner, holds a lock). Private-key bytes passed in are not kept or copied
 * beyond OpenSSL's own key structure, which OpenSSL clears when the key is freed.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crsasign_key crsasign_key;

/* Parses an RSA private key (PKCS#1 RSAPrivateKey or PKCS#8 PrivateKeyInfo, DER). NULL when the bytes are not an
 * RSA private key. */
crsasign_key *crsasign_key_new(const unsigned char *der, size_t der_len);

void crsasign_key_free(crsasign_key *key);

/* The modulus size in bytes (the length of every signature), 0 for NULL. */
size_t crsasign_key_size(const crsasign_key *key);

/* Signs a SHA-256 digest (32 bytes): PKCS#1 v1.5 when pss is 0 (RS256), else RSASSA-PSS with MGF1-SHA-256 and a
 * 32-byte salt (PS256). out must hold crsasign_key_size(key) bytes; *out_len receives the signature's length.
 * Returns 1 on success, 0 on failure. */
int crsasign_sign_sha256(crsasign_key *key, int pss, const unsigned char *digest, size_t digest_len,
                         unsigned char *out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
