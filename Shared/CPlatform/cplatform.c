#include "cplatform.h"

#include <errno.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/random.h>
#endif

int certauth_limit_malloc_arenas(int arenas) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}

int certauth_trim_heap(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

long certauth_random_bytes(void *buffer, size_t length) {
#if defined(__linux__)
    return (long)getrandom(buffer, length, 0);
#else
    (void)buffer;
    (void)length;
    errno = ENOSYS;
    return -1;
#endif
}

#define CERTAUTH_RANDOM_POOL 4096

long certauth_random_bytes_buffered(void *buffer, size_t length) {
#if defined(__linux__)
    static __thread unsigned char pool[CERTAUTH_RANDOM_POOL];
    static __thread size_t available = 0;
    if (length > CERTAUTH_RANDOM_POOL / 4) {
        return certauth_random_bytes(buffer, length);
    }
    if (available < length) {
        long filled = (long)getrandom(pool, CERTAUTH_RANDOM_POOL, 0);
        if (filled != CERTAUTH_RANDOM_POOL) {
            available = 0;
            return certauth_random_bytes(buffer, length);
        }
        available = CERTAUTH_RANDOM_POOL;
    }
    unsigned char *out = buffer;
    unsigned char *from = pool + (CERTAUTH_RANDOM_POOL - available);
    for (size_t i = 0; i < length; i++) {
        out[i] = from[i];
        from[i] = 0; /* handed out once: never again, not even to this thread */
    }
    available -= length;
    return (long)length;
#else
    return certauth_random_bytes(buffer, length);
#endif
}
