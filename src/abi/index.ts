/**
 * The hypercall ABI as the host sees it: everything generated from spec/abi.json plus the
 * hand-written {@link GuestAddr} brand.
 * @module
 */
export * from './generated/index.ts';
export type { GuestAddr } from './types.ts';
