/*
 * libpvisor: buffered console output and the printf engine.
 */
#include "internal.h"

/* One line buffer per vCPU: C globals are shared by all vCPUs, so index by pv_this_vcpu().
 * The extra last buffer serves vCPUs of unknown index (PV_VCPU_UNKNOWN). */
struct line {
    uint32_t len;
    char buf[PV_CONSOLE_LINE];
};
static struct line lines[PV_MAX_VCPUS + 1];

static struct line *my_line(void)
{
    uint32_t cpu = pv_this_vcpu();
    return &lines[cpu < PV_MAX_VCPUS ? cpu : PV_MAX_VCPUS];
}

/* Called with upcalls masked. console_write may write less than asked (CONSOLE_IO_MAX); loop. */
static void flush_line(struct line *l)
{
    const char *p = l->buf;
    uint32_t n = l->len;
    while (n > 0) {
        int32_t r = pv_console_write(p, n);
        if (r <= 0)
            break; /* nothing sensible to do with a console error: drop the line */
        p += r;
        n -= (uint32_t)r;
    }
    l->len = 0;
}

static void put_locked(struct line *l, char c)
{
    l->buf[l->len++] = c;
    if (c == '\n' || l->len == PV_CONSOLE_LINE)
        flush_line(l);
}

static void out_console(void *ctx, char c)
{
    put_locked(ctx, c);
}

void pv_putc(char c)
{
    int was = pv_irq_save();
    put_locked(my_line(), c);
    pv_irq_restore(was);
}

void pv_write(const char *buf, size_t len)
{
    int was = pv_irq_save();
    struct line *l = my_line();
    for (size_t i = 0; i < len; i++)
        put_locked(l, buf[i]);
    pv_irq_restore(was);
}

void pv_puts(const char *s)
{
    int was = pv_irq_save();
    struct line *l = my_line();
    while (*s != '\0')
        put_locked(l, *s++);
    put_locked(l, '\n');
    pv_irq_restore(was);
}

void pv_console_flush(void)
{
    int was = pv_irq_save();
    flush_line(my_line());
    pv_irq_restore(was);
}

void pv__console_begin_line(void)
{
    int was = pv_irq_save();
    struct line *l = my_line();
    if (l->len > 0)
        put_locked(l, '\n');
    pv_irq_restore(was);
}

int pv_vprintf(const char *fmt, va_list ap)
{
    /* The whole call with upcalls masked: a handler's output cannot split this line. */
    int was = pv_irq_save();
    int n = pv__vformat(out_console, my_line(), fmt, ap);
    pv_irq_restore(was);
    return n;
}

int pv_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

struct strbuf {
    char *buf;
    size_t size;
    size_t pos;
};

static void out_string(void *ctx, char c)
{
    struct strbuf *sb = ctx;
    if (sb->pos + 1 < sb->size)
        sb->buf[sb->pos] = c;
    sb->pos++;
}

int pv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct strbuf sb = {buf, size, 0};
    int n = pv__vformat(out_string, &sb, fmt, ap);
    if (size > 0)
        buf[sb.pos < size ? sb.pos : size - 1] = '\0';
    return n;
}

int pv_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- The formatter ---- */

enum {
    F_LEFT = 1,  /* '-': pad on the right */
    F_ZERO = 2,  /* '0': pad numbers with zeros */
    F_UPPER = 4, /* %X */
};

struct spec {
    unsigned flags;
    int width;
    int prec; /* -1: none */
};

static int pad(pv__out_fn out, void *ctx, char c, int n)
{
    for (int i = 0; i < n; i++)
        out(ctx, c);
    return n > 0 ? n : 0;
}

static int emit_str(pv__out_fn out, void *ctx, const struct spec *sp, const char *s)
{
    if (s == NULL)
        s = "(null)";
    size_t len = sp->prec >= 0 ? pv_strnlen(s, (size_t)sp->prec) : strlen(s);
    int fill = sp->width > (int)len ? sp->width - (int)len : 0;
    int n = 0;
    if (!(sp->flags & F_LEFT))
        n += pad(out, ctx, ' ', fill);
    for (size_t i = 0; i < len; i++)
        out(ctx, s[i]);
    n += (int)len;
    if (sp->flags & F_LEFT)
        n += pad(out, ctx, ' ', fill);
    return n;
}

/* `prefix` is "-", "0x" or "". Digits of `v` in `base`, at least `sp->prec` of them. */
static int emit_num(pv__out_fn out, void *ctx, const struct spec *sp, uint64_t v, unsigned base,
                    const char *prefix)
{
    const char *digits = (sp->flags & F_UPPER) ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int nd = 0;
    do {
        tmp[nd++] = digits[v % base];
        v /= base;
    } while (v != 0);
    int plen = (int)strlen(prefix);
    int zeros = sp->prec > nd ? sp->prec - nd : 0;
    int body = plen + zeros + nd;
    int fill = sp->width > body ? sp->width - body : 0;
    int n = 0;
    if ((sp->flags & F_ZERO) && !(sp->flags & F_LEFT) && sp->prec < 0) {
        zeros += fill; /* "%08x": the padding goes between the prefix and the digits */
        fill = 0;
    }
    if (!(sp->flags & F_LEFT))
        n += pad(out, ctx, ' ', fill);
    for (int i = 0; i < plen; i++)
        out(ctx, prefix[i]);
    n += plen;
    n += pad(out, ctx, '0', zeros);
    for (int i = nd - 1; i >= 0; i--)
        out(ctx, tmp[i]);
    n += nd;
    if (sp->flags & F_LEFT)
        n += pad(out, ctx, ' ', fill);
    return n;
}

int pv__vformat(pv__out_fn out, void *ctx, const char *fmt, va_list ap)
{
    int n = 0;
    while (*fmt != '\0') {
        const char *start = fmt;
        if (*fmt != '%') {
            out(ctx, *fmt++);
            n++;
            continue;
        }
        fmt++;
        struct spec sp = {0, 0, -1};
        for (;; fmt++) {
            if (*fmt == '-')
                sp.flags |= F_LEFT;
            else if (*fmt == '0')
                sp.flags |= F_ZERO;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.flags |= F_LEFT;
                sp.width = -sp.width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            sp.prec = 0;
            if (*fmt == '*') {
                sp.prec = va_arg(ap, int);
                if (sp.prec < 0)
                    sp.prec = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.prec = sp.prec * 10 + (*fmt++ - '0');
            }
        }
        int lng = 0; /* 0: int, 1: long, 2: long long, 3: size_t */
        if (*fmt == 'l') {
            lng = 1;
            if (*++fmt == 'l') {
                lng = 2;
                fmt++;
            }
        } else if (*fmt == 'z') {
            lng = 3;
            fmt++;
        } else {
            while (*fmt == 'h') /* short and char are promoted to int: nothing to do */
                fmt++;
        }
        char conv = *fmt;
        if (conv == '\0') { /* a lone '%' at the end: print what we have */
            while (start < fmt) {
                out(ctx, *start++);
                n++;
            }
            break;
        }
        fmt++;
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v = lng == 2   ? (int64_t)va_arg(ap, long long)
                        : lng == 1 ? (int64_t)va_arg(ap, long)
                        : lng == 3 ? (int64_t)(intptr_t)va_arg(ap, size_t)
                                   : (int64_t)va_arg(ap, int);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            n += emit_num(out, ctx, &sp, mag, 10, v < 0 ? "-" : "");
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng == 2   ? (uint64_t)va_arg(ap, unsigned long long)
                         : lng == 1 ? (uint64_t)va_arg(ap, unsigned long)
                         : lng == 3 ? (uint64_t)va_arg(ap, size_t)
                                    : (uint64_t)va_arg(ap, unsigned int);
            if (conv == 'X')
                sp.flags |= F_UPPER;
            n += emit_num(out, ctx, &sp, v, conv == 'u' ? 10 : 16, "");
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            sp.prec = 8;
            sp.flags &= ~(unsigned)F_ZERO;
            n += emit_num(out, ctx, &sp, v, 16, "0x");
            break;
        }
        case 's':
            n += emit_str(out, ctx, &sp, va_arg(ap, const char *));
            break;
        case 'c': {
            char c = (char)va_arg(ap, int); /* written as is, even NUL */
            int fill = sp.width > 1 ? sp.width - 1 : 0;
            if (!(sp.flags & F_LEFT))
                n += pad(out, ctx, ' ', fill);
            out(ctx, c);
            n++;
            if (sp.flags & F_LEFT)
                n += pad(out, ctx, ' ', fill);
            break;
        }
        case '%':
            out(ctx, '%');
            n++;
            break;
        default: /* unknown conversion: print it as written */
            while (start < fmt) {
                out(ctx, *start++);
                n++;
            }
            break;
        }
    }
    return n;
}
