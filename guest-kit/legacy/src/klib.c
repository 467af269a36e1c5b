/*
 * legacy kit: memory/string functions, printf, command line (klib.h).
 */
#include <legacy/klib.h>
#include <legacy/uart.h>

void *memset(void *dst, int c, size_t n)
{
    __builtin_memset(dst, c, n); /* memory.fill with -mbulk-memory */
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    __builtin_memmove(dst, src, n); /* memory.copy, overlap-safe */
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
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != 0)
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a != 0 && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
        if (a[i] == 0)
            return 0;
    }
    return 0;
}

/* ---- printf ---- */

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_field(struct out *o, const char *s, size_t n, int width, int left, char pad)
{
    int fill = width > (int)n ? width - (int)n : 0;
    if (!left && pad == '0' && n > 0 && s[0] == '-') {
        put(o, '-');
        s++;
        n--;
    }
    if (!left)
        while (fill-- > 0)
            put(o, pad);
    for (size_t i = 0; i < n; i++)
        put(o, s[i]);
    if (left)
        while (fill-- > 0)
            put(o, ' ');
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (const char *p = fmt; *p != 0; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        const char *start = p++;
        int left = 0, width = 0, lng = 0;
        char pad = ' ';
        for (;; p++) {
            if (*p == '-')
                left = 1;
            else if (*p == '0')
                pad = '0';
            else
                break;
        }
        if (*p == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                width = width * 10 + (*p++ - '0');
        }
        while (*p == 'l' || *p == 'z') {
            lng += *p == 'l' ? 1 : 2;
            p++;
        }
        char tmp[24];
        size_t n = 0;
        switch (*p) {
        case 'd':
        case 'i': {
            long long v = lng >= 2 ? va_arg(ap, long long) : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
            unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            char rev[24];
            size_t r = 0;
            do {
                rev[r++] = (char)('0' + u % 10);
                u /= 10;
            } while (u != 0);
            if (v < 0)
                tmp[n++] = '-';
            while (r > 0)
                tmp[n++] = rev[--r];
            put_field(&o, tmp, n, width, left, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'p': {
            unsigned long long u;
            unsigned base = *p == 'u' ? 10 : 16;
            if (*p == 'p') {
                u = (uintptr_t)va_arg(ap, void *);
                tmp[n++] = '0';
                tmp[n++] = 'x';
                width = 0;
            } else {
                u = lng >= 2 ? va_arg(ap, unsigned long long) : lng == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            }
            const char *digits = *p == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            char rev[24];
            size_t r = 0;
            do {
                rev[r++] = digits[u % base];
                u /= base;
            } while (u != 0);
            if (*p == 'p')
                while (r < 8)
                    rev[r++] = '0';
            while (r > 0)
                tmp[n++] = rev[--r];
            put_field(&o, tmp, n, width, left, pad);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s == 0)
                s = "(null)";
            put_field(&o, s, strlen(s), width, left, ' ');
            break;
        }
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            put_field(&o, tmp, 1, width, left, ' ');
            break;
        case '%':
            put(&o, '%');
            break;
        default:
            /* Unknown conversion: printed as written. */
            for (const char *q = start; q <= p && *q != 0; q++)
                put(&o, *q);
            if (*p == 0)
                p--;
            break;
        }
    }
    if (size > 0)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int kvprintf(const char *fmt, va_list ap)
{
    char line[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = kvsnprintf(line, sizeof line, fmt, ap2);
    va_end(ap2);
    if (n < (int)sizeof line) {
        uart_write(line, (size_t)n);
        return n;
    }
    /* Longer than the line buffer: format again into a stack buffer of the right size. */
    char big[n + 1];
    kvsnprintf(big, (size_t)n + 1, fmt, ap);
    uart_write(big, (size_t)n);
    return n;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvprintf(fmt, ap);
    va_end(ap);
    return n;
}

void kputs(const char *s)
{
    uart_write(s, strlen(s));
    uart_write("\n", 1);
}

void kwrite(const void *buf, size_t len) { uart_write(buf, len); }

/* ---- command line ---- */

/* The value of `key` in the command line, and its length; NULL when absent. */
static const char *find(const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    const char *s = cmdline();
    while (*s != 0) {
        while (*s == ' ')
            s++;
        const char *w = s;
        while (*s != 0 && *s != ' ')
            s++;
        if ((size_t)(s - w) > klen && strncmp(w, key, klen) == 0 && w[klen] == '=') {
            *vlen = (size_t)(s - w) - klen - 1;
            return w + klen + 1;
        }
    }
    return 0;
}

int cmdline_get(const char *key, char *buf, size_t len)
{
    size_t n;
    const char *v = find(key, &n);
    if (v == 0)
        return 0;
    if (len == 0)
        return 1;
    if (n >= len)
        n = len - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return 1;
}

uint32_t cmdline_u32(const char *key, uint32_t dflt)
{
    size_t n;
    const char *v = find(key, &n);
    if (v == 0 || n == 0)
        return dflt;
    uint32_t base = 10, r = 0;
    size_t i = 0;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        i = 2;
    }
    for (; i < n; i++) {
        char c = v[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return dflt;
        r = r * base + d;
    }
    return r;
}
