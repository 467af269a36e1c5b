/**
 * Debug-exit port (0xF4 by default, as QEMU's `isa-debug-exit` is commonly placed): a byte
 * written there powers the machine off with that byte as the exit code. Not PC hardware; it lets
 * an unmodified guest end a run without an ACPI implementation. Reads return all ones.
 * @module
 */
import type { AccessSize, PortBus, PortDevice, PortMapping } from './port-bus.ts';

/** Default port. */
export const DEBUG_EXIT_PORT = 0xf4;

/** The debug-exit device. */
export class DebugExit implements PortDevice {
  /** Port. */
  readonly port: number;
  private readonly powerOff: (code: number) => void;

  /** Calls `powerOff(code)` when the guest writes `code` to `port`. */
  constructor(powerOff: (code: number) => void, port = DEBUG_EXIT_PORT) {
    this.powerOff = powerOff;
    this.port = port;
  }

  /** Registers the port on `bus`. */
  register(bus: PortBus): PortMapping {
    return bus.register({ name: 'debug-exit', base: this.port, length: 1, device: this, sizes: [1, 2, 4] });
  }

  /** See {@link PortDevice.read}. */
  read(_port: number, size: AccessSize): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
  }

  /** See {@link PortDevice.write}: the value (masked to the access width) is the exit code. */
  write(_port: number, _size: AccessSize, value: number): void {
    this.powerOff(value);
  }
}
