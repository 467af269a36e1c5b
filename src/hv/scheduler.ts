/**
 * Round-robin scheduler: one FIFO run queue of vCPUs across all domains.
 *
 * A vCPU is queued when it becomes runnable (brought up, woken, yielded or preempted) and
 * dequeued when it is picked to run. FIFO order is what makes the deterministic engine
 * reproducible: no choice depends on anything but the order of events.
 * @module
 */
import type { Domain } from './domain.ts';
import type { Vcpu } from './vcpu.ts';

/** The run queue. */
export class Scheduler {
  private q: Vcpu[] = [];
  private head = 0;

  /** Appends a vCPU unless it is already queued. */
  enqueue(v: Vcpu): void {
    if (v.queued) return;
    v.queued = true;
    this.q.push(v);
  }

  /** Removes and returns the next runnable vCPU, skipping any that went down or whose domain stopped or paused. */
  next(): Vcpu | undefined {
    while (this.head < this.q.length) {
      const v = this.q[this.head++]!;
      v.queued = false;
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,ArithmeticOperator: compacting is always correct, only when is a memory trade-off (docs/mutation.md).
      if (this.head > 1024 && this.head * 2 > this.q.length) {
        this.q = this.q.slice(this.head);
        this.head = 0;
      }
      if (v.up && v.wait === null && v.domain.state === 'running') return v;
    }
    return undefined;
  }

  /**
   * Drops every queued vCPU of a destroyed domain, and the slots already dequeued (they still
   * point at vCPUs until the next compaction), so the queue keeps nothing of it alive.
   */
  forget(domain: Domain): void {
    const keep = this.q.slice(this.head).filter((v) => v.domain !== domain);
    for (const v of domain.vcpus) v.queued = false;
    this.q = keep;
    this.head = 0;
  }

  /** True when another vCPU is waiting to run. */
  get hasWaiting(): boolean {
    for (let i = this.head; i < this.q.length; i++) {
      const v = this.q[i]!;
      if (v.up && v.wait === null && v.domain.state === 'running') return true;
    }
    return false;
  }
}
