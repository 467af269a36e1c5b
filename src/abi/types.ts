/**
 * Hand-written ABI types that the generator does not produce.
 * @module
 */

/**
 * A guest-physical address: a byte offset in a domain's linear memory, as a guest passed it.
 *
 * The brand keeps it from being used as a plain number by accident: a GuestAddr cannot index
 * memory. The only way from a GuestAddr to bytes is the checked accessor in `src/hv` (guest
 * memory), which checks `[addr, addr + len)` against the memory size without overflow and
 * returns `EFAULT` otherwise. Hypercall dispatch produces GuestAddr values from raw words with
 * `(a >>> 0) as GuestAddr`; nothing else should cast to it.
 */
export type GuestAddr = number & { readonly __brand: 'GuestAddr' };
