/**
 * `pvisor run` with unmodified guests (full virtualization): the first `--disk` becomes the ATA
 * primary master and the first `--net` the NE2000 (0x300, IRQ 10) on the same named switch as
 * paravirtual NICs, both on the very image and switch objects virtio uses; `--console` is COM1.
 * The workloads (guest-kit/workloads) run through the CLI entry point, and each FV result must
 * equal what the PV build of the same source prints when run the same way.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BOOT_INFO_F_DISK, BOOT_INFO_F_NIC, BOOT_INFO_MAGIC, BOOT_INFO_OFF, type GuestAddr } from '../../../src/abi/index.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import { cli, type CliIo } from '../../../src/cli/cli.ts';
import { RUN } from '../../../src/cli/commands.ts';
import { parseConfigText } from '../../../src/cli/config.ts';
import { legacyDeviceProblems } from '../../../src/cli/devices.ts';
import { planRun, type RunPlan } from '../../../src/cli/plan.ts';
import { buildSystem } from '../../../src/cli/run.ts';
import type { Domain } from '../../../src/hv/index.ts';
import type { LegacyPlatform } from '../../../src/legacy/platform.ts';
import { COM1_BASE } from '../../../src/legacy/uart16550.ts';
import { formatMac, localMac } from '../../../src/virtio/switch.ts';
import { wat } from '../../support/wat.ts';

const MiB = 2 ** 20;
const SECTOR = 512;
const LSR = COM1_BASE + 5;
const LSR_DR = 0x01;

/** Path of a checked-in workload image. */
const workload = (file: string): string => fileURLToPath(new URL(`../../../guest-kit/workloads/${file}`, import.meta.url));

/** An unmodified guest that does nothing (it imports nothing from `pv`). */
const FV_GUEST = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (func (export "_start") (param i32)))`);
/** A paravirtual guest that does nothing. */
const PV_GUEST = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param i32)))`);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvisor-fv-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `pvisor ARGV…` through the CLI entry point; `stdout` is the guests' console output. */
async function pvisor(...argv: string[]) {
  let err = '';
  let stdout = '';
  const io: CliIo = { out: (t) => void (stdout += t), err: (t) => void (err += t) };
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    const status = await cli(argv, io);
    return { status, stdout, err };
  } finally {
    spy.mockRestore();
  }
}

/** Writes a JSON config file in the temp dir; returns its path. */
function config(name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** The frames of a pcap file (after the 24-byte global header, 16-byte record headers). */
function pcapFrames(file: string): Buffer[] {
  const b = readFileSync(file);
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
  const frames: Buffer[] = [];
  for (let at = 24; at < b.length; ) {
    const len = b.readUInt32LE(at + 8);
    frames.push(b.subarray(at + 16, at + 16 + len));
    at += 16 + len;
  }
  return frames;
}

describe('blk workload through pvisor run: --disk is the ATA disk of an unmodified guest', () => {
  it('prints the same result line as the PV build and writes the same bytes to the image', async () => {
    const run = async (variant: 'pv' | 'fv') => {
      const img = join(dir, `${variant}.img`);
      const r = await pvisor('run', workload(`blk-${variant}.wasm`), '--name', 'blk', '--mem', '2M', '--cmdline', 'mb=1 reads=10', '--disk', `${img},size=2M`, '--quiet');
      return { ...r, image: readFileSync(img) };
    };
    const pv = await run('pv');
    const fv = await run('fv');
    expect(pv.status).toBe(0);
    expect(pv.stdout).toMatch(/^blk: wrote 1 MiB, read 1 MiB, crc32 0x[0-9a-f]{8}, 10 random reads crc32 0x[0-9a-f]{8}\n$/);
    expect(fv).toEqual({ ...pv, image: fv.image });
    expect(fv.image.length).toBe(2 * MiB);
    expect(fv.image.equals(pv.image)).toBe(true);
    // Every sector of the written first MiB holds data; the rest of the created image is untouched.
    const blank: number[] = [];
    for (let s = 0; s < MiB / SECTOR; s++) if (fv.image.subarray(s * SECTOR, (s + 1) * SECTOR).every((b) => b === 0)) blank.push(s);
    expect(blank).toEqual([]);
    expect(fv.image.subarray(MiB).every((b) => b === 0)).toBe(true);
  });
});

describe('net workload through pvisor run --config: the NE2000 plugs into the named switch', () => {
  /** Runs a sink and a sender (`sink`/`send` variants) from one config file on switch `lan`, captured. */
  const run = async (sink: 'pv' | 'fv', send: 'pv' | 'fv') => {
    const pcap = join(dir, `${sink}-${send}.pcap`);
    const file = config(`${sink}-${send}.json`, {
      pcap,
      domains: [
        { name: 'sink', image: workload(`net-${sink}.wasm`), memory: '4M', cmdline: 'role=sink count=50 size=1500', net: ['lan'] },
        { name: 'send', image: workload(`net-${send}.wasm`), memory: '4M', cmdline: 'role=send count=50 size=1500', net: ['lan'] },
      ],
    });
    const r = await pvisor('run', '--config', file, '--quiet');
    return { ...r, frames: pcapFrames(pcap) };
  };

  it('two unmodified guests print what two PV guests print, and the capture sees their default MACs', async () => {
    const pv = await run('pv', 'pv');
    const fv = await run('fv', 'fv');
    expect(pv.status).toBe(0);
    const lines = pv.stdout.split('\n');
    expect(lines.sort()).toEqual([
      '',
      expect.stringMatching(/^\[send\] net: sent 50 frames of 1500 bytes, payload crc32 0x[0-9a-f]{8}$/),
      expect.stringMatching(/^\[sink\] net: received 50 frames of 1500 bytes in order, payload crc32 0x[0-9a-f]{8}$/),
    ]);
    expect({ status: fv.status, stdout: fv.stdout, err: fv.err }).toEqual({ status: pv.status, stdout: pv.stdout, err: pv.err });
    // The same deterministic MACs as virtio-net's net0 (domain id, NIC 0), seen on the one switch.
    const sources = (frames: Buffer[]) => [...new Set(frames.map((f) => formatMac(f.subarray(6, 12))))].sort();
    const macs = [formatMac(localMac(1, 0)), formatMac(localMac(2, 0))].sort();
    expect(sources(pv.frames)).toEqual(macs);
    expect(sources(fv.frames)).toEqual(macs);
    // Every data frame crossed the switch and was captured.
    const big = (frames: Buffer[]) => frames.filter((f) => f.length === Math.max(...frames.map((g) => g.length))).length;
    expect(big(fv.frames)).toBe(big(pv.frames));
  });

  it('a PV and an FV guest of one config share the switch, either way round', async () => {
    const pv = await run('pv', 'pv');
    for (const [sink, send] of [['fv', 'pv'], ['pv', 'fv']] as const) {
      const mixed = await run(sink, send);
      expect({ status: mixed.status, stdout: mixed.stdout }, `${sink} sink, ${send} sender`).toEqual({ status: 0, stdout: pv.stdout });
    }
  });
});

describe('devices an unmodified guest cannot take', () => {
  it('two --disk or --net: exit 2, naming the flag and the fix', async () => {
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    const r = await pvisor('run', workload('blk-fv.wasm'), '--name', 'k', '--disk', `${a},size=1M`, '--disk', `${b},size=1M`, '--net', 'lan', '--net', 'wan');
    expect(r).toEqual({
      status: 2,
      stdout: '',
      err:
        'pvisor: --disk: domain k is an unmodified guest (it imports nothing from pv), and its PC has one ATA disk (primary master); give it one --disk, not 2\n' +
        'pvisor: --net: domain k is an unmodified guest (it imports nothing from pv), and its PC has one NE2000 NIC (0x300, IRQ 10); give it one --net, not 2\n',
    });
    // Refused before any device was opened: nothing was created.
    expect(() => readFileSync(a)).toThrow();
  });

  it('two disks or NICs in a config file: the field path and the fix', async () => {
    const file = config('bad.json', {
      domains: [
        { name: 'pv', image: workload('blk-pv.wasm'), disks: ['p0.img,size=1M', 'p1.img,size=1M'] },
        { name: 'fv', image: workload('blk-fv.wasm'), disks: ['f0.img,size=1M', 'f1.img,size=1M'], net: ['lan', 'lan'] },
      ],
    });
    const r = await pvisor('run', '--config', file);
    expect(r).toEqual({
      status: 2,
      stdout: '',
      err:
        `pvisor: ${file}: domains[1].disks: domain fv is an unmodified guest (it imports nothing from pv), and its PC has one ATA disk (primary master); list one disk, not 2\n` +
        `pvisor: ${file}: domains[1].net: domain fv is an unmodified guest (it imports nothing from pv), and its PC has one NE2000 NIC (0x300, IRQ 10); list one switch, not 2\n`,
    });
  });

  it('one disk and one NIC are fine', () => {
    const p = planRun(parseArgs(['k.wasm', '--disk', 'a.img', '--net', 'lan'], RUN.flags, 'pvisor run'), () => {
      throw new Error('no config');
    });
    const [d] = p.domains;
    expect(legacyDeviceProblems('k', d!.disks ?? [], d!.nets ?? [])).toEqual([]);
  });
});

/** The plan of `pvisor run k.wasm ARGV…`, with the image replaced by the in-memory unmodified guest. */
function fvPlan(...argv: string[]): RunPlan {
  const p = planRun(parseArgs(['k.wasm', ...argv], RUN.flags, 'pvisor run'), () => {
    throw new Error('no config');
  });
  for (const d of p.domains) d.image = FV_GUEST;
  return p;
}

const quiet = { console: () => {}, log: () => {} };

/** Types `text` on COM1 as the guest would (THR writes). */
function guestWrites(pc: LegacyPlatform, text: string): void {
  for (const c of text) pc.ports.write(COM1_BASE, 1, c.charCodeAt(0));
}

/**
 * Reads COM1's receive side as a driver would: FIFOs on, DTR | RTS raised (the far end sends only
 * while RTS is up), then RBR while LSR.DR.
 */
function guestReads(pc: LegacyPlatform): string {
  pc.ports.write(COM1_BASE + 2, 1, 0x01);
  pc.ports.write(COM1_BASE + 4, 1, 0x03);
  let s = '';
  while (pc.ports.read(LSR, 1) & LSR_DR) s += String.fromCharCode(pc.ports.read(COM1_BASE, 1));
  return s;
}

const u32 = (d: Domain, off: number): number => d.mem.u32((d.layout.startInfo + off) as GuestAddr);

describe('legacy wiring (buildSystem)', () => {
  it('plugs the disk and NIC into the PC, sets boot_info.flags, names the switch port ne0, and attaches no virtio device', async () => {
    const p = fvPlan('--disk', `${join(dir, 'd.img')},size=1M`, '--net', 'lan');
    const built = await buildSystem(p, quiet);
    try {
      const [d] = built.domains;
      const pc = built.legacy[0]!;
      expect(d!.legacy).toBe(pc);
      expect(built.devices).toEqual([[]]);
      expect(pc.ata).toBeDefined();
      expect(pc.nic).toBeDefined();
      expect(u32(d!, BOOT_INFO_OFF.magic)).toBe(BOOT_INFO_MAGIC);
      expect(u32(d!, BOOT_INFO_OFF.flags)).toBe(BOOT_INFO_F_DISK | BOOT_INFO_F_NIC);
      expect(built.switches.get('lan')!.attachedPorts.map((port) => port.name)).toEqual(['k.ne0']);
      // The ATA disk reads the image: IDENTIFY's capacity is 1 MiB in sectors (words 60-61).
      pc.ports.write(0x1f6, 1, 0xa0);
      pc.ports.write(0x1f7, 1, 0xec);
      const id = new Uint16Array(256);
      for (let i = 0; i < 256; i++) id[i] = pc.ports.read(0x1f0, 2);
      expect(id[60]! | (id[61]! << 16)).toBe(MiB / SECTOR);
    } finally {
      built.close();
    }
  });

  it('a PV domain next to it keeps its virtio devices; a MAC clash names ne0', async () => {
    const text = JSON.stringify({
      domains: [
        { name: 'a', image: 'a.wasm', net: ['lan,mac=02:00:00:00:00:01'] },
        { name: 'b', image: 'b.wasm', net: ['lan,mac=02:00:00:00:00:01'] },
      ],
    });
    const cfg = parseConfigText(text, { fileName: 'run.json', baseDir: dir });
    const p: RunPlan = { domains: cfg.domains.map((d, i) => ({ ...d, image: i === 0 ? FV_GUEST : PV_GUEST })), seed: 1, maxTimeNs: 1e9, quiet: true };
    await expect(buildSystem(p, quiet)).rejects.toThrow(
      'run.json: domains[1].net[0]: MAC 02:00:00:00:00:01 is already used on switch lan by domain a (ne0); give each NIC its own mac=',
    );
    p.domains[1]!.nets = [{ switch: 'lan', origin: 'x' }];
    const built = await buildSystem(p, quiet);
    try {
      expect(built.legacy.map((pc) => pc !== undefined)).toEqual([true, false]);
      expect(built.devices.map((ds) => ds.map((x) => x.name))).toEqual([[], ['net0']]);
      expect(built.switches.get('lan')!.attachedPorts.map((port) => port.name)).toEqual(['a.ne0', 'b.net0']);
    } finally {
      built.close();
    }
  });

  it('--console file: COM1 output goes to the file, not the domain console; --console-input reaches the receive FIFO', async () => {
    const file = join(dir, 'com1.log');
    const out: string[] = [];
    const built = await buildSystem(fvPlan('--console', `file:${file}`, '--console-input', 'hi'), { console: (_d, t) => void out.push(t), log: () => {} });
    try {
      const pc = built.legacy[0]!;
      guestWrites(pc, 'ok\n');
      expect(guestReads(pc)).toBe('hi');
    } finally {
      built.close();
    }
    expect(readFileSync(file, 'utf8')).toBe('ok\n');
    expect(out).toEqual([]);
  });

  it('--console stdio (and no --console): COM1 output is the domain console', async () => {
    for (const argv of [['--console', 'stdio'], []]) {
      const out: [string, string][] = [];
      const built = await buildSystem(fvPlan(...argv), { console: (d, t) => void out.push([d, t]), log: () => {} });
      try {
        guestWrites(built.legacy[0]!, 'ok\n');
      } finally {
        built.close();
      }
      expect(out, argv.join(' ')).toEqual([['k', 'ok\n']]);
    }
  });

  it('--console socket: COM1 output to the client, its input into the receive FIFO', async () => {
    const sock = join(dir, 'c.sock');
    const built = await buildSystem(fvPlan('--console', `socket:${sock}`), quiet);
    try {
      const client = connect(sock);
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise<void>((res) => client.once('connect', () => res()));
      await built.waitForClients();
      expect(built.system.hasExternalInputs).toBe(true);
      const pc = built.legacy[0]!;
      pc.ports.write(COM1_BASE + 2, 1, 0x01); // FCR: FIFO on, as a driver does first
      client.write('typed\n');
      let read = '';
      await new Promise<void>((res) => {
        const poll = (): void => {
          read += guestReads(pc);
          if (read === 'typed\n') res();
          else setTimeout(poll, 5);
        };
        poll();
      });
      guestWrites(pc, 'Z\n');
      await new Promise<void>((res) => {
        const poll = (): void => void (got === 'Z\n' ? res() : setTimeout(poll, 5));
        poll();
      });
      expect(got).toBe('Z\n');
      client.destroy();
    } finally {
      built.close();
    }
  });
});
