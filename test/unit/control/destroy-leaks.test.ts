/**
 * Destroying domains with I/O in flight leaks nothing: real example guests (netstream on a
 * virtual switch, blkstream on a disk, msg over grant copies and inter-domain event channels,
 * pingpong) are stopped in the middle of their traffic — every domain is paused from a switch tap
 * after a number of frames, so the run ends idle at a point that depends only on the seed — and
 * some are destroyed. Nothing of them may stay behind: no switch port or learned MAC, no
 * inter-domain port of a peer still bound to them, no frame (frames move to the free pool, none
 * is lost or created), no scheduler, engine or toolstack entry (proved by the guest memory being
 * garbage-collected), and the survivors and new domains of the same names go on correctly. The
 * same holds over 200 create/destroy cycles, and for an unmodified guest's NE2000.
 * system-lifecycle.test.ts covers the destroy of bare guests without devices.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_UNBOUND, GNTST_BAD_DOMAIN, Hc } from '../../../src/abi/index.ts';
import { System } from '../../../src/control/system.ts';
import type { Domain } from '../../../src/hv/index.ts';
import { decrease, heldFrames } from '../../../src/hv/reservation.ts';
import { VirtioBlk } from '../../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../../src/virtio/mmio.ts';
import { VirtioNet } from '../../../src/virtio/net.ts';
import { type SwitchEndpoint, type SwitchPort, VirtualSwitch, localMac } from '../../../src/virtio/switch.ts';
import { example } from '../../guest/run.ts';
import { wat } from '../../support/wat.ts';

const MiB = 1 << 20;

/** gc() without starting vitest with --expose-gc: V8 lets the flag be set at run time. */
function gcFn(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Collects until every ref is cleared or a few rounds have passed; returns how many are still alive. */
async function alive(refs: readonly WeakRef<object>[]): Promise<number> {
  const gc = gcFn();
  for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

/** Frames every domain holds plus the host's free pool: destroying and ballooning never change it. */
function totalFrames(sys: System): number {
  return sys.hv.freeFrames + sys.hv.domains.reduce((n, d) => n + heldFrames(d), 0);
}

/** A switch endpoint the test sends from and that records what reaches it. */
class Probe implements SwitchEndpoint {
  readonly got: Uint8Array[] = [];
  receive(frame: Uint8Array): boolean {
    this.got.push(frame.slice());
    return true;
  }
}

/** A unicast Ethernet frame from `src` to `dst` (EtherType 0x88b6, 64 bytes). */
function frameTo(dst: Uint8Array, src: Uint8Array): Uint8Array {
  const f = new Uint8Array(64);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb6;
  return f;
}

const PROBE_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x99]);

/** The ports of `d` bound inter-domain to domain `peer`. */
function boundTo(d: Domain, peer: number): number[] {
  const out: number[] = [];
  d.ports.forEach((p, i) => {
    if (p !== undefined && p.state === EVTCHNSTAT_INTERDOMAIN && p.remoteDom === peer) out.push(i);
  });
  return out;
}

/** A System, a switch with a probe on it, and what the guests printed and the host logged. */
interface World {
  sys: System;
  sw: VirtualSwitch;
  /** The probe endpoint and its port (attached first). */
  probe: Probe;
  probePort: SwitchPort;
  /** Console text by domain name. */
  out: Record<string, string>;
  /** Host log lines. */
  log: string[];
  /** Adds a domain of an example with, optionally, a NIC on the switch and a disk. */
  add(name: string, image: string, memMiB: number, cmdline: string, dev?: { nic?: Uint8Array; disk?: boolean }): Promise<Domain>;
}

function world(): World {
  const out: Record<string, string> = {};
  const log: string[] = [];
  const sys = new System({ seed: 1, console: (d, t) => void (out[d] = (out[d] ?? '') + t), log: (l) => log.push(l) });
  const sw = new VirtualSwitch('lan');
  const probe = new Probe();
  const probePort = sw.attach('probe', probe);
  const add: World['add'] = async (name, image, memMiB, cmdline, dev = {}) => {
    const d = await sys.addDomain({ name, image: example(image), memBytes: memMiB * MiB, vcpus: 1, cmdline });
    const devLog = (l: string) => log.push(`${name}: ${l}`);
    if (dev.disk === true) {
      sys.attachDevice(d, new VirtioMmioDevice({ name: 'disk0', backend: new VirtioBlk({ image: new MemoryDiskImage(MiB) }), mem: d.mem, log: devLog }));
    }
    if (dev.nic !== undefined) {
      const nic = new VirtioNet({ mac: dev.nic });
      sys.attachDevice(d, new VirtioMmioDevice({ name: 'net0', backend: nic, mem: d.mem, log: devLog }));
      nic.connect(sw, `${name}.net0`);
    }
    return d;
  };
  return { sys, sw, probe, probePort, out, log, add };
}

/** Pauses every domain once the switch has forwarded `frames` frames: the run then ends idle, mid-traffic. */
function pauseAllAfter(w: World, frames: number): void {
  let n = 0;
  const remove = w.sw.addTap(() => {
    if (++n !== frames) return;
    for (const d of w.sys.hv.domains) w.sys.pauseDomain(d);
    remove();
  });
}

const FOREVER = 100_000_000;

describe('destroying domains with I/O in flight', () => {
  it('releases the switch port, the peers\' ports and the frames; survivors and reused names go on', async () => {
    const w = world();
    const { sys, sw, probePort } = w;
    const SINK_MAC = localMac(2, 0);
    // Ids follow creation order: send 1, sink 2, blk 3, server 4, client 5, ping 6, pong 7.
    const send = await w.add('send', 'netstream', 4, `role=send count=${FOREVER} size=256`, { nic: localMac(1, 0) });
    // The sink also has a disk (it never uses it): two devices to release.
    const sink = await w.add('sink', 'netstream', 4, `role=sink count=${FOREVER} size=256`, { nic: SINK_MAC, disk: true });
    const blk = await w.add('blk', 'blkstream', 2, 'op=write mb=100000 req=16 inflight=4', { disk: true });
    const server = await w.add('server', 'msg', 1, `role=server peer=5 count=${FOREVER} mode=async`);
    const client = await w.add('client', 'msg', 1, `role=client peer=4 count=${FOREVER} mode=async`);
    const ping = await w.add('ping', 'pingpong', 1, `role=ping peer=7 count=${FOREVER}`);
    const pong = await w.add('pong', 'pingpong', 1, `role=pong peer=6 count=${FOREVER}`);
    const victims = [sink, blk, server, pong];
    pauseAllAfter(w, 3000);
    const r1 = await sys.run();
    expect(r1.domains.map((d) => d.outcome.kind)).toEqual(Array(7).fill('running'));
    expect(w.log).toEqual([]);

    // Mid-flight: frames went both ways, the disk took writes, msg and pingpong have their channels
    // and msg its grant tables.
    const sinkPort = sw.attachedPorts.find((p) => p.name === 'sink.net0')!;
    expect(sinkPort.stats.inFrames).toBeGreaterThan(0);
    expect(sinkPort.stats.outFrames).toBeGreaterThan(0);
    expect(sw.lookup(SINK_MAC)).toBe(sinkPort);
    expect(r1.domains.find((d) => d.name === 'blk')!.exits?.mmio['disk0']).toBeGreaterThan(0);
    expect(boundTo(client, server.id)).toHaveLength(2);
    expect(boundTo(ping, pong.id)).toHaveLength(1);
    expect([server.grantEntries, client.grantEntries].every((n) => n > 0)).toBe(true);
    expect(r1.domains.find((d) => d.name === 'client')!.hypercalls['grant_copy']).toBeGreaterThan(0);

    // Some frames of the victims go back to the pool first (a balloon driver would).
    const total = totalFrames(sys);
    expect(decrease(sys.hv, sink, 16, 8)).toBe(0);
    expect(decrease(sys.hv, server, 4, 2)).toBe(0);
    expect(totalFrames(sys)).toBe(total);
    const held = victims.reduce((n, d) => n + heldFrames(d), 0);
    const pool = sys.hv.freeFrames;
    const peersBound = { client: boundTo(client, server.id), ping: boundTo(ping, pong.id) };
    const portsBefore = sw.attachedPorts.length;

    for (const d of victims) sys.destroyDomain(d);

    // The core and the engine hold nothing of them.
    expect(sys.hv.domains.map((d) => d.name)).toEqual(['send', 'client', 'ping']);
    for (const d of victims) {
      expect(sys.hv.domain(d.id)).toBeUndefined();
      expect(d.vcpus.every((v) => !v.up && !v.queued && v.engine === undefined)).toBe(true);
    }
    // Frames: exactly what they held moved to the pool.
    expect(sys.hv.freeFrames).toBe(pool + held);
    expect(totalFrames(sys)).toBe(total);
    // Event channels: the survivors' ends are unbound again.
    for (const p of peersBound.client) expect(client.ports[p]).toMatchObject({ state: EVTCHNSTAT_UNBOUND, remoteDom: server.id });
    for (const p of peersBound.ping) expect(ping.ports[p]).toMatchObject({ state: EVTCHNSTAT_UNBOUND, remoteDom: pong.id });
    // The switch: the sink's port is gone, its MAC forgotten; a frame to it reaches only the
    // other ports (flooded as unknown unicast), never the destroyed NIC.
    expect(sw.attachedPorts.length).toBe(portsBefore - 1);
    expect(sw.attachedPorts.map((p) => p.name)).toEqual(['probe', 'send.net0']);
    expect(sw.lookup(SINK_MAC)).toBeUndefined();
    const sinkOut = sinkPort.stats.outFrames;
    probePort.send(frameTo(SINK_MAC, PROBE_MAC));
    expect(sinkPort.stats.outFrames).toBe(sinkOut);
    expect(sw.attachedPorts.find((p) => p.name === 'send.net0')!.stats.outFlooded).toBeGreaterThan(0);

    // Survivors go on: the sender notices its sink is gone and gives up by its own timeout; the
    // msg client's next grant copy names a domain that no longer exists (the server's grant table
    // went with it); ping's channel is unbound, so it waits for ever.
    for (const d of [send, client, ping]) sys.unpauseDomain(d);
    const r2 = await sys.run();
    const outcome = (name: string) => r2.domains.find((d) => d.name === name)!.outcome;
    expect(r2.domains.map((d) => d.name)).toEqual(['send', 'client', 'ping']);
    expect(outcome('send')).toEqual({ kind: 'poweroff', code: 1 });
    expect(w.out['send']).toMatch(/^netstream: FAILED: no acknowledgement after \d+ of 100000000 frames\n$/);
    expect(outcome('client')).toEqual({ kind: 'poweroff', code: 4 });
    expect(w.out['client']).toMatch(new RegExp(`^msg: client: message \\d+ failed: error -14 \\(grant status ${GNTST_BAD_DOMAIN}\\)\n$`));
    expect(outcome('ping')).toEqual({ kind: 'running' });
    expect(w.log).toEqual([]);

    // The names (and the sink's MAC) can be used again, and the new domains work.
    await w.add('sink', 'netstream', 4, 'role=sink count=200 size=256', { nic: SINK_MAC });
    await w.add('send2', 'netstream', 4, 'role=send count=200 size=256', { nic: localMac(9, 0) });
    await w.add('blk', 'blkstream', 2, 'op=read mb=1', { disk: true });
    w.out['sink'] = w.out['blk'] = '';
    const r3 = await sys.run();
    expect(w.out['sink']).toBe('netstream: received 200 frames of 256 bytes in order\n');
    expect(w.out['blk']).toBe('blkstream: read 1 MiB in 16 requests of 64 KiB, 8 per kick, 0 errors\n');
    expect(r3.domains.filter((d) => ['sink', 'send2', 'blk'].includes(d.name)).map((d) => d.outcome)).toEqual(Array(3).fill({ kind: 'poweroff', code: 0 }));
    expect(sw.lookup(SINK_MAC)!.name).toBe('sink.net0');
  });

  it('leaves nothing in the host that keeps a destroyed domain\'s memory alive (NIC on a live switch, disk, channels, grants)', async () => {
    const w = world();
    const { sys, sw } = w;
    // Everything that refers to the victims lives only inside this function.
    const refs = await (async () => {
      await w.add('send', 'netstream', 4, `role=send count=${FOREVER} size=256`, { nic: localMac(1, 0) });
      const sink = await w.add('sink', 'netstream', 4, `role=sink count=${FOREVER} size=256`, { nic: localMac(2, 0), disk: true });
      const server = await w.add('server', 'msg', 1, `role=server peer=4 count=${FOREVER} mode=async`);
      await w.add('client', 'msg', 1, `role=client peer=3 count=${FOREVER} mode=async`);
      pauseAllAfter(w, 1000);
      await sys.run();
      expect(server.grantEntries).toBeGreaterThan(0);
      sys.destroyDomain(sink);
      sys.destroyDomain(server);
      return [new WeakRef(sink.mem.memory), new WeakRef(server.mem.memory)];
    })();
    expect(await alive(refs)).toBe(0);
    // The switch (still held here) is the one with the sender's port only, besides the probe.
    expect(sw.attachedPorts.map((p) => p.name)).toEqual(['probe', 'send.net0']);
  });

  it('200 create/destroy cycles of a NIC + disk domain mid-traffic: no port, frame or domain accumulates', async () => {
    const w = world();
    const { sys, sw, probe } = w;
    const MAC = localMac(1, 0);
    const refs: WeakRef<object>[] = [];
    const total0 = totalFrames(sys);
    let created = 0;
    // One cycle; nothing of its domain outlives the call but the WeakRef.
    const cycle = async (i: number): Promise<WeakRef<object>> => {
      const hellos = probe.got.length;
      // The sink broadcasts HELLO until a sender appears; its first one pauses it mid-flight.
      const d = await w.add('churn', 'netstream', 2, 'role=sink count=1000', { nic: MAC, disk: true });
      created += heldFrames(d);
      const port = sw.attachedPorts.find((p) => p.name === 'churn.net0')!;
      const remove = sw.addTap((_f, ingress) => {
        if (ingress === port) sys.pauseDomain(d);
      });
      const r = await sys.run();
      remove();
      expect(r.domains.map((x) => [x.name, x.outcome.kind])).toEqual([['churn', 'running']]);
      expect(probe.got.length).toBeGreaterThan(hellos);
      expect(sw.lookup(MAC)).toBe(port);
      if (i % 2 === 0) expect(decrease(sys.hv, d, 8, 4)).toBe(0);
      sys.destroyDomain(d);
      expect(sw.attachedPorts.map((p) => p.name)).toEqual(['probe']);
      expect(sw.lookup(MAC)).toBeUndefined();
      expect(sys.hv.domains.length).toBe(0);
      // Every frame the domains were created with is in the pool: none lost, none counted twice.
      expect(sys.hv.freeFrames).toBe(total0 + created);
      return new WeakRef(d.mem.memory);
    };
    for (let i = 0; i < 200; i++) refs.push(await cycle(i));
    expect(w.log).toEqual([]);
    expect(await alive(refs)).toBe(0);
  });

  it('an unmodified guest\'s NE2000 leaves its switch when the domain is destroyed', async () => {
    const sys = new System({ seed: 1, console: () => {}, log: () => {} });
    const sw = new VirtualSwitch('lan');
    const FV_GUEST = wat(`(module
      (import "env" "memory" (memory 2 256 shared))
      (func (export "_start") (param i32)))`);
    const PV_YIELD = wat(`(module
      (import "env" "memory" (memory 2 256 shared))
      (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
      (func (export "_start") (param i32)
        (drop (call $hc (i32.const ${Hc.sched_yield}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))`);
    const mac = localMac(1, 0);
    const fv = await sys.addDomain({ name: 'fv', image: FV_GUEST, memBytes: MiB, vcpus: 1, cmdline: '' });
    sys.plugLegacy(fv, { nic: { sw, mac } });
    expect(sw.attachedPorts.map((p) => p.name)).toEqual(['fv.ne0']);
    const probePort = sw.attach('probe', new Probe());
    const nePort = sw.attachedPorts[0]!;
    // Whether the (never started) NIC takes a frame or drops it, the switch hands it over.
    const reached = () => nePort.stats.outFrames + nePort.stats.outDropped;
    probePort.send(frameTo(mac, PROBE_MAC));
    expect(reached()).toBe(1);
    sys.destroyDomain(fv);
    expect(sw.attachedPorts.map((p) => p.name)).toEqual(['probe']);
    probePort.send(frameTo(mac, PROBE_MAC));
    expect(reached()).toBe(1);
    // The name is free again, on a System that keeps working.
    await sys.addDomain({ name: 'fv', image: PV_YIELD, memBytes: MiB, vcpus: 1, cmdline: '' });
    expect((await sys.run()).ok).toBe(true);
  });
});
