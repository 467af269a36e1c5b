/*
 * legacy kit: boot entry, interrupt entry and interrupt flag (cpu.h).
 */
#include <legacy/cpu.h>
#include <legacy/io.h>
#include <legacy/klib.h>
#include <legacy/pic.h>
#include <legacy/uart.h>

/* The interrupt flag: starts clear, as after reset (IF = 0 until the kernel's sti). */
volatile uint32_t hw_if = 0;
volatile uint32_t irq_count[17];

static irq_handler_t handlers[16];
static void *handler_ctx[16];

static uint32_t flags, mem_size;
static uintptr_t brk, heap_limit;
static const char *cmd = "";

extern unsigned char __heap_base;

const char *cmdline(void) { return cmd; }
uint32_t boot_flags(void) { return flags; }
uint32_t boot_mem_size(void) { return mem_size; }
uintptr_t heap_start(void) { return (uintptr_t)&__heap_base; }
uintptr_t heap_end(void) { return heap_limit; }

void *kalloc(uint32_t size, uint32_t align)
{
    if (align == 0)
        align = 1;
    uintptr_t p = (brk + align - 1) & ~(uintptr_t)(align - 1);
    if (p < brk || p > heap_limit || heap_limit - p < size)
        return NULL;
    brk = p + size;
    return (void *)p;
}

void wait_for_interrupt(void)
{
    /* No trap between the store and the halt: nothing can be injected in between. */
    hw_if = 1;
    hlt();
}

void irq_register(uint32_t irq, irq_handler_t fn, void *ctx)
{
    if (irq >= 16)
        return;
    uint32_t f = irq_save();
    handlers[irq] = fn;
    handler_ctx[irq] = ctx;
    pic_unmask(irq);
    irq_restore(f);
}

void irq_unregister(uint32_t irq)
{
    if (irq >= 16)
        return;
    uint32_t f = irq_save();
    pic_mask(irq);
    handlers[irq] = 0;
    handler_ctx[irq] = 0;
    irq_restore(f);
}

/* The host calls this with the vector the PIC delivered, interrupts off (hw_if cleared). */
void hw_interrupt(int32_t vector)
{
    uint32_t v = (uint32_t)vector;
    if (v < IRQ_VECTOR_BASE || v >= IRQ_VECTOR_BASE + 16)
        return; /* not one of ours: the PIC was programmed with other vectors */
    uint32_t irq = v - IRQ_VECTOR_BASE;
    /*
     * 8259A: a request that goes away before INTA yields IR7's vector with no ISR bit set
     * (spurious). No EOI for it on that chip; a spurious IRQ 15 still took the master's IR2.
     */
    if (irq == 7 || irq == 15) {
        uint16_t isr = pic_read_isr();
        if ((isr & (1u << irq)) == 0) {
            irq_count[16]++;
            if (irq == 15)
                pic_eoi(PIC_CASCADE_IRQ);
            return;
        }
    }
    irq_count[irq]++;
    if (handlers[irq] != 0)
        handlers[irq](irq, handler_ctx[irq]);
    pic_eoi(irq);
}

void poweroff(uint32_t code)
{
    cli();
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    /* Still running: no debug-exit device. Stop loudly rather than spin. */
    __builtin_trap();
}

void _start(const pv_boot_info_t *bi)
{
    cli();
    if (bi->magic != PV_BOOT_INFO_MAGIC)
        __builtin_trap(); /* not booted by a loader we understand */
    flags = bi->flags;
    mem_size = bi->mem_size;
    cmd = (const char *)(uintptr_t)bi->cmdline;
    brk = (uintptr_t)&__heap_base;
    heap_limit = bi->reserved_base;
    pic_init(IRQ_VECTOR_BASE);
    uart_init(COM1_BASE);
    /* Early boot is over: the kernel runs with interrupts on (every line is still masked at the
     * PIC until a driver registers its handler). */
    sti();
    int code = kmain(cmd);
    cli();
    if (code != 0)
        poweroff((uint32_t)code);
    /* Returning from _start powers off with code 0 (spec legacyPlatform). */
}
