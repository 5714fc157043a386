/*
 * types.h — every pagepool structure, the glossary and the build-time constants.
 *
 * Glossary:
 *   OS page  4 KiB, the unit of the buddy (checked at start-up).
 *   block    2^order contiguous OS pages, order 0..9, aligned to its own size; what the buddy hands out.
 *   region   2 MiB, 2 MiB-aligned (one transparent huge page) = one order-9 block. Each has a descriptor
 *            (struct pp_region) kept out of line, holding the per-page metadata (the kernel's struct page).
 *   run      a large allocation: npages contiguous pages, the tail of a power-of-two block trimmed off.
 *   huge     an allocation larger than a region: whole regions mapped for it alone.
 *   slab     a block carved into objects of one size class, owned by one thread heap.
 *   object   one small user allocation, inside a slab.
 *
 * Synchronisation: every shared field says how it is protected (pool lock, pcp lock, atomic, owner).
 */
#ifndef PP_TYPES_H
#define PP_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <urcu/list.h>

#ifndef PP_DEBUG
#define PP_DEBUG 0
#endif
#ifndef PP_STATS
#define PP_STATS 1
#endif
#ifndef PP_SECURE
#define PP_SECURE 0
#endif
#if PP_DEBUG < 0 || PP_DEBUG > 3
#error "PP_DEBUG must be 0..3"
#endif

/* ---- Units ---- */
#define PP_PAGE_SHIFT     12
#define PP_PAGE_SIZE      ((size_t)1 << PP_PAGE_SHIFT)
#define PP_REGION_SHIFT   21
#define PP_REGION_SIZE    ((size_t)1 << PP_REGION_SHIFT)
#define PP_REGION_PAGES   (PP_REGION_SIZE >> PP_PAGE_SHIFT)   /* 512 */
#define PP_MAX_ORDER      9                                   /* an order-9 block is a whole region */
#define PP_NR_ORDERS      (PP_MAX_ORDER + 1)
#define PP_VA_BITS        47                                  /* user address space, 4-level paging */
#define PP_MAX_NODES      64
#define PP_MAX_REGIONS    (1u << 16)     /* per node pool: 128 GiB */
#define PP_NO_PAGE        0xffffu        /* end of a per-region free list */

/* ---- Size classes (sizeclass.c) ---- */
#define PP_SMALL_FAST_MAX 1024           /* sizes the inline fast path maps with one table load */
#define PP_SMALL_MAX      (32 * 1024)    /* largest size served from slabs */
#define PP_SMALL_MAX_SHIFT 15            /* log2(PP_SMALL_MAX) */
#define PP_NCLASSES       58             /* class 0 unused; 16..128 by 16 (8), then 4 or 8 per doubling to 32 KiB
                                          * and 2^k + 32 from 1 to 16 KiB (49): sizeclass.c */
#define PP_MIN_ALIGN      16
#define PP_SLAB_MAX_ORDER 7              /* 512 KiB: offsets below 2^19 keep the divisibility test exact */

/* ---- Per-page state (struct pp_region.state[]) ---- */
enum pp_page_state {
    PP_PG_UNUSED = 0,      /* never handed out (a fresh region's pages before the buddy takes them) */
    PP_PG_FREE_HEAD,       /* first page of a free block in the buddy; order[] holds its order */
    PP_PG_FREE_TAIL,       /* other pages of a free buddy block */
    PP_PG_CACHED,          /* pages of a block held by a per-thread page cache */
    PP_PG_SLAB,            /* pages of a slab; the slab map (internal.h) points at its descriptor */
    PP_PG_LARGE_HEAD,      /* first page of a large run; npages[] holds its length */
    PP_PG_LARGE_TAIL,      /* other pages of a large run */
    PP_PG_FREED,           /* a region given back by a huge block (a free() inside is a double free) */
};

/* page flags (struct pp_region.flags[]), meaningful on free block heads */
#define PP_PF_COLD  0x01   /* released with madvise: refaults (and reads as zero after MADV_DONTNEED) */

enum pp_region_kind { PP_REGION_POOL = 1, PP_REGION_HUGE, PP_REGION_DEAD };

struct pp_slab;
struct pp_sparse;
struct pp_heap;

/* A region descriptor: the struct-page array of one 2 MiB region, out of line (metadata pool). */
struct pp_region {
    uintptr_t base;                       /* 2 MiB-aligned address; immutable */
    uint8_t kind;                         /* enum pp_region_kind; immutable while mapped */
    uint8_t node;                         /* NUMA node of the pool that owns it */
    uint8_t huge_fresh;                   /* HUGE head: every region was cold, so the block reads as zero */
    uint8_t in_pool;                      /* in its node's buddy pool (else banked or in a huge block). pool lock */
    uint32_t idx;                         /* index in its node's bank (allocation prefers low indexes) */
    uint32_t huge_n;                      /* HUGE head: regions in the block */
    uint32_t pad1;
    size_t huge_usable;                   /* HUGE head: bytes usable by the program (huge_n * 2 MiB) */
    uint64_t freed_ms;                    /* when it last went back to the bank (decay). bank lock */
    /* the buddy's per-region free lists. Synchronization: pool lock */
    uint32_t nr_free;                     /* free pages in this region (in the buddy) */
    uint16_t head[PP_NR_ORDERS];          /* first free block of each order, or PP_NO_PAGE */
    uint16_t tail[PP_NR_ORDERS];
    uint16_t nhot[PP_NR_ORDERS];          /* hot free blocks of each order on the list */
    uint16_t link_next[PP_REGION_PAGES];  /* free-list links by page index; on a CACHED head, with
                                           * link_prev and npages, the page cache's link (pcp.c) */
    uint16_t link_prev[PP_REGION_PAGES];
    /* per-page metadata. state/order/npages: pool lock while free, owner while allocated */
    uint8_t state[PP_REGION_PAGES];       /* enum pp_page_state */
    uint8_t order[PP_REGION_PAGES];       /* FREE_HEAD/CACHED head: block order */
    uint8_t flags[PP_REGION_PAGES];       /* PP_PF_* on free block heads, and PP_PF_COLD on cold CACHED heads */
    uint16_t npages[PP_REGION_PAGES];     /* LARGE_HEAD: pages in the run; CACHED head: see link_next */
};

/* A slab: one buddy block carved into objects of one size class.
 * The first cache line is what malloc/free touch on the fast path. */
struct pp_slab {
    /* first line: read by every free(), this thread's and others'; written only when the slab changes
     * hands or carves. Other threads' frees must not pull a line the owner writes all the time */
    uint64_t limit;                       /* objects carved * (size * mul mod 2^64): the object test's bound.
                                           * Grows with bump (owner). First: the slab map's sentinel is a
                                           * descriptor whose first word is 0 */
    uint64_t mul;                         /* floor(2^64 / size) + 1, made odd: the object test (fastpath.h) */
    uintptr_t start;                      /* first object (= block address) */
    _Atomic uintptr_t owner;              /* the owning thread's thread pointer (%fs:0), what free()
                                           * compares; 0 while its heap has no thread (parked, abandoned);
                                           * bit 0 set while sparse, so free() misses the owner test.
                                           * Written by the owner, or with the heap parked */
    _Atomic(struct pp_heap *) heap;       /* owner heap (also while parked); NULL while abandoned. owner */
    uintptr_t end;                        /* end of the last whole object */
    uint32_t size;                        /* object size, bytes; immutable while live */
    uint32_t capacity;                    /* objects in the slab */
    uint8_t cls;                          /* size class */
    uint8_t order;                        /* buddy order of the slab's block */
    uint8_t pad0[2];
    /* second line: written by the owner's malloc and free, and by other threads' pushes */
    void *free;                           /* owner's free list. Synchronization: owner */
    uint32_t left;                        /* used - notify_at: free() takes the slow path when it hits 0.
                                           * used = objects not on `free` (thread_free included). owner */
    uint32_t notify_at;                   /* 0 (tell me when empty), or capacity - 1 on the full list
                                           * (tell me at the first free). owner */
    uintptr_t bump;                       /* next never-used object; carved lazily. owner */
    uint8_t list;                         /* which list holds it: PP_SLAB_*. owner */
    uint8_t pad1[15];
    struct pp_slab *next, *prev;          /* heap list / abandoned list / descriptor free list */
    struct pp_sparse *sparse;             /* while the slab is sparse (slab.c), else NULL. Set by the owner */
    /* third line: written by other threads' pushes (and the owner's collect) */
    _Atomic(void *) thread_free;          /* frees from other threads (MPSC stack). atomic */
    _Atomic uint32_t thread_freed;        /* objects pushed on thread_free, added after each push */
    uint8_t pad2[52];
};
_Static_assert(sizeof(struct pp_slab) == 192 && offsetof(struct pp_slab, free) == 64 &&
               offsetof(struct pp_slab, thread_free) == 128,
               "three cache lines: what every free reads, what the owner writes, what other threads push");

/* The state of a sparse slab (slab.c): frees go to a bitmap, and the reclaimer releases the pages
 * that hold only free objects. Allocated when the slab turns sparse, recycled when it stops. */
struct pp_sparse {
    struct pp_slab *slab;
    struct pp_sparse *next, *prev;        /* list of sparse slabs, oldest first. sparse list lock */
    uint64_t purged[2];                   /* released pages by index in the slab (<= 128 pages). lock */
    uint32_t ms;                          /* when it turned sparse (low 32 bits of pp_os_now_ms) */
    uint32_t nfree;                       /* bits set. lock */
    uint32_t npurged;                     /* pages released (bits set in purged). lock */
    _Atomic uint8_t lock;                 /* spin lock: the owner (frees, take back) against the reclaimer */
    uint8_t dirty;                        /* frees since the last release pass. lock */
    uint64_t bits[];                      /* free objects not on the slab's free list, a bit each. lock;
                                           * 56 bytes above: with one word (<= 64 objects), 64 in all */
};

enum { PP_SLAB_NONE = 0, PP_SLAB_CURRENT, PP_SLAB_PARTIAL, PP_SLAB_FULL, PP_SLAB_ABANDONED };

struct pp_slab_list { struct pp_slab *first, *last; };

/* A per-thread page cache (the kernel's per-cpu pages): small blocks kept off the pool lock. */
#define PP_PCP_ORDERS 5                   /* caches orders 0..4 (4..64 KiB) */
enum { PP_PCP_HOT, PP_PCP_COLD };
struct pp_pcp {
    pthread_mutex_t lock;                 /* taken by the owner on refill/drain and by remote drainers */
    /* stacks of blocks, hot ([PP_PCP_HOT]: resident) and cold (released or never touched), by order;
     * links in the region descriptor (pcp.c) */
    uintptr_t list[2][PP_PCP_ORDERS];
    uint32_t count[2][PP_PCP_ORDERS];     /* blocks per list */
    uint32_t pages;                       /* pages held, all orders. Synchronization: lock (read racy in stats) */
    uint32_t high;                        /* drain down to this / 2 once above it */
    uint32_t batch;                       /* pages moved per refill or drain */
    uint32_t ops;                         /* allocations and frees through the cache. lock */
    uint32_t ops_seen;                    /* ops at the last decay pass (reclaim.c) */
};

/* A thread heap. Type-stable: never unmapped, recycled for new threads after an RCU grace period. */
struct pp_heap {
    struct pp_slab *bins[PP_NCLASSES];    /* current slab per class (a sentinel when none). owner */
    struct pp_slab_list partial[PP_NCLASSES]; /* slabs with free objects. owner */
    struct pp_slab_list full[PP_NCLASSES];    /* slabs with none (remote frees may be pending). owner */
    /* bit cls: a slab of class cls got the first remote free since its owner last collected (set
     * by freers, cleared by the owner before it scans its full list). Kept across recycling */
    _Atomic uint64_t remote_pending;
    uint8_t sparse_skip[PP_NCLASSES];     /* slabs still to pass by before one turns sparse again. owner */
    uint8_t sparse_backoff[PP_NCLASSES];  /* the last skip: doubles each time a sparse slab was taken
                                           * back (or emptied) before anything was released. owner */
    struct pp_pool *pool;                 /* the pool of this thread's node */
    struct pp_pcp pcp;
    struct cds_list_head registry;        /* thread registry link. RCU */
    struct pp_heap *next_free;            /* recycle or parked list. registry lock */
    _Atomic int state;                    /* PP_HEAP_* */
    uint32_t node;
    pid_t tid;
    uint64_t slow_calls;                  /* slow-path entries (statistics). owner; read racily */
    /* the heap lock (slab.c): its thread pointer while the owner is in a slow path that changes its
     * lists, 1 while a taker of stranded slabs (or fork) holds it. The fast paths never take it */
    _Atomic uintptr_t lock;
    _Atomic uint8_t stranded;             /* a full slab here has all its objects back from other
                                           * threads: a taker may have it (slab.c). Set by freers */
    uint64_t taker_seen;                  /* slow_calls when a taker last saw them change, and when */
    uint64_t taker_seen_ms;               /* (pp_os_now_ms). take_lock (thread.c) */
    /* remote frees gathered per class, each to one slab, to be pushed with one CAS (slab.c). owner */
    /* the chain's slab is the head's key (word 1), written when the object was gathered */
    struct pp_rbuf { void *head, *tail; } rbuf[PP_NCLASSES];
    uint64_t rbuf_used;                   /* classes whose rbuf holds objects */
    uint32_t rbuf_total;                  /* objects held in all of them */
    uint8_t rbuf_n[PP_NCLASSES];          /* objects held per class (at most RBUF_SLAB_MAX, slab.c) */
};

_Static_assert(PP_NCLASSES <= 64, "pp_heap.rbuf_used and remote_pending have a bit per class");
/* A heap is allocated page-aligned (thread.c), so a thread's heap is one page of metadata. */
_Static_assert(sizeof(struct pp_heap) <= PP_PAGE_SIZE, "a thread heap fits a page");

enum { PP_HEAP_FREE = 0, PP_HEAP_LIVE, PP_HEAP_PARKED, PP_HEAP_DEAD };

/* The capture context (kernel capture_control): passed DOWN into the buddy free path by a thread in
 * direct reclaim. The first block that coalesces to `order` in `pool` is handed to it. */
struct pp_capture {
    struct pp_pool *pool;                 /* only blocks of this pool (node) are captured */
    unsigned order;                       /* exact order wanted */
    uintptr_t block;                      /* the captured block, or 0 */
};

/* Two sets of region indexes per order: PP_MAP_AVAIL, regions with a free block of order o, and
 * PP_MAP_HOT, regions with a hot (resident) free block of order o. The words of both sets for 64
 * regions, of all orders, sit beside those regions' free-page counts in one group, and the
 * summaries of non-zero words (for a fast first/last search) beside the pool's header: a small
 * process touches one page of its pool, not three. */
enum { PP_MAP_AVAIL, PP_MAP_HOT };
struct pp_pool_group {
    uint64_t bits[2][PP_NR_ORDERS];       /* [set][order]: bit i for region 64 * group + i */
    uint16_t nr_free_of[64];              /* free pages per region (r->nr_free, packed: the
                                           * allocator compares a group's 64 at once) */
};

/* A buddy pool: one per NUMA node (the kernel's zone). */
struct pp_pool {
    pthread_mutex_t lock;                 /* Synchronization for everything below */
    uint32_t node;
    uint32_t nregions;                    /* indexes handed out so far */
    size_t nr_free;                       /* free pages in the buddy */
    size_t nr_cold;                       /* of which cold */
    size_t hot_pages_out;                 /* pages handed out from hot blocks: page faults avoided */
    size_t cold_pages_out;                /* pages handed out from cold blocks (they refault) */
    uint64_t summary[PP_MAX_REGIONS / 4096][2][PP_NR_ORDERS]; /* [..][set][order]: bit w for group
                                           * 64 * s + w when its word is non-zero */
    struct pp_pool_group group[PP_MAX_REGIONS / 64];
};

static inline uint16_t pp_pool_nr_free_of(const struct pp_pool *pool, uint32_t idx)
{
    return pool->group[idx / 64].nr_free_of[idx % 64];
}

/* The region bank of one node: every region ever mapped for the node, by index (indexes are never
 * reused: regions are purged, not unmapped), and which of them are whole and free in the bank. */
struct pp_bank {
    pthread_mutex_t lock;                 /* Synchronization for everything below */
    uint32_t node;
    uint32_t nregions;                    /* indexes handed out */
    uint32_t nhot;                        /* banked regions still resident */
    uint32_t ncold;                       /* banked regions purged (or never touched) */
    uint32_t nlost;                       /* regions whose address range was lost (see huge_move) */
    uint64_t last_decay_ms;               /* last decay pass */
    /* the regions by index, 64 to a group, each group with its sets beside it: a small process
     * touches one page of the bank, not one for each set and one for the descriptors */
    struct pp_bank_group {
        uint64_t set[2];                  /* PP_BANK_HOT: banked, resident; PP_BANK_COLD: banked, not
                                           * resident */
        struct pp_region *regions[64];
    } group[PP_MAX_REGIONS / 64];
};
enum { PP_BANK_HOT, PP_BANK_COLD };

static inline struct pp_region *pp_bank_region(const struct pp_bank *b, uint32_t idx)
{
    return b->group[idx / 64].regions[idx % 64];
}

#endif /* PP_TYPES_H */
