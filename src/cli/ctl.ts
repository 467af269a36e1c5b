/**
 * `pvisor ctl PATH OP [ARGS]`: a client of the control socket of a running host
 * (`pvisor run … --control PATH`; protocol in src/control/control-socket.ts). It checks its
 * arguments, sends one request, and prints the answer for people (a table for `list`) or, with
 * `--json`, the response line as the host sent it.
 *
 * `shutdown`, `mem-set` and `vcpu-set` ask the guest (it acts on VIRQ_CONTROL); `shutdown --force`
 * and `destroy` do not ask.
 *
 * Exit status: 0 the host did it; 1 the host refused (its message, naming the field, is
 * printed) or closed the connection without answering; 2 a usage error, including a PATH with
 * no host listening.
 * @module
 */
import type { Socket } from 'node:net';
import { didYouMean, UsageError, type ParsedArgs } from './args.ts';
import type { CliIo } from './cli.ts';
import { checkVcpus } from './config.ts';
import { EXIT_OK } from './report.ts';
import { formatDuration, formatSize, parseMemSize, UnitError } from './units.ts';
import type { ControlDomainInfo } from '../control/control-socket.ts';

/** Exit status when the host refused the request or did not answer. */
export const EXIT_HOST_ERROR = 1;

/** The operations, with the arguments each takes after PATH OP. */
const OPS: Record<string, readonly string[]> = {
  list: [],
  info: ['DOMAIN'],
  pause: ['DOMAIN'],
  unpause: ['DOMAIN'],
  destroy: ['DOMAIN'],
  shutdown: ['DOMAIN'],
  'mem-set': ['DOMAIN', 'SIZE'],
  'vcpu-set': ['DOMAIN', 'N'],
};

/** What `pvisor ctl` will send, from its arguments. */
export interface CtlPlan {
  /** The control socket's path. */
  path: string;
  /** The request (without `id`). */
  request: Record<string, unknown>;
  /** `--json`: print the response as JSON. */
  json: boolean;
}

/**
 * Checks the arguments of `pvisor ctl` and builds the request.
 * @throws {@link UsageError} naming the argument at fault and the fix.
 */
export function planCtl(args: ParsedArgs): CtlPlan {
  const usage = (msg: string): UsageError => new UsageError(msg, 'ctl');
  const [path, op, ...rest] = args.positionals;
  const opList = Object.keys(OPS).join(', ');
  if (path === undefined || path === '') throw usage('missing PATH: pvisor ctl PATH OP [ARGS], PATH as given to pvisor run --control');
  if (op === undefined) throw usage(`missing OP after ${path}: one of ${opList}`);
  const want = OPS[op];
  if (want === undefined) {
    const guess = didYouMean(op, Object.keys(OPS));
    throw usage(`unknown operation "${op}"${guess !== undefined ? `; did you mean "${guess}"?` : ''}; operations: ${opList}`);
  }
  const shape = `pvisor ctl PATH ${[op, ...want].join(' ')}`;
  if (rest.length < want.length) throw usage(`${op} needs ${want.join(' and ')}: ${shape}`);
  if (rest.length > want.length) throw usage(`${op} takes ${want.length === 0 ? 'no arguments' : want.join(' and ')} (got ${rest.map((r) => `"${r}"`).join(' ')}): ${shape}`);
  const request: Record<string, unknown> = { op };
  if (want.length > 0) request.domain = rest[0];
  if (args.flags.force === true) {
    if (op !== 'shutdown') throw usage(`--force is for shutdown only (it powers the domain off at once instead of asking it); drop it from ${op}`);
    request.force = true;
  }
  if (op === 'mem-set') {
    try {
      request.memBytes = parseMemSize(rest[1] as string);
    } catch (err) {
      if (err instanceof UnitError) throw usage(`SIZE: ${err.message}`);
      throw err;
    }
  }
  if (op === 'vcpu-set') {
    const text = rest[1] as string;
    const n = /^\d+$/.test(text) ? Number(text) : text;
    const bad = checkVcpus(n);
    if (bad) throw usage(`N: ${bad}`);
    request.vcpus = n;
  }
  return { path, request, json: args.flags.json === true };
}

/** A response line as the host sends it (see src/control/control-socket.ts). */
type Response = { ok: true; result: unknown } | { ok: false; error: { field: string | null; message: string } };

/**
 * `pvisor ctl`: sends the request and prints the answer.
 * @returns the exit status (0, 1, or 2 for a PATH with no host listening).
 * @throws {@link UsageError} for bad arguments or a PATH nobody listens on.
 */
export async function runCtl(args: ParsedArgs, io: CliIo): Promise<number> {
  const plan = planCtl(args);
  const line = await exchange(plan.path, JSON.stringify({ id: 1, ...plan.request }));
  if (line === undefined) {
    io.err(`pvisor: ${plan.path}: the host closed the connection without answering (did the run just end?)\n`);
    return EXIT_HOST_ERROR;
  }
  let resp: Response;
  try {
    resp = JSON.parse(line) as Response;
  } catch {
    io.err(`pvisor: ${plan.path}: the host answered with something that is not JSON: ${line.slice(0, 200)}\n`);
    return EXIT_HOST_ERROR;
  }
  if (plan.json) {
    io.out(`${line}\n`);
    return resp.ok ? EXIT_OK : EXIT_HOST_ERROR;
  }
  if (!resp.ok) {
    const field = resp.error.field === null ? '' : `${resp.error.field}: `;
    io.err(`pvisor: ${String(plan.request.op)}: ${field}${resp.error.message}\n`);
    return EXIT_HOST_ERROR;
  }
  io.out(formatResult(String(plan.request.op), resp.result));
  return EXIT_OK;
}

/** Connects, writes one request line, resolves with the first response line (undefined if the host hung up first). */
async function exchange(path: string, request: string): Promise<string | undefined> {
  const { connect } = await import('node:net');
  return await new Promise<string | undefined>((resolve, reject) => {
    let buf = '';
    let connected = false;
    const sock: Socket = connect(path);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      connected = true;
      sock.write(`${request}\n`);
    });
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        resolve(buf.slice(0, nl));
        sock.destroy();
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return resolve(undefined);
      const why =
        err.code === 'ENOENT'
          ? 'no such socket'
          : err.code === 'ECONNREFUSED'
            ? 'nothing listens there any more (a socket left by an ended run?)'
            : err.code === 'ENOTSOCK'
              ? 'not a socket'
              : err.message;
      reject(new UsageError(`${path}: cannot connect: ${why}; give the PATH of a running "pvisor run … --control PATH"`));
    });
    sock.on('close', () => resolve(undefined));
  });
}

/** A domain as the host reports it: `list` gives the info, `info` adds the hypercalls (and exits). */
type DomainInfo = ControlDomainInfo & { hypercalls?: Record<string, number> };

/** The result of `op`, for people. */
export function formatResult(op: string, result: unknown): string {
  const r = result as Record<string, unknown>;
  switch (op) {
    case 'list':
      return formatList(r.domains as DomainInfo[], r.virtualTimeNs as number);
    case 'info':
      return formatInfo(result as DomainInfo);
    case 'pause': {
      const d = r.domain as DomainInfo;
      return r.changed === true ? `paused ${label(d)}\n` : `${label(d)} was paused already\n`;
    }
    case 'unpause': {
      const d = r.domain as DomainInfo;
      return r.changed === true ? `unpaused ${label(d)} (now ${d.state})\n` : `${label(d)} was not paused (${d.state})\n`;
    }
    case 'destroy': {
      const d = r.domain as DomainInfo;
      const was = d.outcome === undefined || d.outcome.kind === 'crashed' ? 'stopped' : `it had ended (${stateText(d)})`;
      return `destroyed ${label(d)}: ${was}; its memory and vCPUs went back to the host's free pools\n`;
    }
    case 'shutdown':
      return r.cooperative === false
        ? `powered off ${label(r.domain as DomainInfo)} at once by the host (--force: the guest was not asked)\n`
        : `asked ${label(r.domain as DomainInfo)} to shut down (poweroff); it does when its kernel handles the request (pvisor ctl PATH info shows it; --force powers it off at once)\n`;
    case 'mem-set': {
      const d = r.domain as DomainInfo;
      return `memory target of ${label(d)} set to ${formatSize(d.memTargetBytes)}; it holds ${formatSize(d.populatedBytes)} now and moves toward the target itself (info shows it)\n`;
    }
    case 'vcpu-set': {
      const d = r.domain as DomainInfo;
      return `${label(d)} holds ${d.vcpus.held} vCPU(s) now (${d.vcpus.up} up); it brings them up or down itself (info shows it)\n`;
    }
    default:
      return `${JSON.stringify(result)}\n`;
  }
}

function label(d: DomainInfo): string {
  return `${d.name} (${d.id})`;
}

function guestTime(d: DomainInfo): string {
  return d.guestTimeNs === null ? '-' : d.guestTimeNs === 0 ? '0' : formatDuration(d.guestTimeNs);
}

function stateText(d: DomainInfo): string {
  const o = d.outcome;
  if (o === undefined || o.kind === 'running') return d.state;
  if (o.kind === 'crashed') return `crashed: ${o.reason}`;
  return `${o.kind} ${o.code}`;
}

function formatList(domains: DomainInfo[], nowNs: number): string {
  const head = ['ID', 'NAME', 'STATE', 'MEMORY', 'VCPUS', 'GUEST TIME', 'CONSOLE', 'EXITS'];
  const rows = domains.map((d) => [
    String(d.id),
    d.name,
    stateText(d),
    d.populatedBytes === d.memBytes ? formatSize(d.memBytes) : `${formatSize(d.populatedBytes)}/${formatSize(d.memBytes)}`,
    `${d.vcpus.up}/${d.vcpus.held}`,
    guestTime(d),
    String(d.consoleBytes),
    String(d.exitsTotal),
  ]);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] as string).length)));
  const lines = all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd());
  lines.push(`virtual time ${nowNs === 0 ? '0' : formatDuration(nowNs)}`);
  return `${lines.join('\n')}\n`;
}

function formatInfo(d: DomainInfo): string {
  const lines = [
    `id            ${d.id}`,
    `name          ${d.name}`,
    `state         ${stateText(d)}`,
    `memory        ${formatSize(d.memBytes)} (${d.memBytes} bytes); holds ${formatSize(d.populatedBytes)}, target ${formatSize(d.memTargetBytes)}`,
    `vcpus         ${d.vcpus.up} up, ${d.vcpus.held} held, ${d.vcpus.total} created`,
    `guest time    ${guestTime(d)}`,
    `console       ${d.consoleBytes} bytes`,
    `exits         ${d.exitsTotal}`,
  ];
  if (d.endedAtNs !== undefined) lines.push(`ended at      ${d.endedAtNs === 0 ? '0' : formatDuration(d.endedAtNs)} virtual`);
  const calls = Object.entries(d.hypercalls ?? {});
  if (calls.length > 0) lines.push(`hypercalls    ${calls.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
