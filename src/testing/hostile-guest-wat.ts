/**
 * The hostile guest's source: a tiny interpreter kernel in WebAssembly text that executes a
 * hypercall program placed in its memory. Compiled bytes are checked in beside it
 * (hostile-guest-wasm.ts) so users need no WAT compiler; a test recompiles this text with wabt and
 * compares.
 *
 * Memory layout (guest addresses; the host writes the program before boot):
 *
 * | address          | what                                                              |
 * |------------------|-------------------------------------------------------------------|
 * | 0x1000..0x5000   | scratch: argument buffers are copied here before each call        |
 * | PROGRAM_AT       | u32 count of records                                              |
 * | PROGRAM_AT + 4   | u32 upcalls: times `pv_upcall` ran                                |
 * | PROGRAM_AT + 8   | u32 shared_info address (from start_info, for the upcall handler) |
 * | PROGRAM_AT + 12  | u32 done: records whose result has been written                   |
 * | RECORDS_AT       | the records, RECORD_SIZE bytes each                               |
 * | DATA_AT..        | copy tables and buffer contents                                   |
 *
 * The guest's own state lives there, away from low memory, because calls may write anywhere a
 * pointer argument says (an evtchn_status to address 0 is legal).
 *
 * A record: `nr, a0, a1, a2, a3, a4` (i32 each), then `result` and `upcalls` (written by the
 * guest after the call returns), then `nCopies` and `copies`: a table of `{dst, src, len}` copied
 * with memory.copy just before the call, which places the call's argument buffers.
 *
 * The upcall handler counts, then does what a 2-level guest's handler does first: clears
 * vcpu_info[0].evtchn_upcall_pending and exchanges evtchn_pending_sel with 0 (it leaves the
 * pending bits alone, so what is pending stays observable).
 * @module
 */
import { Hc, SHUTDOWN_POWEROFF, START_INFO_OFF, VCPU_INFO_OFF } from '../abi/generated/index.ts';

/** The scratch area argument buffers are placed in (see {@link HOSTILE_GUEST_CONTEXT}). */
export const SCRATCH_AT = 0x1000;
/** Bytes of the scratch area. */
export const SCRATCH_SIZE = 0x4000;
/** The program header (u32 count), far from every address an arbitrary aims at. */
export const PROGRAM_AT = 0x40000;
/** Where the guest keeps its upcall counter (in the program header). */
export const UPCALLS_AT = PROGRAM_AT + 4;
/** Where the guest keeps the shared_info address. */
export const SHARED_AT = PROGRAM_AT + 8;
/** Where the guest counts finished records. */
export const DONE_AT = PROGRAM_AT + 12;
/** The first record. */
export const RECORDS_AT = PROGRAM_AT + 16;
/** Bytes per record. */
export const RECORD_SIZE = 40;
/** Most records in a program. */
export const MAX_RECORDS = 1024;
/** Copy tables and buffer contents start here. */
export const DATA_AT = RECORDS_AT + MAX_RECORDS * RECORD_SIZE;

/** The interpreter guest in WebAssembly text. */
export const HOSTILE_GUEST_WAT = `(module
  (import "env" "memory" (memory 1 65536 shared))
  (import "pv" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (func (export "_start") (param $si i32)
    (local $i i32) (local $n i32) (local $r i32) (local $c i32) (local $end i32)
    (i32.store (i32.const ${SHARED_AT}) (i32.load offset=${START_INFO_OFF.shared_info} (local.get $si)))
    (local.set $n (i32.load (i32.const ${PROGRAM_AT})))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $r (i32.add (i32.const ${RECORDS_AT}) (i32.mul (local.get $i) (i32.const ${RECORD_SIZE}))))
        ;; place the argument buffers
        (local.set $c (i32.load offset=36 (local.get $r)))
        (local.set $end (i32.add (local.get $c) (i32.mul (i32.load offset=32 (local.get $r)) (i32.const 12))))
        (block $copied
          (loop $copy
            (br_if $copied (i32.ge_u (local.get $c) (local.get $end)))
            (memory.copy (i32.load (local.get $c)) (i32.load offset=4 (local.get $c)) (i32.load offset=8 (local.get $c)))
            (local.set $c (i32.add (local.get $c) (i32.const 12)))
            (br $copy)))
        ;; the call; upcalls run before it returns
        (i32.store offset=24 (local.get $r)
          (call $hc
            (i32.load (local.get $r))
            (i32.load offset=4 (local.get $r))
            (i32.load offset=8 (local.get $r))
            (i32.load offset=12 (local.get $r))
            (i32.load offset=16 (local.get $r))
            (i32.load offset=20 (local.get $r))))
        (i32.store offset=28 (local.get $r) (i32.load (i32.const ${UPCALLS_AT})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (i32.store (i32.const ${DONE_AT}) (local.get $i))
        (br $next)))
    (drop (call $hc (i32.const ${Hc.sched_shutdown}) (i32.const ${SHUTDOWN_POWEROFF}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
  (func (export "pv_upcall")
    (local $s i32)
    (local.set $s (i32.load (i32.const ${SHARED_AT})))
    (i32.store (i32.const ${UPCALLS_AT}) (i32.add (i32.load (i32.const ${UPCALLS_AT})) (i32.const 1)))
    (i32.store8 offset=${VCPU_INFO_OFF.evtchn_upcall_pending} (local.get $s) (i32.const 0))
    (drop (i32.atomic.rmw.xchg offset=${VCPU_INFO_OFF.evtchn_pending_sel} (local.get $s) (i32.const 0)))))
`;
