/**
 * The run queue (src/hv/scheduler.ts): "one FIFO run queue of vCPUs across all domains. A vCPU
 * is queued when it becomes runnable ... and dequeued when it is picked to run."
 */
import { describe, expect, it } from 'vitest';
import { Scheduler, WAIT_BLOCK } from '../../../src/hv/index.ts';
import { makeHv } from '../../support/hv.ts';

/** A hypervisor whose boot vCPUs were drained from the run queue, and a fresh scheduler. */
function setup(nDoms = 2, vcpus = 2) {
  const { hv, doms } = makeHv(nDoms, { vcpus });
  while (hv.sched.next() !== undefined);
  for (const d of doms) for (const v of d.vcpus) v.up = true;
  return { hv, doms, s: new Scheduler() };
}

describe('Scheduler', () => {
  it('hands vCPUs out in the order they were queued, across domains', () => {
    const { doms: [a, b], s } = setup();
    const order = [b!.vcpus[1]!, a!.vcpus[0]!, b!.vcpus[0]!, a!.vcpus[1]!];
    for (const v of order) s.enqueue(v);
    expect([s.next(), s.next(), s.next(), s.next(), s.next()]).toEqual([...order, undefined]);
  });

  it('queues a vCPU at most once, and again after it was picked', () => {
    const { doms: [a], s } = setup(1);
    const v = a!.vcpus[0]!;
    s.enqueue(v);
    expect(v.queued).toBe(true);
    s.enqueue(v);
    expect(s.next()).toBe(v);
    expect(v.queued).toBe(false);
    expect(s.next()).toBe(undefined);
    s.enqueue(v);
    expect(s.next()).toBe(v);
  });

  it('skips (and dequeues) vCPUs that went down, wait, or whose domain is not running', () => {
    const { doms: [a, b], s } = setup(2);
    const down = a!.vcpus[0]!;
    const waiting = a!.vcpus[1]!;
    const paused = b!.vcpus[0]!;
    const ok = b!.vcpus[1]!;
    for (const v of [down, waiting, paused, ok]) s.enqueue(v);
    down.up = false;
    waiting.wait = WAIT_BLOCK;
    // b is paused while its vCPU 0 sits in the queue, then vCPU 1 of b is not skipped once b runs again.
    b!.state = 'paused';
    expect(s.hasWaiting).toBe(false);
    b!.state = 'running';
    expect(s.hasWaiting).toBe(true);
    b!.state = 'paused';
    expect(s.next()).toBe(undefined);
    for (const v of [down, waiting, paused, ok]) expect(v.queued).toBe(false);
    b!.state = 'running';
    s.enqueue(ok);
    expect(s.next()).toBe(ok);
  });

  it('hasWaiting looks only at vCPUs still queued and runnable', () => {
    const { doms: [a], s } = setup(1);
    const [v0, v1] = [a!.vcpus[0]!, a!.vcpus[1]!];
    expect(s.hasWaiting).toBe(false);
    s.enqueue(v0);
    s.enqueue(v1);
    expect(s.hasWaiting).toBe(true);
    expect(s.next()).toBe(v0);
    expect(s.hasWaiting).toBe(true); // v1 is still queued
    v1.up = false;
    expect(s.hasWaiting).toBe(false);
    v1.up = true;
    a!.state = 'shutdown';
    expect(s.hasWaiting).toBe(false);
    a!.state = 'running';
    v1.wait = WAIT_BLOCK;
    expect(s.hasWaiting).toBe(false);
    v1.wait = null;
    expect(s.hasWaiting).toBe(true);
    expect(s.next()).toBe(v1);
    expect(s.hasWaiting).toBe(false);
  });

  it('keeps FIFO order over many rounds (the queue compacts itself without losing or reordering entries)', () => {
    const { doms, s } = setup(3, 2);
    const all = doms.flatMap((d) => d.vcpus);
    // Round-robin: each picked vCPU is queued again at the back, as a preempted vCPU is.
    for (const v of all) s.enqueue(v);
    const picked: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = s.next()!;
      picked.push(all.indexOf(v));
      // Every 7th pick, enqueue it twice: the second call must be a no-op, before and after compaction.
      s.enqueue(v);
      if (i % 7 === 0) s.enqueue(v);
    }
    expect(picked).toEqual(Array.from({ length: 5000 }, (_, i) => i % all.length));
    expect(s.hasWaiting).toBe(true);
    let left = 0;
    while (s.next() !== undefined) left++;
    expect(left).toBe(all.length);
  });
});
