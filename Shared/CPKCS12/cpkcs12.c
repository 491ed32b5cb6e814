#include "cpkcs12.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

/* PBKDF2 / PKCS#12-KDF iteration count used by the writer (same as current JDKs). */
#define CPKCS12_WRITE_ITERATIONS 10000
/* Nesting limit for safeContentsBag recursion. */
#define CPKCS12_MAX_DEPTH 8
/* Oracle JDK "trusted key usage" bag attribute: marks a trusted-certificate entry for Java. */
#define CPKCS12_JDK_TRUST_OID "2.16.840.1.113894.746875.1.1"

/* ------------------------------------------------------------------------- */
/* Providers                                                                  */
/* ------------------------------------------------------------------------- */

static pthread_once_t cpkcs12_providers_once = PTHREAD_ONCE_INIT;

static void cpkcs12_load_providers(void) {
    /*
     * Loading any provider explicitly disables the implicit load of "default",
     * so load both. "legacy" (RC2, 3DES, ...) may be missing: ignore failure.
     * The providers stay loaded for the lifetime of the process.
     */
    (void)OSSL_PROVIDER_load(NULL, "legacy");
    (void)OSSL_PROVIDER_load(NULL, "default");
    ERR_clear_error();
}

static void cpkcs12_init(void) {
    (void)pthread_once(&cpkcs12_providers_once, cpkcs12_load_providers);
}

static void cpkcs12_set_detail(char *detail, size_t detail_len, const char *fallback) {
    if (detail == NULL || detail_len == 0) {
        return;
    }
    unsigned long err = ERR_peek_last_error();
    if (err != 0) {
        ERR_error_string_n(err, detail, detail_len);
    } else if (fallback != NULL) {
        size_t n = strlen(fallback);
        if (n >= detail_len) {
            n = detail_len - 1;
        }
        memcpy(detail, fallback, n);
        detail[n] = '\0';
    } else {
        detail[0] = '\0';
    }
}

static char *cpkcs12_strdup(const char *s) {
    if (s == NULL) {
        return NULL;
    }
    return OPENSSL_strdup(s);
}

/* ------------------------------------------------------------------------- */
/* Parsing                                                                    */
/* ------------------------------------------------------------------------- */

typedef struct {
    cpkcs12_bag *bags;
    size_t count;
    size_t capacity;
    const char *key_password;   /* may be NULL (= empty password, NULL variant) */
    int key_password_empty;     /* retry with NULL when "" fails */
    int skip_keys;
} cpkcs12_walk_ctx;

static void cpkcs12_bag_clear(cpkcs12_bag *bag) {
    OPENSSL_free(bag->friendly_name);
    OPENSSL_free(bag->local_key_id);
    if (bag->der != NULL) {
        if (bag->kind == CPKCS12_BAG_KEY) {
            OPENSSL_clear_free(bag->der, bag->der_len);
        } else {
            OPENSSL_free(bag->der);
        }
    }
    OPENSSL_free(bag->key_type_name);
    memset(bag, 0, sizeof(*bag));
}

void cpkcs12_result_free(cpkcs12_result *result) {
    if (result == NULL) {
        return;
    }
    for (size_t i = 0; i < result->count; i++) {
        cpkcs12_bag_clear(&result->bags[i]);
    }
    OPENSSL_free(result->bags);
    OPENSSL_free(result);
}

/* Appends a zeroed bag with the common attributes filled in. Returns NULL on allocation failure. */
static cpkcs12_bag *cpkcs12_append(cpkcs12_walk_ctx *ctx, const PKCS12_SAFEBAG *bag, cpkcs12_bag_kind kind) {
    if (ctx->count == ctx->capacity) {
        size_t capacity = ctx->capacity == 0 ? 8 : ctx->capacity * 2;
        cpkcs12_bag *grown = OPENSSL_realloc(ctx->bags, capacity * sizeof(cpkcs12_bag));
        if (grown == NULL) {
            return NULL;
        }
        ctx->bags = grown;
        ctx->capacity = capacity;
    }
    cpkcs12_bag *out = &ctx->bags[ctx->count];
    memset(out, 0, sizeof(*out));
    ctx->count++;
    out->kind = kind;

    /* PKCS12_get_friendlyname takes a non-const bag but does not modify it. */
    out->friendly_name = PKCS12_get_friendlyname((PKCS12_SAFEBAG *)bag);

    const ASN1_TYPE *keyid = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);
    if (keyid != NULL && ASN1_TYPE_get(keyid) == V_ASN1_OCTET_STRING && keyid->value.octet_string != NULL) {
        const ASN1_OCTET_STRING *os = keyid->value.octet_string;
        int len = ASN1_STRING_length(os);
        if (len > 0) {
            out->local_key_id = OPENSSL_memdup(ASN1_STRING_get0_data(os), (size_t)len);
            if (out->local_key_id == NULL) {
                return NULL;
            }
            out->local_key_id_len = (size_t)len;
        }
    }
    ERR_clear_error();
    return out;
}

static cpkcs12_curve cpkcs12_curve_from_nid(int nid) {
    switch (nid) {
    case NID_X9_62_prime256v1:
        return CPKCS12_CURVE_P256;
    case NID_secp384r1:
        return CPKCS12_CURVE_P384;
    case NID_secp521r1:
        return CPKCS12_CURVE_P521;
    default:
        return CPKCS12_CURVE_OTHER;
    }
}

/* Fills key information from a decrypted PKCS#8 structure. Returns 0 on allocation failure only. */
static int cpkcs12_fill_key(cpkcs12_bag *out, const PKCS8_PRIV_KEY_INFO *p8) {
    EVP_PKEY *pkey = EVP_PKCS82PKEY(p8);
    if (pkey == NULL) {
        /* A key OpenSSL cannot decode: report the algorithm OID as its type. */
        const ASN1_OBJECT *alg = NULL;
        char name[128];
        out->key_type = CPKCS12_KEY_UNSUPPORTED;
        if (PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8) && alg != NULL &&
            OBJ_obj2txt(name, sizeof(name), alg, 0) > 0) {
            out->key_type_name = cpkcs12_strdup(name);
        } else {
            out->key_type_name = cpkcs12_strdup("unknown");
        }
        ERR_clear_error();
        return out->key_type_name != NULL;
    }

    int ok = 1;
    int base = EVP_PKEY_get_base_id(pkey);
    out->key_bits = EVP_PKEY_get_bits(pkey);
    if (base == EVP_PKEY_RSA || base == EVP_PKEY_EC) {
        if (base == EVP_PKEY_RSA) {
            out->key_type = CPKCS12_KEY_RSA;
        } else {
            char group[80];
            size_t group_len = 0;
            out->key_type = CPKCS12_KEY_EC;
            if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) && group_len > 0) {
                int nid = OBJ_txt2nid(group);
                if (nid == NID_undef) {
                    nid = EC_curve_nist2nid(group);
                }
                out->curve_nid = nid == NID_undef ? 0 : nid;
                out->curve = cpkcs12_curve_from_nid(nid);
                out->key_type_name = cpkcs12_strdup(group);
                if (out->key_type_name == NULL) {
                    ok = 0;
                }
            } else {
                out->curve = CPKCS12_CURVE_OTHER;
            }
        }
        if (ok) {
            unsigned char *der = NULL;
            int len = i2d_PrivateKey(pkey, &der);
            if (len > 0 && der != NULL) {
                out->der = der;
                out->der_len = (size_t)len;
            } else {
                /* Cannot re-encode: report as unsupported rather than failing the whole file. */
                out->key_type = CPKCS12_KEY_UNSUPPORTED;
            }
        }
    } else {
        const char *type_name = EVP_PKEY_get0_type_name(pkey);
        if (type_name == NULL) {
            type_name = OBJ_nid2sn(base);
        }
        out->key_type = CPKCS12_KEY_UNSUPPORTED;
        out->key_type_name = cpkcs12_strdup(type_name != NULL ? type_name : "unknown");
        if (out->key_type_name == NULL) {
            ok = 0;
        }
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

static int cpkcs12_is_unsupported_algorithm(void);

static int cpkcs12_walk(cpkcs12_walk_ctx *ctx, const STACK_OF(PKCS12_SAFEBAG) *bags, int depth) {
    if (bags == NULL) {
        return 1;
    }
    if (depth > CPKCS12_MAX_DEPTH) {
        return 0;
    }
    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
        const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
        switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_keyBag: {
            cpkcs12_bag *out = cpkcs12_append(ctx, bag, CPKCS12_BAG_KEY);
            if (out == NULL) {
                return 0;
            }
            if (ctx->skip_keys) {
                out->key_skipped = 1;
                break;
            }
            const PKCS8_PRIV_KEY_INFO *p8 = PKCS12_SAFEBAG_get0_p8inf(bag);
            if (p8 == NULL) {
                out->key_type = CPKCS12_KEY_UNSUPPORTED;
                break;
            }
            if (!cpkcs12_fill_key(out, p8)) {
                return 0;
            }
            break;
        }
        case NID_pkcs8ShroudedKeyBag: {
            cpkcs12_bag *out = cpkcs12_append(ctx, bag, CPKCS12_BAG_KEY);
            if (out == NULL) {
                return 0;
            }
            out->key_shrouded = 1;
            if (ctx->skip_keys) {
                out->key_skipped = 1;
                break;
            }
            PKCS8_PRIV_KEY_INFO *p8 = PKCS12_decrypt_skey(bag, ctx->key_password, -1);
            if (p8 == NULL && cpkcs12_is_unsupported_algorithm()) {
                out->key_decrypt_unsupported = 1;
            } else if (p8 == NULL && ctx->key_password_empty) {
                ERR_clear_error();
                p8 = PKCS12_decrypt_skey(bag, NULL, 0);
            }
            ERR_clear_error();
            if (p8 == NULL) {
                out->key_decrypt_failed = 1;
                break;
            }
            int ok = cpkcs12_fill_key(out, p8);
            PKCS8_PRIV_KEY_INFO_free(p8);
            if (!ok) {
                return 0;
            }
            break;
        }
        case NID_certBag: {
            if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate) {
                break; /* SDSI certificates are not supported; ignore them. */
            }
            X509 *cert = PKCS12_SAFEBAG_get1_cert(bag);
            if (cert == NULL) {
                return 0;
            }
            unsigned char *der = NULL;
            int len = i2d_X509(cert, &der);
            X509_free(cert);
            if (len <= 0 || der == NULL) {
                return 0;
            }
            cpkcs12_bag *out = cpkcs12_append(ctx, bag, CPKCS12_BAG_CERT);
            if (out == NULL) {
                OPENSSL_free(der);
                return 0;
            }
            out->der = der;
            out->der_len = (size_t)len;
            break;
        }
        case NID_safeContentsBag:
            if (!cpkcs12_walk(ctx, PKCS12_SAFEBAG_get0_safes(bag), depth + 1)) {
                return 0;
            }
            break;
        default:
            /* CRL bags, secret bags: not needed. */
            break;
        }
    }
    return 1;
}

/* Returns 1 when the last OpenSSL error says an algorithm is not available (e.g. RC2 without the legacy provider). */
static int cpkcs12_is_unsupported_algorithm(void) {
    unsigned long err = ERR_peek_last_error();
    int reason = ERR_GET_REASON(err);
    if (err == 0) {
        return 0;
    }
    if (reason == ERR_R_UNSUPPORTED) {
        return 1;
    }
    return ERR_GET_LIB(err) == ERR_LIB_EVP &&
           (reason == EVP_R_UNSUPPORTED_CIPHER || reason == EVP_R_UNKNOWN_CIPHER ||
            reason == EVP_R_UNSUPPORTED_ALGORITHM || reason == EVP_R_UNSUPPORTED_KEYLENGTH ||
            reason == EVP_R_UNSUPPORTED_PRF || reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION);
}

/*
 * After PKCS12_verify_mac failed: returns 1 when the MAC simply did not match (wrong password).
 * OpenSSL 3.0 returns 0 without queuing an error on a mismatch; it queues
 * PKCS12_R_MAC_GENERATION_ERROR (or similar) when the MAC cannot be computed at all,
 * e.g. for an unknown digest or PBMAC1.
 */
static int cpkcs12_is_mac_mismatch(void) {
    unsigned long err = ERR_peek_last_error();
    if (err == 0) {
        return 1;
    }
    return ERR_GET_LIB(err) == ERR_LIB_PKCS12 && ERR_GET_REASON(err) == PKCS12_R_MAC_VERIFY_FAILURE;
}

cpkcs12_status cpkcs12_parse(const unsigned char *data, size_t data_len,
                             const char *store_password, const char *key_password,
                             int skip_keys,
                             cpkcs12_result **out,
                             char *detail, size_t detail_len) {
    if (detail != NULL && detail_len > 0) {
        detail[0] = '\0';
    }
    if (out == NULL || (data == NULL && data_len > 0)) {
        return CPKCS12_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    if (data_len == 0 || data_len > (size_t)LONG_MAX) {
        return CPKCS12_ERR_NOT_PKCS12;
    }
    cpkcs12_init();
    ERR_clear_error();

    const unsigned char *cursor = data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &cursor, (long)data_len);
    if (p12 == NULL) {
        cpkcs12_set_detail(detail, detail_len, "DER decoding of the PFX structure failed");
        ERR_clear_error();
        return CPKCS12_ERR_NOT_PKCS12;
    }

    cpkcs12_status status = CPKCS12_OK;
    STACK_OF(PKCS7) *authsafes = NULL;
    cpkcs12_walk_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));

    const char *store = store_password != NULL ? store_password : "";
    int store_empty = store[0] == '\0';
    /* The variant of the store password that verified the MAC ("" or NULL for an empty password). */
    const char *store_effective = store;

    int mac_present = PKCS12_mac_present(p12);
    if (mac_present) {
        if (!PKCS12_verify_mac(p12, store, -1)) {
            int verified = 0;
            int mismatch = cpkcs12_is_mac_mismatch();
            if (store_empty) {
                ERR_clear_error();
                if (PKCS12_verify_mac(p12, NULL, 0)) {
                    verified = 1;
                    store_effective = NULL;
                } else {
                    mismatch = mismatch || cpkcs12_is_mac_mismatch();
                }
            }
            if (!verified) {
                if (mismatch) {
                    status = CPKCS12_ERR_BAD_PASSWORD;
                } else {
                    cpkcs12_set_detail(detail, detail_len, "MAC verification failed (unsupported MAC algorithm?)");
                    status = CPKCS12_ERR_OTHER;
                }
                goto done;
            }
        }
    }

    if (key_password == NULL) {
        ctx.key_password = store_effective;
        ctx.key_password_empty = store_empty;
    } else {
        ctx.key_password = key_password;
        ctx.key_password_empty = key_password[0] == '\0';
    }
    ctx.skip_keys = skip_keys;

    authsafes = PKCS12_unpack_authsafes(p12);
    if (authsafes == NULL) {
        cpkcs12_set_detail(detail, detail_len, "cannot decode the authenticated safe");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }

    for (int i = 0; i < sk_PKCS7_num(authsafes); i++) {
        PKCS7 *p7 = sk_PKCS7_value(authsafes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        int nid = OBJ_obj2nid(p7->type);
        if (nid == NID_pkcs7_data) {
            bags = PKCS12_unpack_p7data(p7);
            if (bags == NULL) {
                cpkcs12_set_detail(detail, detail_len, "cannot decode a safe contents");
                status = CPKCS12_ERR_OTHER;
                goto done;
            }
        } else if (nid == NID_pkcs7_encrypted) {
            bags = PKCS12_unpack_p7encdata(p7, store_effective, -1);
            if (bags == NULL && cpkcs12_is_unsupported_algorithm()) {
                cpkcs12_set_detail(detail, detail_len, "unsupported encryption algorithm");
                status = CPKCS12_ERR_UNSUPPORTED_ALGORITHM;
                goto done;
            }
            if (bags == NULL && store_empty) {
                ERR_clear_error();
                bags = PKCS12_unpack_p7encdata(p7, store_effective == NULL ? "" : NULL, -1);
            }
            if (bags == NULL) {
                cpkcs12_set_detail(detail, detail_len, "cannot decrypt an encrypted safe");
                status = CPKCS12_ERR_DECRYPT;
                goto done;
            }
        } else {
            /* Public-key (enveloped) safes are not supported; skip them. */
            continue;
        }
        int ok = cpkcs12_walk(&ctx, bags, 0);
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
        if (!ok) {
            cpkcs12_set_detail(detail, detail_len, "cannot decode a safe bag");
            status = CPKCS12_ERR_OTHER;
            goto done;
        }
    }

    cpkcs12_result *result = OPENSSL_zalloc(sizeof(cpkcs12_result));
    if (result == NULL) {
        cpkcs12_set_detail(detail, detail_len, "out of memory");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    result->bags = ctx.bags;
    result->count = ctx.count;
    result->mac_present = mac_present;
    ctx.bags = NULL;
    ctx.count = 0;
    *out = result;

done:
    for (size_t i = 0; i < ctx.count; i++) {
        cpkcs12_bag_clear(&ctx.bags[i]);
    }
    OPENSSL_free(ctx.bags);
    if (authsafes != NULL) {
        sk_PKCS7_pop_free(authsafes, PKCS7_free);
    }
    PKCS12_free(p12);
    ERR_clear_error();
    return status;
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */
/* ------------------------------------------------------------------------- */

static int cpkcs12_span_valid(cpkcs12_span span, size_t blob_len) {
    return span.offset <= blob_len && span.length <= blob_len - span.offset && span.length <= (size_t)INT_MAX;
}

static X509 *cpkcs12_read_cert(const unsigned char *blob, cpkcs12_span span) {
    if (span.length == 0) {
        return NULL;
    }
    const unsigned char *cursor = blob + span.offset;
    X509 *cert = d2i_X509(NULL, &cursor, (long)span.length);
    if (cert != NULL && cursor != blob + span.offset + span.length) {
        X509_free(cert); /* trailing bytes */
        return NULL;
    }
    return cert;
}

static EVP_PKEY *cpkcs12_read_key(const unsigned char *blob, cpkcs12_span span) {
    const unsigned char *cursor = blob + span.offset;
    return d2i_AutoPrivateKey(NULL, &cursor, (long)span.length);
}

void cpkcs12_buffer_free(unsigned char *buffer, size_t length) {
    if (buffer != NULL) {
        OPENSSL_clear_free(buffer, length);
    }
}

cpkcs12_status cpkcs12_write(const unsigned char *blob, size_t blob_len,
                             const cpkcs12_entry *entries, size_t entry_count,
                             const cpkcs12_span *chain, size_t chain_total,
                             const char *store_password, const char *key_password,
                             unsigned char **out, size_t *out_len,
                             size_t *failed_entry,
                             char *detail, size_t detail_len) {
    if (detail != NULL && detail_len > 0) {
        detail[0] = '\0';
    }
    if (out == NULL || out_len == NULL || entries == NULL || entry_count == 0 ||
        (blob == NULL && blob_len > 0) || (chain == NULL && chain_total > 0)) {
        return CPKCS12_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < entry_count; i++) {
        const cpkcs12_entry *e = &entries[i];
        if (!cpkcs12_span_valid(e->alias, blob_len) || !cpkcs12_span_valid(e->private_key, blob_len) ||
            !cpkcs12_span_valid(e->certificate, blob_len) || e->chain_first > chain_total ||
            e->chain_count > chain_total - e->chain_first) {
            return CPKCS12_ERR_INVALID_ARGUMENT;
        }
    }
    for (size_t i = 0; i < chain_total; i++) {
        if (!cpkcs12_span_valid(chain[i], blob_len)) {
            return CPKCS12_ERR_INVALID_ARGUMENT;
        }
    }
    cpkcs12_init();
    ERR_clear_error();

    const char *store = store_password != NULL ? store_password : "";
    const char *keypass = key_password != NULL ? key_password : store;

    cpkcs12_status status = CPKCS12_OK;
    STACK_OF(PKCS12_SAFEBAG) *cert_bags = NULL;
    STACK_OF(PKCS12_SAFEBAG) *key_bags = NULL;
    STACK_OF(PKCS7) *safes = NULL;
    STACK_OF(X509) *chain_written = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    X509 *cert = NULL;
    EVP_PKEY *pkey = NULL;
    unsigned char *der = NULL;
    int der_len = 0;

    if (chain_written == NULL) {
        status = CPKCS12_ERR_OTHER;
        goto done;
    }

    for (size_t i = 0; i < entry_count; i++) {
        const cpkcs12_entry *e = &entries[i];
        const char *alias = (const char *)(blob + e->alias.offset);
        int alias_len = (int)e->alias.length;

        cert = cpkcs12_read_cert(blob, e->certificate);
        if (cert == NULL) {
            cpkcs12_set_detail(detail, detail_len, "certificate DER cannot be parsed");
            status = CPKCS12_ERR_BAD_CERT;
            goto entry_failed;
        }
        if (e->private_key.length > 0) {
            pkey = cpkcs12_read_key(blob, e->private_key);
            if (pkey == NULL) {
                cpkcs12_set_detail(detail, detail_len, "private key DER cannot be parsed");
                status = CPKCS12_ERR_BAD_KEY;
                goto entry_failed;
            }
            if (!X509_check_private_key(cert, pkey)) {
                cpkcs12_set_detail(detail, detail_len, "private key does not match the certificate");
                status = CPKCS12_ERR_KEY_MISMATCH;
                goto entry_failed;
            }
        }

        unsigned char keyid[EVP_MAX_MD_SIZE];
        unsigned int keyid_len = 0;
        if (!X509_digest(cert, EVP_sha1(), keyid, &keyid_len)) {
            status = CPKCS12_ERR_OTHER;
            goto entry_failed;
        }

        PKCS12_SAFEBAG *bag = PKCS12_add_cert(&cert_bags, cert);
        if (bag == NULL) {
            status = CPKCS12_ERR_OTHER;
            goto entry_failed;
        }
        if (alias_len > 0 && !PKCS12_add_friendlyname_utf8(bag, alias, alias_len)) {
            status = CPKCS12_ERR_OTHER;
            goto entry_failed;
        }
        if (pkey != NULL) {
            if (!PKCS12_add_localkeyid(bag, keyid, (int)keyid_len)) {
                status = CPKCS12_ERR_OTHER;
                goto entry_failed;
            }
        } else {
            /* Trusted-certificate entry: mark it for Java (anyExtendedKeyUsage). */
            if (!PKCS12_add1_attr_by_txt(bag, CPKCS12_JDK_TRUST_OID, V_ASN1_OBJECT,
                                         (const unsigned char *)OBJ_nid2obj(NID_anyExtendedKeyUsage), -1)) {
                status = CPKCS12_ERR_OTHER;
                goto entry_failed;
            }
        }
        X509_free(cert);
        cert = NULL;

        for (size_t c = 0; c < e->chain_count; c++) {
            X509 *extra = cpkcs12_read_cert(blob, chain[e->chain_first + c]);
            if (extra == NULL) {
                cpkcs12_set_detail(detail, detail_len, "chain certificate DER cannot be parsed");
                status = CPKCS12_ERR_BAD_CERT;
                goto entry_failed;
            }
            int duplicate = 0;
            for (int k = 0; k < sk_X509_num(chain_written); k++) {
                if (X509_cmp(sk_X509_value(chain_written, k), extra) == 0) {
                    duplicate = 1;
                    break;
                }
            }
            if (duplicate) {
                X509_free(extra);
                continue;
            }
            if (PKCS12_add_cert(&cert_bags, extra) == NULL || !sk_X509_push(chain_written, extra)) {
                X509_free(extra);
                status = CPKCS12_ERR_OTHER;
                goto entry_failed;
            }
        }

        if (pkey != NULL) {
            PKCS12_SAFEBAG *key_bag = PKCS12_add_key(&key_bags, pkey, 0, CPKCS12_WRITE_ITERATIONS,
                                                     NID_aes_256_cbc, keypass);
            if (key_bag == NULL) {
                status = CPKCS12_ERR_OTHER;
                goto entry_failed;
            }
            if ((alias_len > 0 && !PKCS12_add_friendlyname_utf8(key_bag, alias, alias_len)) ||
                !PKCS12_add_localkeyid(key_bag, keyid, (int)keyid_len)) {
                status = CPKCS12_ERR_OTHER;
                goto entry_failed;
            }
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        continue;

    entry_failed:
        if (failed_entry != NULL) {
            *failed_entry = i;
        }
        if (status == CPKCS12_ERR_OTHER) {
            cpkcs12_set_detail(detail, detail_len, "cannot build the PKCS#12 entry");
        }
        goto done;
    }

    if (cert_bags != NULL &&
        !PKCS12_add_safe(&safes, cert_bags, NID_aes_256_cbc, CPKCS12_WRITE_ITERATIONS, store)) {
        cpkcs12_set_detail(detail, detail_len, "cannot encrypt the certificate safe");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    if (key_bags != NULL && !PKCS12_add_safe(&safes, key_bags, -1, 0, NULL)) {
        cpkcs12_set_detail(detail, detail_len, "cannot add the key safe");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    p12 = PKCS12_add_safes(safes, 0);
    if (p12 == NULL) {
        cpkcs12_set_detail(detail, detail_len, "cannot build the PFX structure");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    if (!PKCS12_set_mac(p12, store, -1, NULL, 0, CPKCS12_WRITE_ITERATIONS, EVP_sha256())) {
        cpkcs12_set_detail(detail, detail_len, "cannot compute the MAC");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    der_len = i2d_PKCS12(p12, &der);
    if (der_len <= 0 || der == NULL) {
        cpkcs12_set_detail(detail, detail_len, "cannot encode the PFX structure");
        status = CPKCS12_ERR_OTHER;
        goto done;
    }
    *out = der;
    *out_len = (size_t)der_len;
    der = NULL;

done:
    X509_free(cert);
    EVP_PKEY_free(pkey);
    sk_X509_pop_free(chain_written, X509_free);
    sk_PKCS12_SAFEBAG_pop_free(cert_bags, PKCS12_SAFEBAG_free);
    sk_PKCS12_SAFEBAG_pop_free(key_bags, PKCS12_SAFEBAG_free);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    PKCS12_free(p12);
    ERR_clear_error();
    return status;
}
