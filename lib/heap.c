/*
 * heap.c — the generic allocation paths: size routing, alignment, calloc, realloc, usable size,
 * large runs and huge blocks, the error reports for bad pointers, and process start-up.
 *
 * Routing by size (bytes):
 *   <= 32 KiB                   small: a slab object (slab.c); <= 1 KiB is inline (fastpath.h)
 *   <= 2 MiB                    large: a run of pages from the buddy, tail trimmed (M19); realloc
 *                               grows it into the free pages after it, else moves it
 *   >  2 MiB                    huge: a run of whole regions from the bank; realloc grows it in
 *                               place or moves its pages with mremap
 * errno: ENOMEM for every failed allocation (and for sizes above PTRDIFF_MAX); EINVAL is decided by
 * api.c, which knows which call it is.
 * Layer: called by api.c / preload.c; calls slab.c, pcp.c, buddy.c, region.c, thread.c.
 */
#include "fastpath.h"
#include <stdlib.h>

#define PP_LARGE_MAX PP_REGION_SIZE

static inline struct pp_heap *heap_get(void)
{
    struct pp_heap *h = pp_tls_heap;
    return PP_LIKELY(h != &pp_heap_empty) ? h : pp_thread_heap_init();
}

static inline size_t pages_of(size_t size) { return (size + PP_PAGE_SIZE - 1) >> PP_PAGE_SHIFT; }

/* ---- Large runs ---- */
/* *zero (may be NULL) tells calloc that the run came from a cold block released with
 * MADV_DONTNEED (or never touched), which reads as zero. */
static void *large_alloc(size_t size, size_t align, bool *zero)
{
    struct pp_heap *h = heap_get();
    if (!h)
        return NULL;
    size_t npages = pages_of(size);
    if (!pp_reclaim_admit(npages << PP_PAGE_SHIFT, NULL))
        return NULL;
    size_t align_pages = align > PP_PAGE_SIZE ? align >> PP_PAGE_SHIFT : 1;
    bool cold = false;
    uintptr_t b = pp_buddy_alloc_run(h->pool, npages, align_pages, &cold);
    if (!b) {
        pp_reclaim_direct(NULL);                /* mmap refused: give back what we hold, try once more */
        b = pp_buddy_alloc_run(h->pool, npages, align_pages, &cold);
        if (!b)
            return NULL;
    }
    if (zero)
        *zero = cold && !pp_opt.purge_free;
    if (cold)                               /* new memory: as much resident free memory goes first */
        pp_reclaim_growth(h->pool, npages << PP_PAGE_SHIFT);
    struct pp_region *r = pp_region_of(b);
    unsigned pi = pp_page_index(b);
    r->npages[pi] = (uint16_t)npages;
    memset(&r->state[pi + 1], PP_PG_LARGE_TAIL, npages - 1);
    r->state[pi] = PP_PG_LARGE_HEAD;
    pp_inuse_add(npages);
    return (void *)b;
}

static void large_free(struct pp_region *r, unsigned pi)
{
    size_t npages = r->npages[pi];
    pp_inuse_sub(npages);
    pp_buddy_free_run(pp_pool_of(r->node), pp_page_addr(r, pi), npages);
    pp_reclaim_kick();
}

/* Shrink a run in place: the tail pages go back to the pool. */
static void large_shrink(struct pp_region *r, unsigned pi, size_t npages)
{
    size_t old = r->npages[pi];
    r->npages[pi] = (uint16_t)npages;
    pp_inuse_sub(old - npages);
    pp_buddy_free_run(pp_pool_of(r->node), pp_page_addr(r, pi + (unsigned)npages), old - npages);
}

/* Grow a run in place to at least npages: with a quarter of headroom when the pages after it allow
 * (as a moved block gets, so a block grown by small steps takes the pool lock once per quarter),
 * else exactly; false when the next pages are not free (the caller moves the block). Within the
 * run's region: a run is at most a region. */
static bool large_grow(struct pp_region *r, unsigned pi, size_t npages)
{
    size_t old = r->npages[pi], room = PP_REGION_PAGES - pi;
    if (npages > room || !pp_reclaim_admit((npages - old) << PP_PAGE_SHIFT, NULL))
        return false;
    struct pp_pool *pool = pp_pool_of(r->node);
    size_t got = npages + npages / 4 < room ? npages + npages / 4 : room;
    bool cold = false;
    if (!pp_buddy_extend_run(pool, r, pi + (unsigned)old, (unsigned)(got - old), &cold)) {
        if (got == npages || !pp_buddy_extend_run(pool, r, pi + (unsigned)old, (unsigned)(npages - old), &cold))
            return false;
        got = npages;
    }
    if (cold)                               /* new memory: as large_alloc */
        pp_reclaim_growth(pool, (got - old) << PP_PAGE_SHIFT);
    memset(&r->state[pi + old], PP_PG_LARGE_TAIL, got - old);
    r->npages[pi] = (uint16_t)got;
    pp_inuse_add(got - old);
    return true;
}

static void *huge_alloc(size_t size, size_t align)
{
    struct pp_heap *h = heap_get();
    if (!pp_reclaim_admit(size, NULL))
        return NULL;
    struct pp_region *r = pp_region_huge_alloc(size, align, h ? h->node : 0);
    if (!r) {
        pp_reclaim_direct(NULL);
        r = pp_region_huge_alloc(size, align, h ? h->node : 0);
        if (!r)
            return NULL;
    }
    if (r->huge_fresh)                      /* as large_alloc */
        pp_reclaim_growth(pp_pool_of(r->node), r->huge_usable);
    pp_inuse_add((size_t)r->huge_n * PP_REGION_PAGES);
    return (void *)r->base;
}

static void huge_free(struct pp_region *r)
{
    pp_inuse_sub((size_t)r->huge_n * PP_REGION_PAGES);
    pp_region_huge_free(r);
    pp_reclaim_kick();
}

/* realloc of a huge block: in place if the bank allows, else move the pages (mremap) to a new run
 * with a quarter of headroom, so a block grown step by step is moved O(log n) times. */
static void *huge_realloc(struct pp_region *r, size_t size)
{
    uint32_t before = r->huge_n;
    if (pp_region_huge_resize(r, size)) {
        pp_inuse_sub((size_t)before * PP_REGION_PAGES);
        pp_inuse_add((size_t)r->huge_n * PP_REGION_PAGES);
        return (void *)r->base;
    }
    size_t want = size + size / 4 > size ? size + size / 4 : size;
    struct pp_heap *h = heap_get();
    struct pp_region *to = pp_region_huge_alloc(want, PP_REGION_SIZE, h ? h->node : r->node);
    if (!to)
        return NULL;
    pp_inuse_add((size_t)to->huge_n * PP_REGION_PAGES);
    if (pp_region_huge_move(r, to)) {
        pp_inuse_sub((size_t)before * PP_REGION_PAGES);
    } else {
        memcpy((void *)to->base, (void *)r->base, r->huge_usable);
        huge_free(r);
    }
    return (void *)to->base;
}

/* ---- malloc ---- */
void *pp_heap_malloc_generic(size_t size)
{
    void *p;
    if (size <= PP_SMALL_MAX)
        p = pp_small_alloc(pp_size_class(size));
    else if (size <= PP_LARGE_MAX)
        p = large_alloc(size, PP_PAGE_SIZE, NULL);
    else if (size <= PTRDIFF_MAX)
        p = huge_alloc(size, PP_REGION_SIZE);
    else
        p = NULL;
    if (PP_UNLIKELY(!p))
        errno = ENOMEM;
    return p;
}

/* align: a power of two (api.c checks). */
void *pp_heap_malloc_aligned(size_t align, size_t size, bool zero)
{
    void *p;
    if (align <= PP_MIN_ALIGN) {
        p = pp_malloc_fast(size);
    } else if (size > PTRDIFF_MAX || align > PTRDIFF_MAX) {
        p = NULL;
    } else {
        unsigned cls = pp_size_class_aligned(size, align);
        if (cls)
            p = pp_small_alloc(cls);
        else if (size <= PP_LARGE_MAX && align <= PP_LARGE_MAX && size + align > size)
            p = large_alloc(size ? size : 1, align, NULL);
        else
            p = huge_alloc(size ? size : 1, align);
    }
    if (PP_UNLIKELY(!p)) {
        errno = ENOMEM;
        return NULL;
    }
    if (zero)
        memset(p, 0, size);
    return p;
}

/* ---- Pointer classification: every bad pointer gets a one-line report and an abort ---- */
enum kind { K_SMALL, K_LARGE, K_HUGE };
struct where {
    enum kind kind;
    struct pp_region *r;
    unsigned pi;
    struct pp_slab *s;
};

static void classify(const void *p, const char *call, struct where *w)
{
    uintptr_t a = (uintptr_t)p;
    struct pp_region *r = pp_region_of(a);
    if (!r)
        pp_bad_pointer(call, p, "invalid pointer", "not allocated by pagepool");
    w->r = r;
    if (r == &pp_region_dead || r->kind == PP_REGION_DEAD)
        pp_bad_pointer(call, p, "double free", "or use of a freed huge block");
    if (r->kind == PP_REGION_HUGE) {
        if (a != r->base)
            pp_bad_pointer(call, p, "invalid pointer", "inside a huge block");
        w->kind = K_HUGE;
        return;
    }
    unsigned pi = pp_page_index(a);
    w->pi = pi;
    switch (r->state[pi]) {
    case PP_PG_SLAB: {
        struct pp_slab *s = pp_slab_of(a);
        if (!pp_slab_object_ok(s, a)) {
            if ((uint64_t)(a - s->start) * s->mul >= s->limit)
                pp_bad_pointer(call, p, "invalid pointer", "not the start of a block");
            pp_bad_pointer(call, p, "double free", NULL);
        }
        w->kind = K_SMALL;
        w->s = s;
        return;
    }
    case PP_PG_LARGE_HEAD:
        if (a & (PP_PAGE_SIZE - 1))
            pp_bad_pointer(call, p, "invalid pointer", "not the start of a block");
        w->kind = K_LARGE;
        return;
    case PP_PG_LARGE_TAIL:
        pp_bad_pointer(call, p, "invalid pointer", "inside a large block");
    case PP_PG_FREE_HEAD: case PP_PG_FREE_TAIL: case PP_PG_CACHED: case PP_PG_FREED:
        pp_bad_pointer(call, p, "double free", NULL);
    default:
        pp_bad_pointer(call, p, "invalid pointer", NULL);
    }
}

void pp_heap_free_generic(void *p, const char *call)
{
    if (!p)
        return;
    struct where w;
    classify(p, call, &w);
    switch (w.kind) {
    case K_SMALL: {
        int saved = errno;
        if (atomic_load(&w.s->heap) == pp_tls_heap)
            pp_free_fast(p, call);          /* valid now: takes the local path */
        else
            pp_slab_free_remote(w.s, p, call);
        errno = saved;
        return;
    }
    case K_LARGE:
        large_free(w.r, w.pi);
        return;
    case K_HUGE:
        huge_free(w.r);
        return;
    }
}

size_t pp_heap_usable_size(const void *p, const char *call)
{
    if (!p)
        return 0;
    struct where w;
    classify(p, call, &w);
    switch (w.kind) {
    case K_SMALL: return w.s->size;
    case K_LARGE: return (size_t)w.r->npages[w.pi] << PP_PAGE_SHIFT;
    default:      return w.r->huge_usable;
    }
}

/* ---- calloc ---- */
void *pp_heap_calloc(size_t n, size_t size)
{
    size_t total;
    if (PP_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > PP_SMALL_MAX && total <= PP_LARGE_MAX) {
        bool zero = false;                  /* a cold run needs no memset: the kernel zeroes it */
        void *p = large_alloc(total, PP_PAGE_SIZE, &zero);
        if (!p)
            errno = ENOMEM;
        else if (!zero)
            memset(p, 0, total);
        return p;
    }
    void *p = pp_malloc_fast(total);
    if (!p)
        return NULL;
    /* a huge block whose regions were all cold is already zero */
    if (total > PP_LARGE_MAX) {
        struct pp_region *r = pp_region_of((uintptr_t)p);
        if (r->kind == PP_REGION_HUGE && r->huge_fresh)
            return p;
    }
    memset(p, 0, total);
    return p;
}

/* ---- realloc ---- */
/* realloc of a large block without moving and without classify(): the head of a large block that
 * size still fits, shrunk in place when that frees at least a quarter of its pages (a block
 * realloc'd with headroom keeps it while it grows into it). Anything else, bad pointers included,
 * goes on to classify(). */
static bool large_in_place(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    if ((a & (PP_PAGE_SIZE - 1)) || size <= PP_SMALL_MAX || size > PP_LARGE_MAX)
        return false;                       /* (the bound also keeps pages_of from wrapping) */
    struct pp_region *r = pp_region_of(a);
    if (!r || r->kind != PP_REGION_POOL)
        return false;
    unsigned pi = pp_page_index(a);
    if (r->state[pi] != PP_PG_LARGE_HEAD)
        return false;
    size_t have = r->npages[pi], np = pages_of(size);
    if (np > have)
        return false;
    if (np + have / 4 < have)
        large_shrink(r, pi, np);
    return true;
}

/* A valid small object is realloc'd without classify(): it stays when it still fits its class
 * (and would not shrink by more than half), else it moves, and the old object is freed with the
 * slab found here (pp_slab_free_object), not looked up and checked again. A string grown by
 * small steps stays on nearly every call: skipping classify() and the switch saved 32
 * instructions a call (bench-realloc -s 0.1: 623.8 -> 560.1 M; RESULTS.md, session 7); a
 * random-size realloc moves on most calls, and classifying the old object twice (here, and
 * again in free) cost two more loads of the region's header and page state
 * (bench-stressmalloc: RESULTS.md, session 15). */
void *pp_heap_realloc(void *p, size_t size, const char *call)
{
    if (!p)
        return pp_malloc_fast(size);
    uintptr_t a = (uintptr_t)p;
    struct pp_slab *s = pp_slab_of(a);
    if (s && pp_slab_object_ok(s, a)) {
        size_t have = s->size;
        if (size <= have && (size > have / 2 || have <= 16))
            return p;
        void *q = pp_malloc_fast(size);     /* ENOMEM past PTRDIFF_MAX; the old object stays */
        if (!q)
            return NULL;
        memcpy(q, p, have < size ? have : size);
        pp_slab_free_object(s, p, call);    /* checked above, still live */
        return q;
    }
    if (large_in_place(p, size))
        return p;
    struct where w;
    classify(p, call, &w);
    if (PP_UNLIKELY(size > PTRDIFF_MAX)) {
        errno = ENOMEM;                     /* the old block stays intact */
        return NULL;
    }
    size_t old;
    switch (w.kind) {
    case K_SMALL:
        old = w.s->size;
        break;
    case K_LARGE:
        old = (size_t)w.r->npages[w.pi] << PP_PAGE_SHIFT;
        break;
    default:
        old = w.r->huge_usable;
        if (size > PP_LARGE_MAX) {
            if (size <= old && size > old / 2)
                return p;
            void *q = huge_realloc(w.r, size);
            if (!q)
                errno = ENOMEM;
            return q;
        }
        break;
    }
    /* a large block that grows takes the free pages after it if it can (no copy) */
    if (w.kind == K_LARGE && size > old && size <= PP_LARGE_MAX && large_grow(w.r, w.pi, pages_of(size)))
        return p;
    /* moving: a large block that grows gets a quarter of headroom, so that growth by small steps
     * copies O(n) bytes in all rather than O(n^2) */
    if (w.kind == K_LARGE && size > old && size <= PP_LARGE_MAX && size + size / 4 <= PP_LARGE_MAX)
        size += size / 4;
    void *q = pp_malloc_fast(size);
    if (!q)
        return NULL;                        /* the old block stays intact; errno is ENOMEM */
    memcpy(q, p, old < size ? old : size);
    pp_heap_free_generic(p, call);
    return q;
}

