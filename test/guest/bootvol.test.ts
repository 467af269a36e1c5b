/**
 * The kit's boot volume reader (guest-kit/c/lib/bootvol.c) against volumes the host did not build
 * right: driven through the dom0 example, whose first calls are pv_bootvol_open, _find and _read,
 * and which prints their error codes. A flipped byte in a file must fail its CRC-32 (EIO), a
 * bad directory must be refused at open (EINVAL), a missing device found missing (ESRCH),
 * and a good volume with files of every tail length must read back (dom0 creates a client from
 * it). The format's host side is test/unit/control/boot-volume.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EINVAL, EIO, ESRCH } from '../../src/abi/index.ts';
import { buildBootVolume } from '../../src/control/boot-volume.ts';
import { System } from '../../src/control/system.ts';
import { VirtioBlk } from '../../src/virtio/blk.ts';
import { MemoryDiskImage } from '../../src/virtio/disk-image.ts';
import { VirtioMmioDevice } from '../../src/virtio/mmio.ts';
import { example } from './run.ts';

const MiB = 1024 * 1024;
const WORKER = new Uint8Array(readFileSync(example('worker')));

/** Boots dom0 with `volume` as its "boot" device (none when undefined); its console text and report. */
async function boot(volume: Uint8Array | undefined, cmdline = 'plan=web:worker:1M:1') {
  let out = '';
  const sys = new System({ seed: 1, maxTimeNs: 10e9, console: (_d, text) => (out += text), log: () => {} });
  const d = await sys.addDomain({ name: 'dom0', image: example('dom0'), memBytes: 16 * MiB, vcpus: 2, cmdline, privileged: true });
  if (volume !== undefined) {
    const blk = new VirtioBlk({ image: new MemoryDiskImage(volume, { readOnly: true }), id: 'boot' });
    sys.attachDevice(d, new VirtioMmioDevice({ name: 'boot', backend: blk, mem: d.mem, log: () => {} }));
  }
  sys.endRunWith(d);
  const report = await sys.run();
  return { out, report };
}

describe('pv_bootvol_* on good and bad volumes', () => {
  it('reads a good volume: the image (a partial last sector) and a plan file shorter than a sector', async () => {
    expect(WORKER.length % 512).not.toBe(0);
    const plan = new TextEncoder().encode('web:worker:1M:1');
    const { out, report } = await boot(buildBootVolume([{ name: 'plan', bytes: plan }, { name: 'worker', bytes: WORKER }]), 'plan=@plan');
    expect(out).toContain('worker dom2: up');
    expect(report.domains.map((d) => [d.name, d.outcome])).toEqual([
      ['dom0', { kind: 'poweroff', code: 0 }],
      ['web', { kind: 'poweroff', code: 0 }],
    ]);
  });

  it('fails the read of a file with a flipped byte: EIO from the CRC-32', async () => {
    const vol = buildBootVolume([{ name: 'worker', bytes: WORKER }]);
    vol[512 + 1000]! ^= 0x01;
    const { out, report } = await boot(vol);
    expect(out).toContain(`dom0: reading image worker failed: error ${EIO}`);
    expect(report.domains.map((d) => d.name)).toEqual(['dom0']); // nothing was created
  });

  it('refuses a directory with a bad magic, a count above 15, a file past the end or an unterminated name: EINVAL at open', async () => {
    const good = () => buildBootVolume([{ name: 'worker', bytes: WORKER }]);
    const badMagic = good();
    badMagic[7] = 0x32; // "PVBOOTV2"
    const badCount = good();
    new DataView(badCount.buffer).setUint32(8, 16, true);
    const pastEnd = good();
    new DataView(pastEnd.buffer).setUint32(16 + 20, WORKER.length + 512, true);
    const badName = good();
    badName[16 + 15] = 0x41; // no NUL in the 16-byte name field
    for (const vol of [badMagic, badCount, pastEnd, badName]) {
      const { out } = await boot(vol);
      expect(out).toContain(`dom0: no boot volume (error ${EINVAL})`);
    }
  });

  it('finds no volume on a domain without a device named "boot": ESRCH', async () => {
    const { out } = await boot(undefined);
    expect(out).toContain(`dom0: no boot volume (error ${ESRCH})`);
  });

  it('says a file is not on the volume: ESRCH from find', async () => {
    const { out } = await boot(buildBootVolume([{ name: 'other', bytes: WORKER }]));
    expect(out).toContain(`image worker is not on the boot volume (error ${ESRCH})`);
  });
});
