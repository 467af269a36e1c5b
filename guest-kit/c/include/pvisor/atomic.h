/*
 * pvisor guest kit: atomics.
 *
 * What: thin, type-generic wrappers over clang's __atomic builtins, named after what the kit's
 * code needs. They compile to Wasm threads instructions (i32.atomic.*, i64.atomic.*, atomic.fence),
 * which is why every object is built with -matomics.
 *
 * Why: vCPUs are separate Wasm instances on one shared memory, running concurrently in the
 * parallel engine and interleaved at preemption points in the deterministic one, and the host
 * writes shared_info while the guest reads it. Plain loads and stores are not enough for any of
 * those: use these for every variable another vCPU or the host touches.
 *
 * Invariants: operands must be naturally aligned (a misaligned atomic access traps in Wasm).
 * 64-bit atomics are native on wasm32. Wasm atomics are sequentially consistent whatever order is
 * asked for; the order arguments still document intent and keep the compiler from reordering.
 */
#ifndef PVISOR_ATOMIC_H
#define PVISOR_ATOMIC_H

#define pv_atomic_load(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define pv_atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pv_atomic_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pv_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define pv_atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define pv_atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/** Stores `v`, returns the old value. */
#define pv_atomic_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
/** If *p == *expected, stores `desired` and returns 1; else copies *p into *expected, returns 0. */
#define pv_atomic_cas(p, expected, desired)                                                        \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
/* Read-modify-write operations; each returns the old value. */
#define pv_atomic_fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define pv_atomic_fetch_sub(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define pv_atomic_fetch_and(p, v) __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define pv_atomic_fetch_or(p, v) __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)

/** Full memory fence. */
#define pv_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
/** Acquire fence: later loads stay after earlier ones (seqlock readers). */
#define pv_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
/** Release fence: earlier stores stay before later ones. */
#define pv_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
/** Compiler-only barrier: no instruction, but memory accesses are not moved across it. */
#define pv_barrier() __asm__ __volatile__("" ::: "memory")

#endif /* PVISOR_ATOMIC_H */
