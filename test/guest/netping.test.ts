/**
 * End to end: the netping example guest (guest-kit/examples/netping) — two domains whose
 * virtio-net NICs (the kit's driver) are plugged into one virtual switch, built exactly as
 * `pvisor run --net lan --pcap FILE` builds them (buildSystem), with the capture checked.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSystem } from '../../src/cli/run.ts';
import type { RunPlan } from '../../src/cli/plan.ts';
import { example } from './run.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Parses a little-endian classic pcap file into its records' frames. */
function pcapFrames(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const incl = bytes.readUInt32LE(o + 8);
    frames.push(bytes.subarray(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  expect(o).toBe(bytes.length);
  return frames;
}

/** The Internet checksum (RFC 1071): 0 over data that includes a valid one. */
function inetChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

async function runNetping(count: number) {
  dir = mkdtempSync(path.join(tmpdir(), 'netping-'));
  const pcapFile = path.join(dir, 'lan.pcap');
  const nets = [{ switch: 'lan', origin: 'test' }];
  const plan: RunPlan = {
    seed: 1,
    maxTimeNs: 10e9,
    quiet: true,
    pcapFile,
    domains: [
      { name: 'responder', image: example('netping'), memBytes: 1 << 20, vcpus: 1, cmdline: `role=responder count=${count}`, nets },
      { name: 'pinger', image: example('netping'), memBytes: 1 << 20, vcpus: 1, cmdline: `role=pinger count=${count} ip=10.0.0.1`, nets },
    ],
  };
  const out: Record<string, string> = {};
  const log: string[] = [];
  const built = await buildSystem(plan, { console: (d, text) => (out[d] = (out[d] ?? '') + text), log: (l) => log.push(l) });
  let report;
  try {
    report = await built.system.run();
  } finally {
    built.close();
  }
  return { out, log, report, built, pcap: readFileSync(pcapFile) };
}

describe('netping: the guest virtio-net driver end to end', () => {
  it('ARPs, pings 4 times over a switch, and every reply checks out', async () => {
    const { out, report, built, pcap, log } = await runNetping(4);
    expect(out).toEqual({
      responder: 'netping: responder answered 1 ARP, 4 echo requests\n',
      pinger: 'netping: 4/4 replies ok\nTest result: SUCCESS\n',
    });
    expect(report.domains.map((d) => d.outcome)).toEqual([
      { kind: 'poweroff', code: 0 },
      { kind: 'poweroff', code: 0 },
    ]);
    expect(report.ok).toBe(true);
    expect(log.filter((l) => l.includes('NEEDS_RESET'))).toEqual([]);
    // Both drivers negotiated VERSION_1 and EVENT_IDX plus the net features offered.
    for (const [dev] of built.devices) {
      const f = dev!.negotiatedFeatures;
      for (const bit of [32n, 29n, 3n, 5n, 16n]) expect((f >> bit) & 1n).toBe(1n);
      expect(dev!.deviceStatus & 64).toBe(0);
      expect(dev!.strayAccesses).toBe(0);
    }
    // The capture: classic pcap, microsecond, v2.4, snaplen 65535, Ethernet.
    expect([...pcap.subarray(0, 24)]).toEqual([
      0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    const frames = pcapFrames(pcap);
    // ARP request + ARP reply + 4 x (echo request + echo reply).
    expect(frames.length).toBe(2 + 2 * 4);
    const types = frames.map((f) => f.readUInt16BE(12));
    expect(types).toEqual([0x0806, 0x0806, 0x0800, 0x0800, 0x0800, 0x0800, 0x0800, 0x0800, 0x0800, 0x0800]);
    expect(frames[0]!.subarray(0, 6).toString('hex')).toBe('ffffffffffff');
    expect(frames[0]!.readUInt16BE(20)).toBe(1);
    expect(frames[1]!.readUInt16BE(20)).toBe(2);
    // ICMP: type 8 then 0, alternating, seq 1..4, 98-byte frames (14 + 20 + 8 + 56).
    for (let i = 0; i < 4; i++) {
      const req = frames[2 + 2 * i]!;
      const rep = frames[3 + 2 * i]!;
      expect(req.length).toBe(98);
      expect(rep.length).toBe(98);
      expect(req[34]).toBe(8);
      expect(rep[34]).toBe(0);
      expect(req.readUInt16BE(40)).toBe(i + 1);
      expect(rep.readUInt16BE(40)).toBe(i + 1);
      expect(req.subarray(26, 30).toString('hex')).toBe('0a000002');
      expect(rep.subarray(26, 30).toString('hex')).toBe('0a000001');
      // Both sides' IPv4 header and ICMP checksums are correct, and the reply echoes the payload.
      for (const f of [req, rep]) {
        expect(inetChecksum(f.subarray(14, 34))).toBe(0);
        expect(inetChecksum(f.subarray(34))).toBe(0);
      }
      expect(rep.subarray(38).equals(req.subarray(38))).toBe(true);
    }
  });

  it('keeps the receive ring full: 100 pings through 64-entry queues', async () => {
    const { out, report, pcap } = await runNetping(100);
    expect(out).toEqual({
      responder: 'netping: responder answered 1 ARP, 100 echo requests\n',
      pinger: 'netping: 100/100 replies ok\nTest result: SUCCESS\n',
    });
    expect(report.ok).toBe(true);
    expect(pcapFrames(pcap).length).toBe(2 + 2 * 100);
  });
});
