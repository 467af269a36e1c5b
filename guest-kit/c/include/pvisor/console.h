/*
 * pvisor guest kit: console output.
 *
 * What: buffered output to the domain console through the `console_write` hypercall, and a small
 * printf.
 *
 * Why buffered: one hypercall per line instead of one per character (each call is an exit), and
 * lines written by different vCPUs do not interleave mid-line.
 *
 * Invariants:
 * - Each vCPU has its own line buffer (an array indexed by pv_this_vcpu(), since C globals are
 *   shared by all vCPUs). A buffer is flushed on '\n', when full (PV_CONSOLE_LINE bytes), by
 *   pv_console_flush(), when a kernel returns from kmain, when a secondary vCPU's function
 *   returns, and by pv_shutdown()/pv_test_result()/pv_panic(). Text without a final newline that
 *   is still buffered on another vCPU when the domain stops is lost.
 * - Upcalls are masked on this vCPU while a buffer is changed, so an event handler may print
 *   without corrupting the line being built underneath it.
 * - pv_printf conversions: %d %i %u %x %X %p %s %c %%, flags '-' and '0', a width (digits or '*'),
 *   a precision for %s ('.N' or '.*'), length modifiers 'l', 'll' (64-bit) and 'z'. %p prints
 *   0x and 8 hex digits. A NULL %s prints "(null)". Unknown conversions are printed verbatim.
 */
#ifndef PVISOR_CONSOLE_H
#define PVISOR_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes in each vCPU's console line buffer. */
#define PV_CONSOLE_LINE 256

/** Appends one character to this vCPU's buffer (flushes on '\n' or when full). */
void pv_putc(char c);

/** Writes `s` followed by a newline, like C's puts. */
void pv_puts(const char *s);

/** Writes `len` bytes from `buf` (buffered; bytes may include NULs). */
void pv_write(const char *buf, size_t len);

/** Sends this vCPU's buffered bytes to the console now. */
void pv_console_flush(void);

/** Formatted output to the console. @return the number of characters produced. */
int pv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** pv_printf with a va_list. */
int pv_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/**
 * Formats into `buf` of `size` bytes, always NUL-terminated when size > 0.
 * @return the length the full output would have (as C's snprintf).
 */
int pv_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** pv_snprintf with a va_list. */
int pv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif /* PVISOR_CONSOLE_H */
