/**
 * The emulated legacy PC platform for full virtualization: the port I/O bus, interrupt lines,
 * and the device models (8259A PIC pair, 8254 PIT, 16550A UART, ATA PIO disk, NE2000 NIC).
 *
 * {@link LegacyPlatform} wires them as on a PC (the usual ports and IRQs) behind the core's
 * `LegacyMachine` interface: the engine forwards `hw.in*`/`hw.out*` traps to its {@link PortBus},
 * asks it (its {@link PicPair}) for a vector to inject at VM entry, and the core calls its `sync`
 * (the {@link Pit8254}) when its `nextDeadline` has passed.
 * @module
 */
export { type AccessSize, type PortDevice, type PortRangeSpec, type PortRangeStats, PortBus, PortMapping, allOnes } from './port-bus.ts';
export { type IrqLine, type IrqSink, RecordingIrqLine, irqLine } from './irq.ts';
export { CASCADE_IRQ, ELCR_BASE, PIC_MASTER_BASE, PIC_SLAVE_BASE, Pic8259, PicPair, type PicStats } from './pic.ts';
export { Access, PIT_BASE, PIT_HZ, Pit8254, PitCounter, type PitOptions, type PitStats, ticksAt, timeOfTick } from './pit.ts';
export { COM1_BASE, COM1_IRQ, Uart16550, type UartOptions, type UartStats } from './uart16550.ts';
export { ATA_PRIMARY_BASE, ATA_PRIMARY_CTL, ATA_PRIMARY_IRQ, AtaDisk, type AtaOptions, type AtaStats } from './ata.ts';
export { NE2000_BASE, NE2000_IRQ, Ne2000, type Ne2000Options, type Ne2000Stats } from './ne2000.ts';
export { DEBUG_EXIT_PORT, DebugExit } from './debug-exit.ts';
export { LegacyPlatform, type LegacyPlatformOptions } from './platform.ts';
