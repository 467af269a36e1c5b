/** Prints src/testing/hostile-guest-wasm.ts: the hostile guest WAT compiled with wabt, base64. */
import { wat } from '../support/wat.ts';
import { HOSTILE_GUEST_WAT } from '../../src/testing/hostile-guest-wat.ts';
const b = wat(HOSTILE_GUEST_WAT);
const b64 = Buffer.from(b).toString('base64');
const lines = b64.match(/.{1,96}/g)!.map((l) => `  '${l}'`).join(' +\n');
process.stdout.write(`/**
 * The hostile guest compiled from hostile-guest-wat.ts (wabt, threads and bulk memory enabled,
 * function names kept), base64. Generated: a test recompiles the text and fails when this is
 * stale; regenerate with \`npx tsx test/guest/hostile-guest-wasm.gen.ts > src/testing/hostile-guest-wasm.ts\`.
 * @module
 */

/** The hostile guest's Wasm binary, base64. */
export const HOSTILE_GUEST_WASM_BASE64 =
${lines};
`);
