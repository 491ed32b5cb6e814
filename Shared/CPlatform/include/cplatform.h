#ifndef CPLATFORM_H
#define CPLATFORM_H

#include <stddef.h>

/// Caps the number of glibc malloc arenas (mallopt M_ARENA_MAX). Returns 1 on success, 0 when refused or when the C
/// library is not glibc (then it does nothing).
int certauth_limit_malloc_arenas(int arenas);

/// Returns the free memory inside glibc's heaps to the system (malloc_trim(0)): glibc itself gives back only the top
/// of the main heap. Returns 1 when memory was released, 0 otherwise or when the C library is not glibc.
int certauth_trim_heap(void);

/// Fills `buffer` with `length` bytes from the kernel's CSPRNG in one getrandom(2) call. Returns the number of bytes
/// written, or -1 (errno set) when the call is unavailable: Swift's Glibc module does not expose getrandom, and
/// SystemRandomNumberGenerator makes one call per 8 bytes.
long certauth_random_bytes(void *buffer, size_t length);
/// Like certauth_random_bytes, from a per-thread pool of 4 KiB filled by one getrandom(2) call: for identifiers that
/// are not secrets (trace and span ids), drawn on every request, where a system call each was measurable. Each byte
/// is handed out once. Requests over 1 KiB go straight to getrandom.
long certauth_random_bytes_buffered(void *buffer, size_t length);

#endif
