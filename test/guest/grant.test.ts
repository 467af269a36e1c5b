/**
 * Grant tables end to end through the guest path (the `pv.hypercall` import, the engine, two real
 * Wasm guests on their own memories): domain 1 registers a table and grants domain 2 a read-only
 * frame holding a message and a writable frame for the reply, by plain stores; domain 2 copies the
 * message out, copies a reply in and prints what it got. A copy into the read-only grant fails
 * with GNTST_GENERAL_ERROR, and grant_map answers ENOSYS.
 */
import { describe, expect, it } from 'vitest';
import { ENOSYS, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_GENERAL_ERROR, GTF_PERMIT_ACCESS, GTF_READONLY, Hc, SHUTDOWN_POWEROFF } from '../../src/abi/index.ts';
import { Hypervisor } from '../../src/hv/index.ts';
import { wat } from '../support/wat.ts';

const MEM = 256 * 1024;
const MESSAGE = 'hello through a grant';

/** Domain 1: message at frame 4, reply frame 5, table at 0x3000 (entry 0 read-only, entry 1 writable), then waits for the reply. */
const GRANTER = `(module
  (import "env" "memory" (memory 4 65536 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (data (i32.const 0x4000) "${MESSAGE}")
  (func (export "_start") (param $si i32)
    ;; entry 0: domid 2, frame 4, then flags = permit | readonly
    (i32.store16 (i32.const 0x3002) (i32.const 2))
    (i32.store (i32.const 0x3004) (i32.const 4))
    (i32.atomic.store16 (i32.const 0x3000) (i32.const ${GTF_PERMIT_ACCESS | GTF_READONLY}))
    ;; entry 1: domid 2, frame 5, writable
    (i32.store16 (i32.const 0x300a) (i32.const 2))
    (i32.store (i32.const 0x300c) (i32.const 5))
    (i32.atomic.store16 (i32.const 0x3008) (i32.const ${GTF_PERMIT_ACCESS}))
    (drop (call $hc (i32.const ${Hc.grant_setup}) (i32.const 0x3000) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; wait (yielding) until domain 2 has written its reply
    (block $done (loop $wait
      (br_if $done (i32.atomic.load8_u (i32.const 0x5000)))
      (drop (call $hc (i32.const ${Hc.sched_yield}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (br $wait)))
    (drop (call $hc (i32.const ${Hc.console_write}) (i32.const 0x5000) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $hc (i32.const ${Hc.sched_shutdown}) (i32.const ${SHUTDOWN_POWEROFF}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))`;

/** One grant_copy_op at 0x2000 (source ref/frame, domid, offset; dest ...; len; flags), then the call; returns the status. */
const COPY_FN = `
  (func $copy (param $sref i32) (param $sdom i32) (param $soff i32) (param $dref i32) (param $ddom i32) (param $doff i32) (param $len i32) (param $flags i32) (result i32)
    (i32.store (i32.const 0x2000) (local.get $sref))
    (i32.store16 (i32.const 0x2004) (local.get $sdom))
    (i32.store16 (i32.const 0x2006) (local.get $soff))
    (i32.store (i32.const 0x2008) (local.get $dref))
    (i32.store16 (i32.const 0x200c) (local.get $ddom))
    (i32.store16 (i32.const 0x200e) (local.get $doff))
    (i32.store16 (i32.const 0x2010) (local.get $len))
    (i32.store16 (i32.const 0x2012) (local.get $flags))
    (i32.store16 (i32.const 0x2014) (i32.const 0x7eed))
    (drop (call $hc (i32.const ${Hc.grant_copy}) (i32.const 0x2000) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    (i32.load16_s (i32.const 0x2014)))`;

/** Domain 2: retries until the grant works, prints the message, tries the read-only grant as destination and grant_map, replies. */
const GRANTEE = `(module
  (import "env" "memory" (memory 4 65536 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (data (i32.const 0x6000) "reply")
  ${COPY_FN}
  (func (export "_start") (param $si i32)
    ;; message: ref 0 of domain 1 -> own frame 4 (0x4000)
    (block $done (loop $retry
      (br_if $done (i32.eqz (call $copy (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 0x7ff0) (i32.const 0) (i32.const ${MESSAGE.length}) (i32.const ${GNTCOPY_SOURCE_GREF}))))
      (drop (call $hc (i32.const ${Hc.sched_yield}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (br $retry)))
    (drop (call $hc (i32.const ${Hc.console_write}) (i32.const 0x4000) (i32.const ${MESSAGE.length}) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; the read-only grant as destination: status printed as one byte ('0' - status)
    (i32.store8 (i32.const 0x100) (i32.sub (i32.const 48)
      (call $copy (i32.const 6) (i32.const 0x7ff0) (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 5) (i32.const ${GNTCOPY_DEST_GREF}))))
    (drop (call $hc (i32.const ${Hc.console_write}) (i32.const 0x100) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; grant_map: its result's low byte, as '0' - ENOSYS
    (i32.store8 (i32.const 0x100) (i32.sub (i32.const 48)
      (call $hc (i32.const ${Hc.grant_map}) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
    (drop (call $hc (i32.const ${Hc.console_write}) (i32.const 0x100) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; reply into ref 1 of domain 1 (frame 5)
    (drop (call $copy (i32.const 6) (i32.const 0x7ff0) (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 5) (i32.const ${GNTCOPY_DEST_GREF})))
    (drop (call $hc (i32.const ${Hc.sched_shutdown}) (i32.const ${SHUTDOWN_POWEROFF}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))`;

describe('grant tables through two real guests', () => {
  it('domain 2 copies a message out of domain 1\'s grant and a reply into it; the host refuses the read-only one', async () => {
    const { DeterministicEngine, compileGuest, inspectGuest } = await import('../../src/engine/index.ts');
    const out = new Map<number, string>();
    const hv = new Hypervisor({ console: (d, b) => out.set(d.id, (out.get(d.id) ?? '') + Buffer.from(b).toString('latin1')), log: () => {} });
    const engine = new DeterministicEngine(hv, { maxTimeNs: 1e9 });
    for (const [name, text] of [['granter', GRANTER], ['grantee', GRANTEE]] as const) {
      const d = hv.createDomain({ name, memBytes: MEM, vcpus: 1, cmdline: '' });
      const image = wat(text);
      engine.attach(d, compileGuest(image), inspectGuest(image, name));
    }
    engine.run();
    const [d1, d2] = hv.domains;
    expect([d1!.state, d2!.state]).toEqual(['shutdown', 'shutdown']);
    const status = (ch: string | undefined) => 48 - (ch?.charCodeAt(0) ?? 0);
    const text2 = out.get(d2!.id) ?? '';
    expect(text2.slice(0, MESSAGE.length)).toBe(MESSAGE);
    // The byte arithmetic wraps at 8 bits, so compare through the same wrap.
    expect(status(text2[MESSAGE.length]) & 0xff).toBe(GNTST_GENERAL_ERROR & 0xff);
    expect(status(text2[MESSAGE.length + 1]) & 0xff).toBe(ENOSYS & 0xff);
    expect(out.get(d1!.id)).toBe('reply');
    expect([d1!.grantTable, d1!.grantEntries]).toEqual([0x3000, 2]);
  });
});
