/**
 * Reservations and ballooning in the core (src/hv/reservation.ts): decrease_reservation zeroes the
 * frames and moves them to the host's pool, increase_reservation takes them back (zeroed again),
 * refused ranges change nothing, a ballooned frame is GNTST_BAD_PAGE for grant_copy, destroying a
 * domain moves what it held to the pool, and DOMCTL_GETINFO reports what a domain holds.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL_DESTROY, DOMCTL_GETINFO, DOMCTL_GETINFO_OFF, DOMCTL_OP_OFF, DOMID_SELF, EINVAL, ENOMEM, GNTST_BAD_PAGE,
  GNTST_OKAY, GRANT_COPY_OP_OFF, GRANT_FRAME_SIZE, Hc,
} from '../../../src/abi/index.ts';
import { Hypervisor, heldFrames, populatedBytes, releasableFrames, type Domain } from '../../../src/hv/index.ts';
import { encodeDomctlOp, encodeGrantCopyOp } from '../../../spec/model/index.ts';
import { call } from '../../support/hv.ts';

const MEM = 256 * 1024;
const FRAMES = MEM / GRANT_FRAME_SIZE;

function world(): { hv: Hypervisor; dom0: Domain; a: Domain; b: Domain } {
  const hv = new Hypervisor({ log: () => {} });
  const dom0 = hv.createDomain({ name: 'dom0', memBytes: MEM, vcpus: 1, privileged: true });
  const a = hv.createDomain({ name: 'a', memBytes: MEM, vcpus: 2 });
  const b = hv.createDomain({ name: 'b', memBytes: MEM, vcpus: 1 });
  return { hv, dom0, a, b };
}

const dec = (hv: Hypervisor, d: Domain, f: number, n: number) => call(hv, d.vcpus[0]!, Hc.decrease_reservation, f, n);
const inc = (hv: Hypervisor, d: Domain, f: number, n: number) => call(hv, d.vcpus[0]!, Hc.increase_reservation, f, n);
const frame = (d: Domain, f: number) => d.mem.u8.slice(f * GRANT_FRAME_SIZE, (f + 1) * GRANT_FRAME_SIZE);
const total = (hv: Hypervisor) => hv.domains.reduce((n, d) => n + heldFrames(d), 0) + hv.freeFrames;

describe('decrease_reservation / increase_reservation', () => {
  it('hands frames back (zeroed, into the pool) and takes them again (zeroed again); the accounts always add up', () => {
    const { hv, a, b } = world();
    const start = total(hv);
    expect(start).toBe(3 * FRAMES);
    a.mem.u8.fill(0xab, 8 * GRANT_FRAME_SIZE, 11 * GRANT_FRAME_SIZE);
    expect(dec(hv, a, 8, 3)).toBe(0);
    expect([hv.freeFrames, heldFrames(a), populatedBytes(a)]).toEqual([3, FRAMES - 3, MEM - 3 * GRANT_FRAME_SIZE]);
    expect(frame(a, 9).every((x) => x === 0)).toBe(true);
    expect(total(hv)).toBe(start);
    // The frames stay addressable (Wasm cannot unmap): what the guest writes there is discarded on the way back.
    a.mem.u8.fill(0xcd, 9 * GRANT_FRAME_SIZE, 10 * GRANT_FRAME_SIZE);
    // Another domain cannot take a's frames: only frames it handed back itself.
    expect(inc(hv, b, 9, 1)).toBe(EINVAL);
    expect(inc(hv, a, 9, 1)).toBe(0);
    expect(frame(a, 9).every((x) => x === 0)).toBe(true);
    expect([hv.freeFrames, [...a.ballooned].sort((x, y) => x - y)]).toEqual([2, [8, 10]]);
    expect(total(hv)).toBe(start);
    // b hands 2 back; a takes its last two with them in the pool.
    expect(dec(hv, b, 20, 2)).toBe(0);
    expect(inc(hv, a, 8, 1)).toBe(0);
    expect(inc(hv, a, 10, 1)).toBe(0);
    expect([hv.freeFrames, a.ballooned.size, b.ballooned.size]).toEqual([2, 0, 2]);
    expect(total(hv)).toBe(start);
  });

  it('refuses ranges it cannot move, changing nothing: held already / not held, the reserved area, past memory, wrapping', () => {
    const { hv, a } = world();
    a.mem.u8.fill(7, 0, 16 * GRANT_FRAME_SIZE);
    const before = Buffer.from(a.mem.u8).toString('base64');
    const top = releasableFrames(a);
    expect(top * GRANT_FRAME_SIZE).toBeLessThanOrEqual(a.layout.reservedBase);
    expect(inc(hv, a, 4, 1)).toBe(EINVAL); // held already
    for (const [f, n] of [[top - 1, 2], [top, 1], [FRAMES - 1, 1], [FRAMES, 1], [0, FRAMES], [1, 0xffffffff], [0xffffffff, 1]] as const) {
      expect(dec(hv, a, f, n), `decrease ${f}+${n}`).toBe(EINVAL);
    }
    expect(Buffer.from(a.mem.u8).toString('base64')).toBe(before);
    expect([hv.freeFrames, a.ballooned.size]).toEqual([0, 0]);
    expect(dec(hv, a, top - 1, 1)).toBe(0); // the last frame below reserved_base is the guest's
    expect(dec(hv, a, 3, 2)).toBe(0);
    expect(dec(hv, a, 4, 2)).toBe(EINVAL); // frame 4 is gone already: nothing changes, 5 stays
    expect(a.ballooned.has(5)).toBe(false);
    expect(dec(hv, a, 0, 0)).toBe(0);
    expect(inc(hv, a, 0xffffffff, 0)).toBe(0);
    expect(hv.freeFrames).toBe(3);
  });

  it('ENOMEM: the pool holds fewer frames than asked for (a destroyed domain refills it)', () => {
    const { hv, dom0, a, b } = world();
    expect(dec(hv, a, 4, 2)).toBe(0);
    hv.freeFrames = 1; // someone else took one (as increase by another domain would)
    expect(inc(hv, a, 4, 2)).toBe(ENOMEM);
    expect([hv.freeFrames, a.ballooned.size]).toEqual([1, 2]);
    expect(inc(hv, a, 4, 1)).toBe(0);
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_DESTROY, b.id), 0x2000);
    expect(call(hv, dom0.vcpus[0]!, Hc.domctl, 0x2000)).toBe(0);
    expect(hv.freeFrames).toBe(FRAMES);
    expect(inc(hv, a, 5, 1)).toBe(0);
  });

  it('a ballooned frame is GNTST_BAD_PAGE at either end of a grant_copy; taken back, it works again', () => {
    const { hv, a } = world();
    const OPS = 0x3800;
    const op = () => encodeGrantCopyOp({ source: { ref: 4, domid: DOMID_SELF, offset: 0 }, dest: { ref: 6, domid: DOMID_SELF, offset: 0 }, len: 16, flags: 0 });
    const status = () => new DataView(a.mem.u8.buffer).getInt16(OPS + GRANT_COPY_OP_OFF.status, true);
    expect(dec(hv, a, 6, 1)).toBe(0);
    a.mem.u8.set(op(), OPS);
    expect(call(hv, a.vcpus[0]!, Hc.grant_copy, OPS, 1)).toBe(0);
    expect(status()).toBe(GNTST_BAD_PAGE);
    expect(inc(hv, a, 6, 1)).toBe(0);
    expect(dec(hv, a, 4, 1)).toBe(0);
    a.mem.u8.set(op(), OPS);
    call(hv, a.vcpus[0]!, Hc.grant_copy, OPS, 1);
    expect(status()).toBe(GNTST_BAD_PAGE);
    expect(inc(hv, a, 4, 1)).toBe(0);
    a.mem.u8.set(op(), OPS);
    call(hv, a.vcpus[0]!, Hc.grant_copy, OPS, 1);
    expect(status()).toBe(GNTST_OKAY);
  });

  it('DOMCTL_GETINFO reports the bytes a domain holds', () => {
    const { hv, dom0, a } = world();
    expect(dec(hv, a, 4, 5)).toBe(0);
    dom0.mem.u8.set(encodeDomctlOp(DOMCTL_GETINFO, a.id), 0x2000);
    expect(call(hv, dom0.vcpus[0]!, Hc.domctl, 0x2000)).toBe(0);
    const at = (0x2000 + DOMCTL_OP_OFF.payload) as never;
    expect(dom0.mem.u64((at + DOMCTL_GETINFO_OFF.mem_size) as never)).toBe(MEM);
    expect(dom0.mem.u64((at + DOMCTL_GETINFO_OFF.populated) as never)).toBe(MEM - 5 * GRANT_FRAME_SIZE);
  });
});
