/*
 * pvisor guest kit: the freestanding string and memory functions.
 *
 * What: memset, memcpy, memmove, memcmp, strlen, strcmp, strncmp under their standard names, and
 * a few helpers with a pv_ prefix.
 *
 * Why the standard names: clang may turn struct copies, zero-initialisers and loops into calls to
 * memset/memcpy/memmove even in -ffreestanding code, so those exact symbols must exist at link
 * time. libpvisor defines them with the bulk-memory instructions (memory.fill, memory.copy),
 * which is why every object must be built with -mbulk-memory.
 *
 * Invariants: standard C semantics. memcpy is memmove (memory.copy handles overlap). An access
 * outside guest memory traps like any other load or store.
 */
#ifndef PVISOR_PV_STRING_H
#define PVISOR_PV_STRING_H

#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/** strlen bounded by `max`. */
size_t pv_strnlen(const char *s, size_t max);

/**
 * Parses an unsigned number: optional leading spaces, then decimal, or hex after "0x"/"0X" when
 * `base` is 0 or 16. Stops at the first character that is not a digit of the base; `*end` (if
 * `end` is not NULL) points there. Overflow wraps modulo 2^64.
 */
uint64_t pv_strtoull(const char *s, const char **end, int base);

#endif /* PVISOR_PV_STRING_H */
