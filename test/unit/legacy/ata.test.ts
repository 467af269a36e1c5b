/**
 * ATA PIO disk at register level (ATA/ATAPI-6): IDENTIFY DEVICE words, BSY/DRQ/INTRQ sequencing
 * of PIO data-in and data-out, READ/WRITE SECTORS, EXT, MULTIPLE with SET MULTIPLE MODE, LBA28,
 * LBA48 (HOB FIFO), CHS, FLUSH CACHE, IDNF on out-of-range addresses, ABRT, nIEN, SRST,
 * device 1 absent, host I/O errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AtaDisk,
  CMD,
  ERR_ABRT,
  ERR_IDNF,
  ERR_UNC,
  ST_BSY,
  ST_DF,
  ST_DRDY,
  ST_DRQ,
  ST_DSC,
  ST_ERR,
} from '../../../src/legacy/ata.ts';
import { RecordingIrqLine } from '../../../src/legacy/irq.ts';
import { PortBus } from '../../../src/legacy/port-bus.ts';
import { HostIoError } from '../../../src/virtio/device.ts';
import { type DiskImage, MemoryDiskImage } from '../../../src/virtio/disk-image.ts';
import { RUNS, SEED } from '../../support/seed.ts';

const SECTORS = 200;
const READY = ST_DRDY | ST_DSC;

function setup(image: DiskImage = new MemoryDiskImage(SECTORS * 512)) {
  const irq = new RecordingIrqLine();
  const logs: string[] = [];
  const ata = new AtaDisk({ image, irq, log: (m) => logs.push(m), model: 'TEST MODEL', serial: 'SN123' });
  const bus = new PortBus();
  ata.register(bus);
  const out = (p: number, v: number) => bus.write(p, 1, v);
  const inb = (p: number) => bus.read(p, 1);
  const status = () => inb(0x1f7);
  const alt = () => inb(0x3f6);
  const lba28 = (lba: number, count: number, cmd: number) => {
    out(0x1f2, count);
    out(0x1f3, lba & 0xff);
    out(0x1f4, (lba >> 8) & 0xff);
    out(0x1f5, (lba >> 16) & 0xff);
    out(0x1f6, 0xe0 | ((lba >> 24) & 0x0f));
    out(0x1f7, cmd);
  };
  const lba48 = (lba: number, count: number, cmd: number) => {
    // HOB first, then the low bytes: each register is a two-deep FIFO.
    out(0x1f2, (count >> 8) & 0xff);
    out(0x1f3, Math.floor(lba / 2 ** 24) & 0xff);
    out(0x1f4, Math.floor(lba / 2 ** 32) & 0xff);
    out(0x1f5, Math.floor(lba / 2 ** 40) & 0xff);
    out(0x1f2, count & 0xff);
    out(0x1f3, lba & 0xff);
    out(0x1f4, (lba >> 8) & 0xff);
    out(0x1f5, (lba >> 16) & 0xff);
    out(0x1f6, 0x40);
    out(0x1f7, cmd);
  };
  const readWords = (n: number) => {
    const b = new Uint8Array(n * 2);
    bus.readString(0x1f0, 2, b);
    return b;
  };
  const writeBytes = (b: Uint8Array) => bus.writeString(0x1f0, 2, b);
  return { ata, irq, logs, bus, out, inb, status, alt, lba28, lba48, readWords, writeBytes, image };
}

function pattern(sectors: number, seed: number): Uint8Array {
  const b = new Uint8Array(sectors * 512);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + seed * 13 + (i >> 9)) & 0xff;
  return b;
}

/** Index of the first differing byte, or -1 (vitest's deep equality is slow on large typed arrays). */
function mismatch(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function word(id: Uint8Array, i: number): number {
  return id[2 * i]! | (id[2 * i + 1]! << 8);
}

function str(id: Uint8Array, from: number, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) s += String.fromCharCode(id[2 * (from + i) + 1]!, id[2 * (from + i)]!);
  return s;
}

describe('ATA IDENTIFY DEVICE', () => {
  it('returns 256 words with model, serial, capacity (60–61, 100–103), LBA48 and FLUSH support bits, and a valid integrity word', () => {
    const { status, out, readWords, irq } = setup();
    out(0x1f6, 0xa0);
    out(0x1f7, CMD.IDENTIFY);
    expect(irq.level).toBe(true);
    expect(status()).toBe(READY | ST_DRQ);
    expect(irq.level).toBe(false); // reading Status clears INTRQ
    const id = readWords(256);
    expect(status()).toBe(READY);
    expect(word(id, 0) & 0x8000).toBe(0); // ATA device
    expect(str(id, 27, 20)).toBe('TEST MODEL'.padEnd(40));
    expect(str(id, 10, 10)).toBe('SN123'.padEnd(20));
    expect(word(id, 47)).toBe(0x8010); // 80h, max 16 sectors per DRQ block
    expect(word(id, 49) & 0x0200).toBe(0x0200); // LBA supported
    expect(word(id, 60) | (word(id, 61) << 16)).toBe(SECTORS);
    expect(word(id, 83) & 0xc000).toBe(0x4000); // bit 14 one, bit 15 zero: word valid
    expect(word(id, 83) & 0x0400).toBe(0x0400); // 48-bit address feature set supported
    expect(word(id, 83) & 0x3000).toBe(0x3000); // FLUSH CACHE (EXT) supported
    expect(word(id, 86) & 0x0400).toBe(0x0400); // 48-bit enabled
    expect([100, 101, 102, 103].map((i) => word(id, i))).toEqual([SECTORS, 0, 0, 0]);
    expect(word(id, 59)).toBe(0); // multiple mode not set yet
    // Word 255: signature A5h and a checksum making the 512 bytes sum to 0 mod 256.
    expect(id[510]).toBe(0xa5);
    expect(id.reduce((a, b) => a + b, 0) % 256).toBe(0);
  });

  it('capacity words for a disk beyond LBA28: 60–61 saturate at 0FFFFFFFh, 100–103 hold the full count', () => {
    const big: DiskImage = { size: 2 ** 29 * 512, readOnly: false, read: () => {}, write: () => {}, zero: () => {}, flush: () => {}, close: () => {} };
    const { ata } = setup(big);
    const id = ata.identifyData();
    expect(word(id, 60) | (word(id, 61) << 16)).toBe(0x0fffffff);
    expect(word(id, 100) + word(id, 101) * 0x10000).toBe(2 ** 29);
  });

  it('word 59 reports the multiple setting after SET MULTIPLE MODE', () => {
    const { ata, out, status } = setup();
    out(0x1f2, 8);
    out(0x1f7, CMD.SET_MULTIPLE);
    expect(status()).toBe(READY);
    expect(word(ata.identifyData(), 59)).toBe(0x0108);
  });
});

describe('ATA PIO protocols', () => {
  it('READ SECTORS: DRQ and INTRQ per sector; DRQ clears after the last word with no further interrupt', () => {
    const { image, lba28, status, alt, readWords, irq } = setup();
    const data = pattern(3, 1);
    image.write(10 * 512, data);
    lba28(10, 3, CMD.READ_SECTORS);
    for (let s = 0; s < 3; s++) {
      expect(irq.level).toBe(true);
      expect(alt()).toBe(READY | ST_DRQ); // alternate status: does not clear INTRQ
      expect(irq.level).toBe(true);
      expect(status() & (ST_BSY | ST_DRQ)).toBe(ST_DRQ);
      expect(readWords(256)).toEqual(data.subarray(s * 512, (s + 1) * 512));
    }
    expect(status()).toBe(READY);
    expect(irq.rises).toBe(3);
  });

  it('WRITE SECTORS: DRQ without interrupt for the first block, INTRQ after each block, completion with DRQ 0', () => {
    const { image, lba28, status, writeBytes, irq } = setup();
    const data = pattern(2, 2);
    lba28(5, 2, CMD.WRITE_SECTORS);
    expect(irq.level).toBe(false);
    expect(status()).toBe(READY | ST_DRQ);
    writeBytes(data.subarray(0, 512));
    expect(irq.level).toBe(true);
    expect(status()).toBe(READY | ST_DRQ);
    writeBytes(data.subarray(512));
    expect(irq.level).toBe(true);
    expect(status()).toBe(READY);
    const back = new Uint8Array(1024);
    image.read(5 * 512, back);
    expect(back).toEqual(data);
  });

  it('16- and 32-bit data port accesses move the same bytes', () => {
    const { image, lba28, bus } = setup();
    const data = pattern(1, 3);
    image.write(0, data);
    lba28(0, 1, CMD.READ_SECTORS);
    const got = new Uint8Array(512);
    for (let i = 0; i < 512; i += 4) {
      const v = bus.read(0x1f0, 4);
      got.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24], i);
    }
    expect(got).toEqual(data);
    lba28(1, 1, CMD.WRITE_SECTORS);
    for (let i = 0; i < 512; i += 2) bus.write(0x1f0, 2, data[i]! | (data[i + 1]! << 8));
    const back = new Uint8Array(512);
    image.read(512, back);
    expect(back).toEqual(data);
  });

  it('count 0 means 256 sectors in LBA28', () => {
    const { lba28, status, readWords } = setup(new MemoryDiskImage(300 * 512));
    lba28(0, 0, CMD.READ_SECTORS);
    readWords(255 * 256);
    expect(status()).toBe(READY | ST_DRQ); // one sector still to go
    readWords(256);
    expect(status()).toBe(READY);
    // On the 200-sector disk the same command is out of range.
    const small = setup();
    small.lba28(0, 0, CMD.READ_SECTORS);
    expect(small.status()).toBe(READY | ST_ERR);
  });

  it('READ/WRITE MULTIPLE move the multiple count per DRQ block (one interrupt per block), the last block shorter', () => {
    const { image, lba28, out, status, readWords, writeBytes, irq } = setup();
    out(0x1f2, 4);
    out(0x1f7, CMD.SET_MULTIPLE);
    status();
    const data = pattern(6, 4);
    lba28(20, 6, CMD.WRITE_MULTIPLE);
    writeBytes(data.subarray(0, 4 * 512));
    expect(status()).toBe(READY | ST_DRQ);
    writeBytes(data.subarray(4 * 512));
    expect(status()).toBe(READY);
    const rises = irq.rises;
    lba28(20, 6, CMD.READ_MULTIPLE);
    expect(irq.rises).toBe(rises + 1);
    status();
    const a = readWords(4 * 256);
    expect(status()).toBe(READY | ST_DRQ);
    expect(irq.rises).toBe(rises + 2);
    const b = readWords(2 * 256);
    expect(status()).toBe(READY);
    expect([...a, ...b]).toEqual([...data]);
    const back = new Uint8Array(6 * 512);
    image.read(20 * 512, back);
    expect(back).toEqual(data);
  });

  it('READ MULTIPLE before SET MULTIPLE MODE, and a count that is not a power of two up to 16, abort', () => {
    const { lba28, out, status, inb } = setup();
    lba28(0, 1, CMD.READ_MULTIPLE);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_ABRT);
    for (const n of [3, 32, 255]) {
      out(0x1f2, n);
      out(0x1f7, CMD.SET_MULTIPLE);
      expect(status()).toBe(READY | ST_ERR);
    }
  });

  it('LBA48: the HOB bytes come from the first write of each register; HOB=1 reads them back', () => {
    const { image, lba48, out, inb, readWords } = setup();
    const data = pattern(2, 5);
    image.write(150 * 512, data);
    lba48(150, 2, CMD.READ_SECTORS_EXT);
    expect(readWords(512)).toEqual(data);
    out(0x3f6, 0x80); // HOB
    expect(inb(0x1f2)).toBe(0);
    out(0x3f6, 0x00);
    expect(inb(0x1f2)).toBe(2);
    expect(inb(0x1f3)).toBe(150);
    out(0x3f6, 0x80);
    out(0x1f3, 1); // any command block write clears HOB
    expect(inb(0x1f3)).toBe(1);
  });

  it('LBA48 count 0 means 65536 sectors (here out of range: IDNF)', () => {
    const { lba48, status, inb } = setup();
    lba48(0, 0, CMD.READ_SECTORS_EXT);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_IDNF);
  });

  it('CHS addressing goes through the current translation (16 heads, 63 sectors per track)', () => {
    const { image, out, readWords } = setup();
    const data = pattern(1, 6);
    image.write((1 * 63 + 4) * 512, data); // C0 H1 S5
    out(0x1f2, 1);
    out(0x1f3, 5);
    out(0x1f4, 0);
    out(0x1f5, 0);
    out(0x1f6, 0xa1);
    out(0x1f7, CMD.READ_SECTORS);
    expect(readWords(256)).toEqual(data);
  });
});

describe('ATA errors, reset and device selection', () => {
  it('an LBA range past the last sector ends with ERR and IDNF, no DRQ, INTRQ, and no data moved', () => {
    const { lba28, lba48, status, inb, irq, ata } = setup();
    lba28(SECTORS - 1, 2, CMD.WRITE_SECTORS);
    expect(irq.level).toBe(true);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_IDNF);
    lba48(2 ** 40, 1, CMD.READ_SECTORS_EXT);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_IDNF);
    expect(ata.stats.sectorsRead + ata.stats.sectorsWritten).toBe(0);
    // The last sector itself is fine.
    lba28(SECTORS - 1, 1, CMD.READ_SECTORS);
    expect(status()).toBe(READY | ST_DRQ);
  });

  it('unknown commands, NOP and IDENTIFY PACKET DEVICE abort; the next command clears ERR', () => {
    const { out, status, inb } = setup();
    for (const c of [0x00, 0xa1, 0xff]) {
      out(0x1f7, c);
      expect(status()).toBe(READY | ST_ERR);
      expect(inb(0x1f1)).toBe(ERR_ABRT);
    }
    out(0x1f7, CMD.FLUSH_CACHE);
    expect(status()).toBe(READY);
    expect(inb(0x1f1)).toBe(0);
  });

  it('FLUSH CACHE (and EXT) reach the image and interrupt on completion', () => {
    const image = new MemoryDiskImage(SECTORS * 512);
    const { out, irq } = setup(image);
    out(0x1f7, CMD.FLUSH_CACHE);
    expect(irq.level).toBe(true);
    out(0x1f7, CMD.FLUSH_CACHE_EXT);
    expect(image.flushes).toBe(2);
  });

  it('a read-only image refuses writes with ABRT', () => {
    const { lba28, status, inb } = setup(new MemoryDiskImage(SECTORS * 512, { readOnly: true }));
    lba28(0, 1, CMD.WRITE_SECTORS);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_ABRT);
  });

  it('host I/O errors: read → ERR + UNC, write and flush → ERR + ABRT + DF; a log line each; the host goes on', () => {
    const failing: DiskImage = {
      size: SECTORS * 512,
      readOnly: false,
      read: () => {
        throw new HostIoError('read disk.img', Object.assign(new Error('EIO'), { code: 'EIO' }));
      },
      write: () => {
        throw new HostIoError('write disk.img', new Error('ENOSPC'));
      },
      zero: () => {},
      flush: () => {
        throw new HostIoError('fsync disk.img', new Error('EIO'));
      },
      close: () => {},
    };
    const { lba28, status, inb, writeBytes, logs, out, ata } = setup(failing);
    lba28(7, 1, CMD.READ_SECTORS);
    expect(status()).toBe(READY | ST_ERR);
    expect(inb(0x1f1)).toBe(ERR_UNC);
    lba28(8, 1, CMD.WRITE_SECTORS);
    writeBytes(new Uint8Array(512));
    expect(status()).toBe(READY | ST_ERR | ST_DF);
    expect(inb(0x1f1)).toBe(ERR_ABRT);
    out(0x1f7, CMD.FLUSH_CACHE);
    expect(status()).toBe(READY | ST_ERR | ST_DF);
    expect(logs).toHaveLength(3);
    expect(logs[0]).toMatch(/ata: host I\/O error on read at sector 7: read disk.img: EIO/);
    expect(ata.stats.hostErrors).toBe(3);
  });

  it('nIEN masks INTRQ; clearing it lets a pending interrupt through', () => {
    const { out, irq } = setup();
    out(0x3f6, 0x02);
    out(0x1f7, CMD.FLUSH_CACHE);
    expect(irq.level).toBe(false);
    out(0x3f6, 0x00);
    expect(irq.level).toBe(true);
  });

  it('SRST: BSY while asserted (command block writes ignored), then the signature and diagnostic code 01h', () => {
    const { out, inb, status, alt } = setup();
    out(0x1f3, 0x55);
    out(0x3f6, 0x04);
    expect(alt()).toBe(ST_BSY);
    out(0x1f3, 0x77); // ignored while BSY
    out(0x1f7, CMD.IDENTIFY); // ignored
    expect(alt()).toBe(ST_BSY);
    out(0x3f6, 0x00);
    expect(status()).toBe(READY);
    expect([inb(0x1f1), inb(0x1f2), inb(0x1f3), inb(0x1f4), inb(0x1f5)]).toEqual([0x01, 0x01, 0x01, 0x00, 0x00]);
  });

  it('device 1 is absent: status reads 00h, commands are ignored, INTRQ released', () => {
    const { out, status, irq, ata } = setup();
    out(0x1f7, CMD.FLUSH_CACHE);
    expect(irq.level).toBe(true);
    out(0x1f6, 0xb0);
    expect(irq.level).toBe(false);
    expect(status()).toBe(0);
    const n = ata.stats.commands;
    out(0x1f7, CMD.IDENTIFY);
    expect(ata.stats.commands).toBe(n);
  });

  it('a data port read with no transfer in progress returns all ones', () => {
    const { bus } = setup();
    expect(bus.read(0x1f0, 2)).toBe(0xffff);
  });
});

describe('ATA read-back property', () => {
  it(`any LBA/count within capacity, through any of the write commands, reads back what was written (seed ${SEED})`, () => {
    const cmds = fc.constantFrom('pio', 'ext', 'multiple');
    const req = fc.integer({ min: 0, max: SECTORS - 1 }).chain((lba) => fc.record({ lba: fc.constant(lba), count: fc.integer({ min: 1, max: Math.min(40, SECTORS - lba) }), via: cmds, tag: fc.integer({ min: 0, max: 255 }) }));
    fc.assert(
      fc.property(fc.array(req, { minLength: 1, maxLength: 6 }), fc.constantFrom(1, 2, 8, 16), (reqs, mult) => {
        const t = setup();
        t.out(0x1f2, mult);
        t.out(0x1f7, CMD.SET_MULTIPLE);
        const model = new Uint8Array(SECTORS * 512);
        for (const r of reqs) {
          const data = pattern(r.count, r.tag);
          if (r.via === 'ext') t.lba48(r.lba, r.count, CMD.WRITE_SECTORS_EXT);
          else t.lba28(r.lba, r.count, r.via === 'multiple' ? CMD.WRITE_MULTIPLE : CMD.WRITE_SECTORS);
          t.writeBytes(data);
          expect(t.status()).toBe(READY);
          model.set(data, r.lba * 512);
        }
        for (const r of reqs) {
          if (r.via === 'ext') t.lba48(r.lba, r.count, CMD.READ_SECTORS_EXT);
          else t.lba28(r.lba, r.count, r.via === 'multiple' ? CMD.READ_MULTIPLE : CMD.READ_SECTORS);
          expect(mismatch(t.readWords(r.count * 256), model.subarray(r.lba * 512, (r.lba + r.count) * 512))).toBe(-1);
          expect(t.status()).toBe(READY);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
