// LD_PRELOAD shim for h2load (which has no client-certificate flag and sends one fixed header list).
//  - BENCH_CLIENT_CERT / BENCH_CLIENT_KEY: PEM files loaded into every new SSL_CTX (mutual TLS).
//  - BENCH_TOKENS_FILE: one token per line; every HTTP/2 request gets the next one (round robin) as
//    "authorization: Bearer <token>", replacing the authorization header h2load was given with -H.
// Built by bench/bench.sh with cc; used only by the bench. Errors go to stderr and end the process.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void die(const char *what, const char *path) {
    fprintf(stderr, "h2load-shim: %s: %s\n", what, path ? path : "(unset)");
    exit(2);
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method) {
    static SSL_CTX *(*real)(const SSL_METHOD *) = NULL;
    if (!real) real = (SSL_CTX * (*)(const SSL_METHOD *)) dlsym(RTLD_NEXT, "SSL_CTX_new");
    SSL_CTX *ctx = real(method);
    const char *cert = getenv("BENCH_CLIENT_CERT");
    const char *key = getenv("BENCH_CLIENT_KEY");
    if (ctx && cert && *cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die("cannot load client certificate (PEM chain)", cert);
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die("cannot load client key (PEM)", key);
    }
    return ctx;
}

static char **tokens = NULL;
static size_t token_count = 0;
static atomic_size_t next_token = 0;

static void load_tokens(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) die("cannot open tokens file", path);
    size_t capacity = 1024;
    tokens = malloc(capacity * sizeof(char *));
    char *line = NULL;
    size_t size = 0;
    ssize_t length;
    while ((length = getline(&line, &size, file)) > 0) {
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = 0;
        if (length == 0) continue;
        if (token_count == capacity) {
            capacity *= 2;
            tokens = realloc(tokens, capacity * sizeof(char *));
        }
        char *value = malloc((size_t)length + 8);
        memcpy(value, "Bearer ", 7);
        memcpy(value + 7, line, (size_t)length + 1);
        tokens[token_count++] = value;
    }
    free(line);
    fclose(file);
    if (token_count == 0) die("tokens file holds no tokens", path);
}

int32_t nghttp2_submit_request(nghttp2_session *session, const nghttp2_priority_spec *pri_spec,
                               const nghttp2_nv *nva, size_t nvlen, const nghttp2_data_provider *data_prd,
                               void *stream_user_data) {
    static int32_t (*real)(nghttp2_session *, const nghttp2_priority_spec *, const nghttp2_nv *, size_t,
                           const nghttp2_data_provider *, void *) = NULL;
    if (!real) real = dlsym(RTLD_NEXT, "nghttp2_submit_request");
    static int checked = 0;
    if (!checked) {
        const char *path = getenv("BENCH_TOKENS_FILE");
        if (path && *path) load_tokens(path);
        checked = 1;
    }
    if (token_count == 0 || nvlen > 64) return real(session, pri_spec, nva, nvlen, data_prd, stream_user_data);
    nghttp2_nv copy[64];
    memcpy(copy, nva, nvlen * sizeof(nghttp2_nv));
    const char *token = tokens[atomic_fetch_add(&next_token, 1) % token_count];
    for (size_t i = 0; i < nvlen; i++) {
        if (copy[i].namelen == 13 && strncasecmp((const char *)copy[i].name, "authorization", 13) == 0) {
            copy[i].value = (uint8_t *)token;
            copy[i].valuelen = strlen(token);
            copy[i].flags &= ~NGHTTP2_NV_FLAG_NO_COPY_VALUE;
        }
    }
    return real(session, pri_spec, copy, nvlen, data_prd, stream_user_data);
}
