/*
 * fastpath.h — malloc and free for small objects, inline, in the caller (api.c and preload.c).
 *
 * Allocation code overview:
 *   malloc(n <= 1 KiB)  -> class table -> thread heap's current slab -> pop its free list   (here)
 *     empty list        -> pp_slab_malloc_slow: collect remote frees, carve, next slab, adopt, new slab
 *   malloc(n > 1 KiB)   -> pp_heap_malloc_generic: larger classes, large runs, huge regions
 *   free(p)             -> pagemap -> page's slab -> owner? push on its free list          (here)
 *     other owner       -> pp_slab_free_remote: lock-free push on the slab's thread_free
 *     anything else     -> pp_heap_free_generic: large, huge, NULL, and the error reports
 *
 * Budget: malloc is one predictable branch on a hit (the thread's heap starts as a sentinel whose
 * bins are all an empty slab, so an uninitialised thread needs no extra test); free is one pagemap
 * load, the pointer checks (object start, never handed out, double-free key) and one branch for the
 * rare full->partial or ->empty transitions. No locks, atomics, syscalls or errno writes.
 */
#ifndef PP_FASTPATH_H
#define PP_FASTPATH_H

#include "internal.h"

PP_INLINE void *pp_malloc_fast(size_t size)
{
    if (PP_LIKELY(size <= PP_SMALL_FAST_MAX)) {
        struct pp_heap *h = pp_tls_heap;
        unsigned cls = pp_class_fast[(size + 15) >> 4];
        struct pp_slab *s = h->bins[cls];
        void **b = s->free;
        if (PP_LIKELY(b != NULL)) {
            s->free = b[0];
            b[1] = NULL;              /* clears the double-free key */
            s->used++;
            return b;
        }
        return pp_slab_malloc_slow(h, cls);
    }
    return pp_heap_malloc_generic(size);
}

/* Is p the start of an object that was handed out and is not already free? */
PP_INLINE bool pp_slab_object_ok(const struct pp_slab *s, uintptr_t a)
{
    uintptr_t off = a - s->start;
    uint64_t idx = ((uint64_t)off * s->magic) >> 40;
    /* the key is read only for an object start: an invalid pointer may sit at the end of a mapping */
    return ((idx * s->size == off) & (a < s->bump)) && ((const uintptr_t *)a)[1] != pp_free_key;
}

PP_INLINE void pp_free_fast(void *p, const char *call)
{
    uintptr_t a = (uintptr_t)p;
    struct pp_region *r = pp_region_of(a);
    if (PP_LIKELY(r != NULL)) {
        struct pp_slab *s = r->slab[pp_page_index(a)];
        if (PP_LIKELY(s != NULL) && PP_LIKELY(pp_slab_object_ok(s, a))) {
            struct pp_heap *h = pp_tls_heap;
            if (PP_LIKELY(atomic_load_explicit(&s->heap, memory_order_relaxed) == h)) {
                void **b = p;
                void *old = s->free;
                b[0] = old;
                b[1] = (void *)pp_free_key;
                s->free = b;
                uint32_t used = --s->used;
                if (PP_UNLIKELY((old == NULL) | (used == 0)))
                    pp_slab_local_slow(h, s);
                return;
            }
            pp_slab_free_remote(s, p);
            return;
        }
    }
    pp_heap_free_generic(p, call);
}

#endif /* PP_FASTPATH_H */
