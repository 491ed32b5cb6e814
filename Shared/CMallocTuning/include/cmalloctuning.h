#ifndef CMALLOCTUNING_H
#define CMALLOCTUNING_H

/// Caps the number of glibc malloc arenas (mallopt M_ARENA_MAX). Returns 1 on success, 0 when refused or when the C
/// library is not glibc (then it does nothing).
int certauth_limit_malloc_arenas(int arenas);

#endif
