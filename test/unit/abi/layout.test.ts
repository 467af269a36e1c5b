/**
 * The host's layout numbers, checked three ways: an independent recomputation from the spec's
 * field types (not the generator's layout code), the spec's declared numbers, and a few literal
 * values written by hand, so a generator bug cannot pass by agreeing with itself.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/abi/index.ts';

interface Field { name: string; type: string; offset: number; count?: number }
interface Struct { name: string; size: number; align: number; fields: Field[] }

const spec = JSON.parse(readFileSync(new URL('../../../spec/abi.json', import.meta.url), 'utf8')) as { structs: Struct[] };
const exported = abi as unknown as Record<string, unknown>;

// Deliberately separate from tools/gen/layout.ts: the C rule, written out again.
const PRIM: Record<string, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };
const known = new Map<string, { size: number; align: number; offsets: Record<string, number> }>();
for (const s of spec.structs) {
  let at = 0;
  let align = 1;
  const offsets: Record<string, number> = {};
  for (const f of s.fields) {
    const nested = known.get(f.type);
    const a = PRIM[f.type] ?? nested?.align;
    const sz = PRIM[f.type] ?? nested?.size;
    if (a === undefined || sz === undefined) throw new Error(`unknown type ${f.type}`);
    at = Math.ceil(at / a) * a;
    offsets[f.name] = at;
    at += sz * (f.count ?? 1);
    align = Math.max(align, a);
  }
  known.set(s.name, { size: Math.ceil(at / align) * align, align, offsets });
}

describe('struct layout (TS side)', () => {
  for (const s of spec.structs) {
    const U = s.name.toUpperCase();
    const mine = known.get(s.name)!;
    it(`${s.name}: ${U}_SIZE and ${U}_OFF match natural alignment and the spec`, () => {
      expect(exported[`${U}_SIZE`]).toBe(mine.size);
      expect(exported[`${U}_SIZE`]).toBe(s.size);
      expect(exported[`${U}_OFF`]).toEqual(mine.offsets);
      expect(Object.fromEntries(s.fields.map((f) => [f.name, f.offset]))).toEqual(mine.offsets);
      const meta = abi.STRUCTS[s.name as abi.StructName];
      expect(meta.size).toBe(mine.size);
      expect(meta.align).toBe(mine.align);
      expect(meta.fields.map((f) => [f.name, f.offset])).toEqual(Object.entries(mine.offsets));
    });
  }

  it('has the literal sizes and offsets guests were built against', () => {
    expect(abi.START_INFO_SIZE).toBe(88);
    expect(abi.START_INFO_OFF.magic).toBe(0);
    expect(abi.START_INFO_OFF.mem_size).toBe(24);
    expect(abi.START_INFO_OFF.reserved_base).toBe(44);
    // ABI 1.1 appended the device manifest after reserved_base; 1.0 offsets did not move.
    expect(abi.START_INFO_OFF.nr_devices).toBe(48);
    expect(abi.START_INFO_OFF.devices).toBe(52);
    expect(abi.DEVICE_INFO_SIZE).toBe(32);
    expect(abi.DEVICE_INFO_OFF).toEqual({ name: 0, type: 16, mmio_base: 20, mmio_size: 24, evtchn: 28 });
    expect(abi.VCPU_TIME_INFO_SIZE).toBe(32);
    expect(abi.VCPU_TIME_INFO_OFF.system_time).toBe(16);
    expect(abi.VCPU_INFO_SIZE).toBe(64);
    expect(abi.VCPU_INFO_OFF.evtchn_pending_sel).toBe(4);
    expect(abi.VCPU_INFO_OFF.time).toBe(8);
    expect(abi.SHARED_INFO_SIZE).toBe(2320);
    expect(abi.SHARED_INFO_OFF.evtchn_pending).toBe(2048);
    expect(abi.SHARED_INFO_OFF.evtchn_mask).toBe(2176);
    expect(abi.SHARED_INFO_OFF.wc_sec).toBe(2312);
    expect(abi.WALLCLOCK_SIZE).toBe(16);
    expect(abi.EVTCHN_STATUS_SIZE).toBe(24);
    expect(abi.MULTICALL_ENTRY_SIZE).toBe(28);
    expect(abi.MULTICALL_ENTRY_OFF.args).toBe(8);
    // ABI 1.3 grant tables: Xen's grant_entry_v1 bytes, and gnttab_copy with 32-bit refs/frames.
    expect(abi.GRANT_ENTRY_V1_SIZE).toBe(8);
    expect(abi.GRANT_ENTRY_V1_OFF).toEqual({ flags: 0, domid: 2, frame: 4 });
    expect(abi.GRANT_COPY_PTR_SIZE).toBe(8);
    expect(abi.GRANT_COPY_PTR_OFF).toEqual({ ref: 0, domid: 4, offset: 6 });
    expect(abi.GRANT_COPY_OP_SIZE).toBe(24);
    expect(abi.GRANT_COPY_OP_OFF).toEqual({ source: 0, dest: 8, len: 16, flags: 18, status: 20, pad: 22 });
    expect(abi.STRUCTS.grant_copy_op.fields.find((f) => f.name === 'status')?.type).toBe('i16');
    // ABI 1.4 domctl: Xen's xen_domctl shape (cmd, interface_version, domain, a payload union),
    // the payload 8-aligned at 16 so that the u64 fields of its structs are aligned too.
    expect(abi.DOMCTL_OP_SIZE).toBe(80);
    expect(abi.DOMCTL_OP_OFF).toEqual({ cmd: 0, interface_version: 4, domain: 8, pad: 12, payload: 16 });
    expect(abi.STRUCTS.domctl_op.align).toBe(8);
    // DOMCTL_INTERFACE_VERSION 2 (ABI 1.5) appended max_vcpus to getinfo, so it fills the payload.
    expect(abi.DOMCTL_GETINFO_SIZE).toBe(64);
    expect(abi.DOMCTL_GETINFO_OFF).toEqual({ domid: 0, flags: 4, shutdown_reason: 8, shutdown_code: 12, nr_vcpus: 16, vcpus_online: 20, mem_size: 24, max_mem: 32, mem_target: 40, populated: 48, max_vcpus: 56, pad: 60 });
    expect(abi.DOMCTL_LIST_OFF).toEqual({ buffer: 0, max: 4, nr: 8, total: 12 });
    expect([abi.DOMCTL_MEM_SIZE, abi.DOMCTL_SHUTDOWN_SIZE, abi.DOMCTL_VCPUS_SIZE, abi.DOMCTL_DEVICE_SIZE, abi.DOMCTL_CREATE_SIZE]).toEqual([8, 8, 8, 8, 56]);
    expect(abi.DOMCTL_CREATE_OFF).toEqual({ image: 0, image_len: 4, mem_bytes: 8, nr_vcpus: 16, flags: 20, cmdline: 24, cmdline_len: 28, name: 32, name_len: 36, domid: 40, pad: 44, max_mem: 48 });
    expect(abi.DOMCTL_DEVICE_OFF).toEqual({ index: 0, new_index: 4 });
    // Every payload fits the op's payload area.
    for (const n of ['domctl_getinfo', 'domctl_list', 'domctl_mem', 'domctl_shutdown', 'domctl_vcpus', 'domctl_device', 'domctl_create'] as const) {
      expect(abi.STRUCTS[n].size, n).toBeLessThanOrEqual(abi.DOMCTL_OP_SIZE - abi.DOMCTL_OP_OFF.payload);
    }
    // start_info grew by appending (1.4): the shutdown request, the memory target and the max;
    // (1.5) the vCPUs held and the device manifest's generation.
    expect([abi.START_INFO_OFF.shutdown_requested, abi.START_INFO_OFF.shutdown_reason, abi.START_INFO_OFF.mem_target, abi.START_INFO_OFF.max_mem]).toEqual([56, 60, 64, 72]);
    expect([abi.START_INFO_OFF.vcpus_held, abi.START_INFO_OFF.devices_generation]).toEqual([80, 84]);
  });

  it('sizes shared_info for MAX_VCPUS slots and NR_EVENT_CHANNELS bits', () => {
    expect(abi.SHARED_INFO_OFF.evtchn_pending).toBe(abi.MAX_VCPUS * abi.VCPU_INFO_SIZE);
    expect(abi.SHARED_INFO_OFF.evtchn_mask - abi.SHARED_INFO_OFF.evtchn_pending).toBe(abi.NR_EVENT_CHANNELS / 8);
  });

  it('has the literal version and well-known codes', () => {
    expect(abi.ABI_VERSION).toBe((abi.ABI_VERSION_MAJOR << 16) | abi.ABI_VERSION_MINOR);
    expect(abi.ABI_VERSION).toBe(0x10005);
    // Xen's numbering, so Xen-literate guests read the same values.
    expect([abi.GTF_INVALID, abi.GTF_PERMIT_ACCESS, abi.GTF_TYPE_MASK, abi.GTF_READONLY]).toEqual([0, 1, 3, 4]);
    expect([abi.GNTCOPY_SOURCE_GREF, abi.GNTCOPY_DEST_GREF]).toEqual([1, 2]);
    expect([abi.GNTST_OKAY, abi.GNTST_GENERAL_ERROR, abi.GNTST_BAD_DOMAIN, abi.GNTST_BAD_GNTREF, abi.GNTST_PERMISSION_DENIED, abi.GNTST_BAD_PAGE, abi.GNTST_BAD_COPY_ARG]).toEqual([0, -1, -2, -3, -8, -9, -10]);
    expect([abi.Hc.grant_setup, abi.Hc.grant_copy, abi.Hc.grant_map, abi.Hc.domctl]).toEqual([23, 24, 25, 26]);
    expect([abi.EPERM, abi.ESRCH, abi.ENOMEM, abi.EOPNOTSUPP]).toEqual([-1, -3, -12, -95]);
    expect([abi.Hc.decrease_reservation, abi.Hc.increase_reservation]).toEqual([27, 28]);
    expect([abi.DOMCTL_INTERFACE_VERSION, abi.DOMCTL_CREATE, abi.DOMCTL_REQUEST_SHUTDOWN, abi.VIRQ_CONTROL]).toEqual([2, 1, 12, 16]);
    expect([abi.DOMINF_DYING, abi.DOMINF_SHUTDOWN, abi.DOMINF_PAUSED]).toEqual([1, 4, 8]);
    expect([abi.GRANT_TABLE_MAX, abi.GRANT_COPY_MAX, abi.GRANT_FRAME_SIZE]).toEqual([512, 256, 4096]);
    expect(abi.EVTCHNSTAT_DEVICE).toBe(3);
    expect([abi.DEVICE_NONE, abi.VIRTIO_ID_NET, abi.VIRTIO_ID_BLOCK, abi.VIRTIO_ID_CONSOLE]).toEqual([0, 1, 2, 3]);
    expect([abi.MAX_DEVICES, abi.MMIO_DEVICE_BASE, abi.MMIO_WINDOW_SIZE]).toEqual([16, 0xfe000000, 4096]);
    expect(abi.STRUCTS.start_info.fields.filter((f) => f.since !== undefined).map((f) => [f.name, f.since])).toEqual([
      ['nr_devices', '1.1'],
      ['devices', '1.1'],
      ['shutdown_requested', '1.4'],
      ['shutdown_reason', '1.4'],
      ['mem_target', '1.4'],
      ['max_mem', '1.4'],
      ['vcpus_held', '1.5'],
      ['devices_generation', '1.5'],
    ]);
    expect(abi.EFAULT).toBe(-14);
    expect(abi.ENOSYS).toBe(-38);
    expect(abi.errorName(-14)).toBe('EFAULT');
    expect(abi.errorName(0)).toBeUndefined();
    expect(abi.START_INFO_MAGIC).toBe(0x49535650);
    expect(abi.Hc.console_write).toBe(3);
  });

  it('lists the hardware traps with their Wasm signatures', () => {
    expect(abi.HW_MODULE).toBe('hw');
    expect(abi.HW_TRAPS.map((t) => [t.name, t.signature, t.result, t.since])).toEqual([
      ['mmio_read32', '(addr: i32) -> i32', 'u32', '1.1'],
      ['mmio_write32', '(addr: i32, value: i32) -> void', 'void', '1.1'],
      ['in8', '(port: i32) -> i32', 'u32', '1.2'],
      ['in16', '(port: i32) -> i32', 'u32', '1.2'],
      ['in32', '(port: i32) -> i32', 'u32', '1.2'],
      ['out8', '(port: i32, value: i32) -> void', 'void', '1.2'],
      ['out16', '(port: i32, value: i32) -> void', 'void', '1.2'],
      ['out32', '(port: i32, value: i32) -> void', 'void', '1.2'],
      ['ins16', '(port: i32, ptr: i32, count: i32) -> i32', 'u32', '1.2'],
      ['outs16', '(port: i32, ptr: i32, count: i32) -> i32', 'u32', '1.2'],
      ['ins32', '(port: i32, ptr: i32, count: i32) -> i32', 'u32', '1.2'],
      ['outs32', '(port: i32, ptr: i32, count: i32) -> i32', 'u32', '1.2'],
      ['halt', '() -> void', 'void', '1.2'],
    ]);
    // The legacy platform's boot record, as a bootloader would lay it out (six u32 words).
    expect(abi.STRUCTS.boot_info.size).toBe(24);
    expect(abi.BOOT_INFO_OFF).toEqual({ magic: 0, mem_size: 4, reserved_base: 8, cmdline: 12, cmdline_len: 16, flags: 20 });
    expect(abi.BOOT_INFO_MAGIC).toBe(0x49425650); // "PVBI"
    expect([abi.LEGACY_UART_BASE, abi.LEGACY_ATA_BASE, abi.LEGACY_NIC_BASE]).toEqual([0x3f8, 0x1f0, 0x300]);
  });
});
