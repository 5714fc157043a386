/*
 * fastpath.h — malloc and free for small objects, inline, in the caller (api.c and preload.c).
 *
 * Allocation code overview:
 *   malloc(n <= 1 KiB)  -> thread heap's current slab for (n + 15) / 16 -> pop its free list (here)
 *     empty list        -> pp_slab_malloc_slow: collect remote frees, carve, next slab, adopt, new slab
 *   malloc(n > 1 KiB)   -> pp_heap_malloc_generic: larger classes, large runs, huge regions
 *   free(p)             -> slab map -> owner? push on its free list                        (here)
 *     other owner       -> pp_slab_free_remote: lock-free push on the slab's thread_free
 *     sparse slab       -> pp_slab_free_remote too (the owner test fails on purpose): bitmap, page release
 *     anything else     -> pp_heap_free_generic: large, huge, NULL, and the error reports
 *
 * Budget (bench/fastpath.sh, RESULTS.md): malloc is 14 instructions and one predictable branch on a
 * hit (a new thread's table holds the empty slab, so it needs no "initialised?" test); free is 21:
 * the slab map (two loads, four instructions, no NULL test), the pointer checks (one multiply and compare for "object
 * start, handed out", one compare for the double-free key), the owner test (slab's owner = this
 * thread's pointer, %fs:0), the push, and one branch for the rare full->partial or ->empty
 * transitions. No locks, atomics, syscalls or errno writes.
 */
#ifndef PP_FASTPATH_H
#define PP_FASTPATH_H

#include "internal.h"

/* An object of class cls from the thread's current slab, else the slow path. */
PP_INLINE void *pp_small_alloc(unsigned cls)
{
    struct pp_heap *h = pp_tls_heap;
    struct pp_slab *s = h->bins[cls];
    if (PP_LIKELY(s->free != NULL))
        return pp_slab_pop(s);
    return pp_slab_malloc_slow(h, cls);
}

/* pp_tls_direct is indexed by (size + 15) / 16, so the class is looked up only on the slow path. */
PP_INLINE void *pp_malloc_fast(size_t size)
{
    if (PP_LIKELY(size <= PP_SMALL_FAST_MAX)) {
        size_t i = (size + 15) >> 4;
        struct pp_slab *s = pp_tls_direct[i];
        if (PP_LIKELY(s->free != NULL))
            return pp_slab_pop(s);
        return pp_slab_malloc_slow(pp_tls_heap, pp_class_fast[i]);
    }
    return pp_heap_malloc_generic(size);
}

/* Is a the start of an object that was handed out and is not already free? One multiply and one
 * compare decide "a is an object start below bump" (Lemire's divisibility test, with the quotient
 * kept): with M = s->mul = floor(2^64 / size) + 1 (odd) and e = size * M - 2^64 (1..2 * size), an
 * offset off = q * size + r maps to off * M mod 2^64 = q * e + r * M. For r = 0 that is q * e,
 * below s->limit = carved * e exactly when q < carved; for r > 0 it is at least M >= 2^49 (size
 * <= 2^15, off < 2^19), far above any limit. The unit test checks every class and offset.
 * An address above 2^47 finds garbage in the slab map and may pass; the key load below then
 * faults before anything is written, so such garbage crashes and never corrupts.
 * The key: a free object's word 1 holds its slab's descriptor address, which no program can know
 * or store, so a handed-out object never holds it (malloc clears word 1). It costs no load: s is
 * in a register. Word 1 is read only for an object start: an invalid pointer may end a mapping. */
PP_INLINE bool pp_slab_object_ok(const struct pp_slab *s, uintptr_t a)
{
    return (uint64_t)(a - s->start) * s->mul < s->limit && ((const uintptr_t *)a)[1] != (uintptr_t)s;
}

/* Free p, a valid object of slab s (pp_slab_object_ok said so): pushed on the slab's free list by
 * its owner, down the remote path by any other thread. */
PP_INLINE void pp_slab_free_object(struct pp_slab *s, void *p, const char *call)
{
    if (PP_LIKELY(atomic_load_explicit(&s->owner, memory_order_relaxed) == pp_thread_self())) {
        void **b = p;
        b[0] = s->free;
        b[1] = s;
        s->free = b;
        /* the count is stored after the link, as a release: a taker of stranded slabs that
         * sees the new count sees the object on the free list too (slab.c). x86 keeps stores
         * in order, so there only the compiler must be held (one instruction, not four) */
#if defined(__x86_64__) || defined(__i386__)
        atomic_signal_fence(memory_order_release);
        if (PP_UNLIKELY(--s->left == 0))
            pp_slab_local_slow(s);
#else
        uint32_t left = s->left - 1;
        __atomic_store_n(&s->left, left, __ATOMIC_RELEASE);
        if (PP_UNLIKELY(left == 0))
            pp_slab_local_slow(s);
#endif
        return;
    }
    pp_slab_free_remote(s, p, call);
}

PP_INLINE void pp_free_fast(void *p, const char *call)
{
    uintptr_t a = (uintptr_t)p;
    struct pp_slab *s = pp_slab_lookup(a);     /* the sentinel when a is not in a slab */
    if (PP_LIKELY(pp_slab_object_ok(s, a))) {
        pp_slab_free_object(s, p, call);
        return;
    }
    pp_heap_free_generic(p, call);
}

#endif /* PP_FASTPATH_H */
