#ifndef CPKCS12_H
#define CPKCS12_H

/*
 * Thin PKCS#12 reader/writer on top of the system OpenSSL 3 libcrypto.
 *
 * All strings are UTF-8. Passwords are only passed in; they are never stored,
 * logged or copied into an error text. Buffers holding private-key material are
 * wiped before they are freed.
 */

#include <stddef.h>
#include "crsasign.h" /* RSA signing with the same libcrypto */

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by cpkcs12_parse and cpkcs12_write. */
typedef enum {
    CPKCS12_OK = 0,
    /* The bytes are not a DER-encoded PKCS#12 PFX structure. */
    CPKCS12_ERR_NOT_PKCS12 = 1,
    /* The MAC does not verify with the store password (wrong password). */
    CPKCS12_ERR_BAD_PASSWORD = 2,
    /* An encrypted safe cannot be decrypted with the store password (treat as wrong password). */
    CPKCS12_ERR_DECRYPT = 3,
    /* Anything else (damaged structure, unsupported algorithm, out of memory, ...). */
    CPKCS12_ERR_OTHER = 4,
    /* Writer: a private key could not be parsed. failed_entry tells which entry. */
    CPKCS12_ERR_BAD_KEY = 5,
    /* Writer: a certificate could not be parsed. failed_entry tells which entry. */
    CPKCS12_ERR_BAD_CERT = 6,
    /* Writer: a private key does not match the entry's certificate. */
    CPKCS12_ERR_KEY_MISMATCH = 7,
    /* Invalid arguments (NULL pointers, spans out of range). */
    CPKCS12_ERR_INVALID_ARGUMENT = 8,
    /* An encrypted safe uses an algorithm this libcrypto cannot provide (e.g. RC2 without the legacy provider). */
    CPKCS12_ERR_UNSUPPORTED_ALGORITHM = 9
} cpkcs12_status;

typedef enum {
    CPKCS12_BAG_KEY = 1,
    CPKCS12_BAG_CERT = 2
} cpkcs12_bag_kind;

typedef enum {
    CPKCS12_KEY_NONE = 0,
    CPKCS12_KEY_RSA = 1,
    CPKCS12_KEY_EC = 2,
    CPKCS12_KEY_UNSUPPORTED = 3
} cpkcs12_key_type;

typedef enum {
    CPKCS12_CURVE_NONE = 0,
    CPKCS12_CURVE_P256 = 1,
    CPKCS12_CURVE_P384 = 2,
    CPKCS12_CURVE_P521 = 3,
    CPKCS12_CURVE_OTHER = 4
} cpkcs12_curve;

/* One safe bag of the file (key bag, shrouded key bag or certificate bag). */
typedef struct {
    cpkcs12_bag_kind kind;
    /* friendlyName attribute (UTF-8, NUL-terminated) or NULL. */
    char *friendly_name;
    /* localKeyID attribute bytes or NULL. */
    unsigned char *local_key_id;
    size_t local_key_id_len;
    /*
     * CPKCS12_BAG_CERT: the certificate DER.
     * CPKCS12_BAG_KEY: the private key as i2d_PrivateKey encodes it (PKCS#1 for RSA,
     * SEC1 for EC); NULL when the key could not be decrypted, was skipped, or is unsupported.
     */
    unsigned char *der;
    size_t der_len;
    /* Keys only. */
    cpkcs12_key_type key_type;
    int curve_nid;          /* OpenSSL NID of the EC curve, 0 otherwise */
    cpkcs12_curve curve;    /* EC curve, CPKCS12_CURVE_NONE otherwise */
    int key_bits;           /* key size in bits, 0 when unknown */
    /* Key type (unsupported keys, e.g. "ED25519") or curve name (EC), NUL-terminated, or NULL. */
    char *key_type_name;
    /* 1 when this was a pkcs8ShroudedKeyBag. */
    int key_shrouded;
    /* 1 when the shrouded key could not be decrypted with the key password. */
    int key_decrypt_failed;
    /* 1 (together with key_decrypt_failed) when the key encryption algorithm is not available. */
    int key_decrypt_unsupported;
    /* 1 when the key bag was not decoded because the caller asked to skip keys. */
    int key_skipped;
} cpkcs12_bag;

typedef struct {
    cpkcs12_bag *bags;
    size_t count;
    /* 1 when the file has a MAC (integrity check) at all. */
    int mac_present;
} cpkcs12_result;

/*
 * Parses a PKCS#12 file.
 *   store_password: protects the MAC and the encrypted safes ("" allowed; NULL is treated as "").
 *   key_password:   decrypts shrouded key bags; NULL means "same as store_password".
 *   skip_keys:      when non-zero, key bags are reported (with attributes) but never decrypted.
 *   out:            on CPKCS12_OK receives a result to be released with cpkcs12_result_free.
 *   detail, detail_len: optional buffer receiving a short OpenSSL error text (never contains secrets).
 */
cpkcs12_status cpkcs12_parse(const unsigned char *data, size_t data_len,
                             const char *store_password, const char *key_password,
                             int skip_keys,
                             cpkcs12_result **out,
                             char *detail, size_t detail_len);

void cpkcs12_result_free(cpkcs12_result *result);

/* A byte range inside the blob passed to cpkcs12_write. */
typedef struct {
    size_t offset;
    size_t length;
} cpkcs12_span;

/* One entry to write. All spans point into the writer's blob. */
typedef struct {
    cpkcs12_span alias;        /* UTF-8 friendly name (not NUL-terminated) */
    cpkcs12_span private_key;  /* PKCS#1, SEC1 or PKCS#8 DER; length 0 = trusted-certificate entry */
    cpkcs12_span certificate;  /* leaf certificate DER */
    size_t chain_first;        /* index of the first chain span in the chain array */
    size_t chain_count;        /* number of chain certificates */
} cpkcs12_entry;

/*
 * Writes a PKCS#12 file: certificates in one PBES2/AES-256-CBC encrypted safe (store password),
 * private keys as PBES2/AES-256-CBC shrouded key bags (key password), HMAC-SHA256 MAC (store password).
 *   key_password NULL means "same as store_password".
 *   On success *out receives a buffer to release with cpkcs12_buffer_free.
 *   On CPKCS12_ERR_BAD_KEY / BAD_CERT / KEY_MISMATCH, *failed_entry (if not NULL) is the entry index.
 */
cpkcs12_status cpkcs12_write(const unsigned char *blob, size_t blob_len,
                             const cpkcs12_entry *entries, size_t entry_count,
                             const cpkcs12_span *chain, size_t chain_total,
                             const char *store_password, const char *key_password,
                             unsigned char **out, size_t *out_len,
                             size_t *failed_entry,
                             char *detail, size_t detail_len);

void cpkcs12_buffer_free(unsigned char *buffer, size_t length);

#ifdef __cplusplus
}
#endif

#endif /* CPKCS12_H */
