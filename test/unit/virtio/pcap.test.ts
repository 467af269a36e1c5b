/**
 * pcap capture: the classic libpcap file format byte by byte (global header, record headers with
 * virtual-time timestamps, caplen/len, snaplen truncation), in memory and to a file, attached to
 * a switch (every accepted frame once), and a host write failure that stops only the capture.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapWriter } from '../../../src/virtio/pcap.ts';
import { type SwitchEndpoint, VirtualSwitch, parseMac } from '../../../src/virtio/switch.ts';

function frame(dst: string, src: string, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

interface Rec {
  sec: number;
  usec: number;
  incl: number;
  orig: number;
  data: Uint8Array;
}

/** An independent reader of the format (libpcap's savefile.c layout, little-endian). */
function parse(b: Uint8Array): { magic: number; major: number; minor: number; zone: number; sigfigs: number; snaplen: number; link: number; recs: Rec[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const recs: Rec[] = [];
  let o = 24;
  while (o < b.length) {
    const incl = v.getUint32(o + 8, true);
    recs.push({ sec: v.getUint32(o, true), usec: v.getUint32(o + 4, true), incl, orig: v.getUint32(o + 12, true), data: b.slice(o + 16, o + 16 + incl) });
    o += 16 + incl;
  }
  expect(o).toBe(b.length); // no trailing partial record
  return {
    magic: v.getUint32(0, true),
    major: v.getUint16(4, true),
    minor: v.getUint16(6, true),
    zone: v.getInt32(8, true),
    sigfigs: v.getUint32(12, true),
    snaplen: v.getUint32(16, true),
    link: v.getUint32(20, true),
    recs,
  };
}

const sink: SwitchEndpoint = { receive: () => true };

describe('PcapWriter', () => {
  it('writes the 24-byte global header: a1b2c3d4, 2.4, zone 0, sigfigs 0, snaplen 65535, Ethernet', () => {
    const w = PcapWriter.inMemory();
    const b = w.bytes();
    expect([...b.subarray(0, 4)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]); // little-endian magic
    expect(parse(b)).toEqual({ magic: 0xa1b2c3d4, major: 2, minor: 4, zone: 0, sigfigs: 0, snaplen: 65535, link: 1, recs: [] });
  });

  it('captures every frame a switch accepts, once, with virtual-time timestamps and lengths', () => {
    let now = 1_500_000_123_456n; // ns
    const w = PcapWriter.inMemory({ clock: () => now });
    const sw = new VirtualSwitch('sw0');
    const a = sw.attach('a', sink);
    sw.attach('b', sink);
    sw.attach('c', sink);
    const detach = w.attach(sw);
    const f1 = frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a', 60); // flooded to 2 ports: 1 record
    a.send(f1);
    now += 2_000_000_000n + 7_000n;
    const f2 = frame('02:00:00:00:00:0b', '02:00:00:00:00:0a', 1514);
    a.send(f2);
    a.send(new Uint8Array(10)); // runt: not accepted, not captured
    detach();
    a.send(f1);
    const p = parse(w.bytes());
    expect(w.packets).toBe(2);
    expect(p.recs.map((r) => [r.sec, r.usec, r.incl, r.orig])).toEqual([
      [1500, 123, 60, 60],
      [1502, 130, 1514, 1514],
    ]);
    expect([...p.recs[1]!.data]).toEqual([...f2]);
  });

  it('cuts frames to snaplen but records their original length', () => {
    const w = PcapWriter.inMemory({ snaplen: 64 });
    w.write(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 100), 0n);
    w.write(new Uint8Array(14), 2_500_000.7); // fractional number clock: truncated, not thrown
    const p = parse(w.bytes());
    expect(p.recs[1]!.usec).toBe(2500);
    p.recs.pop();
    expect(p.snaplen).toBe(64);
    expect(p.recs.map((r) => [r.incl, r.orig, r.data.length])).toEqual([[64, 100, 64]]);
  });

  it('writes the same bytes to a file (synchronously) as to memory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvisor-pcap-'));
    try {
      const file = path.join(dir, 'cap.pcap');
      const clock = () => 42_000_000_000;
      const fw = PcapWriter.toFile(file, { clock });
      const mw = PcapWriter.inMemory({ clock });
      for (const n of [60, 61, 1514]) {
        const f = frame('02:00:00:00:00:02', '02:00:00:00:00:01', n);
        fw.write(f);
        mw.write(f);
      }
      expect(fs.statSync(file).size).toBe(24 + 3 * 16 + 60 + 61 + 1514); // on disk before close
      fw.close();
      const disk = new Uint8Array(fs.readFileSync(file));
      expect([...disk]).toEqual([...mw.bytes()]);
      expect(parse(disk).recs.map((r) => r.orig)).toEqual([60, 61, 1514]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // /dev/full answers every write with ENOSPC: a real "disk full" without mocking fs.
  it.skipIf(!fs.existsSync('/dev/full'))('a host write failure (ENOSPC) stops the capture with one log line; the switch keeps forwarding', () => {
    const logs: string[] = [];
    const w = PcapWriter.toFile('/dev/full', { log: (l) => logs.push(l) });
    const sw = new VirtualSwitch('sw0');
    let got = 0;
    const a = sw.attach('a', sink);
    sw.attach('b', { receive: () => (got++, true) });
    w.attach(sw);
    a.send(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 60));
    a.send(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 60));
    w.close();
    expect(got).toBe(2);
    expect(w.failed).toMatch(/ENOSPC|no space/i);
    expect(logs.length).toBe(1);
    expect(w.packets).toBe(0);
  });
});
