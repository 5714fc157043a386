/*
 * internal.h — cross-file prototypes, grouped by defining file, plus asserts and attributes.
 *
 * Layering (calls flow down only; information comes back up as return values, and goes down as
 * context arguments such as struct pp_capture):
 *
 *   preload/preload.c, api.c    the malloc family (api.c: the pp_* entry points)
 *   heap.c, slab.c              thread heaps, size classes, slabs, large and huge blocks
 *   thread.c                    thread registry (RCU), heap life cycle, fork
 *   pcp.c                       per-thread page cache
 *   buddy.c                     per-node buddy pool
 *   region.c                    region bank, pagemap, metadata pool
 *   os_linux.c                  the only caller of mmap/munmap/madvise/mbind/libnuma
 *
 * options.c, diag.c and stats.c are a side layer: anyone may call them; they call only os.
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include "types.h"
#include "os.h"
#include <errno.h>
#include <string.h>

#define PP_LIKELY(x)    __builtin_expect(!!(x), 1)
#define PP_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define PP_NOINLINE     __attribute__((noinline))
#define PP_COLD         __attribute__((cold))
#define PP_HIDDEN       __attribute__((visibility("hidden")))
#define PP_INLINE       static inline __attribute__((always_inline))
#define PP_ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))

/* ---- Assertions: three levels (meson -Ddebug_level) ---- */
PP_HIDDEN void pp_assert_fail(const char *expr, const char *file, int line, const char *func) __attribute__((noreturn));
#define PP_ASSERT_ON(e) ((e) ? (void)0 : pp_assert_fail(#e, __FILE__, __LINE__, __func__))
#define PP_ASSERT_OFF(e) ((void)sizeof(!(e)))
#if PP_DEBUG >= 1
#define pp_assert(e) PP_ASSERT_ON(e)
#else
#define pp_assert(e) PP_ASSERT_OFF(e)
#endif
#if PP_DEBUG >= 2
#define pp_assert_internal(e) PP_ASSERT_ON(e)
#else
#define pp_assert_internal(e) PP_ASSERT_OFF(e)
#endif
#if PP_DEBUG >= 3
#define pp_assert_expensive(e) PP_ASSERT_ON(e)
#else
#define pp_assert_expensive(e) PP_ASSERT_OFF(e)
#endif
static const bool pp_config_debug = PP_DEBUG > 0;

/* ---- "options.c" ---- */
struct pp_options {
    long verbose;          /* PAGEPOOL_VERBOSE */
    long stats;            /* PAGEPOOL_STATS: print statistics at exit */
    long nodes;            /* PAGEPOOL_NODES: fake NUMA nodes (0 = real topology) */
    long pcp_high;         /* PAGEPOOL_PCP_HIGH: pages a thread's page cache may hold */
    long pcp_batch;        /* PAGEPOOL_PCP_BATCH: pages moved per refill/drain */
    long retain;           /* PAGEPOOL_RETAIN: bytes of whole free regions the bank keeps resident */
    long decay_ms;         /* PAGEPOOL_DECAY_MS: free memory stays resident this long (-1: forever) */
    long high;             /* PAGEPOOL_HIGH: hot free bytes a pool keeps inside used regions */
    long background;       /* PAGEPOOL_BACKGROUND: 1 run decay on a background thread */
    long purge_free;       /* PAGEPOOL_PURGE: 0 dontneed (default), 1 free */
    long limit;            /* PAGEPOOL_LIMIT: bytes (0: none, or the cgroup's) */
    long limit_hard;       /* PAGEPOOL_LIMIT_MODE: 0 soft, 1 hard */
    long stats_signal;     /* PAGEPOOL_STATS_SIGNAL: 1 print statistics on SIGUSR2 */
    long print_options;    /* PAGEPOOL_PRINT_OPTIONS: print this table at start-up (pagepool-run --options) */
    long thp;              /* PAGEPOOL_THP: 0 system default, 1 MADV_HUGEPAGE, 2 MADV_NOHUGEPAGE */
};
PP_HIDDEN extern struct pp_options pp_opt;
PP_HIDDEN void pp_options_init(void);
PP_HIDDEN void pp_options_print(int fd);

/* ---- "diag.c" ---- */
PP_HIDDEN void pp_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
PP_HIDDEN void pp_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
PP_HIDDEN int pp_vformat(char *buf, size_t len, const char *fmt, __builtin_va_list ap);
PP_HIDDEN int pp_format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
PP_HIDDEN void pp_fatal(const char *fmt, ...) __attribute__((noreturn, cold, format(printf, 1, 2)));
PP_HIDDEN void pp_bad_pointer(const char *call, const void *ptr, const char *what, const char *detail) __attribute__((noreturn, cold));

/* ---- "stats.c" ---- */
#define PP_COUNTERS(X) \
    X(slow_calls_exited) X(direct_reclaims) X(wmark_wakeups) X(released_wmark) X(released_direct) X(mmap_calls) X(madvise_calls) X(released) \
    X(in_use_pages) X(huge_bytes) X(threads) X(threads_live) X(slab_purged_pages) X(released_slab) X(captures) \
    X(stranded_slabs)
struct pp_counters {
#define PP_COUNTER_FIELD(n) _Atomic size_t n;
    PP_COUNTERS(PP_COUNTER_FIELD)
#undef PP_COUNTER_FIELD
};
PP_HIDDEN extern struct pp_counters pp_counters;
PP_HIDDEN bool pp_stats_check(void);
PP_HIDDEN void pp_stats_exit_hook(void);
#if PP_STATS
#define pp_stat_add(name, v) atomic_fetch_add_explicit(&pp_counters.name, (v), memory_order_relaxed)
#define pp_stat_sub(name, v) atomic_fetch_sub_explicit(&pp_counters.name, (v), memory_order_relaxed)
#else
#define pp_stat_add(name, v) ((void)0)
#define pp_stat_sub(name, v) ((void)0)
#endif
/* released, in_use_pages and huge_bytes are kept even with stats off: reclaim and accounting need them */
#define pp_released_add(n) atomic_fetch_add_explicit(&pp_counters.released, (n), memory_order_relaxed)
#define pp_inuse_add(n) atomic_fetch_add_explicit(&pp_counters.in_use_pages, (n), memory_order_relaxed)
#define pp_inuse_sub(n) atomic_fetch_sub_explicit(&pp_counters.in_use_pages, (n), memory_order_relaxed)
/* pages released inside slabs that still hold live objects: part of in_use, not of the footprint */
#define pp_slab_purged_add(n) atomic_fetch_add_explicit(&pp_counters.slab_purged_pages, (n), memory_order_relaxed)
#define pp_slab_purged_sub(n) atomic_fetch_sub_explicit(&pp_counters.slab_purged_pages, (n), memory_order_relaxed)

/* ---- "region.c" ---- */
/* The pagemap, address -> region, in two levels: a top level indexed by address >> 36 (NULL where
 * nothing is mapped) and leaves of 2^15 entries (64 GiB each). It is valid before start-up: free()
 * can run before the first malloc. */
#define PP_PAGEMAP_LEAF_BITS 15
#define PP_PAGEMAP_TOP (1u << (PP_VA_BITS - PP_REGION_SHIFT - PP_PAGEMAP_LEAF_BITS))
typedef struct pp_region *_Atomic pp_pagemap_leaf_t[1u << PP_PAGEMAP_LEAF_BITS];
PP_HIDDEN extern pp_pagemap_leaf_t *_Atomic pp_pagemap[PP_PAGEMAP_TOP];
PP_HIDDEN void pp_pagemap_set(uintptr_t a, struct pp_region *r);
PP_HIDDEN extern struct pp_region pp_region_dead;         /* what a freed huge block's entries point at */
PP_HIDDEN void *pp_meta_alloc(size_t size);               /* zeroed, never freed (type-stable metadata) */
PP_HIDDEN void *pp_meta_alloc_aligned(size_t size, size_t align);
PP_HIDDEN struct pp_bank *pp_bank_of(unsigned node);
PP_HIDDEN struct pp_region *pp_region_take(unsigned node, bool *cold);
PP_HIDDEN void pp_region_give(struct pp_region *r, bool cold);
PP_HIDDEN size_t pp_region_bank_bytes(bool resident_only);
PP_HIDDEN size_t pp_region_mapped_bytes(void);
PP_HIDDEN void pp_region_bank_purge(size_t keep_bytes);
PP_HIDDEN struct pp_region *pp_region_huge_alloc(size_t size, size_t align, unsigned node);
PP_HIDDEN void pp_region_huge_free(struct pp_region *r);
PP_HIDDEN bool pp_region_huge_resize(struct pp_region *r, size_t size);
PP_HIDDEN bool pp_region_huge_move(struct pp_region *from, struct pp_region *to);
PP_HIDDEN void pp_region_bank_decay(void);
PP_HIDDEN void pp_region_fork_prepare(void);
PP_HIDDEN void pp_region_fork_parent(void);
PP_HIDDEN void pp_region_fork_child(void);

/* Look up the region of an address: two loads, no lock (entries are written only by whoever creates
 * or destroys the region there). */
PP_INLINE struct pp_region *pp_region_of(uintptr_t a)
{
    if (PP_UNLIKELY(a >> PP_VA_BITS))
        return NULL;
    pp_pagemap_leaf_t *leaf = atomic_load_explicit(&pp_pagemap[a >> (PP_REGION_SHIFT + PP_PAGEMAP_LEAF_BITS)], memory_order_relaxed);
    if (!leaf)
        return NULL;
    return atomic_load_explicit(&(*leaf)[(a >> PP_REGION_SHIFT) & ((1u << PP_PAGEMAP_LEAF_BITS) - 1)], memory_order_relaxed);
}

/* The slab map: 64 KiB of address space -> slab descriptor, for the free fast path. Slabs are
 * buddy blocks of at least 64 KiB (order 4, sizeclass.c), so aligned to it, and a 64 KiB chunk
 * holds one slab or none. An entry holds its descriptor's offset from the start of the map (or of
 * its leaf), and 0 means "no slab": the lookup then yields that start, read as a descriptor whose
 * words are all zero, so its `limit` is 0, no address passes the object test, and an empty entry
 * needs no NULL test. Entries are plain aligned words, written before the slab's objects can
 * reach any thread. Written by region.c only.
 * - flat (default): one array of one-word entries for the 47-bit address space, 2^31 entries, 16
 *   GiB of address space reserved read-only (MAP_NORESERVE: never charged, reads as zero pages)
 *   when pagepool starts; bank_grow makes the entries of each new region writable (256 bytes per
 *   region, one page per 32 MiB). Its first words, the sentinel, are the entries of the first
 *   2 MiB of the address space, where no region can be (mmap_min_addr). A lookup is two loads
 *   (the map's address, the entry) and four instructions. valgrind takes the reservation (its
 *   limit is near 2^35 bytes for one mapping; one word per 4 KiB page would need 2^38); `ulimit -v`
 *   must allow it. Before start-up pp_slabmap points at a static zero descriptor: free(NULL) works,
 *   and no other pointer can be ours yet.
 * - paged (-Dslab_map=paged, for small `ulimit -v`): a top entry per 4 GiB (a >> 32), holding its
 *   leaf's offset from a static zero leaf in BSS (so a missing leaf needs no test either, and the
 *   map works before start-up); a leaf is a zero page, the sentinel, then 2^16 entries (a's low
 *   32 bits >> 16, no mask), 516 KiB reserved the same way per 4 GiB that holds regions. Two
 *   loads and nine instructions (bench/fastpath.sh: 50 per malloc+free, against 45).
 * The index is not masked: an address above 2^47 reads past the map, and the fast path then reads
 * the freed object itself, which faults for such an address before anything is written (on
 * 4-level paging; 5-level gives user addresses above 2^47 only to programs that ask for them). The
 * other callers use pp_slab_of, which rejects those addresses first. */
#define PP_SLABMAP_SHIFT 16
#if PP_SLABMAP_PAGED
#define PP_SLABMAP_LEAF_BYTES (PP_PAGE_SIZE + ((size_t)sizeof(uintptr_t) << (32 - PP_SLABMAP_SHIFT)))
struct pp_slabmap {
    char zero[PP_SLABMAP_LEAF_BYTES];                 /* the leaf that is never written */
    uintptr_t top[1u << (PP_VA_BITS - 32)];           /* leaf - zero, or 0 */
};
PP_HIDDEN extern struct pp_slabmap pp_slabmap;
PP_INLINE const char *pp_slabmap_leaf(uintptr_t a) { return pp_slabmap.zero + pp_slabmap.top[a >> 32]; }
PP_INLINE uintptr_t *pp_slabmap_entry(uintptr_t a)
{
    return (uintptr_t *)(pp_slabmap_leaf(a) + PP_PAGE_SIZE) + (size_t)((uint32_t)a >> PP_SLABMAP_SHIFT);
}
#else
#define PP_SLABMAP_BYTES ((size_t)sizeof(uintptr_t) << (PP_VA_BITS - PP_SLABMAP_SHIFT))   /* 16 GiB */
PP_HIDDEN extern const char *pp_slabmap;
PP_INLINE const char *pp_slabmap_leaf(uintptr_t a) { (void)a; return pp_slabmap; }
PP_INLINE uintptr_t *pp_slabmap_entry(uintptr_t a) { return (uintptr_t *)pp_slabmap + (a >> PP_SLABMAP_SHIFT); }
#endif
PP_HIDDEN int pp_slabmap_init(void);
PP_HIDDEN int pp_slabmap_commit(uintptr_t a, size_t size);
PP_HIDDEN void pp_slabmap_set(uintptr_t a, size_t npages, struct pp_slab *s);
PP_INLINE struct pp_slab *pp_slab_lookup(uintptr_t a)
{
    const char *leaf = pp_slabmap_leaf(a);
#if PP_SLABMAP_PAGED
    /* byte arithmetic, so that the zero page's 4 KiB is the load's displacement */
    const char *e = leaf + PP_PAGE_SIZE + (size_t)((uint32_t)a >> PP_SLABMAP_SHIFT) * sizeof(uintptr_t);
    return (struct pp_slab *)(leaf + *(const uintptr_t *)e);
#else
    return (struct pp_slab *)(leaf + ((const uintptr_t *)leaf)[a >> PP_SLABMAP_SHIFT]);
#endif
}
PP_INLINE struct pp_slab *pp_slab_of(uintptr_t a)
{
    if (PP_UNLIKELY(a >> PP_VA_BITS))
        return NULL;
    uintptr_t e = __atomic_load_n(pp_slabmap_entry(a), __ATOMIC_ACQUIRE);
    return e ? (struct pp_slab *)(pp_slabmap_leaf(a) + e) : NULL;
}
PP_INLINE unsigned pp_page_index(uintptr_t a) { return (a >> PP_PAGE_SHIFT) & (PP_REGION_PAGES - 1); }
PP_INLINE uintptr_t pp_page_addr(const struct pp_region *r, unsigned pi) { return r->base + ((uintptr_t)pi << PP_PAGE_SHIFT); }

/* ---- "buddy.c" ---- */
PP_HIDDEN extern unsigned pp_nr_nodes;
PP_HIDDEN int pp_buddy_init(unsigned nr_nodes);
PP_HIDDEN struct pp_pool *pp_pool_of(unsigned node);
PP_HIDDEN uintptr_t pp_buddy_alloc_locked(struct pp_pool *pool, unsigned order);
PP_HIDDEN uintptr_t pp_buddy_alloc_cold_locked(struct pp_pool *pool, unsigned order, bool *cold);
PP_HIDDEN unsigned pp_buddy_densest(const uint16_t nr[64], uint64_t bits);   /* index of the smallest nr[i], bit i set */
PP_HIDDEN uintptr_t pp_buddy_alloc(struct pp_pool *pool, unsigned order);
#define PP_FREE_TO_TAIL  0x1u     /* put at the tail of its list (used last) */
#define PP_FREE_COLD     0x2u     /* the block was released with madvise */
PP_HIDDEN void pp_buddy_free_locked(struct pp_pool *pool, uintptr_t block, unsigned order, unsigned fpi, struct pp_capture *capc);
PP_HIDDEN void pp_buddy_free(struct pp_pool *pool, uintptr_t block, unsigned order);
PP_HIDDEN uintptr_t pp_buddy_isolate_hot_locked(struct pp_pool *pool, unsigned min_order, unsigned *order_out);
PP_HIDDEN uintptr_t pp_buddy_alloc_run(struct pp_pool *pool, size_t npages, size_t align_pages, bool *cold);
PP_HIDDEN bool pp_buddy_extend_run(struct pp_pool *pool, struct pp_region *r, unsigned end, unsigned n, bool *cold);
PP_HIDDEN void pp_buddy_free_run_locked(struct pp_pool *pool, uintptr_t start, size_t npages);
PP_HIDDEN void pp_buddy_free_run(struct pp_pool *pool, uintptr_t start, size_t npages);
PP_HIDDEN bool pp_buddy_is_valid(struct pp_pool *pool);
PP_HIDDEN void pp_buddy_lock_all(void);
PP_HIDDEN void pp_buddy_unlock_all(void);
PP_HIDDEN void pp_buddy_reinit_locks(void);
PP_HIDDEN size_t pp_buddy_free_pages(size_t *cold);
PP_HIDDEN void pp_buddy_free_blocks(size_t hot[PP_NR_ORDERS], size_t cold[PP_NR_ORDERS]);
PP_HIDDEN void pp_buddy_pages_out(size_t *hot, size_t *cold);

/* ---- "pcp.c" ---- */
PP_HIDDEN void pp_pcp_init(struct pp_pcp *pcp);
PP_HIDDEN uintptr_t pp_pcp_alloc(struct pp_pcp *pcp, struct pp_pool *pool, unsigned order);
PP_HIDDEN void pp_pcp_free(struct pp_pcp *pcp, struct pp_pool *pool, uintptr_t block, unsigned order);
PP_HIDDEN size_t pp_pcp_drain(struct pp_pcp *pcp, struct pp_pool *pool, struct pp_capture *capc);
PP_HIDDEN size_t pp_pcp_drain_idle(struct pp_pcp *pcp, struct pp_pool *pool);
PP_HIDDEN bool pp_pcp_is_valid(const struct pp_pcp *pcp);        /* the walker; caller holds the pcp lock */

/* ---- "sizeclass.c" ---- */
PP_HIDDEN extern const uint8_t pp_class_fast[PP_SMALL_FAST_MAX / 16 + 1];
PP_HIDDEN extern uint8_t pp_class_direct_lo[PP_NCLASSES], pp_class_direct_hi[PP_NCLASSES];  /* its indexes there */
PP_HIDDEN extern uint32_t pp_class_size[PP_NCLASSES];
PP_HIDDEN extern uint8_t pp_class_order[PP_NCLASSES];
PP_HIDDEN void pp_sizeclass_init(void);
/* size <= PP_SMALL_MAX -> class: 16-byte steps to 128; above, in (2^k, 2^(k+1)], the doubling has n
 * classes 2^k + i * 2^sh (i = 1..n, sh = k - log2 n: four, eight between 1 and 8 KiB), so the class
 * is off[k] + (size - 1) / 2^sh, two loads from constant tables (sizeclass.c); plus one for sizes
 * above hdr[k], where the doubling starts with a class of 2^k + PP_CLASS_HDR. Inline: the 1-32 KiB
 * malloc path calls it on every allocation. */
#define PP_CLASS_HDR 32
PP_HIDDEN extern const int8_t pp_class_off[PP_SMALL_MAX_SHIFT];
PP_HIDDEN extern const uint8_t pp_class_shift[PP_SMALL_MAX_SHIFT];
PP_HIDDEN extern const uint32_t pp_class_hdr[PP_SMALL_MAX_SHIFT];
PP_INLINE unsigned pp_size_class(size_t size)
{
    if (size <= 128)
        return size ? (unsigned)((size + 15) >> 4) : 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(size - 1);      /* size in (2^k, 2^(k+1)] */
    return (unsigned)(pp_class_off[k] + (int)((size - 1) >> pp_class_shift[k]) + (size > pp_class_hdr[k]));
}
PP_HIDDEN unsigned pp_size_class_aligned(size_t size, size_t align);  /* 0 when no class fits */

/* ---- "slab.c" ---- */
PP_HIDDEN extern struct pp_slab pp_slab_empty;
/* The object test's multiplier (fastpath.h): floor(2^64 / size) + 1, made odd. */
PP_INLINE uint64_t pp_slab_mul(uint32_t size) { return (UINT64_MAX / size + 1) | 1; }
PP_HIDDEN void *pp_slab_malloc_slow(struct pp_heap *h, unsigned cls);
PP_HIDDEN void pp_slab_local_slow(struct pp_slab *s);
PP_HIDDEN void pp_slab_free_remote(struct pp_slab *s, void *p, const char *call);
PP_HIDDEN void pp_slab_flush_remote(struct pp_heap *h);
PP_HIDDEN void pp_slab_abandon_all(struct pp_heap *h);
PP_HIDDEN void pp_slab_set_owner_all(struct pp_heap *h, uintptr_t self);
PP_HIDDEN size_t pp_slab_reclaim(struct pp_heap *h);
PP_HIDDEN bool pp_slab_stranded_take_flag(void);
PP_HIDDEN void pp_slab_stranded_flag_again(void);
PP_HIDDEN size_t pp_slab_take_stranded(struct pp_heap *h);
struct pp_class_stats;
PP_HIDDEN bool pp_slab_class_stats(struct pp_heap *h, struct pp_class_stats *by_class);
PP_HIDDEN void pp_slab_abandoned_class_stats(struct pp_class_stats *by_class);
PP_HIDDEN void pp_slab_heap_lock_reset(struct pp_heap *h);
PP_HIDDEN size_t pp_slab_reclaim_abandoned(void);
PP_HIDDEN size_t pp_slab_purge_sparse(bool force);
PP_HIDDEN size_t pp_slab_purge_sparse_for(size_t bytes);
PP_HIDDEN size_t pp_slab_sparse_bytes(void);
PP_HIDDEN void pp_slab_fork_prepare(void);
PP_HIDDEN void pp_slab_fork_parent(void);
PP_HIDDEN void pp_slab_fork_child(void);

/* Hand out the first object of a slab's free list (the caller checked it is not empty). */
PP_INLINE void *pp_slab_pop(struct pp_slab *s)
{
    void **b = s->free;
    s->free = b[0];
    b[1] = NULL;                 /* not free any more: clears the double-free key */
    s->left++;
    return b;
}

/* The calling thread's identity for slab ownership: its thread pointer, one %fs-relative load, no
 * TLS offset to fetch. Unique among live threads; a dead thread's may come back with a new thread,
 * so a heap's slabs drop it when the heap loses its thread (pp_slab_set_owner_all). */
PP_INLINE uintptr_t pp_thread_self(void) { return (uintptr_t)__builtin_thread_pointer(); }

/* ---- "thread.c" ---- */
PP_HIDDEN extern struct pp_heap pp_heap_empty;
PP_HIDDEN extern __thread struct pp_heap *pp_tls_heap;

/* malloc's table (thread.c): the calling thread's heap's bins[class of (size + 15) / 16], in static
 * TLS, so the fast path reaches a slab in one %fs-relative load, with no class lookup and no heap
 * pointer. A thread without a heap has every entry at the empty slab. */
#define PP_DIRECT_N (PP_SMALL_FAST_MAX / 16 + 1)
PP_HIDDEN extern __thread struct pp_slab *pp_tls_direct[PP_DIRECT_N];

/* A heap's current slab for a class: in the heap, and in the table if the heap is the caller's. */
PP_INLINE void pp_heap_bin_set(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    h->bins[cls] = s;
    if (h == pp_tls_heap)
        for (unsigned i = pp_class_direct_lo[cls]; i <= pp_class_direct_hi[cls]; i++)
            pp_tls_direct[i] = s;
}
PP_HIDDEN struct pp_heap *pp_thread_heap_init(void);
PP_HIDDEN void pp_thread_init_once(void);
PP_HIDDEN size_t pp_thread_drain_all(struct pp_capture *capc);
PP_HIDDEN size_t pp_thread_take_stranded(struct pp_heap *self);
PP_HIDDEN void pp_thread_class_stats(struct pp_class_stats *by_class);
PP_HIDDEN size_t pp_thread_drain_idle(void);
PP_HIDDEN void pp_thread_retire_parked(void);
PP_HIDDEN size_t pp_thread_cached_pages(uint64_t *slow_calls);

/* ---- "reclaim.c" ---- */
PP_HIDDEN size_t pp_reclaim_pool_hot(struct pp_pool *pool, size_t keep_pages);
PP_HIDDEN size_t pp_reclaim_growth(struct pp_pool *pool, size_t bytes);
PP_HIDDEN void pp_reclaim_tick(void);
PP_HIDDEN void pp_reclaim_kick(void);
PP_HIDDEN void pp_reclaim_fork_child(void);
PP_HIDDEN size_t pp_reclaim_all_pools(void);
PP_HIDDEN void pp_reclaim_init(void);
PP_HIDDEN size_t pp_reclaim_direct(struct pp_capture *capc);
PP_HIDDEN size_t pp_reclaim_free_memory(void);
PP_HIDDEN size_t pp_reclaim_hot_free_bytes(void);
PP_HIDDEN bool pp_reclaim_admit(size_t bytes, struct pp_capture *capc);
PP_HIDDEN size_t pp_reclaim_footprint(void);
PP_HIDDEN size_t pp_reclaim_limit(bool *hard);

/* ---- "heap.c" ---- */
PP_HIDDEN extern _Atomic int pp_init_state;
PP_HIDDEN void *pp_heap_malloc_generic(size_t size);
PP_HIDDEN void pp_heap_free_generic(void *p, const char *call);
PP_HIDDEN void *pp_heap_malloc_aligned(size_t align, size_t size, bool zero);
PP_HIDDEN void *pp_heap_calloc(size_t n, size_t size);
PP_HIDDEN void *pp_heap_realloc(void *p, size_t size, const char *call);
PP_HIDDEN size_t pp_heap_usable_size(const void *p, const char *call);

#endif /* PP_INTERNAL_H */
