/*
 * legacy kit: the kernel's little C library — memory and string functions, a printf, the
 * command line.
 *
 * What: memset/memcpy/memmove/memcmp/strlen/strcmp/strncmp under their standard names (clang may
 * emit calls to the first three even in freestanding code), ksnprintf/kvsnprintf, and kprintf /
 * kputs / kwrite to the console (COM1, through uart.h). Conversions: %d %i %u %x %X %p %s %c %%,
 * flags '-' and '0', a width (digits or '*'), length modifiers l, ll, z.
 *
 * Command line: space-separated `key=value` words; cmdline_get copies a value, cmdline_u32 parses
 * a decimal or 0x-hex number.
 *
 * Why our own: this kit is the "unmodified OS": it shares no code with the paravirtual kit.
 */
#ifndef LEGACY_KLIB_H
#define LEGACY_KLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/** Formats into `buf` (always NUL-terminated when size > 0); returns the untruncated length. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Formatted output to the console; returns the length produced. */
int kvprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** `s` and a newline. */
void kputs(const char *s);
/** `len` raw bytes to the console. */
void kwrite(const void *buf, size_t len);

/** The boot command line ("" before kmain). */
const char *cmdline(void);
/** Copies the value of `key` into `buf` (NUL-terminated, truncated). @return 1 if found. */
int cmdline_get(const char *key, char *buf, size_t len);
/** The value of `key` as a number, or `dflt` when absent or not a number. */
uint32_t cmdline_u32(const char *key, uint32_t dflt);

#endif /* LEGACY_KLIB_H */
