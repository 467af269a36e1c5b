/**
 * The hostile guest compiled from hostile-guest-wat.ts (wabt, threads and bulk memory enabled,
 * function names kept), base64. Generated: a test recompiles the text and fails when this is
 * stale; regenerate with `npx tsx test/guest/hostile-guest-wasm.gen.ts > src/testing/hostile-guest-wasm.ts`.
 * @module
 */

/** The hostile guest's Wasm binary, base64. */
export const HOSTILE_GUEST_WASM_BASE64 =
  'AGFzbQEAAAABEgNgBn9/f39/fwF/YAF/AGAAAAIhAgNlbnYGbWVtb3J5AgMBgIAEAnB2CWh5cGVyY2FsbAAAAwMCAQIHFgIG' +
  'X3N0YXJ0AAEJcHZfdXBjYWxsAAIK8wECwQEBBX9BiIAQIAAoAiA2AgBBgIAQKAIAIQICQANAIAEgAk8NAUGQgBAgAUEobGoh' +
  'AyADKAIkIQQgBCADKAIgQQxsaiEFAkADQCAEIAVPDQEgBCgCACAEKAIEIAQoAgj8CgAAIARBDGohBAwACwsgAyADKAIAIAMo' +
  'AgQgAygCCCADKAIMIAMoAhAgAygCFBAANgIYIANBhIAQKAIANgIcIAFBAWohAUGMgBAgATYCAAwACwtBCEEAQQBBAEEAQQAQ' +
  'ABoLLgEBf0GIgBAoAgAhAEGEgBBBhIAQKAIAQQFqNgIAIABBADoAACAAQQD+QQIEGgsALQRuYW1lAQUBAAJoYwIfAwAAAQYA' +
  'AnNpAQFpAgFuAwFyBAFjBQNlbmQCAQABcw==';
