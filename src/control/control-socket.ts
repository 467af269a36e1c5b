/**
 * The control socket: the toolstack of a running host over a Unix socket, as `xl` drives Xen or
 * Firecracker's API socket drives a microVM (`pvisor run … --control PATH`, `pvisor ctl PATH …`).
 *
 * PROTOCOL. JSON lines: a client writes one JSON object per line and gets one response line per
 * request, in order; it may send several on one connection.
 *
 * ```
 * → {"id": 1, "op": "pause", "domain": "web"}
 * ← {"id": 1, "ok": true, "result": {"domain": {...}, "changed": true}}
 * → {"op": "info", "domain": "wbe"}
 * ← {"id": null, "ok": false, "error": {"field": "domain", "message": "no domain \"wbe\"; did you mean \"web\"? …"}}
 * ```
 *
 * | `op` | fields | does |
 * |---|---|---|
 * | `list` | | every domain: id, name, state, memory, vCPUs, guest time, console bytes, exits |
 * | `info` | `domain` | the same for one, with hypercalls and exits by kind, and how it ended |
 * | `pause` / `unpause` | `domain` | stops scheduling its vCPUs / schedules them again (`changed: false` when it already was) |
 * | `destroy` | `domain` | takes it off the host (`System.destroyDomain`): a live one is stopped first (crashed, reason "destroyed by the control socket"); its memory and vCPUs go to the host's free pools, devices it was given go back to the giver. It may have ended already. |
 * | `shutdown` | `domain`, optional `force` | asks it to shut down (DOMCTL_REQUEST_SHUTDOWN, poweroff; `cooperative: true`): the guest sees VIRQ_CONTROL and shuts itself down. With `"force": true` the host powers it off at once, code 0 (`cooperative: false`) |
 * | `mem-set` | `domain`, `memBytes` | sets its balloon target (DOMCTL_SET_MEMORY_TARGET): a multiple of 4096 up to its max_mem; the guest moves its memory toward it |
 * | `vcpu-set` | `domain`, `vcpus` | sets how many vCPUs it holds (DOMCTL_SET_VCPUS), 1 to those it was created with; more than it holds come from the host's free vCPU pool |
 *
 * `id` (a string or an integer) is optional and echoed back (`null` without one). `domain` is a
 * name, or an id as a number or a string of digits (a name wins over an id). Every request is
 * validated before anything happens: a line that is not a JSON object, an unknown `op`, a
 * missing, mistyped or unknown field, a domain that does not exist or has ended are errors whose
 * `field` names the field at fault (`null` for the line as a whole) and whose `message` says the
 * fix.
 *
 * COOPERATION. `shutdown`, `mem-set` and `vcpu-set` only ask: the host writes start_info and
 * raises VIRQ_CONTROL, and a guest built with the kit's control.h acts on it; a guest that
 * ignores it goes on as before (`shutdown` with `force` does not ask). The response comes at
 * once, before the guest has acted: `list`/`info` show the progress (`memTargetBytes` against
 * `populatedBytes`, `vcpus.held` against `vcpus.up`). A destroyed domain leaves the host: later
 * requests do not find it, and the run report lists it as destroyed.
 *
 * WHEN REQUESTS TAKE EFFECT. The engine runs on this thread in slices; a run with an external
 * input (this socket is one) returns to the event loop every {@link LIVE_SLICE_MS} of wall time and
 * whenever the guests are idle, and Node runs socket callbacks only then. So a request is read and
 * applied between two engine slices, never inside one, and the run sees it at its next slice.
 * While a domain is paused, an idle run waits for requests rather than ending (an `unpause` may
 * wake it); with no domain paused an idle run ends as without the socket, since no request could
 * wake a guest that waits for an event nothing will send. A run with a control socket is only as
 * reproducible as the timing of its requests.
 * @module
 */
import { rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { GRANT_FRAME_SIZE, MAX_VCPUS, SHUTDOWN_POWEROFF, VCPU_TIME_INFO_OFF } from '../abi/index.ts';
import { exitsOf, type ExitCounts } from '../bench/exits.ts';
import { didYouMean } from './suggest.ts';
import type { Domain } from '../hv/index.ts';
import { outcomeOf, type ExternalInput, type System } from './system.ts';
import type { DomainOutcome } from './types.ts';

/** The operations of the control socket. */
export const CONTROL_OPS = ['list', 'info', 'pause', 'unpause', 'destroy', 'shutdown', 'mem-set', 'vcpu-set'] as const;
/** One operation of the control socket. */
export type ControlOp = (typeof CONTROL_OPS)[number];

/** The fields each operation takes besides `id` and `op`, required ones all. */
const OP_FIELDS: Record<ControlOp, readonly string[]> = {
  list: [],
  info: ['domain'],
  pause: ['domain'],
  unpause: ['domain'],
  destroy: ['domain'],
  shutdown: ['domain'],
  'mem-set': ['domain', 'memBytes'],
  'vcpu-set': ['domain', 'vcpus'],
};

/** Fields an operation may take besides its required ones. */
const OPTIONAL_FIELDS: Partial<Record<ControlOp, readonly string[]>> = {
  shutdown: ['force'],
};

/** The longest request line accepted; a longer one ends the connection (a client cannot make the host buffer without bound). */
export const MAX_REQUEST_BYTES = 65536;

/** Memory targets are whole frames. */
const FRAME = GRANT_FRAME_SIZE;

/** Reason a domain stopped by `destroy` is reported with. */
export const DESTROY_REASON = 'destroyed by the control socket';

/** A request, as a client writes it (one JSON line). */
export interface ControlRequest {
  /** Echoed in the response; a string or an integer. */
  id?: string | number;
  /** What to do. */
  op: ControlOp;
  /** A domain name, or its id (a number or a string of digits). */
  domain?: string | number;
  /** `mem-set`: the balloon target in bytes (a multiple of 4096, at most the domain's max_mem). */
  memBytes?: number;
  /** `shutdown`: power it off at once instead of asking the guest. */
  force?: boolean;
  /** `vcpu-set`: how many vCPUs should be up (1 to MAX_VCPUS). */
  vcpus?: number;
}

/** Why a request was refused: the field at fault (`null`: the line as a whole) and the fix. */
export interface ControlError {
  /** A request field (`op`, `domain`, …), or `null` when the line is not a JSON object at all. */
  field: string | null;
  /** What is wrong and what to send instead. */
  message: string;
}

/** The answer to one request (one JSON line). */
export type ControlResponse =
  | { id: string | number | null; ok: true; result: unknown }
  | { id: string | number | null; ok: false; error: ControlError };

/** A domain as `list` and `info` show it. */
export interface ControlDomainInfo {
  /** Domain id. */
  id: number;
  /** Domain name. */
  name: string;
  /** `running` (a vCPU can run), `blocked` (every up vCPU waits), `paused`, `shutdown` or `crashed`. */
  state: 'running' | 'blocked' | 'paused' | 'shutdown' | 'crashed';
  /** Guest memory in bytes (the size of its memory; see populatedBytes for what it holds). */
  memBytes: number;
  /** Bytes of its memory it holds: memBytes minus the frames it handed back to the host. */
  populatedBytes: number;
  /** Its balloon target (`mem-set`). */
  memTargetBytes: number;
  /** vCPUs up now (0 once the domain has ended), how many it holds (`vcpu-set`), and how many it was created with. */
  vcpus: { up: number; held: number; total: number };
  /**
   * The virtual time the domain last saw, in ns: the latest `system_time` in its vCPUs' time
   * records, which the host refreshes at every entry into a paravirtual guest — so it stands still
   * while the domain is paused or blocked. The guest can write there, so it is only as true as
   * the guest leaves it. `null` for an unmodified guest (its clock is the emulated PIT).
   */
  guestTimeNs: number | null;
  /** Bytes written to the toolstack's console (see `System.consoleBytes`). */
  consoleBytes: number;
  /** Exits taken so far (the `total` of `exits` in `info`). */
  exitsTotal: number;
  /** How it ended; absent while it is alive. */
  outcome?: DomainOutcome;
  /** Virtual time at which it ended, in ns; absent while it is alive. */
  endedAtNs?: number;
}

/** `info`: {@link ControlDomainInfo} with the details. */
export interface ControlDomainDetails extends ControlDomainInfo {
  /** Hypercalls by call name. */
  hypercalls: Record<string, number>;
  /** Exits by kind (src/bench/exits.ts). */
  exits: ExitCounts;
}

/**
 * Reads and applies control requests against a {@link System}. No I/O here: {@link listenControl}
 * feeds it lines from the socket, and tests may call {@link ControlHost.handleLine} directly.
 */
export class ControlHost {
  private readonly system: System;
  private readonly onChange: () => void;

  /**
   * @param system - the toolstack whose domains the requests act on.
   * @param onChange - called after a request changed a domain's state (the run loop waits on it).
   */
  constructor(system: System, onChange: () => void = () => {}) {
    this.system = system;
    this.onChange = onChange;
  }

  /** Parses one request line, validates it, applies it and returns the response. Never throws for a bad request. */
  handleLine(line: string): ControlResponse {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return fail(null, null, `not valid JSON (${(err as Error).message}); send one JSON object per line, e.g. {"op":"list"}`);
    }
    return this.handle(value);
  }

  /** Validates a parsed request and applies it. */
  handle(value: unknown): ControlResponse {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(null, null, `expected a JSON object such as {"op":"list"}, got ${describe(value)}`);
    }
    const req = value as Record<string, unknown>;
    let id: string | number | null = null;
    if (req.id !== undefined) {
      if (!(typeof req.id === 'string' || (typeof req.id === 'number' && Number.isSafeInteger(req.id)))) {
        return fail(null, 'id', `expected a string or an integer, got ${describe(req.id)}; it is echoed in the response`);
      }
      id = req.id;
    }
    const opNames = CONTROL_OPS as readonly string[];
    if (req.op === undefined) return fail(id, 'op', `missing; give one of ${CONTROL_OPS.join(', ')}`);
    if (typeof req.op !== 'string') return fail(id, 'op', `expected a string, got ${describe(req.op)}; give one of ${CONTROL_OPS.join(', ')}`);
    if (!opNames.includes(req.op)) {
      const guess = didYouMean(req.op, opNames);
      return fail(id, 'op', `unknown operation "${req.op}"; ${guess !== undefined ? `did you mean "${guess}"? ` : ''}operations: ${CONTROL_OPS.join(', ')}`);
    }
    const op = req.op as ControlOp;
    const fields = OP_FIELDS[op];
    const optional = OPTIONAL_FIELDS[op] ?? [];
    const all = [...fields, ...optional];
    const known = ['id', 'op', ...all];
    for (const key of Object.keys(req)) {
      if (known.includes(key)) continue;
      const guess = didYouMean(key, all);
      const hint = guess !== undefined ? `did you mean "${guess}"? ` : '';
      const takes = all.length > 0 ? `${fields.join(', ')}${optional.length > 0 ? ` (optional: ${optional.join(', ')})` : ''}` : 'no fields';
      return fail(id, key, `unknown field for "${op}"; ${hint}${op} takes ${takes} besides id and op`);
    }
    if (req.force !== undefined && typeof req.force !== 'boolean') {
      return fail(id, 'force', `expected true or false, got ${describe(req.force)}; true powers the domain off at once instead of asking it`);
    }
    for (const f of fields) {
      if (req[f] === undefined) return fail(id, f, `missing; "${op}" needs ${fields.map((x) => `"${x}"`).join(' and ')}, e.g. ${example(op)}`);
    }
    if (op === 'list') return { id, ok: true, result: { virtualTimeNs: this.system.hv.now, domains: this.system.hv.domains.map((d) => this.info(d)) } };

    const found = this.findDomain(req.domain);
    if (typeof found === 'string') return fail(id, 'domain', found);
    const d = found;
    if (op === 'mem-set') {
      const m = req.memBytes;
      if (typeof m !== 'number' || !Number.isSafeInteger(m) || m <= 0 || m % FRAME !== 0) {
        return fail(id, 'memBytes', `expected a positive multiple of ${FRAME} (bytes), got ${describe(m)}; e.g. 67108864 for 64M`);
      }
      if (m > d.maxMem) return fail(id, 'memBytes', `${m} is above the ${d.maxMem} bytes ${label(d)} may hold (its max_mem); give at most ${d.maxMem}`);
    }
    if (op === 'vcpu-set') {
      const n = req.vcpus;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_VCPUS) {
        return fail(id, 'vcpus', `expected a whole number from 1 to ${MAX_VCPUS}, got ${describe(n)}`);
      }
      if (n > d.vcpus.length) return fail(id, 'vcpus', `${label(d)} was created with ${d.vcpus.length} vCPU(s); it cannot hold ${n} (give 1 to ${d.vcpus.length})`);
    }
    if (op === 'info') return { id, ok: true, result: this.details(d) };
    if (op === 'destroy') {
      // An ended domain may be destroyed too: that is how its memory and vCPUs are given back.
      this.system.destroyDomain(d, DESTROY_REASON);
      return this.done(id, { domain: this.info(d), released: true }, true);
    }
    if (!d.alive) return fail(id, 'domain', `${label(d)} has ended (${ended(d)}); ${op} needs a live domain`);

    switch (op) {
      case 'pause': {
        const changed = d.state === 'running';
        this.system.hv.pause(d);
        return this.done(id, { domain: this.info(d), changed }, changed);
      }
      case 'unpause': {
        const changed = d.state === 'paused';
        this.system.hv.unpause(d);
        return this.done(id, { domain: this.info(d), changed }, changed);
      }
      case 'shutdown':
        if (req.force === true) {
          this.system.hv.shutdown(d, SHUTDOWN_POWEROFF, 0);
          return this.done(id, { domain: this.info(d), cooperative: false }, true);
        }
        this.system.requestShutdown(d, SHUTDOWN_POWEROFF);
        return this.done(id, { domain: this.info(d), cooperative: true }, true);
      case 'mem-set':
        this.system.setMemoryTarget(d, req.memBytes as number);
        return this.done(id, { domain: this.info(d), cooperative: true }, true);
      case 'vcpu-set':
        try {
          this.system.setVcpus(d, req.vcpus as number);
        } catch (err) {
          if (err instanceof RangeError) return fail(id, 'vcpus', err.message.replace(/^vcpus: /, ''));
          throw err;
        }
        return this.done(id, { domain: this.info(d), cooperative: true }, true);
    }
  }

  private done(id: string | number | null, result: unknown, changed: boolean): ControlResponse {
    if (changed) this.onChange();
    return { id, ok: true, result };
  }

  /** The domain a `domain` field names, or what is wrong with it. */
  private findDomain(v: unknown): Domain | string {
    const domains = this.system.hv.domains;
    const listing = `domains: ${domains.map((d) => label(d)).join(', ') || 'none'}`;
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) return `expected a name or an integer id, got ${v}`;
      return this.system.hv.domain(v) ?? `no domain with id ${v}; ${listing}`;
    }
    if (typeof v !== 'string' || v === '') return `expected a domain name or id, got ${describe(v)}; ${listing}`;
    const byName = domains.find((d) => d.name === v);
    if (byName !== undefined) return byName;
    if (/^\d+$/.test(v)) return this.system.hv.domain(Number(v)) ?? `no domain with id ${v}; ${listing}`;
    const guess = didYouMean(v, domains.map((d) => d.name));
    return `no domain "${v}"; ${guess !== undefined ? `did you mean "${guess}"? ` : ''}${listing}`;
  }

  private info(d: Domain): ControlDomainInfo {
    const dom = this.system.domainInfo(d);
    const out: ControlDomainInfo = {
      id: d.id,
      name: d.name,
      state: d.runState,
      memBytes: d.mem.size,
      populatedBytes: dom.populated,
      memTargetBytes: dom.memTarget,
      // A domain that has ended runs no vCPU, whatever the core's per-vCPU flags still say.
      vcpus: { up: d.alive ? dom.vcpusOnline : 0, held: d.vcpusHeld, total: d.vcpus.length },
      guestTimeNs: guestTime(d),
      consoleBytes: this.system.consoleBytes(d),
      exitsTotal: exitsOf(this.system.hv, d).total,
    };
    if (!d.alive) {
      out.outcome = outcomeOf(d);
      out.endedAtNs = d.endedAt;
    }
    return out;
  }

  private details(d: Domain): ControlDomainDetails {
    return { ...this.info(d), hypercalls: this.system.hv.hypercallCounts(d), exits: exitsOf(this.system.hv, d) };
  }
}

/** The latest system_time of `d`'s vCPU time records (see {@link ControlDomainInfo.guestTimeNs}). */
function guestTime(d: Domain): number | null {
  if (d.legacy !== undefined) return null;
  const i32 = d.mem.i32;
  // system_time as Hypervisor.updateTime writes it: a u64 in two i32 words, low word first.
  const st = (VCPU_TIME_INFO_OFF.system_time - VCPU_TIME_INFO_OFF.version) >>> 2;
  let t = 0;
  for (const v of d.vcpus) {
    const lo = i32[v.timeIdx + st]! >>> 0;
    const hi = i32[v.timeIdx + st + 1]! >>> 0;
    t = Math.max(t, hi * 4294967296 + lo);
  }
  return t;
}

function fail(id: string | number | null, field: string | null, message: string): ControlResponse {
  return { id, ok: false, error: { field, message } };
}

function label(d: Domain): string {
  return `${d.name} (${d.id})`;
}

/** How a dead domain ended, in words. */
function ended(d: Domain): string {
  const o = outcomeOf(d);
  switch (o.kind) {
    case 'crashed':
      return `crashed: ${o.reason}`;
    case 'running':
      return 'running';
    default:
      return `${o.kind}, code ${o.code}`;
  }
}

function example(op: ControlOp): string {
  if (op === 'mem-set') return '{"op":"mem-set","domain":"web","memBytes":67108864}';
  if (op === 'vcpu-set') return '{"op":"vcpu-set","domain":"web","vcpus":2}';
  if (op === 'shutdown') return '{"op":"shutdown","domain":"web"} (add "force":true to power it off at once)';
  return `{"op":"${op}","domain":"web"}`;
}

/** A value as it appears in a message: `"x"`, `12`, `a list`, `an object`, `null`. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v === 'object' ? 'JSON object' : typeof v}`;
}

/** A listening control socket: an {@link ExternalInput} of the run, closed after it. */
export interface ControlServer extends ExternalInput {
  /** The socket's path. */
  readonly path: string;
  /** The request handler (for tests). */
  readonly host: ControlHost;
  /** Stops listening, ends every connection and removes the socket file (idempotent). */
  close(): void;
}

/** Options of {@link listenControl}. */
export interface ControlOptions {
  /** Problems with clients (a connection error, an oversized request). Default: the host log. */
  log?: (line: string) => void;
}

/**
 * Listens on a Unix socket at `path` and serves control requests for `system` (see the module
 * doc). Register the result with `System.addExternalInput` so the run yields to it, and close it
 * after the run.
 * @throws Error when `path` exists already or cannot be listened on (the message says which and the fix).
 */
export async function listenControl(system: System, path: string, opts: ControlOptions = {}): Promise<ControlServer> {
  const { createServer } = await import('node:net');
  const log = opts.log ?? ((line: string) => system.hv.log(line));
  // Waiters of next(): woken when a request changed a domain, or by close().
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const host = new ControlHost(system, wake);
  const clients = new Set<Socket>();
  const server: Server = createServer((sock) => {
    clients.add(sock);
    let buf = '';
    let refused = false;
    sock.setEncoding('utf8');
    const refuse = (): void => {
      const resp = fail(null, null, `request line longer than ${MAX_REQUEST_BYTES} bytes; send one JSON object per line, ended by a newline`);
      log(`control socket: a client sent a request line of more than ${MAX_REQUEST_BYTES} bytes; connection closed`);
      buf = '';
      refused = true;
      sock.end(`${JSON.stringify(resp)}\n`);
    };
    sock.on('data', (chunk: string) => {
      if (refused) return;
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return refuse();
        if (line.trim() === '') continue;
        // Applied here, between engine slices: socket callbacks run only while the run yields.
        let resp: ControlResponse;
        try {
          resp = host.handleLine(line);
        } catch (err) {
          // A bug here must not take the host (and its guests) down with it: answer and log it.
          log(`control socket: internal error on ${JSON.stringify(line.slice(0, 200))}: ${(err as Error).stack ?? String(err)}`);
          resp = fail(null, null, `internal error (please report it): ${(err as Error).message}`);
        }
        if (sock.writable) sock.write(`${JSON.stringify(resp)}\n`);
      }
      if (Buffer.byteLength(buf) > MAX_REQUEST_BYTES) refuse();
    });
    sock.on('error', (err) => log(`control socket client: ${err.message}`));
    sock.on('close', () => clients.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'EADDRINUSE' ? `${path} already exists; remove it (a socket left by an earlier run?)` : `cannot listen on ${path}: ${err.message}`));
    });
    server.listen(path, () => resolve());
  });
  server.on('error', (err) => log(`control socket ${path}: ${err.message}`));
  let closed = false;
  return {
    path,
    host,
    get open() {
      return !closed;
    },
    next() {
      return closed ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
    },
    canWakeIdle() {
      return system.hv.domains.some((d) => d.state === 'paused');
    },
    close() {
      if (closed) return;
      closed = true;
      wake();
      for (const sock of clients) sock.destroy();
      server.close();
      server.unref();
      // libuv removes the socket file when the close completes; do it now, in case the process exits first.
      rmSync(path, { force: true });
    },
  };
}
