/**
 * Running Wasm guests: the loader that checks an image's imports and exports, the binaryen
 * instrumentation (fuel, asyncify), the instrumented-module cache, and the deterministic engine.
 * @module
 */
export { inspectGuest } from './loader.ts';
export type { GuestImageInfo } from './loader.ts';
export { GuestImageError } from './errors.ts';
export { instrument, parseWasmBacktrace, INSTRUMENT_VERSION, FUEL_EXPORT, FUEL_IMPORT, HYPERCALL_IMPORT, MEMORY_GROW_IMPORT } from './instrument.ts';
export { instrumentCached, compileGuest } from './cache.ts';
export type { InstrumentedImage, CacheOptions } from './cache.ts';
export { DeterministicEngine, GuestFault } from './deterministic.ts';
export type { EngineOptions, EngineStop } from './deterministic.ts';
