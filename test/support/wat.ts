/**
 * Compiles WebAssembly text to a binary for hand-written test guests.
 *
 * wabt's loader is asynchronous, so it is initialised once with top-level await and `wat()`
 * itself stays synchronous (tests build guests inline, often in `it` bodies).
 * @module
 */
import wabtInit from 'wabt';

const wabt = await wabtInit();

/** What Node 20 runs without flags (threads for shared memory and atomics). */
const FEATURES = {
  threads: true,
  bulk_memory: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  multi_value: true,
  reference_types: true,
  simd: true,
  tail_call: true,
};

/**
 * Compiles a WAT module (threads, bulk memory and the other post-MVP features Node 20 runs are
 * enabled, so shared memories and atomics can be written) and keeps the function names, so that
 * traps show them.
 *
 * @param text - the module in WebAssembly text format
 * @returns the binary module
 * @throws Error with wabt's diagnostics when the text does not parse or validate
 */
export function wat(text: string): Uint8Array {
  const mod = wabt.parseWat('guest.wat', text, FEATURES);
  try {
    mod.resolveNames();
    // validate() takes the features again at runtime (its default has no threads); typings lag.
    (mod.validate as (features: object) => void)(FEATURES);
    return mod.toBinary({ write_debug_names: true }).buffer;
  } finally {
    mod.destroy();
  }
}
