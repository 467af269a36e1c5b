/**
 * The virtual switch on its own: learning, unicast, flooding of unknown/broadcast/multicast,
 * filtering back to the ingress port, deterministic order, batching, detach, counters, taps.
 */
import { describe, expect, it } from 'vitest';
import { type SwitchEndpoint, VirtualSwitch, formatMac, localMac, parseMac } from '../../../src/virtio/switch.ts';

const BCAST = 'ff:ff:ff:ff:ff:ff';

function frame(dst: string, src: string, tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = tag;
  return f;
}

/** An endpoint that logs what it receives and when it is flushed, into a shared journal. */
class Probe implements SwitchEndpoint {
  got: Uint8Array[] = [];
  flushes = 0;
  accept = true;
  constructor(
    readonly name: string,
    readonly journal: string[],
  ) {}
  receive(f: Uint8Array): boolean {
    this.journal.push(`${this.name}<${f[14]}`);
    if (!this.accept) return false;
    this.got.push(f);
    return true;
  }
  flush(): void {
    this.flushes++;
    this.journal.push(`${this.name}!`);
  }
}

function setup(n: number) {
  const journal: string[] = [];
  const sw = new VirtualSwitch('sw0');
  const probes = Array.from({ length: n }, (_, i) => new Probe(`p${i}`, journal));
  const ports = probes.map((p) => sw.attach(p.name, p));
  const macs = probes.map((_, i) => formatMac(localMac(1, i)));
  return { journal, sw, probes, ports, macs };
}

describe('VirtualSwitch', () => {
  it('floods unknown unicast to every other port in attachment order, then unicasts once learned', () => {
    const { journal, sw, probes, ports, macs } = setup(3);
    ports[0]!.send(frame(macs[2]!, macs[0]!, 1)); // p2 unknown: flood to p1, p2
    expect(journal).toEqual(['p1<1', 'p2<1', 'p1!', 'p2!']);
    expect(sw.lookup(macs[0]!)).toBe(ports[0]);
    journal.length = 0;
    ports[2]!.send(frame(macs[0]!, macs[2]!, 2)); // p0 learned: unicast only
    expect(journal).toEqual(['p0<2', 'p0!']);
    journal.length = 0;
    ports[0]!.send(frame(macs[2]!, macs[0]!, 3)); // p2 now learned too
    expect(journal).toEqual(['p2<3', 'p2!']);
    expect(probes[1]!.got.length).toBe(1);
    expect(ports[1]!.stats.outFlooded).toBe(1);
    expect(ports[0]!.stats).toMatchObject({ inFrames: 2, inBytes: 120, outFrames: 1 });
  });

  it('floods broadcast and multicast even when learned, never back to the sender', () => {
    const { journal, ports, macs } = setup(3);
    ports[1]!.send(frame(BCAST, macs[1]!, 1));
    ports[2]!.send(frame('01:00:5e:00:00:01', macs[2]!, 2));
    expect(journal).toEqual(['p0<1', 'p2<1', 'p0!', 'p2!', 'p0<2', 'p1<2', 'p0!', 'p1!']);
  });

  it('does not learn group source addresses and filters unicast back to its own port', () => {
    const { sw, probes, ports, macs } = setup(2);
    ports[0]!.send(frame(macs[1]!, '01:02:03:04:05:06', 1));
    expect(sw.lookup('01:02:03:04:05:06')).toBeUndefined();
    ports[0]!.send(frame(BCAST, macs[0]!, 2)); // learn p0
    ports[0]!.send(frame(macs[0]!, macs[0]!, 3)); // to itself: filtered
    expect(ports[0]!.stats.inFiltered).toBe(1);
    expect(probes[1]!.got.map((f) => f[14])).toEqual([1, 2]);
  });

  it('drops runts, counts refusals, and follows a station that moves', () => {
    const { sw, probes, ports, macs } = setup(3);
    ports[0]!.send(new Uint8Array(13));
    expect(ports[0]!.stats.inRunts).toBe(1);
    expect(sw.forwarded).toBe(0);
    probes[1]!.accept = false;
    ports[0]!.send(frame(BCAST, macs[0]!, 1));
    expect(ports[1]!.stats.outDropped).toBe(1);
    // macs[0] now appears behind port 2.
    ports[2]!.send(frame(BCAST, macs[0]!, 2));
    expect(sw.lookup(macs[0]!)).toBe(ports[2]);
  });

  it('batches: destinations are flushed once, after the whole batch', () => {
    const { journal, ports, macs } = setup(2);
    ports[0]!.batch(() => {
      for (let i = 0; i < 3; i++) ports[0]!.send(frame(macs[1]!, macs[0]!, i));
    });
    expect(journal).toEqual(['p1<0', 'p1<1', 'p1<2', 'p1!']);
  });

  it('frames sent from inside a flush are queued, not recursed into (deterministic FIFO)', () => {
    const journal: string[] = [];
    const sw = new VirtualSwitch('sw');
    const a = new Probe('a', journal);
    const echo: SwitchEndpoint = {
      receive: (f) => {
        journal.push(`e<${f[14]}`);
        if (f[14]! < 2) pending.push(f[14]! + 1);
        return true;
      },
      flush: () => {
        journal.push('e!');
        for (const t of pending.splice(0)) pe.send(frame(BCAST, '02:00:00:00:00:0e', t));
      },
    };
    const pending: number[] = [];
    const pa = sw.attach('a', a);
    const pe = sw.attach('e', echo);
    pa.send(frame(BCAST, '02:00:00:00:00:0a', 0));
    // e answers from its flush; the answer is forwarded after the flush returns, not inside it.
    expect(journal).toEqual(['e<0', 'e!', 'a<1', 'a!']);
    expect(a.got.map((f) => f[14])).toEqual([1]);
  });

  it('detach forgets the port and its MACs; taps see every accepted frame once', () => {
    const { sw, probes, ports, macs } = setup(3);
    const seen: [number, number][] = [];
    const off = sw.addTap((f, p) => seen.push([f[14]!, p.id]));
    ports[1]!.send(frame(BCAST, macs[1]!, 1));
    sw.detach(ports[1]!);
    expect(sw.lookup(macs[1]!)).toBeUndefined();
    ports[1]!.send(frame(BCAST, macs[1]!, 2)); // ignored
    ports[0]!.send(frame(macs[1]!, macs[0]!, 3)); // unknown now: flood to p2 only
    off();
    ports[0]!.send(frame(BCAST, macs[0]!, 4));
    expect(seen).toEqual([
      [1, 1],
      [3, 0],
    ]);
    expect(probes[1]!.got.length).toBe(0);
    expect(probes[2]!.got.map((f) => f[14])).toEqual([1, 3, 4]);
    expect(sw.attachedPorts.map((p) => p.name)).toEqual(['p0', 'p2']);
  });

  it('a throwing tap is removed and forwarding goes on', () => {
    const { sw, probes, ports, macs } = setup(2);
    sw.addTap(() => {
      throw new Error('disk full');
    });
    ports[0]!.send(frame(BCAST, macs[0]!, 1));
    ports[0]!.send(frame(BCAST, macs[0]!, 2));
    expect(probes[1]!.got.length).toBe(2);
  });

  it('parses and formats MACs; localMac is locally administered unicast', () => {
    expect(formatMac(parseMac('02-70-76-00-01-0A'))).toBe('02:70:76:00:01:0a');
    expect(() => parseMac('02:70:76')).toThrow();
    const m = localMac(258, 3);
    expect(formatMac(m)).toBe('02:70:76:01:02:03');
    expect(m[0]! & 3).toBe(2);
  });
});
