/*
 * region.c — the back end ("bank", seed 004): 2 MiB regions, the pagemap, and the metadata pool.
 *
 * - The pagemap maps address >> 21 to the region descriptor (two levels, see internal.h). free()
 *   reads it without a lock; entries are written only when a region is created (never removed: pool
 *   regions are purged, not unmapped) or when a huge block is mapped, moved or freed.
 * - The bank of each node holds whole free regions. Invariant: a region is in exactly one of its
 *   node's buddy pool, a huge block, or the bank (hot = resident, cold = purged or never touched).
 *   Regions are taken lowest index first, so that the pool stays dense and high regions stay free.
 * - Decay: a region given back stays hot (resident, reusable without page faults) for
 *   PAGEPOOL_DECAY_MS; after that it is released whole with MADV_DONTNEED (one call per 2 MiB, so a
 *   huge page is never split), except the lowest PAGEPOOL_RETAIN bytes, which stay.
 * - Huge blocks (above 2 MiB) are runs of address-contiguous banked regions: the head region's
 *   descriptor describes the block and the pagemap entries of the others point at it. A freed
 *   huge block's regions go back to the bank like any other; realloc extends a run in place when
 *   the next regions are banked, else moves the pages with mremap (no copy).
 * - Region descriptors, slab descriptors and heaps come from the metadata pool: bump-allocated from
 *   mmap'd chunks, never freed (type-stable), so a racing reader never touches unmapped memory.
 * Layer: called by buddy.c (take/give regions) and heap.c (huge blocks); calls os.
 */
#include "internal.h"

PP_HIDDEN pp_pagemap_leaf_t *_Atomic pp_pagemap[PP_PAGEMAP_TOP];
/* All zero, so in .bss, where a process that never loses a huge block's pages never touches it
 * (as initialised data its 4.7 KiB were a page of the library's data mapping in every process);
 * classify() knows it by its address. */
PP_HIDDEN struct pp_region pp_region_dead;

#define BANK_CHUNK_REGIONS 16           /* regions mapped per mmap call (32 MiB of address space) */
#define BANK_FIRST_REGIONS 1            /* the first chunks are smaller: each region's descriptor
                                         * costs a resident page, which a small program never uses
                                         * (one region, not four: tiny program 8 KiB less, RESULTS.md) */
#define META_CHUNK (4u << 20)

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;
static struct pp_bank *banks[PP_MAX_NODES];
static _Atomic unsigned nbanks;             /* 1 + the highest node with a bank: loops stop there */
static unsigned bank_count(void) { return atomic_load_explicit(&nbanks, memory_order_acquire); }


/* The slab map (internal.h) */

/* Commit the pages that hold the map's entries for [a, end), all within one 4 GiB (paged) or the
 * whole map (flat). */
static int commit_entries(uintptr_t a, uintptr_t end)
{
    uintptr_t first = (uintptr_t)pp_slabmap_entry(a) & ~(uintptr_t)(PP_PAGE_SIZE - 1);
    uintptr_t last = (uintptr_t)pp_slabmap_entry(end - 1);
    return pp_os_commit((void *)first, PP_ALIGN_UP(last + sizeof(uintptr_t), PP_PAGE_SIZE) - first);
}

#if PP_SLABMAP_PAGED
PP_HIDDEN struct pp_slabmap pp_slabmap;

int pp_slabmap_init(void) { return 0; }

/* Make the map writable for new regions [a, a + size): a leaf is reserved for each 4 GiB the range
 * touches, and the pages that hold the range's entries are committed. Called with a bank lock
 * held, so fork never finds the lock below taken. */
int pp_slabmap_commit(uintptr_t a, size_t size)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;   /* two nodes' banks may grow at once */
    int err = 0;
    pthread_mutex_lock(&lock);
    for (uintptr_t end = a + size; a < end && !err;) {
        uintptr_t stop = ((a >> 32) + 1) << 32;
        if (stop > end)
            stop = end;
        if (!pp_slabmap.top[a >> 32]) {
            void *leaf;
            if ((err = pp_os_reserve(PP_SLABMAP_LEAF_BYTES, &leaf)))
                break;
            __atomic_store_n(&pp_slabmap.top[a >> 32], (uintptr_t)((char *)leaf - pp_slabmap.zero), __ATOMIC_RELEASE);
        }
        err = commit_entries(a, stop);
        a = stop;
    }
    pthread_mutex_unlock(&lock);
    return err;
}
#else
static const uintptr_t slabmap_zero[sizeof(struct pp_slab) / sizeof(uintptr_t)];  /* before start-up */
PP_HIDDEN const char *pp_slabmap = (const char *)slabmap_zero;

/* Reserve the map (start-up, before the first region). */
int pp_slabmap_init(void)
{
    void *map;
    int err = pp_os_reserve(PP_SLABMAP_BYTES, &map);
    if (!err)
        __atomic_store_n(&pp_slabmap, (const char *)map, __ATOMIC_RELEASE);
    return err;
}

/* Make the map writable for new regions [a, a + size): the pages that hold their entries. Called
 * with a bank lock held; two nodes' banks may commit the same page, which is harmless. */
int pp_slabmap_commit(uintptr_t a, size_t size) { return commit_entries(a, a + size); }
#endif

/* Point the npages pages at a (a whole slab's block: 64 KiB-aligned, a multiple of 64 KiB) at
 * slab s, or at nothing (s NULL). */
void pp_slabmap_set(uintptr_t a, size_t npages, struct pp_slab *s)
{
    size_t per = (size_t)1 << (PP_SLABMAP_SHIFT - PP_PAGE_SHIFT);
    pp_assert_internal(a % ((uintptr_t)1 << PP_SLABMAP_SHIFT) == 0 && npages % per == 0);
    uintptr_t v = s ? (uintptr_t)((const char *)s - pp_slabmap_leaf(a)) : 0;
    uintptr_t *e = pp_slabmap_entry(a);
    for (size_t k = 0; k < npages / per; k++)
        __atomic_store_n(&e[k], v, __ATOMIC_RELEASE);
}

/* Called by whoever creates, moves or destroys the region at a (bank or huge paths). */
void pp_pagemap_set(uintptr_t a, struct pp_region *r)
{
    pp_pagemap_leaf_t *_Atomic *top = &pp_pagemap[a >> (PP_REGION_SHIFT + PP_PAGEMAP_LEAF_BITS)];
    pp_pagemap_leaf_t *leaf = atomic_load_explicit(top, memory_order_acquire);
    if (!leaf) {
        pp_pagemap_leaf_t *fresh = pp_meta_alloc(sizeof(pp_pagemap_leaf_t));
        if (!fresh)
            pp_fatal("cannot map the pagemap: out of memory");
        if (atomic_compare_exchange_strong(top, &leaf, fresh))
            leaf = fresh;                   /* else another thread's leaf won; ours is leaked metadata */
    }
    atomic_store_explicit(&(*leaf)[(a >> PP_REGION_SHIFT) & ((1u << PP_PAGEMAP_LEAF_BITS) - 1)], r, memory_order_release);
}

/* ---- Metadata pool ---- */
void *pp_meta_alloc(size_t size) { return pp_meta_alloc_aligned(size, 64); }

/* align: a power of two, at most a page. The gap it skips is address space only: never touched. */
void *pp_meta_alloc_aligned(size_t size, size_t align)
{
    size = PP_ALIGN_UP(size, 64);
    pthread_mutex_lock(&meta_lock);
    meta_cur = (char *)PP_ALIGN_UP((uintptr_t)meta_cur, align);
    if (meta_cur > meta_end)
        meta_cur = meta_end;
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t chunk = size > META_CHUNK ? PP_ALIGN_UP(size, PP_PAGE_SIZE) : META_CHUNK;
        void *p;
        if (pp_os_map(chunk, PP_PAGE_SIZE, &p)) {
            pthread_mutex_unlock(&meta_lock);
            return NULL;
        }
        pp_stat_add(mmap_calls, 1);
        meta_cur = p;
        meta_end = meta_cur + chunk;
    }
    void *r = meta_cur;
    meta_cur += size;
    pthread_mutex_unlock(&meta_lock);
    return r;
}

/* ---- Bank ---- */
struct pp_bank *pp_bank_of(unsigned node)
{
    struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
    if (b)
        return b;
    b = pp_meta_alloc(sizeof(*b));
    if (!b)
        pp_fatal("cannot map the region bank for node %u: out of memory", node);
    pthread_mutex_init(&b->lock, NULL);
    b->node = node;
    struct pp_bank *expected = NULL;
    if (!__atomic_compare_exchange_n(&banks[node], &expected, b, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return expected;                    /* lost the race: the loser's bank is leaked metadata (rare, once) */
    unsigned n = atomic_load(&nbanks);
    while (n <= node && !atomic_compare_exchange_weak(&nbanks, &n, node + 1))
        ;
    return b;
}

static bool bit_test(const struct pp_bank *b, int set, uint32_t i)
{
    return (b->group[i / 64].set[set] >> (i % 64)) & 1;
}
static void bit_set(struct pp_bank *b, int set, uint32_t i) { b->group[i / 64].set[set] |= 1ull << (i % 64); }
static void bit_clear(struct pp_bank *b, int set, uint32_t i) { b->group[i / 64].set[set] &= ~(1ull << (i % 64)); }

/* The lowest region of a set. */
static long first_of(const struct pp_bank *b, int set)
{
    for (uint32_t w = 0; w < (b->nregions + 63) / 64; w++) {
        uint64_t bits = b->group[w].set[set];
        if (bits)
            return (long)w * 64 + __builtin_ctzll(bits);
    }
    return -1;
}

static void region_advise(void *base, size_t size)
{
    if (pp_opt.thp == 1 || pp_opt.thp == 2)
        pp_os_hugepage(base, size, pp_opt.thp == 1);
}

/* Map at least n new regions, address-contiguous and aligned to align; they enter cold. */
static int bank_grow_locked(struct pp_bank *b, uint32_t n, size_t align)
{
    /* 1, 1, 2, 4, 8, 16, 16 ... regions: doubling up to a full chunk */
    uint32_t chunk = b->nregions < BANK_FIRST_REGIONS ? BANK_FIRST_REGIONS : b->nregions;
    if (chunk > BANK_CHUNK_REGIONS)
        chunk = BANK_CHUNK_REGIONS;
    if (n < chunk)
        n = chunk;
    if (b->nregions + n > PP_MAX_REGIONS)
        return ENOMEM;
    void *p;
    int err = pp_os_map(n * PP_REGION_SIZE, align, &p);
    if (err)
        return err;
    pp_stat_add(mmap_calls, 1);
    if ((err = pp_slabmap_commit((uintptr_t)p, n * PP_REGION_SIZE)))
        return err;                          /* the chunk stays mapped but unused */
    pp_os_bind(p, n * PP_REGION_SIZE, b->node);
    region_advise(p, n * PP_REGION_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        struct pp_region *r = pp_meta_alloc(sizeof(*r));
        if (!r)
            return ENOMEM;                   /* the rest of the chunk stays mapped but unused */
        r->base = (uintptr_t)p + i * PP_REGION_SIZE;
        r->kind = PP_REGION_POOL;
        r->node = (uint8_t)b->node;
        r->idx = b->nregions++;
        b->group[r->idx / 64].regions[r->idx % 64] = r;
        pp_pagemap_set(r->base, r);
        bit_set(b, PP_BANK_COLD, r->idx);
        b->ncold++;
    }
    return 0;
}

static void bank_remove_locked(struct pp_bank *b, uint32_t idx, bool *cold)
{
    if (bit_test(b, PP_BANK_HOT, idx)) {
        bit_clear(b, PP_BANK_HOT, idx);
        b->nhot--;
    } else {
        bit_clear(b, PP_BANK_COLD, idx);
        b->ncold--;
        *cold = true;
    }
}

static void purge_locked(struct pp_bank *b, struct pp_region *r)
{
    if (pp_os_purge((void *)r->base, PP_REGION_SIZE, PP_PURGE_DONTNEED) == 0) {
        pp_stat_add(madvise_calls, 1);
        pp_released_add(PP_REGION_SIZE);
    }
    bit_clear(b, PP_BANK_HOT, r->idx);
    b->nhot--;
    bit_set(b, PP_BANK_COLD, r->idx);
    b->ncold++;
}

/* Release hot regions idle for longer than the decay, keeping the lowest PAGEPOOL_RETAIN bytes.
 * Runs at most every decay/4 ms, from whoever gives or takes a region (and from reclaim). */
static void bank_decay_locked(struct pp_bank *b, uint64_t now, bool force, size_t retain)
{
    if (pp_opt.decay_ms < 0 && !force)
        return;                              /* decay off: never release */
    if (!force && now - b->last_decay_ms < (uint64_t)pp_opt.decay_ms / 4)
        return;
    b->last_decay_ms = now;
    size_t kept = 0;
    for (uint32_t w = 0; w < (b->nregions + 63) / 64; w++) {
        uint64_t bits = b->group[w].set[PP_BANK_HOT];
        while (bits) {
            uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            struct pp_region *r = pp_bank_region(b, idx);
            if (kept + PP_REGION_SIZE <= retain)
                kept += PP_REGION_SIZE;
            else if (force || now - r->freed_ms >= (uint64_t)pp_opt.decay_ms)
                purge_locked(b, r);
        }
    }
}

/* Take a whole free region for the buddy: resident ones first (no refault), lowest index first.
 * *cold tells the caller the region's pages were released (they read as zero, and refault). */
struct pp_region *pp_region_take(unsigned node, bool *cold)
{
    struct pp_bank *b = pp_bank_of(node);
    pthread_mutex_lock(&b->lock);
    *cold = false;
    long i = first_of(b, PP_BANK_HOT);
    if (i < 0) {
        i = first_of(b, PP_BANK_COLD);
        if (i < 0 && bank_grow_locked(b, 1, PP_REGION_SIZE) == 0)   /* maps 1 or more */
            i = first_of(b, PP_BANK_COLD);
    }
    if (i >= 0)
        bank_remove_locked(b, (uint32_t)i, cold);
    struct pp_region *r = i >= 0 ? pp_bank_region(b, i) : NULL;
    bank_decay_locked(b, pp_os_now_ms(), false, (size_t)pp_opt.retain);
    pthread_mutex_unlock(&b->lock);
    return r;
}

static void give_locked(struct pp_bank *b, struct pp_region *r, uint64_t now)
{
    r->kind = PP_REGION_POOL;
    r->freed_ms = now;
    bit_set(b, PP_BANK_HOT, r->idx);
    b->nhot++;
}

/* A region the buddy found wholly free comes back: hot (decay releases it later if unused), or
 * cold when all its pages were already released. */
void pp_region_give(struct pp_region *r, bool cold)
{
    struct pp_bank *b = pp_bank_of(r->node);
    uint64_t now = pp_os_now_ms();
    pthread_mutex_lock(&b->lock);
    if (cold) {
        r->kind = PP_REGION_POOL;
        bit_set(b, PP_BANK_COLD, r->idx);
        b->ncold++;
    } else {
        give_locked(b, r, now);
    }
    bank_decay_locked(b, now, false, (size_t)pp_opt.retain);
    pthread_mutex_unlock(&b->lock);
}

/* Release every banked resident region beyond keep_bytes (malloc_trim, reclaim), whatever its age. */
void pp_region_bank_purge(size_t keep_bytes)
{
    for (unsigned node = 0, n = bank_count(); node < n; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (!b)
            continue;
        pthread_mutex_lock(&b->lock);
        bank_decay_locked(b, pp_os_now_ms(), true, keep_bytes);
        pthread_mutex_unlock(&b->lock);
    }
}

/* Apply the decay now (reclaim paths; issue-free for callers that hold no bank lock). */
void pp_region_bank_decay(void)
{
    for (unsigned node = 0, n = bank_count(); node < n; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (!b)
            continue;
        pthread_mutex_lock(&b->lock);
        bank_decay_locked(b, pp_os_now_ms(), false, (size_t)pp_opt.retain);
        pthread_mutex_unlock(&b->lock);
    }
}

size_t pp_region_bank_bytes(bool resident_only)
{
    size_t bytes = 0;
    for (unsigned node = 0, n = bank_count(); node < n; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (b)
            bytes += ((size_t)b->nhot + (resident_only ? 0 : b->ncold)) * PP_REGION_SIZE;
    }
    return bytes;
}

size_t pp_region_mapped_bytes(void)
{
    size_t bytes = 0;
    for (unsigned node = 0, n = bank_count(); node < n; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (b)
            bytes += (size_t)(b->nregions - b->nlost) * PP_REGION_SIZE;
    }
    return bytes;
}

/* ---- Huge blocks: runs of contiguous banked regions ---- */
static bool contiguous(const struct pp_bank *b, uint32_t idx)
{
    return pp_bank_region(b, idx)->base + PP_REGION_SIZE == pp_bank_region(b, idx + 1)->base;
}

static bool banked(const struct pp_bank *b, uint32_t idx) { return bit_test(b, PP_BANK_HOT, idx) || bit_test(b, PP_BANK_COLD, idx); }

/* The first run of n banked, contiguous regions starting on an align boundary; all-hot runs first. */
static long find_run_locked(const struct pp_bank *b, uint32_t n, size_t align)
{
    long any = -1;
    for (uint32_t start = 0; start + n <= b->nregions; start++) {
        if (!banked(b, start) || (pp_bank_region(b, start)->base & (align - 1)))
            continue;
        uint32_t k = 1;
        bool hot = bit_test(b, PP_BANK_HOT, start);
        while (k < n && banked(b, start + k) && contiguous(b, start + k - 1)) {
            hot = hot && bit_test(b, PP_BANK_HOT, start + k);
            k++;
        }
        if (k == n) {
            if (hot)
                return start;
            if (any < 0)
                any = start;
        }
    }
    return any;
}

/* No run of n banked regions fits, so the bank maps n new ones: release as many hot banked regions
 * (none could serve), beyond the PAGEPOOL_RETAIN bytes kept resident whatever happens, so the
 * process does not grow by what sits idle (bench-large: peak RSS 98.7 -> 90.7 MiB, RESULTS.md).
 * Lowest index first: the highest lie next to the chunk about to be mapped, and a run through them
 * would take them straight back (released that way, they saved nothing). */
static void purge_for_growth_locked(struct pp_bank *b, uint32_t n)
{
    size_t retain = (size_t)pp_opt.retain / PP_REGION_SIZE;
    for (uint32_t w = 0; n && w < (b->nregions + 63) / 64; w++) {
        uint64_t bits = b->group[w].set[PP_BANK_HOT];
        for (; n && bits && b->nhot > retain; bits &= bits - 1, n--)
            purge_locked(b, pp_bank_region(b, w * 64 + (uint32_t)__builtin_ctzll(bits)));
    }
}

static void huge_attach(struct pp_region *head, uint32_t from, uint32_t to)
{
    struct pp_bank *b = pp_bank_of(head->node);
    for (uint32_t i = from; i < to; i++)
        pp_pagemap_set(pp_bank_region(b, head->idx + i)->base, head);
}

struct pp_region *pp_region_huge_alloc(size_t size, size_t align, unsigned node)
{
    if (size > PTRDIFF_MAX)
        return NULL;
    size_t n = (size + PP_REGION_SIZE - 1) >> PP_REGION_SHIFT;
    if (n == 0 || n >= PP_MAX_REGIONS)
        return NULL;
    if (align < PP_REGION_SIZE)
        align = PP_REGION_SIZE;
    struct pp_bank *b = pp_bank_of(node);
    pthread_mutex_lock(&b->lock);
    long start = find_run_locked(b, (uint32_t)n, align);
    if (start < 0) {
        purge_for_growth_locked(b, (uint32_t)n);
        if (bank_grow_locked(b, (uint32_t)n, align) == 0)
            start = find_run_locked(b, (uint32_t)n, align);
    }
    if (start < 0) {
        pthread_mutex_unlock(&b->lock);
        return NULL;
    }
    bool all_cold = true;
    for (uint32_t i = 0; i < n; i++) {
        bool cold = false;
        bank_remove_locked(b, (uint32_t)start + i, &cold);
        all_cold &= cold;
    }
    pthread_mutex_unlock(&b->lock);
    struct pp_region *head = pp_bank_region(b, start);
    head->kind = PP_REGION_HUGE;
    head->huge_n = (uint32_t)n;
    head->huge_usable = n << PP_REGION_SHIFT;
    head->huge_fresh = all_cold;             /* every region released or never touched: reads as zero */
    huge_attach(head, 1, (uint32_t)n);
    atomic_fetch_add(&pp_counters.huge_bytes, head->huge_usable);
    return head;
}

/* Regions [from, to) of a huge block go back to the bank (detached from the block). */
static void huge_give(struct pp_region *head, uint32_t from, uint32_t to)
{
    struct pp_bank *b = pp_bank_of(head->node);
    uint64_t now = pp_os_now_ms();
    for (uint32_t i = from; i < to; i++) {
        struct pp_region *r = pp_bank_region(b, head->idx + i);
        memset(r->state, PP_PG_FREED, sizeof(r->state));   /* a later free() inside says "double free" */
        if (i)
            pp_pagemap_set(r->base, r);
    }
    pthread_mutex_lock(&b->lock);
    for (uint32_t i = from; i < to; i++)
        give_locked(b, pp_bank_region(b, head->idx + i), now);
    bank_decay_locked(b, now, false, (size_t)pp_opt.retain);
    pthread_mutex_unlock(&b->lock);
}

void pp_region_huge_free(struct pp_region *head)
{
    atomic_fetch_sub(&pp_counters.huge_bytes, head->huge_usable);
    huge_give(head, 0, head->huge_n);
}

/* Resize in place: shrink by giving tail regions back, grow by taking the banked regions that
 * follow. Returns false when the block cannot grow in place (the caller moves it). */
bool pp_region_huge_resize(struct pp_region *head, size_t size)
{
    if (size > PTRDIFF_MAX)
        return false;
    size_t n = (size + PP_REGION_SIZE - 1) >> PP_REGION_SHIFT;
    uint32_t old = head->huge_n;
    struct pp_bank *b = pp_bank_of(head->node);
    if (n <= old) {
        head->huge_n = (uint32_t)n;
        head->huge_usable = n << PP_REGION_SHIFT;
        atomic_fetch_sub(&pp_counters.huge_bytes, (size_t)(old - n) << PP_REGION_SHIFT);
        huge_give(head, (uint32_t)n, old);
        return true;
    }
    pthread_mutex_lock(&b->lock);
    bool ok = head->idx + n <= b->nregions;
    for (uint32_t i = old; ok && i < n; i++)
        ok = banked(b, head->idx + i) && contiguous(b, head->idx + i - 1);
    if (ok) {
        bool cold = false;
        for (uint32_t i = old; i < n; i++)
            bank_remove_locked(b, head->idx + i, &cold);
    }
    pthread_mutex_unlock(&b->lock);
    if (!ok)
        return false;
    huge_attach(head, old, (uint32_t)n);
    head->huge_n = (uint32_t)n;
    head->huge_usable = n << PP_REGION_SHIFT;
    atomic_fetch_add(&pp_counters.huge_bytes, (size_t)(n - old) << PP_REGION_SHIFT);
    return true;
}

/* Move a huge block's pages onto a larger one with mremap (page tables move; no copy). The old
 * range is mapped again, fresh, and its regions go back to the bank cold; if another mapping took
 * that address range meanwhile, its regions are written off (counted as lost). */
bool pp_region_huge_move(struct pp_region *from, struct pp_region *to)
{
    size_t bytes = (size_t)from->huge_n << PP_REGION_SHIFT;
    if (pp_os_move((void *)from->base, bytes, (void *)to->base))
        return false;
    struct pp_bank *b = pp_bank_of(from->node);
    bool refilled = pp_os_map_fixed((void *)from->base, bytes) == 0;
    if (refilled) {
        pp_os_bind((void *)from->base, bytes, from->node);
        region_advise((void *)from->base, bytes);
    }
    atomic_fetch_sub(&pp_counters.huge_bytes, from->huge_usable);
    uint32_t n = from->huge_n;
    for (uint32_t i = 0; i < n; i++) {
        struct pp_region *r = pp_bank_region(b, from->idx + i);
        memset(r->state, PP_PG_FREED, sizeof(r->state));
        pp_pagemap_set(r->base, refilled ? r : &pp_region_dead);
    }
    pthread_mutex_lock(&b->lock);
    for (uint32_t i = 0; i < n; i++) {
        struct pp_region *r = pp_bank_region(b, from->idx + i);
        r->kind = refilled ? PP_REGION_POOL : PP_REGION_DEAD;
        if (refilled) {
            bit_set(b, PP_BANK_COLD, r->idx);
            b->ncold++;
        } else {
            b->nlost++;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return true;
}

/* ---- fork ---- */
/* Lock order: bank -> meta (bank_grow calls pp_meta_alloc while holding the bank lock). */
void pp_region_fork_prepare(void)
{
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_lock(&banks[n]->lock);
    pthread_mutex_lock(&meta_lock);
}

void pp_region_fork_parent(void)
{
    pthread_mutex_unlock(&meta_lock);
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_unlock(&banks[n]->lock);
}

void pp_region_fork_child(void)
{
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_init(&banks[n]->lock, NULL);
    pthread_mutex_init(&meta_lock, NULL);
}
