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
