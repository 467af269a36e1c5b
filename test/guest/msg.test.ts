/**
 * End to end: the `msg` example (guest-kit/examples/msg) on the real toolstack — two domains
 * talking through the guest kit's messaging library (pvisor/msg.h: rings filled by grant copy,
 * event channels for notification, call/reply with a timeout). The checksums are recomputed here
 * from the payload definition in msg.c, independently of the guests.
 */
import { describe, expect, it } from 'vitest';
import { EFAULT, EIO, ETIMEDOUT, GNTST_BAD_GNTREF, GNTST_GENERAL_ERROR } from '../../src/abi/index.ts';
import { example, runGuests } from './run.ts';

const MSG = example('msg');

/** msg.c `pat(i, j)`: byte j of message i. */
function pat(i: number, j: number): number {
  let x = (Math.imul(i, 0x9e3779b1) + Math.imul(j, 0x85ebca77)) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  return x & 0xff;
}

/** msg.c `fnv`: FNV-1a over 32-bit little-endian words, a last partial word zero-extended. */
function fnv(h: number, bytes: Uint8Array): number {
  for (let k = 0; k < bytes.length; k += 4) {
    let w = 0;
    for (let b = 0; b < 4 && k + b < bytes.length; b++) w |= bytes[k + b]! << (8 * b);
    h = Math.imul((h ^ w) >>> 0, 0x01000193) >>> 0;
  }
  return h;
}
const FNV_INIT = 0x811c9dc5;
const hex = (h: number) => h.toString(16).padStart(8, '0');

/** The checksum of the sync replies: the server echoes call i's request, pat(i, j). */
function replySum(count: number, size: number): string {
  let h = FNV_INIT;
  const m = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < size; j++) m[j] = pat(i, j);
    h = fnv(h, m);
  }
  return hex(h);
}

/** The checksum of the async messages: message i is pat(0xa5, i % 251 + j). */
function asyncSum(count: number, size: number): string {
  let h = FNV_INIT;
  const m = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < size; j++) m[j] = pat(0xa5, (i % 251) + j);
    h = fnv(h, m);
  }
  return hex(h);
}

/** Server = domain 1, client = domain 2. */
function pair(server: string, client: string) {
  return runGuests([
    { name: 'server', image: MSG, cmdline: `role=server peer=2 ${server}` },
    { name: 'client', image: MSG, cmdline: `role=client peer=1 ${client}` },
  ]);
}

describe('msg example: grant-copy channels between two domains', () => {
  // One frame with 1500-byte messages: records wrap around the ring's end, payloads split.
  // 5000-byte messages in two frames: every message spans frames and waits for room.
  const cases = [
    { count: 300, size: 64, frames: 1 },
    { count: 200, size: 1500, frames: 1 },
    { count: 60, size: 5000, frames: 2 },
    { count: 50, size: 13, frames: 4 },
  ];
  for (const { count, size, frames } of cases) {
    it(`count=${count} size=${size} frames=${frames}: sync replies and async messages arrive intact`, async () => {
      const args = `count=${count} size=${size} frames=${frames}`;
      const { report, out } = await pair(args, args);
      const client = (out['client'] ?? '').split('\n');
      const sync = /^msg: client: sync (\d+) calls of (\d+) bytes: median (\d+) ns, p99 (\d+) ns \(virtual\), reply checksum ([0-9a-f]{8})$/.exec(client[0] ?? '');
      expect(sync, out['client']).not.toBeNull();
      expect([Number(sync![1]), Number(sync![2])]).toEqual([count, size]);
      const [median, p99] = [Number(sync![3]), Number(sync![4])];
      expect(median).toBeGreaterThan(0);
      expect(p99).toBeGreaterThanOrEqual(median);
      expect(sync![5]).toBe(replySum(count, size));

      const async = /^msg: client: async (\d+) messages of (\d+) bytes in (\d+) ns \(virtual\): (\d+)\.(\d\d) MiB\/s, (\d+) grant copies$/.exec(client[1] ?? '');
      expect(async, out['client']).not.toBeNull();
      expect([Number(async![1]), Number(async![2])]).toEqual([count, size]);
      const ns = Number(async![3]);
      const mib = Number(`${async![4]}.${async![5]}`);
      // The printed rate is the byte count over the printed time, truncated to 0.01.
      expect(Math.abs(mib - (count * size * 1e9) / ns / 2 ** 20)).toBeLessThan(0.011);
      expect(client[2]).toBe('');

      expect(out['server']).toBe(
        `msg: server: answered ${count} calls of ${size} bytes\n` +
          `msg: server: received ${count} messages of ${size} bytes, checksum ${asyncSum(count, size)}\n`,
      );
      expect(report.domains.map((d) => d.outcome)).toEqual([
        { kind: 'poweroff', code: 0 },
        { kind: 'poweroff', code: 0 },
      ]);
      // Each sync call is one publish and the reply wait: at least one grant_copy per call each way.
      expect(report.domains[1]!.hypercalls['grant_copy']).toBeGreaterThanOrEqual(count);
      expect(report.domains[0]!.hypercalls['grant_copy']).toBeGreaterThanOrEqual(count);
    });
  }

  it('small async messages are batched: far fewer grant copies than messages', async () => {
    const args = 'count=2000 size=32 frames=4 mode=async';
    const { report, out } = await pair(args, args);
    const m = /, (\d+) grant copies$/m.exec(out['client'] ?? '');
    expect(m, out['client']).not.toBeNull();
    // 2000 records of 40 bytes in a 16 KiB ring, published every half ring: about 10 copies.
    expect(Number(m![1])).toBeLessThan(2000 / 50);
    expect(out['server']).toBe(`msg: server: received 2000 messages of 32 bytes, checksum ${asyncSum(2000, 32)}\n`);
    // The receiver was told about new data only when it waited, not once per message.
    expect(report.domains[1]!.hypercalls['evtchn_send'] ?? 0).toBeLessThan(2000 / 50);
    expect(report.ok).toBe(true);
  });

  it('a call the server never answers returns the timeout error after the timeout', async () => {
    const { report, out } = await pair('count=5 mute=1', 'count=5 timeout=3000000');
    expect(out['server']).toBe('msg: server: mute, not answering call 1\n');
    const m = /^msg: client: call 1 timed out after (\d+) ns \(error (-\d+)\)\n$/.exec(out['client'] ?? '');
    expect(m, out['client']).not.toBeNull();
    expect(Number(m![2])).toBe(ETIMEDOUT);
    expect(Number(m![1])).toBeGreaterThanOrEqual(3_000_000);
    expect(report.domains[1]!.outcome).toEqual({ kind: 'poweroff', code: 3 });
  });

  for (const [ref, status, why] of [
    [224, GNTST_GENERAL_ERROR, 'a reference in the table the server never granted'],
    [4000, GNTST_BAD_GNTREF, 'a reference beyond the server\'s table'],
  ] as const) {
    it(`a sender naming ${why} gets the GNTST status as an error, and the receiver sees nothing`, async () => {
      const { report, out } = await pair('count=5 idle=5000000', `count=5 badref=${ref}`);
      expect(out['client']).toBe(`msg: client: call 1 failed: error ${EFAULT} (grant status ${status})\n`);
      // The index write is chained behind the data copies: the failed batch published nothing.
      expect(out['server']).toBe('msg: server: no message 1 within 5000000 ns\n');
      expect(report.domains.map((d) => d.outcome)).toEqual([
        { kind: 'poweroff', code: 3 },
        { kind: 'poweroff', code: 4 },
      ]);
    });
  }

  for (const skew of [4, 1 << 20]) {
    it(`a sender that publishes a producer index ${skew} bytes off breaks only the ring: the receiver refuses it with EIO`, async () => {
      const { report, out } = await pair('count=5', `count=5 badprod=${skew} timeout=2000000`);
      // Misaligned (4) or beyond the ring (1 MiB): either way the receiver stops before copying.
      expect(out['server']).toBe(`msg: server: call 1: error ${EIO}\n`);
      expect(out['client']).toMatch(new RegExp(`^msg: client: call 1 timed out after \\d+ ns \\(error ${ETIMEDOUT}\\)\n$`));
      expect(report.domains.map((d) => d.outcome)).toEqual([
        { kind: 'poweroff', code: 4 },
        { kind: 'poweroff', code: 3 },
      ]);
    });
  }
});
