/*
 * fastpath.h — malloc and free for small objects, inline, in the caller (api.c and preload.c).
 *
 * Allocation code overview:
 *   malloc(n <= 1 KiB)  -> class table -> thread heap's current slab -> pop its free list   (here)
 *     empty list        -> pp_slab_malloc_slow: collect remote frees, carve, next slab, adopt, new slab
 *   malloc(n > 1 KiB)   -> pp_heap_malloc_generic: larger classes, large runs, huge regions
 *   free(p)             -> slab map -> owner? push on its free list                        (here)
 *     other owner       -> pp_slab_free_remote: lock-free push on the slab's thread_free
 *     sparse slab       -> pp_slab_free_remote too (the owner test fails on purpose): bitmap, page release
 *     anything else     -> pp_heap_free_generic: large, huge, NULL, and the error reports
 *
 * Budget: malloc is one predictable branch on a hit (the thread's heap starts as a sentinel whose
 * bins are all an empty slab, so an uninitialised thread needs no extra test); free is one pagemap
 * lookup, the pointer checks (object start, never handed out, double-free key), the owner test
 * (slab's heap = this thread's heap), and one branch for the rare full->partial or ->empty
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

PP_INLINE void *pp_malloc_fast(size_t size)
{
    if (PP_LIKELY(size <= PP_SMALL_FAST_MAX))
        return pp_small_alloc(pp_class_fast[(size + 15) >> 4]);
    return pp_heap_malloc_generic(size);
}

/* Is a the start of an object that was handed out and is not already free?
 * Divisibility without a division: with magic = ceil(2^40 / size), size <= 2^15 and off < 2^19 (the
 * largest slab), off * magic mod 2^40 is below 2^19 when size divides off and at least 2^25
 * otherwise, so testing bits 20..39 for zero decides it (checked for every class and offset by the
 * unit test).
 * `a < bump` rejects never-used objects and, for the masked slab map lookup, addresses above 2^47.
 * The key (word 1) is read only for an object start: an invalid pointer may end a mapping. */
PP_INLINE bool pp_slab_object_ok_key(const struct pp_slab *s, uintptr_t a, uintptr_t key)
{
    uint64_t t = (uint64_t)(a - s->start) * s->magic;
    return (((t << 24) >> 44) == 0) & (a < s->bump) && ((const uintptr_t *)a)[1] != key;
}

PP_INLINE bool pp_slab_object_ok(const struct pp_slab *s, uintptr_t a)
{
    return pp_slab_object_ok_key(s, a, pp_free_key);
}

PP_INLINE void pp_free_fast(void *p, const char *call)
{
    uintptr_t a = (uintptr_t)p;
    struct pp_slab *s = pp_slab_of(a);
    if (PP_LIKELY(s != NULL)) {
        uintptr_t key = pp_free_key;        /* loaded once: the store below must not reload it */
        if (PP_LIKELY(pp_slab_object_ok_key(s, a, key))) {
            if (PP_LIKELY(atomic_load_explicit(&s->heap, memory_order_relaxed) == pp_tls_heap)) {
                void **b = p;
                b[0] = s->free;
                b[1] = (void *)key;
                s->free = b;
                if (PP_UNLIKELY(--s->left == 0))
                    pp_slab_local_slow(s);
                return;
            }
            pp_slab_free_remote(s, p, call);
            return;
        }
    }
    pp_heap_free_generic(p, call);
}

#endif /* PP_FASTPATH_H */
