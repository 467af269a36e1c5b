/**
 * End to end: the controlling-domain example (guest-kit/examples/dom0) booted by `pvisor boot`
 * with every frame and vCPU of the host, creating three worker clients from the boot volume,
 * moving memory between two by ballooning, hot-plugging a vCPU, restarting the one that crashes
 * and shutting all down. The accounts dom0 prints after each step are checked line by line
 * against a model of the plan computed here, and each block's conservation (what the domains hold
 * plus the free pool equals the total) is recomputed from the printed numbers.
 *
 * Bad command lines are checked through System (no process spawn), with the boot volume built by
 * src/control/boot-volume.ts as `pvisor boot` builds it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GRANT_FRAME_SIZE } from '../../src/abi/index.ts';
import { buildBootVolume } from '../../src/control/boot-volume.ts';
import { System } from '../../src/control/system.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

const MiB = 1024 * 1024;
const frames = (bytes: number): number => bytes / GRANT_FRAME_SIZE;

/** The host: `--mem 32M --vcpus 5` (dom0 keeps one vCPU; the clients' slots need four). */
const HOST_MEM = 32 * MiB;
const HOST_VCPUS = 5;
/** worker.c ticks every 10 ms of virtual time; tick 30 falls after the hotplug steps. */
const CRASH_TICK = 30;
const PLAN = `web:worker:4M:1..2,db:worker:4M..8M:1,batch:worker:4M:1/crash_at=${CRASH_TICK}`;
const MOVE = 2 * MiB;
const CMDLINE = `plan=${PLAN} move=web:db:2M hotplug=web`;

/** One domain line of an accounts block. */
interface DomLine {
  id: number;
  name: string;
  frames: number;
  vcpus: number;
}

/** One accounts block as printed. */
interface Block {
  step: string;
  total: { frames: number; vcpus: number };
  free: { frames: number; vcpus: number };
  domains: DomLine[];
  check: string;
}

/** dom0's own console lines (prefixed `[dom0] ` while other domains exist), without `dom0: `. */
function dom0Lines(stdout: string): string[] {
  const out: string[] = [];
  for (const l of stdout.split('\n')) {
    const m = /^(?:\[dom0\] )?dom0: (.*)$/.exec(l);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** The accounts blocks among dom0's lines; throws on a line of a block it does not understand. */
function parseBlocks(lines: string[]): Block[] {
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^accounts after (.+):$/.exec(lines[i]!);
    if (!head) continue;
    const total = /^ {2}total: frames=(\d+) vcpus=(\d+)$/.exec(lines[++i]!);
    const free = /^ {2}free: frames=(\d+) vcpus=(\d+)$/.exec(lines[++i]!);
    if (!total || !free) throw new Error(`block "${head[1]}": bad total/free lines near ${lines[i]}`);
    const domains: DomLine[] = [];
    let m: RegExpExecArray | null;
    while ((m = /^ {2}domain (\d+) (\S+): frames=(\d+) vcpus=(\d+)$/.exec(lines[i + 1]!)) !== null) {
      domains.push({ id: Number(m[1]), name: m[2]!, frames: Number(m[3]), vcpus: Number(m[4]) });
      i++;
    }
    const check = /^ {2}check: (.*)$/.exec(lines[++i]!);
    if (!check) throw new Error(`block "${head[1]}": no check line`);
    blocks.push({
      step: head[1]!,
      total: { frames: Number(total[1]), vcpus: Number(total[2]) },
      free: { frames: Number(free[1]), vcpus: Number(free[2]) },
      domains,
      check: check[1]!,
    });
  }
  return blocks;
}

/** The block dom0 should print for `step` when the domains hold `doms`. */
function expectedBlock(step: string, doms: DomLine[]): Block {
  const f = doms.reduce((s, d) => s + d.frames, 0);
  const v = doms.reduce((s, d) => s + d.vcpus, 0);
  const total = { frames: frames(HOST_MEM), vcpus: HOST_VCPUS };
  const free = { frames: total.frames - f, vcpus: total.vcpus - v };
  return {
    step,
    total,
    free,
    domains: doms.map((d) => ({ ...d })),
    check: `frames ${f}+${free.frames}=${total.frames} vcpus ${v}+${free.vcpus}=${total.vcpus} ok`,
  };
}

/**
 * The accounts of the scenario, step by step, from the plan: dom0 (domain 1) starts with all;
 * `fund` releases the clients' created sizes (4M + 8M + 4M) and keeps one vCPU; clients are
 * created with their full size and slots, web lowered to 1 vCPU before it runs; db then balloons
 * to its 4M start; the move takes 2M from web to db; web gets a second vCPU and gives it back;
 * batch crashes and comes back as domain 5 with the same resources; all are destroyed and dom0
 * takes everything back.
 */
function expectedBlocks(): Block[] {
  const all = { id: 1, name: 'dom0', frames: frames(HOST_MEM), vcpus: HOST_VCPUS };
  const funded = { ...all, frames: frames(HOST_MEM - 16 * MiB), vcpus: 1 };
  const web = { id: 2, name: 'web', frames: frames(4 * MiB), vcpus: 1 };
  const db = { id: 3, name: 'db', frames: frames(8 * MiB), vcpus: 1 };
  const batch = { id: 4, name: 'batch', frames: frames(4 * MiB), vcpus: 1 };
  const out: Block[] = [expectedBlock('boot', [all]), expectedBlock('fund', [funded])];
  out.push(expectedBlock('create', [funded, web, db, batch]));
  db.frames = frames(4 * MiB);
  out.push(expectedBlock('start', [funded, web, db, batch]));
  web.frames -= frames(MOVE);
  db.frames += frames(MOVE);
  out.push(expectedBlock('move', [funded, web, db, batch]));
  out.push(expectedBlock('vcpu up', [funded, { ...web, vcpus: 2 }, db, batch]));
  out.push(expectedBlock('vcpu down', [funded, web, db, batch]));
  out.push(expectedBlock('restart batch', [funded, web, db, { ...batch, id: 5 }]));
  out.push(expectedBlock('shutdown', [funded]));
  out.push(expectedBlock('reclaim', [all]));
  return out;
}

/** Runs `pvisor boot` with the example's host and worker image and dom0 command line `cmdline`. */
function boot(cmdline: string) {
  const bin = fileURLToPath(new URL('../../bin/pvisor.js', import.meta.url));
  return spawnSync(
    process.execPath,
    [bin, 'boot', example('dom0'), '--mem', '32M', '--vcpus', String(HOST_VCPUS), '--image', `worker=${example('worker')}`, '--cmdline', cmdline],
    { encoding: 'utf8' },
  );
}

describe('dom0: the controlling-domain example under pvisor boot', () => {
  it('partitions the host, balloons, hot-plugs, restarts a crashed client and gives everything back', () => {
    const r = boot(CMDLINE);
    const lines = dom0Lines(r.stdout);
    const blocks = parseBlocks(lines);

    // Every block balances, recomputed from its printed numbers.
    for (const b of blocks) {
      const f = b.domains.reduce((s, d) => s + d.frames, 0);
      const v = b.domains.reduce((s, d) => s + d.vcpus, 0);
      expect({ step: b.step, frames: f + b.free.frames, vcpus: v + b.free.vcpus }).toEqual({ step: b.step, frames: b.total.frames, vcpus: b.total.vcpus });
      expect(b.check.endsWith(' ok')).toBe(true);
    }
    // The exact accounts of every step, in order.
    expect(blocks).toEqual(expectedBlocks());
    // The final accounts are the boot accounts.
    const [first, last] = [blocks[0]!, blocks[blocks.length - 1]!];
    expect({ ...last, step: '' }).toEqual({ ...first, step: '' });
    expect(lines[lines.length - 1]).toBe('final accounts equal the boot accounts');

    // What happened between the blocks.
    const events = lines.filter((l) => !l.startsWith('  ') && !l.startsWith('accounts after ') && !l.startsWith('plan: '));
    expect(events).toEqual([
      'created web as domain 2',
      'created db as domain 3',
      'created batch as domain 4',
      'load moves from web to db: web target 4096K -> 2048K, then db target 4096K -> 6144K',
      'hotplug: web vCPUs 1 -> 2',
      'hotplug: web vCPUs 2 -> 1',
      'batch (domain 4) crashed; restarting',
      'restarted batch as domain 5',
      'web (domain 2) shut down (poweroff, code 0)',
      'db (domain 3) shut down (poweroff, code 0)',
      'batch (domain 5) shut down (poweroff, code 0)',
      'final accounts equal the boot accounts',
    ]);
    // The clients saw it: db ballooned down at boot and up on the move, web ran its second vCPU,
    // batch trapped at its tick and its second instance (no crash_at) powered off when asked.
    expect(r.stdout).toContain(`[db] worker dom3: target ${4 * MiB} bytes, holds ${4 * MiB}\n`);
    expect(r.stdout).toContain(`[db] worker dom3: target ${6 * MiB} bytes, holds ${6 * MiB}\n`);
    expect(r.stdout).toContain(`[web] worker dom2: target ${2 * MiB} bytes, holds ${2 * MiB}\n`);
    expect(r.stdout).toContain('[web] worker dom2: vcpus 2 held, 2 up\n');
    expect(r.stdout).toContain(`[batch] worker dom4: crashing at tick ${CRASH_TICK}\n`);
    expect(r.stdout).toContain('[batch] worker dom5: shutdown requested (poweroff)\n');

    // dom0 powered off with 0; the first batch crashed (the injected fault) and the report says so.
    expect(r.stderr).toContain('pvisor: domain dom0 (1): powered off, code 0\n');
    expect(r.stderr).toMatch(/^pvisor: domain batch \(4\): crashed: /m);
    for (const [name, id] of [['web', 2], ['db', 3], ['batch', 5]] as const) {
      expect(r.stderr).toContain(`pvisor: domain ${name} (${id}): powered off, code 0; destroyed afterwards\n`);
    }
    // The exit status is dom0's: it restarted the crashed client and powered off with 0.
    expect(r.status).toBe(0);
  });

  it('exits 0 when no client crashes: every domain powered off and the accounts came back', () => {
    const r = boot(CMDLINE.replace(`/crash_at=${CRASH_TICK}`, ''));
    const lines = dom0Lines(r.stdout);
    const blocks = parseBlocks(lines);
    expect(blocks.map((b) => b.step)).toEqual(['boot', 'fund', 'create', 'start', 'move', 'vcpu up', 'vcpu down', 'shutdown', 'reclaim']);
    expect(blocks).toEqual(expectedBlocks().filter((b) => b.step !== 'restart batch'));
    expect(lines.some((l) => l.includes('crashed'))).toBe(false);
    expect(lines[lines.length - 1]).toBe('final accounts equal the boot accounts');
    expect(r.stderr).toMatch(/^pvisor: 4 domains powered off cleanly; /m);
    expect(r.status).toBe(0);
  });
});

/**
 * Runs dom0 through System with a boot volume holding the worker (and `extra` files); its console
 * text and exit code.
 */
async function runDom0(cmdline: string, extra: { name: string; bytes: Uint8Array }[] = []): Promise<{ out: string; code: number | undefined }> {
  let out = '';
  const sys = new System({ seed: 1, console: (_d, text) => (out += text), log: () => {} });
  const d = await sys.addDomain({ name: 'dom0', image: example('dom0'), memBytes: HOST_MEM, vcpus: HOST_VCPUS, cmdline, privileged: true });
  const vol = buildBootVolume([{ name: 'worker', bytes: new Uint8Array(readFileSync(example('worker'))) }, ...extra]);
  const blk = new VirtioBlk({ image: new MemoryDiskImage(vol, { readOnly: true }), id: 'boot' });
  sys.attachDevice(d, new VirtioMmioDevice({ name: 'boot', backend: blk, mem: d.mem, log: () => {} }));
  sys.endRunWith(d);
  const report = await sys.run();
  const o = report.domains.find((x) => x.id === d.id)!.outcome;
  return { out, code: o.kind === 'poweroff' ? o.code : undefined };
}

describe('dom0 through System', () => {
  it('reads the plan from a file on the boot volume (plan=@FILE)', async () => {
    const plan = new TextEncoder().encode('web: worker: 1M: 1\ndb:worker:1M..2M:1/load=5\n');
    const { out, code } = await runDom0('plan=@plan.txt', [{ name: 'plan.txt', bytes: plan }]);
    const lines = dom0Lines(out);
    expect(lines.filter((l) => l.startsWith('plan: '))).toEqual([
      'plan: web image=worker mem=1024K target=1024K vcpus=1/1 args=""',
      'plan: db image=worker mem=2048K target=1024K vcpus=1/1 args="load=5"',
    ]);
    const blocks = parseBlocks(lines);
    expect(blocks.map((b) => b.step)).toEqual(['boot', 'fund', 'create', 'start', 'shutdown', 'reclaim']);
    // db was created with 2M (512 frames) and ballooned to its 1M start.
    expect(blocks[2]!.domains.map((x) => [x.name, x.frames])).toEqual([['dom0', frames(HOST_MEM - 3 * MiB)], ['web', 256], ['db', 512]]);
    expect(blocks[3]!.domains.map((x) => [x.name, x.frames])).toEqual([['dom0', frames(HOST_MEM - 3 * MiB)], ['web', 256], ['db', 256]]);
    expect(lines[lines.length - 1]).toBe('final accounts equal the boot accounts');
    expect(code).toBe(0);
  });

  it('restarts a client that keeps crashing 3 times, then destroys it, gives everything back and exits 1', async () => {
    const oob = new Uint8Array(readFileSync(example('hostile_oob')));
    const { out, code } = await runDom0('plan=web:worker:1M:1,bad:oob:1M:1', [{ name: 'oob', bytes: oob }]);
    const lines = dom0Lines(out);
    expect(lines.filter((l) => /crash|restart/.test(l) && !l.startsWith('accounts'))).toEqual([
      'bad (domain 3) crashed; restarting',
      'restarted bad as domain 4',
      'bad (domain 4) crashed; restarting',
      'restarted bad as domain 5',
      'bad (domain 5) crashed; restarting',
      'restarted bad as domain 6',
      'bad (domain 6) crashed again after 3 restarts; destroying it',
    ]);
    const blocks = parseBlocks(lines);
    for (const b of blocks) expect(b.check.endsWith(' ok')).toBe(true);
    // Each restart's block shows the new instance with the same resources as the first.
    const restarts = blocks.filter((b) => b.step === 'restart bad');
    expect(restarts.map((b) => b.domains.find((x) => x.name === 'bad'))).toEqual([4, 5, 6].map((id) => ({ id, name: 'bad', frames: 256, vcpus: 1 })));
    expect({ ...blocks[blocks.length - 1]!, step: '' }).toEqual({ ...blocks[0]!, step: '' });
    expect(code).toBe(1);
  });
});

describe('dom0: bad command lines', () => {
  it.each([
    ['', 'plan= is missing; give plan=NAME:IMAGE:MEM:VCPUS[,...] (see dom0.c)'],
    ['plan=web:worker:4M', 'plan entry 1 "web:worker:4M": too few fields; write NAME:IMAGE:MEM:VCPUS[/ARGS], e.g. web:worker:4M:1'],
    ['plan=web:worker:4X:1', 'plan entry 1 "web:worker:4X:1": MEM is not SIZE or START..SIZE; use sizes like 4M or 4M..8M (multiples of 64K)'],
    ['plan=web:worker:100K:1', 'plan entry 1 "web:worker:100K:1": MEM is not SIZE or START..SIZE; use sizes like 4M or 4M..8M (multiples of 64K)'],
    ['plan=web:worker:8M..4M:1', 'plan entry 1 "web:worker:8M..4M:1": MEM START is above SIZE; write the smaller size first, e.g. 4M..8M'],
    ['plan=web:worker:4M:3..2', 'plan entry 1 "web:worker:4M:3..2": VCPUS START is above N; write the smaller count first, e.g. 1..2'],
    ['plan=web:worker:4M:1,web:worker:4M:1', 'plan entry 2 "web:worker:4M:1": NAME is used twice; give each client its own name'],
    ['plan=web:nope:4M:1', 'plan entry 1: image nope is not on the boot volume (error -3); add --image nope=PATH'],
    ['plan=web:worker:4M:1,db:worker:4M:1 move=web:db:1M', 'move=: TO has no room to grow by SIZE; create TO larger with MEM START..SIZE, e.g. 4M..8M, or move less'],
    ['plan=web:worker:4M:1 hotplug=db', 'hotplug= names a client that is not in the plan; use a plan name, e.g. hotplug=web'],
    ['plan=web:worker:4M:5', "plan: the clients' vCPU slots add up to 5, but dom0 holds 5 and keeps 1; give --vcpus 6 or fewer slots"],
  ])('%j: exit 2 naming the field', async (cmdline, message) => {
    const { out, code } = await runDom0(cmdline);
    expect(out).toContain(`dom0: bad command line: ${message}\n`);
    expect(code).toBe(2);
    // Nothing was created: no accounts past boot.
    expect(out).not.toContain('accounts after fund');
  });
});
