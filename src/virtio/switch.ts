/**
 * A virtual Ethernet switch (learning bridge) that connects the NICs of several domains, plus
 * taps for capture (pcap.ts).
 *
 * FORWARDING (IEEE 802.1D transparent bridge, no spanning tree, no aging timers):
 * - every frame entering a port teaches the switch that its source MAC lives behind that port
 *   (unless the source is a group address, which no station owns);
 * - a unicast frame to a learned MAC goes to that port only — and is filtered (dropped) when that
 *   port is the one it came from, as a real bridge does;
 * - a frame to a group address (broadcast or multicast: I/G bit, bit 0 of the first octet) or to
 *   an unknown unicast MAC is flooded to every other port.
 *
 * DETERMINISM. There are no timers and no threads: `send` delivers synchronously into each
 * destination's {@link SwitchEndpoint.receive} (which only queues), in port attachment order.
 * Frames sent while the switch is already forwarding (an endpoint that answers from inside its
 * `flush`) join a FIFO instead of recursing, so the delivery order depends only on the order of
 * `send` calls. After the FIFO is empty, every endpoint that received something is flushed once,
 * in the order it first received — this is what gives a NIC one interrupt per batch.
 *
 * Learned entries live until their port detaches or the table is full (then the oldest entry
 * is evicted): without timers, aging would make forwarding depend on wall time.
 * @module
 */

/** Bytes of an Ethernet header: destination MAC, source MAC, EtherType. */
export const ETH_HEADER_LEN = 14;
/** Bytes of a MAC address. */
export const MAC_LEN = 6;

/**
 * The far end of a switch port: a NIC backend, a host tap, a test probe. The switch calls
 * `receive` once per frame (it should only queue) and `flush` once per batch.
 */
export interface SwitchEndpoint {
  /**
   * One frame for this endpoint. The array is BORROWED: it is shared by every destination of a
   * flooded frame, must be treated as read-only, and is valid only during this call (it may be a
   * view of the sending guest's memory, which the guest reuses once the batch is over) — copy
   * what you keep. Returns false when the endpoint dropped it (e.g. its bounded receive queue was
   * full); the switch counts that on the port.
   */
  receive(frame: Uint8Array): boolean;
  /** End of a batch: deliver what `receive` queued (a NIC fills rx buffers and interrupts once). */
  flush?(): void;
}

/** Per-port counters, seen from the switch. */
export interface SwitchPortStats {
  /** Frames the endpoint sent into the switch (accepted: at least an Ethernet header). */
  inFrames: number;
  /** Bytes of `inFrames`. */
  inBytes: number;
  /** Frames sent in that were too short to hold an Ethernet header (dropped). */
  inRunts: number;
  /** Unicast frames sent in whose destination was learned on this same port (filtered). */
  inFiltered: number;
  /** Frames the switch delivered to the endpoint and it accepted. */
  outFrames: number;
  /** Bytes of `outFrames`. */
  outBytes: number;
  /** Frames delivered to this port because of flooding (unknown unicast, broadcast, multicast). */
  outFlooded: number;
  /** Frames the endpoint refused (its receive queue was full). */
  outDropped: number;
}

/**
 * A capture hook: sees every frame the switch accepts, once, with the port it came in on. The
 * frame is borrowed, as in {@link SwitchEndpoint.receive}: copy what you keep.
 */
export type SwitchTap = (frame: Uint8Array, ingress: SwitchPort) => void;

/** One attachment point of a {@link VirtualSwitch}. */
export class SwitchPort {
  /** Port number, unique within its switch and never reused (attachment order). */
  readonly id: number;
  /** Name for logs and reports (e.g. `dom1.eth0`). */
  readonly name: string;
  /** The endpoint behind the port. */
  readonly endpoint: SwitchEndpoint;
  /** The switch this port belongs to. */
  readonly switch: VirtualSwitch;
  /** Counters (see {@link SwitchPortStats}). */
  readonly stats: SwitchPortStats = {
    inFrames: 0,
    inBytes: 0,
    inRunts: 0,
    inFiltered: 0,
    outFrames: 0,
    outBytes: 0,
    outFlooded: 0,
    outDropped: 0,
  };
  /** @internal Set by {@link VirtualSwitch.detach}. */
  attached = true;

  /** @internal Ports are made by {@link VirtualSwitch.attach}. */
  constructor(sw: VirtualSwitch, id: number, name: string, endpoint: SwitchEndpoint) {
    this.switch = sw;
    this.id = id;
    this.name = name;
    this.endpoint = endpoint;
  }

  /**
   * The endpoint transmits `frame` (a whole Ethernet frame, no FCS). The switch keeps a
   * reference until the frame is delivered — at the latest when the outermost
   * {@link SwitchPort.batch} ends — and the caller must not modify it before then (a NIC passes
   * a view of its guest's transmit buffer and completes the buffer only after the batch). Ignored
   * once the port is detached.
   */
  send(frame: Uint8Array): void {
    this.switch.send(this, frame);
  }

  /** Runs `fn` (which may call {@link SwitchPort.send} many times) as one batch: see {@link VirtualSwitch.batch}. */
  batch(fn: () => void): void {
    this.switch.batch(fn);
  }
}

/** Options of {@link VirtualSwitch}. */
export interface VirtualSwitchOptions {
  /** Most learned MACs kept (oldest evicted first); default 4096. */
  maxMacs?: number;
}

/** A learning bridge between {@link SwitchPort}s. */
export class VirtualSwitch {
  /** Switch name (the `SWITCH` of `--net SWITCH`). */
  readonly name: string;
  /** Frames accepted by the switch in total. */
  forwarded = 0;

  private readonly maxMacs: number;
  private readonly ports: SwitchPort[] = [];
  // MAC (48-bit, as a number) → port. Map keeps insertion order: the first key is the oldest.
  private readonly macs = new Map<number, SwitchPort>();
  private readonly taps: SwitchTap[] = [];
  private readonly fifo: { port: SwitchPort; frame: Uint8Array }[] = [];
  private readonly dirty = new Set<SwitchEndpoint>();
  private nextId = 0;
  private depth = 0;
  private pumping = false;

  /** An empty switch called `name`. */
  constructor(name: string, opts: VirtualSwitchOptions = {}) {
    this.name = name;
    this.maxMacs = Math.max(1, opts.maxMacs ?? 4096);
  }

  /** Connects `endpoint` to a new port. Flooded frames reach ports in attachment order. */
  attach(name: string, endpoint: SwitchEndpoint): SwitchPort {
    const p = new SwitchPort(this, this.nextId++, name, endpoint);
    this.ports.push(p);
    return p;
  }

  /** Disconnects `port`: it receives nothing more, its sends are ignored, its MACs are forgotten. */
  detach(port: SwitchPort): void {
    const i = this.ports.indexOf(port);
    if (i < 0) return;
    this.ports.splice(i, 1);
    port.attached = false;
    for (const [mac, p] of this.macs) if (p === port) this.macs.delete(mac);
    this.dirty.delete(port.endpoint);
  }

  /** The attached ports, in attachment order. */
  get attachedPorts(): readonly SwitchPort[] {
    return this.ports;
  }

  /** The port `mac` was learned on, if any. */
  lookup(mac: Uint8Array | string): SwitchPort | undefined {
    return this.macs.get(typeof mac === 'string' ? macKey(parseMac(mac), 0) : macKey(mac, 0));
  }

  /** Adds a capture hook; returns a function that removes it. A hook that throws is removed. */
  addTap(tap: SwitchTap): () => void {
    this.taps.push(tap);
    return () => {
      const i = this.taps.indexOf(tap);
      if (i >= 0) this.taps.splice(i, 1);
    };
  }

  /**
   * Runs `fn` as one batch: frames it sends are delivered (queued at their destinations) as they
   * come, but destinations are flushed only when the outermost batch ends — one interrupt per
   * destination NIC for the whole batch.
   */
  batch(fn: () => void): void {
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.pump();
  }

  /** `port` transmits `frame`; see {@link SwitchPort.send}. */
  send(port: SwitchPort, frame: Uint8Array): void {
    if (!port.attached || port.switch !== this) return;
    this.fifo.push({ port, frame });
    if (this.depth === 0) this.pump();
  }

  // ---------------------------------------------------------------------------------------------

  /** Drains the FIFO, then flushes dirty endpoints; repeats while flushing sent more frames. */
  private pump(): void {
    if (this.pumping) return; // the outer pump will pick the new frames up
    this.pumping = true;
    try {
      for (;;) {
        for (let f = this.fifo.shift(); f !== undefined; f = this.fifo.shift()) this.forward(f.port, f.frame);
        if (this.dirty.size === 0 || this.depth !== 0) break;
        const eps = [...this.dirty];
        this.dirty.clear();
        for (const e of eps) e.flush?.();
        if (this.fifo.length === 0 && this.dirty.size === 0) break;
      }
    } finally {
      this.pumping = false;
    }
  }

  private forward(ingress: SwitchPort, frame: Uint8Array): void {
    if (!ingress.attached) return;
    const st = ingress.stats;
    if (frame.length < ETH_HEADER_LEN) {
      st.inRunts++;
      return;
    }
    st.inFrames++;
    st.inBytes += frame.length;
    this.forwarded++;
    for (const tap of [...this.taps]) {
      try {
        tap(frame, ingress);
      } catch {
        // A capture failure (e.g. disk full under pcap) must never stop forwarding.
        const i = this.taps.indexOf(tap);
        if (i >= 0) this.taps.splice(i, 1);
      }
    }
    // Learn: the source is reachable through the ingress port. Group addresses are never sources.
    if ((frame[MAC_LEN]! & 1) === 0) {
      const src = macKey(frame, MAC_LEN);
      if (this.macs.get(src) !== ingress) {
        this.macs.delete(src); // re-insert: moved stations become the newest entry
        if (this.macs.size >= this.maxMacs) {
          const oldest = this.macs.keys().next();
          if (oldest.done !== true) this.macs.delete(oldest.value);
        }
        this.macs.set(src, ingress);
      }
    }
    const group = (frame[0]! & 1) !== 0;
    const dst = group ? undefined : this.macs.get(macKey(frame, 0));
    if (dst !== undefined) {
      if (dst === ingress) st.inFiltered++;
      else this.deliver(dst, frame, false);
      return;
    }
    for (const p of this.ports) if (p !== ingress) this.deliver(p, frame, true);
  }

  private deliver(p: SwitchPort, frame: Uint8Array, flooded: boolean): void {
    if (flooded) p.stats.outFlooded++;
    if (p.endpoint.receive(frame)) {
      p.stats.outFrames++;
      p.stats.outBytes += frame.length;
    } else {
      p.stats.outDropped++;
    }
    this.dirty.add(p.endpoint);
  }
}

/** The 6 bytes at `off` as one number (48 bits fit exactly in a double). */
function macKey(b: Uint8Array, off: number): number {
  let k = 0;
  for (let i = 0; i < MAC_LEN; i++) k = k * 256 + (b[off + i] ?? 0);
  return k;
}

/** Parses `aa:bb:cc:dd:ee:ff` (or `-` separated); throws on anything else (a host configuration error). */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== MAC_LEN || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`bad MAC address '${s}'`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Formats 6 bytes as `aa:bb:cc:dd:ee:ff`. */
export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, MAC_LEN), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * A deterministic, locally administered unicast MAC for NIC `index` of domain `domid`:
 * `02:70:76:DD:DD:II` (0x02 = locally administered, individual; 0x70 0x76 = "pv"), the default
 * when `--net SWITCH` gives no `mac=`.
 */
export function localMac(domid: number, index: number): Uint8Array {
  return Uint8Array.from([0x02, 0x70, 0x76, (domid >>> 8) & 0xff, domid & 0xff, index & 0xff]);
}
