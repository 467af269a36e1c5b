/**
 * The control socket (src/control/control-socket.ts) on a real Unix socket in a temp dir, against
 * a System that runs guests which idle for ever (guest-kit/workloads/idle-pv.wasm ticking at
 * 1 kHz for 4e9 virtual seconds): list, info, pause (the paused domain's clock record stands
 * still while another's goes on), unpause, forced shutdown and destroy (the run ends; destroyed
 * domains stay in its report), validation errors that name the field; the cooperative requests
 * (shutdown, mem-set, vcpu-set) against the kit's worker example, which acts on them; when an
 * idle run waits for requests and when it ends; and `pvisor ctl` end to end, in process and
 * against a `pvisor run --control` child process.
 *
 * Nothing here depends on wall-clock timing: where the run must have moved on, the test asks
 * again until it has (the test timeout bounds it).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli/args.ts';
import { cli, type CliIo } from '../../../src/cli/cli.ts';
import { RUN } from '../../../src/cli/commands.ts';
import { parseConfigText } from '../../../src/cli/config.ts';
import { planRun } from '../../../src/cli/plan.ts';
import { DESTROY_REASON, listenControl, MAX_REQUEST_BYTES, type ControlServer } from '../../../src/control/control-socket.ts';
import { System } from '../../../src/control/system.ts';
import type { RunReport } from '../../../src/control/types.ts';
import { wat } from '../../support/wat.ts';

const repo = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const IDLE = repo('guest-kit/workloads/idle-pv.wasm');
const HELLO = repo('guest-kit/examples/hello.wasm');
const WORKER = repo('guest-kit/examples/worker.wasm');
const FOREVER = 'seconds=4000000000 hz=1000';
const M = 2 ** 20;

/** A paravirtual guest that blocks for ever: nothing is bound, so nothing can wake it. */
const BLOCKER = wat(`(module
  (import "env" "memory" (memory 2 256 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param i32)
    (loop $l (drop (call $hc (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))) (br $l))))`);

/** A JSON-lines client: one request, its one response line. */
class Client {
  private buf = '';
  private waiting: ((line: string) => void)[] = [];
  private constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
  }
  static async open(path: string): Promise<Client> {
    const sock = connect(path);
    await new Promise<void>((res, rej) => {
      sock.once('connect', () => res());
      sock.once('error', rej);
    });
    return new Client(sock);
  }
  /** Sends `req` (an object, or a raw line) and resolves with the parsed response. */
  async send(req: unknown): Promise<any> {
    const line = await new Promise<string>((res) => {
      this.waiting.push(res);
      this.sock.write(`${typeof req === 'string' ? req : JSON.stringify(req)}\n`);
    });
    return JSON.parse(line);
  }
  close(): void {
    this.sock.destroy();
  }
}

/** Asks `ask` again until `done` holds for its answer. */
async function until<T>(ask: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await ask();
    if (done(v)) return v;
    await new Promise((r) => setTimeout(r, 2));
  }
}

function captureIo(): CliIo & { outText: () => string; errText: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), outText: () => out, errText: () => err };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvisor-ctl-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('control socket on a running System', () => {
  let sys: System;
  let server: ControlServer;
  let client: Client;
  let path: string;
  let console = '';
  let run: Promise<RunReport>;
  let ended = false;

  beforeAll(async () => {
    path = join(dir, 'sys.sock');
    sys = new System({ seed: 1, console: (_d, t) => void (console += t), log: () => {} });
    await sys.addDomain({ name: 'tick', image: IDLE, memBytes: 16 * M, vcpus: 1, cmdline: FOREVER });
    await sys.addDomain({ name: 'tock', image: IDLE, memBytes: 16 * M, vcpus: 1, cmdline: FOREVER });
    await sys.addDomain({ name: 'hello', image: HELLO, memBytes: 2 * M, vcpus: 1, cmdline: 'from the control test' });
    server = await listenControl(sys, path);
    sys.addExternalInput(server);
    run = sys.run().finally(() => (ended = true));
    client = await Client.open(path);
  });
  afterAll(() => {
    client?.close();
    server?.close();
  });

  it('lists every domain: id, name, state, memory, vCPUs, guest time, console bytes, exits', async () => {
    // hello powers off at once; wait until the run has got that far.
    const r = await until(
      () => client.send({ id: 'l1', op: 'list' }),
      (r) => r.result.domains[2].state === 'shutdown',
    );
    expect(r).toMatchObject({ id: 'l1', ok: true });
    const [tick, tock, hello] = r.result.domains;
    expect(tick).toMatchObject({ id: 1, name: 'tick', memBytes: 16 * M, vcpus: { up: 1, total: 1 }, consoleBytes: 0 });
    expect(['running', 'blocked']).toContain(tick.state);
    expect(tock).toMatchObject({ id: 2, name: 'tock' });
    expect(hello).toMatchObject({ id: 3, name: 'hello', state: 'shutdown', outcome: { kind: 'poweroff', code: 0 } });
    expect(console).toContain('from the control test');
    expect(hello.consoleBytes).toBe(Buffer.byteLength(console));
    expect(hello.endedAtNs).toBeLessThanOrEqual(r.result.virtualTimeNs);
    expect(tick.outcome).toBeUndefined();
    expect(tick.exitsTotal).toBeGreaterThan(0);
  });

  it('info gives one domain (by name or id) with hypercalls and exits by kind', async () => {
    const byName = await client.send({ op: 'info', domain: 'tick' });
    const byId = await client.send({ op: 'info', domain: 1 });
    const byDigits = await client.send({ op: 'info', domain: '1' });
    expect(byName).toMatchObject({ id: null, ok: true, result: { id: 1, name: 'tick' } });
    expect(byId.result.name).toBe('tick');
    expect(byDigits.result.name).toBe('tick');
    const i = byName.result;
    expect(i.exits.total).toBe(i.exitsTotal);
    expect(i.hypercalls.evtchn_bind_virq).toBeGreaterThan(0);
  });

  it('pause stops the domain: its clock record and exits stand still while another domain runs on', async () => {
    const p = await client.send({ op: 'pause', domain: 'tick' });
    expect(p).toMatchObject({ ok: true, result: { changed: true, domain: { name: 'tick', state: 'paused' } } });
    const frozen = p.result.domain;
    expect(frozen.guestTimeNs).toBeGreaterThan(0);
    // tock goes on: wait until its clock is a virtual second past the moment tick was paused.
    const later = await until(
      () => client.send({ op: 'list' }),
      (r) => r.result.domains[1].guestTimeNs > frozen.guestTimeNs + 1e9,
    );
    const tick = later.result.domains[0];
    expect(tick.state).toBe('paused');
    expect(tick.guestTimeNs).toBe(frozen.guestTimeNs);
    expect(tick.exitsTotal).toBe(frozen.exitsTotal);
    expect(later.result.virtualTimeNs).toBeGreaterThan(frozen.guestTimeNs + 1e9);
    // Pausing again changes nothing, and says so.
    expect(await client.send({ op: 'pause', domain: 'tick' })).toMatchObject({ ok: true, result: { changed: false } });
    expect(ended).toBe(false);
  });

  it('unpause schedules it again: its clock moves on', async () => {
    const before = (await client.send({ op: 'info', domain: 'tick' })).result;
    const u = await client.send({ op: 'unpause', domain: 'tick' });
    expect(u).toMatchObject({ ok: true, result: { changed: true } });
    expect(u.result.domain.state).not.toBe('paused');
    const after = await until(
      () => client.send({ op: 'info', domain: 'tick' }),
      (r) => r.result.guestTimeNs > before.guestTimeNs,
    );
    expect(after.result.exitsTotal).toBeGreaterThan(before.exitsTotal);
    expect(await client.send({ op: 'unpause', domain: 'tick' })).toMatchObject({ ok: true, result: { changed: false } });
  });

  it('refuses bad requests, naming the field and the fix', async () => {
    const err = async (req: unknown) => {
      const r = await client.send(req);
      expect(r.ok).toBe(false);
      return r.error as { field: string | null; message: string };
    };
    expect(await err('{"op": "list"')).toMatchObject({ field: null, message: expect.stringContaining('not valid JSON') });
    expect(await err('[1,2]')).toMatchObject({ field: null, message: expect.stringContaining('expected a JSON object') });
    expect(await err({ domain: 'tick' })).toMatchObject({ field: 'op', message: expect.stringContaining('missing; give one of list, info') });
    expect(await err({ op: 7 })).toMatchObject({ field: 'op', message: expect.stringContaining('expected a string, got 7') });
    expect(await err({ op: 'pasue', domain: 'tick' })).toMatchObject({ field: 'op', message: expect.stringContaining('did you mean "pause"?') });
    expect(await err({ op: 'pause', domian: 'tick' })).toMatchObject({ field: 'domian', message: expect.stringContaining('did you mean "domain"?') });
    expect(await err({ op: 'list', domain: 'tick' })).toMatchObject({ field: 'domain', message: expect.stringContaining('list takes no fields') });
    expect(await err({ op: 'pause' })).toMatchObject({ field: 'domain', message: expect.stringContaining('missing') });
    expect(await err({ op: 'pause', domain: 'tikc' })).toMatchObject({
      field: 'domain',
      message: 'no domain "tikc"; did you mean "tick"? domains: tick (1), tock (2), hello (3)',
    });
    expect(await err({ op: 'info', domain: 99 })).toMatchObject({ field: 'domain', message: expect.stringContaining('no domain with id 99') });
    expect(await err({ op: 'info', domain: true })).toMatchObject({ field: 'domain', message: expect.stringContaining('got true') });
    expect(await err({ op: 'list', id: { x: 1 } })).toMatchObject({ field: 'id' });
    expect(await err({ op: 'pause', domain: 'hello' })).toMatchObject({ field: 'domain', message: expect.stringContaining('hello (3) has ended (poweroff, code 0)') });
    expect(await err({ op: 'mem-set', domain: 'tick', memBytes: 1000 })).toMatchObject({ field: 'memBytes', message: expect.stringContaining('multiple of 4096') });
    expect(await err({ op: 'mem-set', domain: 'tick' })).toMatchObject({ field: 'memBytes', message: expect.stringContaining('missing') });
    expect(await client.send({ id: 9, op: 'mem-set', domain: 'tick', memBytes: 32 * M })).toEqual({
      id: 9,
      ok: false,
      error: { field: 'memBytes', message: `${32 * M} is above the ${16 * M} bytes tick (1) may hold (its max_mem); give at most ${16 * M}` },
    });
    expect(await err({ op: 'vcpu-set', domain: 'tick', vcpus: 0 })).toMatchObject({ field: 'vcpus' });
    expect(await err({ op: 'vcpu-set', domain: 'tick', vcpus: 2 })).toMatchObject({ field: 'vcpus', message: expect.stringContaining('was created with 1 vCPU(s)') });
    expect(await err({ op: 'shutdown', domain: 'tick', force: 'yes' })).toMatchObject({ field: 'force', message: expect.stringContaining('expected true or false') });
    expect(await err({ op: 'pause', domain: 'tick', force: true })).toMatchObject({ field: 'force', message: expect.stringContaining('pause takes domain besides') });
    expect(await err({ op: 'shutdown', domain: 'tick', forse: true })).toMatchObject({ field: 'forse', message: expect.stringContaining('did you mean "force"?') });
    // Nothing above changed a domain.
    const l = await client.send({ op: 'list' });
    expect(l.result.domains.map((d: { state: string }) => d.state === 'paused')).toEqual([false, false, false]);
    expect(l.result.domains[0]).toMatchObject({ memBytes: 16 * M, populatedBytes: 16 * M, memTargetBytes: 16 * M, vcpus: { held: 1, total: 1 } });
  });

  it('ends a connection that sends a line longer than the limit, and serves others on', async () => {
    const c = await Client.open(path);
    const closed = new Promise<void>((res) => c.sock.once('close', () => res()));
    const r = await c.send('x'.repeat(MAX_REQUEST_BYTES + 10));
    expect(r).toMatchObject({ ok: false, error: { field: null, message: expect.stringContaining('longer than') } });
    await closed;
    expect((await client.send({ op: 'list' })).ok).toBe(true);
  });

  it('pvisor ctl drives it: a table for list, one line per action, --json, exit 1 naming the field', async () => {
    let io = captureIo();
    expect(await cli(['ctl', path, 'list'], io)).toBe(0);
    const lines = io.outText().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STATE\s+MEMORY\s+VCPUS\s+GUEST TIME\s+CONSOLE\s+EXITS$/);
    expect(lines[1]).toMatch(/^1\s+tick\s+(running|blocked)\s+16M\s+1\/1\s/);
    expect(lines[3]).toMatch(/^3\s+hello\s+poweroff 0\s+2M\s+0\/1\s/);
    expect(lines[4]).toMatch(/^virtual time \d/);

    io = captureIo();
    expect(await cli(['ctl', path, 'pause', 'tock'], io)).toBe(0);
    expect(io.outText()).toBe('paused tock (2)\n');
    io = captureIo();
    expect(await cli(['ctl', path, 'info', '2', '--json'], io)).toBe(0);
    expect(JSON.parse(io.outText())).toMatchObject({ id: 1, ok: true, result: { name: 'tock', state: 'paused' } });
    io = captureIo();
    expect(await cli(['ctl', path, 'unpause', 'tock'], io)).toBe(0);
    expect(io.outText()).toMatch(/^unpaused tock \(2\) \(now (running|blocked)\)\n$/);

    io = captureIo();
    expect(await cli(['ctl', path, 'pause', 'nope'], io)).toBe(1);
    expect(io.errText()).toBe('pvisor: pause: domain: no domain "nope"; domains: tick (1), tock (2), hello (3)\n');
    io = captureIo();
    expect(await cli(['ctl', path, 'mem-set', 'tick', '64M'], io)).toBe(1);
    expect(io.errText()).toBe(`pvisor: mem-set: memBytes: ${64 * M} is above the ${16 * M} bytes tick (1) may hold (its max_mem); give at most ${16 * M}\n`);
  });

  it('shutdown --force powers off at once; destroy takes ended and live domains off the host; the run ends and reports them', async () => {
    let io = captureIo();
    expect(await cli(['ctl', path, 'shutdown', 'tock', '--force'], io)).toBe(0);
    expect(io.outText()).toBe('powered off tock (2) at once by the host (--force: the guest was not asked)\n');
    const s = await client.send({ op: 'info', domain: 'tock' });
    expect(s.result).toMatchObject({ state: 'shutdown', outcome: { kind: 'poweroff', code: 0 }, vcpus: { up: 0 } });
    expect(await client.send({ op: 'shutdown', domain: 'tock' })).toMatchObject({ ok: false, error: { field: 'domain' } });
    expect(ended).toBe(false);

    // An ended domain: destroy gives its resources back and it leaves the host.
    io = captureIo();
    expect(await cli(['ctl', path, 'destroy', 'hello'], io)).toBe(0);
    expect(io.outText()).toBe("destroyed hello (3): it had ended (poweroff 0); its memory and vCPUs went back to the host's free pools\n");
    expect((await client.send({ op: 'list' })).result.domains.map((x: { name: string }) => x.name)).toEqual(['tick', 'tock']);
    expect(await client.send({ op: 'info', domain: 'hello' })).toMatchObject({ ok: false, error: { field: 'domain', message: expect.stringContaining('no domain "hello"') } });
    expect(sys.hv.freeFrames).toBe((2 * M) / 4096);
    expect(ended).toBe(false);

    const d = await client.send({ op: 'destroy', domain: 'tick' });
    expect(d).toMatchObject({ ok: true, result: { released: true, domain: { state: 'crashed', outcome: { kind: 'crashed', reason: DESTROY_REASON } } } });
    const report = await run;
    expect(report.domains.map((x) => [x.name, x.outcome, x.destroyed])).toEqual([
      ['tick', { kind: 'crashed', reason: DESTROY_REASON, backtrace: [] }, true],
      ['tock', { kind: 'poweroff', code: 0 }, undefined],
      ['hello', { kind: 'poweroff', code: 0 }, true],
    ]);
    expect(report.ok).toBe(false);
    expect(sys.hv.freeFrames).toBe((18 * M) / 4096);
    expect(sys.hv.freeVcpus).toBe(2);
    server.close();
    expect(existsSync(path)).toBe(false);
  });
});

describe('cooperative requests on a guest that follows VIRQ_CONTROL (the worker example)', () => {
  it('mem-set balloons it, vcpu-set moves vCPUs through the free pool, shutdown asks and it powers off', async () => {
    const path = join(dir, 'coop.sock');
    let out = '';
    const sys = new System({ seed: 1, console: (_d, t) => void (out += t), log: () => {} });
    await sys.addDomain({ name: 'w', image: WORKER, memBytes: 16 * M, vcpus: 2, cmdline: 'name=w period_ms=10 report=1000000' });
    const server = await listenControl(sys, path);
    sys.addExternalInput(server);
    const run = sys.run();
    const c = await Client.open(path);
    try {
      await until(() => Promise.resolve(out), (o) => o.includes('worker w: up'));
      const m = await c.send({ op: 'mem-set', domain: 'w', memBytes: 8 * M });
      expect(m).toMatchObject({ ok: true, result: { cooperative: true, domain: { memTargetBytes: 8 * M } } });
      const ballooned = await until(() => c.send({ op: 'info', domain: 'w' }), (r) => r.result.populatedBytes <= 8 * M);
      expect(ballooned.result.memBytes).toBe(16 * M);
      expect(sys.hv.freeFrames).toBe((16 * M - ballooned.result.populatedBytes) / 4096);

      // Down to 1: one vCPU goes to the free pool; back to 2 takes it again; 3 is more than it was created with.
      expect(await c.send({ op: 'vcpu-set', domain: 'w', vcpus: 1 })).toMatchObject({ ok: true, result: { domain: { vcpus: { held: 1, up: 1, total: 2 } } } });
      expect(sys.hv.freeVcpus).toBe(1);
      expect(await c.send({ op: 'vcpu-set', domain: 'w', vcpus: 2 })).toMatchObject({ ok: true, result: { domain: { vcpus: { held: 2 } } } });
      expect(sys.hv.freeVcpus).toBe(0);
      await until(() => c.send({ op: 'info', domain: 'w' }), (r) => r.result.vcpus.up === 2);
      // Held 1 again, then the pool's vCPU is taken (as a DOMCTL_CREATE would): raising fails, naming vcpus.
      await c.send({ op: 'vcpu-set', domain: 'w', vcpus: 1 });
      sys.hv.freeVcpus -= 1;
      expect(await c.send({ op: 'vcpu-set', domain: 'w', vcpus: 2 })).toMatchObject({
        ok: false,
        error: { field: 'vcpus', message: expect.stringContaining("more vCPU(s) than the host's free pool holds (0)") },
      });
      sys.hv.freeVcpus += 1;

      const io = captureIo();
      expect(await cli(['ctl', path, 'shutdown', 'w'], io)).toBe(0);
      expect(io.outText()).toMatch(/^asked w \(1\) to shut down \(poweroff\)/);
      const report = await run;
      expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
      expect(out).toContain('worker w: shutdown requested (poweroff)');
    } finally {
      c.close();
      server.close();
    }
  });
});

describe('when an idle run waits for the control socket', () => {
  it('waits while a domain is paused, and runs it once unpaused', async () => {
    const path = join(dir, 'paused.sock');
    let out = '';
    const sys = new System({ seed: 1, console: (_d, t) => void (out += t), log: () => {} });
    await sys.addDomain({ name: 'hello', image: HELLO, memBytes: 2 * M, vcpus: 1, cmdline: 'late' });
    const server = await listenControl(sys, path);
    sys.addExternalInput(server);
    const c = await Client.open(path);
    try {
      // Paused before it ever ran: the run has nothing to do but must not end.
      expect(await c.send({ op: 'pause', domain: 'hello' })).toMatchObject({ ok: true, result: { changed: true } });
      let ended = false;
      const run = sys.run().finally(() => (ended = true));
      const l = await c.send({ op: 'list' });
      expect(l.result).toMatchObject({ virtualTimeNs: 0, domains: [{ state: 'paused', consoleBytes: 0 }] });
      await new Promise((r) => setImmediate(r));
      expect(ended).toBe(false);
      expect(await c.send({ op: 'unpause', domain: 'hello' })).toMatchObject({ ok: true });
      const report = await run;
      expect(report.domains[0]!.outcome).toEqual({ kind: 'poweroff', code: 0 });
      expect(out).toContain('late');
    } finally {
      c.close();
      server.close();
    }
  });

  it('ends, as without the socket, when every guest waits for an event nothing can send and none is paused', async () => {
    const path = join(dir, 'blocked.sock');
    const sys = new System({ seed: 1, console: () => {}, log: () => {} });
    await sys.addDomain({ name: 'stuck', image: BLOCKER, memBytes: 2 * M, vcpus: 1, cmdline: '' });
    const server = await listenControl(sys, path);
    sys.addExternalInput(server);
    try {
      const report = await sys.run();
      expect(report.domains[0]!.outcome).toEqual({ kind: 'running' });
      expect(sys.hv.domains[0]!.runState).toBe('blocked');
    } finally {
      server.close();
    }
  });
});

describe('pvisor ctl arguments', () => {
  const usage = async (argv: string[]) => {
    const io = captureIo();
    expect(await cli(['ctl', ...argv], io)).toBe(2);
    return io.errText();
  };
  it('checks its arguments before connecting (exit 2)', async () => {
    expect(await usage([])).toContain('missing PATH');
    expect(await usage(['/nowhere.sock'])).toContain('missing OP after /nowhere.sock: one of list, info, pause');
    expect(await usage(['/nowhere.sock', 'puase', 'x'])).toContain('unknown operation "puase"; did you mean "pause"?');
    expect(await usage(['/nowhere.sock', 'pause'])).toContain('pause needs DOMAIN: pvisor ctl PATH pause DOMAIN');
    expect(await usage(['/nowhere.sock', 'list', 'x'])).toContain('list takes no arguments');
    expect(await usage(['/nowhere.sock', 'mem-set', 'd', '100K'])).toContain('SIZE: "100K" is not a multiple of 64K');
    expect(await usage(['/nowhere.sock', 'vcpu-set', 'd', '0'])).toContain('N: 0 is not a vCPU count');
  });
  it('says when nothing listens at PATH (exit 2)', async () => {
    const err = await usage([join(dir, 'absent.sock'), 'list']);
    expect(err).toContain('absent.sock: cannot connect: no such socket; give the PATH of a running "pvisor run … --control PATH"');
  });
  it('has help with examples', async () => {
    const io = captureIo();
    expect(await cli(['ctl', '--help'], io)).toBe(0);
    expect(io.outText()).toContain('pvisor ctl /tmp/pv.sock list');
    const run = captureIo();
    expect(await cli(['run', '--help'], run)).toBe(0);
    expect(run.outText()).toContain('--control PATH');
  });
});

describe('--control and the config key control', () => {
  const load = (text: string) => () => parseConfigText(text, { fileName: 'c.json', baseDir: '/cfg' });
  const plan = (argv: string[], config = '{"domains":[{"image":"a.wasm"}]}') => planRun(parseArgs(argv, RUN.flags, 'pvisor run'), load(config));
  it('takes the path from the flag, or from the file relative to it; the flag wins', () => {
    expect(plan(['k.wasm', '--control', '/tmp/x.sock']).control).toEqual({ path: '/tmp/x.sock', origin: '--control /tmp/x.sock' });
    expect(plan(['--config', 'c.json'], '{"control":"pv.sock","domains":[{"image":"a.wasm"}]}').control).toEqual({ path: '/cfg/pv.sock', origin: 'c.json: control' });
    expect(plan(['--config', 'c.json', '--control', '/tmp/y.sock'], '{"control":"pv.sock","domains":[{"image":"a.wasm"}]}').control?.path).toBe('/tmp/y.sock');
    expect(plan(['k.wasm']).control).toBeUndefined();
  });
  it('refuses an empty or mistyped path, naming the flag or key', () => {
    expect(() => plan(['k.wasm', '--control='])).toThrow('--control: give the path of the socket to create');
    expect(() => plan(['--config', 'c.json'], '{"control":5,"domains":[{"image":"a.wasm"}]}')).toThrow('c.json: control: expected the path of the control socket to create, got 5');
  });
  it('pvisor run refuses a PATH that exists already, before anything runs (exit 2)', async () => {
    const path = join(dir, 'stale.sock');
    writeFileSync(path, '');
    const io = captureIo();
    expect(await cli(['run', IDLE, '--control', path], io)).toBe(2);
    expect(io.errText()).toContain(`pvisor: --control ${path}: ${path} already exists; remove it (a socket left by an earlier run?)`);
  });
});

describe('pvisor run --control, end to end', () => {
  it('serves a running host in another process; shutdown ends its run with status 0 and removes the socket', async () => {
    const path = join(dir, 'run.sock');
    const child = spawn(process.execPath, [repo('bin/pvisor.js'), 'run', IDLE, '--name', 'idle', '--cmdline', FOREVER, '--max-time', '1000h', '--control', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      // Wait for the socket (the child compiles the guest first).
      while (!existsSync(path)) {
        expect(child.exitCode, err).toBeNull();
        await new Promise((r) => setTimeout(r, 20));
      }
      let io = captureIo();
      expect(await cli(['ctl', path, 'list'], io), io.errText()).toBe(0);
      expect(io.outText()).toMatch(/\n1\s+idle\s+(running|blocked)\s+16M\s+1\/1\s/);
      io = captureIo();
      expect(await cli(['ctl', path, 'pause', 'idle'], io)).toBe(0);
      io = captureIo();
      expect(await cli(['ctl', path, 'info', 'idle'], io)).toBe(0);
      expect(io.outText()).toMatch(/^state\s+paused$/m);
      io = captureIo();
      expect(await cli(['ctl', path, 'shutdown', 'idle', '--force'], io)).toBe(0);
      expect(await exited).toBe(0);
      expect(err).toContain(`pvisor: control socket on ${path}`);
      expect(err).toContain('pvisor: domain idle (1): powered off, code 0');
      expect(existsSync(path)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
