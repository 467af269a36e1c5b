/**
 * From a `pvisor run` plan to a System: `--disk` opens (or creates sparse) a raw image, wraps it
 * in virtio-blk behind virtio-mmio, and attaches it with System.attachDevice, so the guest finds
 * `disk0`, `disk1`, … in its start_info manifest; `--net` plugs virtio-net NICs into shared
 * switches, `--console` adds a virtio-console, `--pcap` captures. No guest drives the devices here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEVICE_INFO_OFF, DEVICE_INFO_SIZE, MMIO_DEVICE_BASE, MMIO_WINDOW_SIZE, START_INFO_OFF, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE, VIRTIO_ID_NET } from '../../../src/abi/index.ts';
import type { GuestAddr } from '../../../src/abi/index.ts';
import { parseArgs, UsageError } from '../../../src/cli/args.ts';
import { RUN } from '../../../src/cli/commands.ts';
import { parseConfigText } from '../../../src/cli/config.ts';
import { planRun, type RunPlan } from '../../../src/cli/plan.ts';
import { buildSystem, checkDevices, runPlan } from '../../../src/cli/run.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { VIRTIO_BLK_F_RO, type VirtioBlk } from '../../../src/virtio/blk.ts';
import type { VirtioConsole } from '../../../src/virtio/console.ts';
import type { VirtioNet } from '../../../src/virtio/net.ts';
import { formatMac } from '../../../src/virtio/switch.ts';
import { wat } from '../../support/wat.ts';

const M = 2 ** 20;
const GUEST = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param i32)))`);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvisor-wiring-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The plan of `pvisor run k.wasm ARGV…`, with the image replaced by the in-memory test guest. */
function plan(...argv: string[]): RunPlan {
  const p = planRun(parseArgs(['k.wasm', ...argv], RUN.flags, 'pvisor run'), () => {
    throw new Error('no config');
  });
  for (const d of p.domains) d.image = GUEST;
  return p;
}

const quiet = { console: () => {}, log: () => {} };

/** The manifest entries as the bytes in guest memory say. */
function manifest(d: Domain) {
  const m = d.mem;
  const si = d.layout.startInfo;
  const n = m.u32((si + START_INFO_OFF.nr_devices) as GuestAddr);
  const at = m.u32((si + START_INFO_OFF.devices) as GuestAddr);
  const out = [];
  for (let i = 0; i < n; i++) {
    const e = at + i * DEVICE_INFO_SIZE;
    out.push({
      name: Buffer.from(m.u8.slice(e + DEVICE_INFO_OFF.name, e + DEVICE_INFO_OFF.name + 16)).toString('utf8').replace(/\0+$/, ''),
      type: m.u32((e + DEVICE_INFO_OFF.type) as GuestAddr),
      mmioBase: m.u32((e + DEVICE_INFO_OFF.mmio_base) as GuestAddr),
      mmioSize: m.u32((e + DEVICE_INFO_OFF.mmio_size) as GuestAddr),
      evtchn: m.u32((e + DEVICE_INFO_OFF.evtchn) as GuestAddr),
    });
  }
  return out;
}

describe('--disk wiring', () => {
  it('creates a missing image sparse with size=, opens an existing one read-only, and lists both in the manifest', async () => {
    const data = join(dir, 'data.img');
    const base = join(dir, 'base.img');
    writeFileSync(base, Buffer.alloc(8192, 0xab));
    const p = plan('--disk', `${data},size=64M`, '--disk', `${base},ro`);
    expect(checkDevices(p)).toEqual([]);

    const built = await buildSystem(p, quiet);
    try {
      const st = statSync(data);
      expect(st.size).toBe(64 * M);
      // Sparse: (almost) no blocks allocated, where the file system reports them.
      if (st.blocks !== undefined && st.blocks > 0) expect(st.blocks * 512).toBeLessThan(M);

      const [d] = built.domains;
      expect(manifest(d!)).toEqual([
        { name: 'disk0', type: VIRTIO_ID_BLOCK, mmioBase: MMIO_DEVICE_BASE, mmioSize: 0x1000, evtchn: 1 },
        { name: 'disk1', type: VIRTIO_ID_BLOCK, mmioBase: MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE, mmioSize: 0x1000, evtchn: 2 },
      ]);
      const [disk0, disk1] = built.devices[0]!;
      expect((disk0!.backend as VirtioBlk).capacity).toBe((64 * M) / 512);
      expect((disk1!.backend as VirtioBlk).capacity).toBe(16);
      expect((disk0!.offered >> BigInt(VIRTIO_BLK_F_RO)) & 1n).toBe(0n);
      expect((disk1!.offered >> BigInt(VIRTIO_BLK_F_RO)) & 1n).toBe(1n);
      // The guest sees the transport through its MMIO bus.
      expect(d!.mmio.read32(MMIO_DEVICE_BASE)).toBe(0x74726976);
      expect(d!.mmio.read32(MMIO_DEVICE_BASE + MMIO_WINDOW_SIZE + 8)).toBe(VIRTIO_ID_BLOCK);

      const report = await built.system.run();
      expect(report.ok).toBe(true);
    } finally {
      built.close();
    }
    // Closed: the images refuse further I/O.
    const image = (built.devices[0]![1]!.backend as VirtioBlk).image;
    expect(() => image.read(0, new Uint8Array(512))).toThrow();
    built.close(); // idempotent
  });

  it('attaches disks of config-file domains to the right domain, each numbered from disk0', async () => {
    const text = JSON.stringify({
      domains: [
        { name: 'a', image: 'a.wasm', disks: ['a.img,size=1M'] },
        { name: 'b', image: 'b.wasm' },
        { name: 'c', image: 'c.wasm', disks: [{ path: 'c0.img', size: '1M' }, 'c1.img,size=2M'] },
      ],
    });
    const cfg = parseConfigText(text, { fileName: 'run.json', baseDir: dir });
    const p: RunPlan = { domains: cfg.domains.map((d) => ({ ...d, image: GUEST })), seed: 1, maxTimeNs: 1e9, quiet: true };
    const built = await buildSystem(p, quiet);
    try {
      expect(built.domains.map((d) => manifest(d).map((e) => e.name))).toEqual([['disk0'], [], ['disk0', 'disk1']]);
      expect(statSync(join(dir, 'c1.img')).size).toBe(2 * M);
    } finally {
      built.close();
    }
  });

  it('logs device problems to the System log, prefixed with the domain and device', async () => {
    const lines: string[] = [];
    const built = await buildSystem(plan('--disk', `${join(dir, 'x.img')},size=1M`), { console: () => {}, log: (l) => lines.push(l) });
    try {
      const dev = built.devices[0]![0]!;
      dev.write32(0x070, 0); // status 0: a reset, fine
      dev.write32(0x070, 1); // ACKNOWLEDGE
      dev.write32(0x070, 0x80 | 1); // FAILED: accepted
      dev.write32(0x070, 1); // clears FAILED without a reset: logged
      expect(lines.some((l) => l.startsWith('domain k: virtio-mmio disk0 (virtio-blk): '))).toBe(true);
    } finally {
      built.close();
    }
  });
});

describe('disk checks before the run', () => {
  it('names the flag and the fix for a missing image', () => {
    const missing = join(dir, 'd.img');
    expect(checkDevices(plan('--disk', missing))).toEqual([`--disk ${missing}: no such file; add ,size=64M to create it`]);
    expect(checkDevices(plan('--disk', `${missing},ro,size=1M`))).toEqual([
      `--disk ${missing}: no such file, and a read-only image cannot be created; drop ,ro to create it`,
    ]);
    expect(checkDevices(plan('--disk', dir))).toEqual([`--disk ${dir}: ${dir} is not a file; give a raw disk image file`]);
  });

  it('names the config path for a missing image', () => {
    const cfg = parseConfigText('{"domains":[{"image":"a.wasm","disks":["d.img"]}]}', { fileName: 'run.json', baseDir: dir });
    const p: RunPlan = { domains: cfg.domains, seed: 1, maxTimeNs: 1e9, quiet: true };
    expect(checkDevices(p)).toEqual(['run.json: domains[0].disks[0]: no such file; add size: 64M to create it']);
  });

  it('refuses the same image used twice unless every use is read-only', () => {
    const img = join(dir, 'd.img');
    writeFileSync(img, Buffer.alloc(512));
    expect(checkDevices(plan('--disk', img, '--disk', `${img},ro`))[0]).toMatch(/is used by domain k \(disk0\) and domain k \(disk1\), not all read-only/);
    expect(checkDevices(plan('--disk', `${img},ro`, '--disk', `${img},ro`))).toEqual([]);
  });

  it('runPlan stops with a usage error before creating anything', async () => {
    const missing = join(dir, 'd.img');
    const p = plan('--disk', missing);
    await expect(runPlan(p, { out: () => {}, err: () => {} })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('--net, --console, --pcap wiring', () => {
  it('plugs NICs into shared switches, with deterministic default MACs, and captures what the switches forward', async () => {
    const pcapFile = join(dir, 'lan.pcap');
    const text = JSON.stringify({
      pcap: 'lan.pcap',
      domains: [
        { name: 'a', image: 'a.wasm', net: ['lan'] },
        { name: 'b', image: 'b.wasm', net: ['lan', 'wan,mac=02:00:00:00:00:0b'], console: 'stdio' },
      ],
    });
    const cfg = parseConfigText(text, { fileName: 'run.json', baseDir: dir });
    const p: RunPlan = { domains: cfg.domains.map((d) => ({ ...d, image: GUEST })), seed: 1, maxTimeNs: 1e9, quiet: true };
    if (cfg.pcap !== undefined) p.pcapFile = cfg.pcap;
    const out: [string, string][] = [];
    const built = await buildSystem(p, { console: (name, t) => void out.push([name, t]), log: () => {} });
    try {
      expect(built.domains.map((d) => manifest(d).map((e) => [e.name, e.type]))).toEqual([
        [['net0', VIRTIO_ID_NET]],
        [['net0', VIRTIO_ID_NET], ['net1', VIRTIO_ID_NET], ['console0', VIRTIO_ID_CONSOLE]],
      ]);
      expect([...built.switches.keys()]).toEqual(['lan', 'wan']);
      expect(built.switches.get('lan')!.attachedPorts.map((port) => port.name)).toEqual(['a.net0', 'b.net0']);
      const macs = built.devices.map((ds) => ds.filter((x) => x.type === VIRTIO_ID_NET).map((x) => formatMac((x.backend as VirtioNet).mac)));
      expect(macs).toEqual([['02:70:76:00:01:00'], ['02:70:76:00:02:00', '02:00:00:00:00:0b']]);

      // A frame from a's port: flooded to b, and captured once.
      const frame = new Uint8Array(60);
      frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x70, 0x76, 0x00, 0x01, 0x00, 0x08, 0x06]);
      built.switches.get('lan')!.attachedPorts[0]!.send(frame);
      expect((built.devices[1]![0]!.backend as VirtioNet).rxQueued).toBe(1);

      // console0 on stdio goes where the hypercall console goes (here: the System's console sink).
      (built.devices[1]![2]!.backend as VirtioConsole).writeConfig(8, Uint8Array.of(0x41, 0, 0, 0));
      expect(out).toEqual([['b', 'A']]);
    } finally {
      built.close();
    }
    const pcap = readFileSync(pcapFile);
    expect(pcap.length).toBe(24 + 16 + 60);
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(pcap.readUInt32LE(24 + 8)).toBe(60);
  });

  it('refuses two NICs with the same MAC on one switch', async () => {
    const p = plan('--net', 'lan,mac=02:00:00:00:00:01', '--net', 'lan,mac=02:00:00:00:00:01');
    await expect(buildSystem(p, quiet)).rejects.toThrow(
      '--net lan,mac=02:00:00:00:00:01: MAC 02:00:00:00:00:01 is already used on switch lan by domain k (net0); give each NIC its own mac=',
    );
  });

  it('writes console output to a file', async () => {
    const file = join(dir, 'console.log');
    const built = await buildSystem(plan('--console', `file:${file}`), quiet);
    try {
      const con = built.devices[0]![0]!.backend as VirtioConsole;
      for (const c of 'ok\n') con.writeConfig(8, Uint8Array.of(c.charCodeAt(0), 0, 0, 0));
    } finally {
      built.close();
    }
    expect(readFileSync(file, 'utf8')).toBe('ok\n');
  });

  it('serves the console on a Unix socket: output to the client, its input to the guest', async () => {
    const sock = join(dir, 'c.sock');
    const p = plan('--console', `socket:${sock}`);
    expect(checkDevices(p)).toEqual([]);
    const built = await buildSystem(p, quiet);
    try {
      const client = connect(sock);
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise<void>((res) => client.once('connect', () => res()));
      await built.waitForClients();
      expect(built.system.hasExternalInputs).toBe(true); // the run will wait for more input
      client.write('typed\n');
      const con = built.devices[0]![0]!.backend as VirtioConsole;
      // Input goes to the device as it arrives (no guest drives it here, so it stays pending).
      await new Promise<void>((res) => {
        const poll = (): void => void (con.pendingInput === 6 ? res() : setTimeout(poll, 5));
        poll();
      });
      con.writeConfig(8, Uint8Array.of(0x5a, 0, 0, 0));
      await new Promise<void>((res) => {
        const poll = (): void => void (got.length > 0 ? res() : setTimeout(poll, 5));
        poll();
      });
      expect(got).toBe('Z');
      const ended = new Promise<void>((res) => client.once('end', () => res()));
      built.close();
      await ended;
      client.destroy();
    } finally {
      built.close();
    }
    expect(existsSync(sock)).toBe(false);
    // A path that exists is refused before anything starts.
    writeFileSync(sock, '');
    expect(checkDevices(p)).toEqual([`--console socket:${sock}: ${sock} already exists; remove it (a socket left by an earlier run?)`]);
  });
});

describe('--disk with a guest that drives it', () => {
  // The blkcheck example (guest-kit/examples/blkcheck) writes a pattern over a writable disk and
  // verifies it on a read-only one, through the kit's virtio-blk driver.
  it('writes a created image, then verifies it read-only, through the raw file', async () => {
    const image = join(dir, 'bc.img');
    const run = async (disk: string) => {
      const p = planRun(parseArgs(['guest-kit/examples/blkcheck.wasm', '--mem', '2M', '--cmdline', 'disk=disk0', '--disk', disk], RUN.flags, 'pvisor run'), () => {
        throw new Error('no config');
      });
      expect(checkDevices(p)).toEqual([]);
      let out = '';
      const built = await buildSystem(p, { console: (_d, t) => void (out += t), log: () => {} });
      try {
        const report = await built.system.run();
        return { ok: report.ok, out };
      } finally {
        built.close();
      }
    };
    const w = await run(`${image},size=256K`);
    expect(w.out).toContain('blkcheck: 512 sectors ok');
    expect(w.ok).toBe(true);
    expect(statSync(image).size).toBe(256 * 1024);
    const r = await run(`${image},ro`);
    expect(r.out).toContain('512 sectors ok (read-only)');
    expect(r.ok).toBe(true);
  });
});
