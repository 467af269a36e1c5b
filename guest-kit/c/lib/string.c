/*
 * libpvisor: the freestanding memory and string functions (pv_string.h).
 *
 * memset/memcpy/memmove use the bulk-memory instructions: with -mbulk-memory clang lowers
 * __builtin_memset/__builtin_memmove to memory.fill/memory.copy inline, so these do not call
 * themselves. memory.copy is defined for overlapping ranges, so memcpy and memmove are the same.
 */
#include "internal.h"

void *memset(void *dst, int c, size_t n)
{
    __builtin_memset(dst, c, n);
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    __builtin_memmove(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    __builtin_memmove(dst, src, n);
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;
    while (*p != '\0')
        p++;
    return (size_t)(p - s);
}

size_t pv_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    while (*p != '\0' && *p == *q) {
        p++;
        q++;
    }
    return *p < *q ? -1 : *p > *q ? 1 : 0;
}

int strncmp(const char *a, const char *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
        if (p[i] == '\0')
            return 0;
    }
    return 0;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

uint64_t pv_strtoull(const char *s, const char **end, int base)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
        digit_value(s[2]) < 16) {
        s += 2;
        base = 16;
    } else if (base == 0) {
        base = 10;
    }
    uint64_t v = 0;
    for (int d; (d = digit_value(*s)) < base; s++)
        v = v * (uint64_t)base + (uint64_t)d;
    if (end != NULL)
        *end = s;
    return v;
}
