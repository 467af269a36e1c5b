/**
 * Found by `npm run fuzz -- --seed 20261208 --runs 10000 --host hv --devices` (run 7612, shrunk
 * to 2 commands).
 *
 * What broke: the harness, not the core. DOMCTL_SET_MEMORY_TARGET writes the target's
 * start_info.mem_target (in domain 3's memory); the model states the field (`memTarget`) but not
 * the bytes, so its image of domain 3 still held the old value, and a console_write of domain 3's
 * top page (start_info) printed different bytes on the two sides:
 *
 *   domains[2].console: differs at char 65 (model "\u0000\u0004…", host "ð\u0003…")
 *   1. domctl(15360) from 1.0 [target cmd 11 dom 3]
 *   2. console_write(258048, 4096) from 3.0
 *
 * The same held for every start_info field a domctl writes into another domain (max_mem, the
 * shutdown request, vcpus_held, devices_generation, the manifest). Fixed in the harness:
 * `HostUnderTest.startInfoAddr` (hvHost has it) makes the harness copy the start_info page from
 * the host into the model's memory after every call; the fields the model states are still
 * compared through the observation (memTarget, vcpusHeld, devices, …).
 */
import { describe, expect, it } from 'vitest';
import { DOMCTL_SET_MEMORY_TARGET, Hc, START_INFO_OFF } from '../../src/abi/index.ts';
import { encodeDomctlOp } from '../../spec/model/index.ts';
import { DEVICE_DOMAINS, FAKE_LOADER, diffObservations, hvHost, modelHost, modelRun } from '../../src/testing/index.ts';

const replay = { seed: 20261208, path: '7611:2:1:1:2:2:1:1:1:4:6:4:6:4:2:6:2:2:7:6:6:7:22:15:7:12:12:12:13', numRuns: 1, domains: DEVICE_DOMAINS, commands: { balloon: true, replayPath: 'GA/h:N' } };

describe('regression: start_info bytes a domctl writes into another domain (seed 20261208)', () => {
  it('regression: the found sequence replays against the core without a divergence', () => {
    expect(() => modelRun(hvHost, replay)).not.toThrow();
  });

  it('regression: the host writes mem_target into the target\'s start_info, the value the model states', () => {
    const host = hvHost(DEVICE_DOMAINS);
    const model = modelHost(DEVICE_DOMAINS, { sharedInfoAddr: (d) => host.sharedInfoAddr(d.id), loader: FAKE_LOADER });
    const target = 256 * 1024 - 4096;
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setBigUint64(0, BigInt(target), true);
    const op = encodeDomctlOp(DOMCTL_SET_MEMORY_TARGET, 3, payload);
    for (const side of [host, model]) {
      side.writeMem(1, 0x3c00, op);
      expect(side.call(1, 0, Hc.domctl, [0x3c00])).toBe(0);
    }
    expect(diffObservations(model.observe(), host.observe())).toEqual([]);
    const at = host.startInfoAddr!(3) + START_INFO_OFF.mem_target;
    const bytes = host.readMem!(3, at, 8);
    expect(Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))).toBe(model.state.domains[2]!.memTarget);
  });
});
