/*
 * region.c — the back end ("bank", seed 004): 2 MiB regions, the pagemap, and the metadata pool.
 *
 * - The pagemap maps address >> 21 to the region descriptor (two levels, see internal.h). free()
 *   reads it without a lock; entries are written only when a region is created (never removed: pool
 *   regions are purged, not unmapped) or when a huge block is mapped, moved or freed.
 * - The bank of each node holds whole free regions. Invariant: a region is either in its node's
 *   buddy pool or in the bank (hot = resident, cold = purged or never touched), never both.
 *   Regions are taken lowest index first, so that the pool stays dense and high regions stay free.
 * - Region descriptors, slab descriptors and heaps come from the metadata pool: bump-allocated from
 *   mmap'd chunks, never freed (type-stable), so a racing reader never touches unmapped memory.
 * Layer: called by buddy.c (take/give regions) and heap.c (huge blocks); calls os.
 */
#include "internal.h"

PP_HIDDEN pp_pagemap_leaf_t *_Atomic pp_pagemap[PP_PAGEMAP_TOP];
PP_HIDDEN struct pp_region pp_region_dead = { .kind = PP_REGION_DEAD };

#define BANK_CHUNK_REGIONS 8            /* regions mapped per mmap call (16 MiB of address space) */
#define META_CHUNK (4u << 20)

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;
static struct pp_bank *banks[PP_MAX_NODES];
static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_region *huge_free_list;   /* recycled HUGE descriptors (linked through huge_size) */

int pp_region_init(void) { return 0; }

PP_HIDDEN struct pp_slabmap pp_slabmap;

/* Point npages pages at a (all in one region) at slab s, or NULL. */
void pp_slabmap_set(uintptr_t a, size_t npages, struct pp_slab *s)
{
    _Atomic uintptr_t *top = &pp_slabmap.top[a >> (PP_PAGE_SHIFT + PP_SLABMAP_LEAF_BITS)];
    uintptr_t off = atomic_load_explicit(top, memory_order_acquire);
    if (off == 0) {
        char *fresh = pp_meta_alloc(sizeof(pp_slabmap_leaf_t));
        if (!fresh)
            pp_fatal("cannot map the slab map: out of memory");
        uintptr_t want = (uintptr_t)(fresh - (char *)&pp_slabmap.zero);
        if (atomic_compare_exchange_strong(top, &off, want))
            off = want;                     /* else another thread's leaf won; ours is leaked metadata */
    }
    pp_slabmap_leaf_t *leaf = (pp_slabmap_leaf_t *)((char *)&pp_slabmap.zero + off);
    size_t i = (a >> PP_PAGE_SHIFT) & ((1u << PP_SLABMAP_LEAF_BITS) - 1);
    for (size_t k = 0; k < npages; k++)
        atomic_store_explicit(&(*leaf)[i + k], s, memory_order_release);
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
void *pp_meta_alloc(size_t size)
{
    size = PP_ALIGN_UP(size, 64);
    pthread_mutex_lock(&meta_lock);
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
    return b;
}

static long bitmap_first(const uint64_t *bits, uint32_t nbits)
{
    for (uint32_t w = 0; w < (nbits + 63) / 64; w++)
        if (bits[w])
            return (long)w * 64 + __builtin_ctzll(bits[w]);
    return -1;
}

static void bit_set(uint64_t *bits, uint32_t i) { bits[i / 64] |= 1ull << (i % 64); }
static void bit_clear(uint64_t *bits, uint32_t i) { bits[i / 64] &= ~(1ull << (i % 64)); }

static void region_advise(void *base, size_t size)
{
    if (pp_opt.thp == 1 || pp_opt.thp == 2)
        pp_os_hugepage(base, size, pp_opt.thp == 1);
}

/* Map a chunk of new regions for the bank; they enter cold (untouched, reading as zero). */
static int bank_grow_locked(struct pp_bank *b)
{
    uint32_t n = BANK_CHUNK_REGIONS;
    if (b->nregions + n > PP_MAX_REGIONS)
        return ENOMEM;
    void *p;
    int err = pp_os_map(n * PP_REGION_SIZE, PP_REGION_SIZE, &p);
    if (err) {
        n = 1;                               /* address space tight: try one region */
        err = pp_os_map(PP_REGION_SIZE, PP_REGION_SIZE, &p);
        if (err)
            return err;
    }
    pp_stat_add(mmap_calls, 1);
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
        b->regions[r->idx] = r;
        bit_set(b->cold, r->idx);
        b->ncold++;
        pp_pagemap_set(r->base, r);
    }
    return 0;
}

/* Take a whole free region for the buddy: resident ones first (no refault), lowest index first.
 * *cold tells the caller the region's pages were released (they read as zero, and refault). */
struct pp_region *pp_region_take(unsigned node, bool *cold)
{
    struct pp_bank *b = pp_bank_of(node);
    pthread_mutex_lock(&b->lock);
    long i = bitmap_first(b->hot, b->nregions);
    *cold = false;
    if (i >= 0) {
        bit_clear(b->hot, (uint32_t)i);
        b->nhot--;
    } else {
        i = bitmap_first(b->cold, b->nregions);
        if (i < 0 && bank_grow_locked(b) == 0)
            i = bitmap_first(b->cold, b->nregions);
        if (i >= 0) {
            bit_clear(b->cold, (uint32_t)i);
            b->ncold--;
            *cold = true;
        }
    }
    struct pp_region *r = i >= 0 ? b->regions[i] : NULL;
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* A region the buddy found wholly free comes back. Keep up to PAGEPOOL_RETAIN resident; release
 * the rest whole with MADV_DONTNEED (one call per 2 MiB, so a huge page is never split). */
void pp_region_give(struct pp_region *r)
{
    struct pp_bank *b = pp_bank_of(r->node);
    pthread_mutex_lock(&b->lock);
    if ((size_t)(b->nhot + 1) * PP_REGION_SIZE <= (size_t)pp_opt.retain) {
        bit_set(b->hot, r->idx);
        b->nhot++;
    } else {
        if (pp_os_purge((void *)r->base, PP_REGION_SIZE, PP_PURGE_DONTNEED) == 0) {
            pp_stat_add(madvise_calls, 1);
            pp_released_add(PP_REGION_SIZE);
        }
        bit_set(b->cold, r->idx);
        b->ncold++;
    }
    pthread_mutex_unlock(&b->lock);
}

/* Release every banked resident region beyond keep_bytes (malloc_trim, reclaim). */
void pp_region_bank_purge(size_t keep_bytes)
{
    for (unsigned node = 0; node < PP_MAX_NODES; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (!b)
            continue;
        pthread_mutex_lock(&b->lock);
        long i;
        while ((size_t)b->nhot * PP_REGION_SIZE > keep_bytes && (i = bitmap_first(b->hot, b->nregions)) >= 0) {
            struct pp_region *r = b->regions[i];
            if (pp_os_purge((void *)r->base, PP_REGION_SIZE, PP_PURGE_DONTNEED) == 0) {
                pp_stat_add(madvise_calls, 1);
                pp_released_add(PP_REGION_SIZE);
            }
            bit_clear(b->hot, (uint32_t)i);
            b->nhot--;
            bit_set(b->cold, (uint32_t)i);
            b->ncold++;
        }
        pthread_mutex_unlock(&b->lock);
    }
}

size_t pp_region_bank_bytes(bool *resident_only)
{
    size_t bytes = 0;
    for (unsigned node = 0; node < PP_MAX_NODES; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (b)
            bytes += ((size_t)b->nhot + (resident_only && *resident_only ? 0 : b->ncold)) * PP_REGION_SIZE;
    }
    return bytes;
}

size_t pp_region_mapped_bytes(void)
{
    size_t bytes = 0;
    for (unsigned node = 0; node < PP_MAX_NODES; node++) {
        struct pp_bank *b = __atomic_load_n(&banks[node], __ATOMIC_ACQUIRE);
        if (b)
            bytes += (size_t)b->nregions * PP_REGION_SIZE;
    }
    return bytes + atomic_load_explicit(&pp_counters.huge_bytes, memory_order_relaxed);
}

/* ---- Huge blocks: whole regions mapped for one allocation ---- */
static void pagemap_set(uintptr_t base, size_t size, struct pp_region *r)
{
    for (uintptr_t a = base; a < base + size; a += PP_REGION_SIZE)
        pp_pagemap_set(a, r);
}

static struct pp_region *huge_desc_get(void)
{
    pthread_mutex_lock(&huge_lock);
    struct pp_region *r = huge_free_list;
    if (r)
        huge_free_list = (struct pp_region *)r->huge_usable;
    pthread_mutex_unlock(&huge_lock);
    return r ? r : pp_meta_alloc(offsetof(struct pp_region, link_next));  /* no page arrays */
}

static void huge_desc_put(struct pp_region *r)
{
    pthread_mutex_lock(&huge_lock);
    r->huge_usable = (size_t)(uintptr_t)huge_free_list;
    huge_free_list = r;
    pthread_mutex_unlock(&huge_lock);
}

struct pp_region *pp_region_huge_alloc(size_t size, size_t align, unsigned node)
{
    size_t mapped = PP_ALIGN_UP(size, PP_REGION_SIZE);
    if (mapped < size)
        return NULL;
    struct pp_region *r = huge_desc_get();
    if (!r)
        return NULL;
    void *p;
    if (pp_os_map(mapped, align > PP_REGION_SIZE ? align : PP_REGION_SIZE, &p)) {
        huge_desc_put(r);
        return NULL;
    }
    pp_stat_add(mmap_calls, 1);
    pp_os_bind(p, mapped, node);
    region_advise(p, mapped);
    r->base = (uintptr_t)p;
    r->kind = PP_REGION_HUGE;
    r->node = (uint8_t)node;
    r->huge_size = mapped;
    r->huge_usable = mapped;
    atomic_fetch_add(&pp_counters.huge_bytes, mapped);
    pagemap_set(r->base, mapped, r);
    return r;
}

void pp_region_huge_free(struct pp_region *r)
{
    /* entries point at the dead marker, so a second free() says "double free", not "invalid" */
    pagemap_set(r->base, r->huge_size, &pp_region_dead);
    pp_os_unmap((void *)r->base, r->huge_size);
    pp_stat_add(munmap_calls, 1);
    atomic_fetch_sub(&pp_counters.huge_bytes, r->huge_size);
    huge_desc_put(r);
}

/* Grow or shrink a huge block with mremap (in place when the kernel can, else moved without copying). */
struct pp_region *pp_region_huge_resize(struct pp_region *r, size_t size)
{
    size_t mapped = PP_ALIGN_UP(size, PP_REGION_SIZE);
    if (mapped < size)
        return NULL;
    void *p;
    if (pp_os_remap((void *)r->base, r->huge_size, mapped, PP_REGION_SIZE, &p))
        return NULL;
    atomic_fetch_sub(&pp_counters.huge_bytes, r->huge_size);
    atomic_fetch_add(&pp_counters.huge_bytes, mapped);
    if ((uintptr_t)p != r->base)
        pagemap_set(r->base, r->huge_size, &pp_region_dead);
    else if (mapped < r->huge_size)
        pagemap_set(r->base + mapped, r->huge_size - mapped, &pp_region_dead);
    r->base = (uintptr_t)p;
    r->huge_size = mapped;
    r->huge_usable = mapped;
    pagemap_set(r->base, mapped, r);
    return r;
}

/* ---- fork ---- */
/* Lock order: bank -> huge -> meta (bank_grow and the huge paths call pp_meta_alloc while holding). */
void pp_region_fork_prepare(void)
{
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_lock(&banks[n]->lock);
    pthread_mutex_lock(&huge_lock);
    pthread_mutex_lock(&meta_lock);
}

void pp_region_fork_parent(void)
{
    pthread_mutex_unlock(&meta_lock);
    pthread_mutex_unlock(&huge_lock);
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_unlock(&banks[n]->lock);
}

void pp_region_fork_child(void)
{
    for (unsigned n = 0; n < PP_MAX_NODES; n++)
        if (banks[n])
            pthread_mutex_init(&banks[n]->lock, NULL);
    pthread_mutex_init(&huge_lock, NULL);
    pthread_mutex_init(&meta_lock, NULL);
}
