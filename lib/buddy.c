/*
 * buddy.c — the page pool: one buddy allocator per NUMA node (the kernel's zone), orders 0..9.
 *
 * Free blocks live on per-region, per-order lists whose links are page indexes in the region
 * descriptor (never in the pages themselves, so a released page is not touched again). Two region
 * sets per order say which regions have a free block of that order, and which have a hot one;
 * allocation takes a hot block of the smallest fitting order from the densest region among the
 * lowest 64 that have one (map_pick), and a cold (released) block only when no hot block fits
 * (seed 002); dense and low regions fill up, so sparse and high ones drain empty and go back whole
 * (seed 004). Cold blocks go to the tail of their list. A run (npages, not a power of two) first
 * tries a free extent of adjacent blocks that fits it to the page (run_fit_locked).
 *
 * Buddy arithmetic, by page index inside a region:
 *   the order-o buddy of block B is B ^ (1 << o)   (#8 at order 1 -> #10; #10 at order 1 -> #8)
 *   the order-(o+1) parent is B & ~(1 << o)        (#10 at order 1 -> #8)
 *
 * Invariants (pp_buddy_is_valid walks them at debug level 3):
 *   - a free block's head page is FREE_HEAD with order[] = its order, its other pages FREE_TAIL;
 *   - it is on exactly one list: its region's list for its order; avail[o] has the region's bit iff
 *     that list is non-empty, hot[o] iff it holds a hot block (nhot[o] counts them);
 *   - a merged block is cold only if both halves were (PP_PF_COLD);
 *   - no free block of order < 9 has a free buddy of the same order (they would have merged);
 *   - an order-9 free block never stays in the pool: the whole region goes back to the bank;
 *   - pool->nr_free = sum of region nr_free = pages on the lists; nr_free_of[idx] = r->nr_free.
 * Capture (seeds 000/001/003): a struct pp_capture passed into the free path takes the first block
 * that coalesces to the wanted order in the wanted pool, after merging, and it never enters the lists.
 * Layer: called by pcp.c and heap.c; calls region.c (take and give regions).
 */
#include "internal.h"

PP_HIDDEN unsigned pp_nr_nodes = 1;
static struct pp_pool *pools[PP_MAX_NODES];

int pp_buddy_init(unsigned nr_nodes)
{
    pp_nr_nodes = nr_nodes ? nr_nodes : 1;
    for (unsigned n = 0; n < pp_nr_nodes; n++) {
        struct pp_pool *p = pp_meta_alloc(sizeof(*p));
        if (!p)
            return ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        p->node = n;
        pools[n] = p;
    }
    return 0;
}

struct pp_pool *pp_pool_of(unsigned node) { return pools[node < pp_nr_nodes ? node : 0]; }

/* ---- Region sets (avail and hot, per order) ---- */
static void map_set(struct pp_pool *pool, int set, unsigned o, uint32_t idx)
{
    pool->group[idx / 64].bits[set][o] |= 1ull << (idx % 64);
    pool->summary[idx / 4096][set][o] |= 1ull << ((idx / 64) % 64);
}

static void map_clear(struct pp_pool *pool, int set, unsigned o, uint32_t idx)
{
    uint64_t *w = &pool->group[idx / 64].bits[set][o];
    *w &= ~(1ull << (idx % 64));
    if (!*w)
        pool->summary[idx / 4096][set][o] &= ~(1ull << ((idx / 64) % 64));
}

static bool map_test(const struct pp_pool *pool, int set, unsigned o, uint32_t idx)
{
    return (pool->group[idx / 64].bits[set][o] >> (idx % 64)) & 1;
}

/* Of the 64 counts nr[i] whose bit i is set in bits (not 0), the index of the smallest, the lowest
 * on a tie. A scan of the set bits costs about six instructions a region, and in a fragmented pool
 * most of a word's 64 regions hold a block of the small orders: 350 instructions for each of the
 * two or three picks of a page run (stress-ng's malloc stressor with blocks up to 64 KiB spent 19%
 * of its instructions here). With SSE2 (every x86-64) the 64 counts are 8 vectors: masked, a
 * running minimum, then the first lane that equals it, about 90 instructions. */
static unsigned densest_scan(const uint16_t nr[64], uint64_t bits, uint64_t *rest, unsigned limit)
{
    unsigned best = 0, best_free = ~0u;
    for (; bits && limit; bits &= bits - 1, limit--) {
        unsigned i = (unsigned)__builtin_ctzll(bits);
        if (nr[i] < best_free) {
            best_free = nr[i];
            best = i;
        }
    }
    *rest = bits;
    return best;
}

#ifdef __SSE2__
#include <emmintrin.h>
static unsigned densest_sse2(const uint16_t nr[64], uint64_t bits)
{
    const __m128i lane = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128), none = _mm_set1_epi16(0x7fff);
    __m128i v[8], min = none;
    for (unsigned j = 0; j < 8; j++) {
        __m128i m = _mm_set1_epi16((short)((bits >> (8 * j)) & 0xff));
        __m128i sel = _mm_cmpeq_epi16(_mm_and_si128(m, lane), lane);   /* 0xffff where bit set */
        __m128i x = _mm_loadu_si128((const __m128i *)(nr + 8 * j));  /* counts <= 512: signed is fine */
        v[j] = _mm_or_si128(_mm_and_si128(sel, x), _mm_andnot_si128(sel, none));
        min = _mm_min_epi16(min, v[j]);
    }
    min = _mm_min_epi16(min, _mm_shuffle_epi32(min, 0x4e));
    min = _mm_min_epi16(min, _mm_shuffle_epi32(min, 0xb1));
    min = _mm_min_epi16(min, _mm_srli_epi32(min, 16));
    __m128i want = _mm_set1_epi16((short)_mm_extract_epi16(min, 0));
    for (unsigned j = 0; j < 8; j++) {
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(v[j], want));
        if (eq)
            return 8 * j + (unsigned)__builtin_ctz(eq) / 2;
    }
    return 0;                               /* bits was 0 */
}
#endif

/* A pool of a few regions has a few bits set: scan up to 8 of them, and only past that take the
 * vectors (bench-phase -s 0.1, 14 regions: 1.45 M instructions with the scan, 1.51 M with SSE2 alone). */
unsigned pp_buddy_densest(const uint16_t nr[64], uint64_t bits)
{
    uint64_t rest;
#ifdef __SSE2__
    unsigned best = densest_scan(nr, bits, &rest, 8);
    return rest ? densest_sse2(nr, bits) : best;
#else
    return densest_scan(nr, bits, &rest, 64);
#endif
}

/* The region to allocate an order-o block from: among the regions of the lowest non-empty word of
 * the set (64 region indexes), the densest, i.e. the one with the fewest free pages (the lowest on
 * a tie). Dense regions fill up and sparse ones empty out and go back to the bank whole; keeping to
 * the lowest word keeps the pool packed towards its low regions, and bounds the search to one
 * cache line of counts. */
static long map_pick(const struct pp_pool *pool, int set, unsigned o)
{
    for (unsigned s = 0; s < PP_MAX_REGIONS / 4096; s++) {
        uint64_t sw = pool->summary[s][set][o];
        if (sw) {
            unsigned w = s * 64 + (unsigned)__builtin_ctzll(sw);
            const struct pp_pool_group *g = &pool->group[w];
            return (long)w * 64 + pp_buddy_densest(g->nr_free_of, g->bits[set][o]);
        }
    }
    return -1;
}

static long map_last(const struct pp_pool *pool, int set, unsigned o)
{
    for (int s = PP_MAX_REGIONS / 4096 - 1; s >= 0; s--) {
        uint64_t sw = pool->summary[s][set][o];
        if (sw) {
            unsigned w = (unsigned)s * 64 + 63u - (unsigned)__builtin_clzll(sw);
            return (long)w * 64 + 63 - __builtin_clzll(pool->group[w].bits[set][o]);
        }
    }
    return -1;
}

/* The region's free-page count, packed in its pool group for map_pick. */
static void set_nr_free_of(struct pp_pool *pool, const struct pp_region *r)
{
    pool->group[r->idx / 64].nr_free_of[r->idx % 64] = (uint16_t)r->nr_free;
}

/* ---- List verbs: each keeps the lists, counters and bitmaps in step ---- */
static void list_add(struct pp_pool *pool, struct pp_region *r, unsigned pi, unsigned order, bool to_tail)
{
    r->state[pi] = PP_PG_FREE_HEAD;
    r->order[pi] = (uint8_t)order;
    uint16_t h = r->head[order];
    if (!(r->flags[pi] & PP_PF_COLD) && r->nhot[order]++ == 0)
        map_set(pool, PP_MAP_HOT, order, r->idx);
    if (h == PP_NO_PAGE) {
        r->head[order] = r->tail[order] = (uint16_t)pi;
        r->link_next[pi] = r->link_prev[pi] = PP_NO_PAGE;
        map_set(pool, PP_MAP_AVAIL, order, r->idx);
    } else if (to_tail) {
        uint16_t t = r->tail[order];
        r->link_next[t] = (uint16_t)pi;
        r->link_prev[pi] = t;
        r->link_next[pi] = PP_NO_PAGE;
        r->tail[order] = (uint16_t)pi;
    } else {
        r->link_prev[h] = (uint16_t)pi;
        r->link_next[pi] = h;
        r->link_prev[pi] = PP_NO_PAGE;
        r->head[order] = (uint16_t)pi;
    }
    r->nr_free += 1u << order;
    set_nr_free_of(pool, r);
    pool->nr_free += 1u << order;
    if (r->flags[pi] & PP_PF_COLD)
        pool->nr_cold += 1u << order;
}

static void list_del(struct pp_pool *pool, struct pp_region *r, unsigned pi, unsigned order)
{
    uint16_t n = r->link_next[pi], p = r->link_prev[pi];
    if (p == PP_NO_PAGE) r->head[order] = n; else r->link_next[p] = n;
    if (n == PP_NO_PAGE) r->tail[order] = p; else r->link_prev[n] = p;
    if (r->head[order] == PP_NO_PAGE)
        map_clear(pool, PP_MAP_AVAIL, order, r->idx);
    if (!(r->flags[pi] & PP_PF_COLD) && --r->nhot[order] == 0)
        map_clear(pool, PP_MAP_HOT, order, r->idx);
    r->state[pi] = PP_PG_FREE_TAIL;
    r->nr_free -= 1u << order;
    set_nr_free_of(pool, r);
    pool->nr_free -= 1u << order;
    if (r->flags[pi] & PP_PF_COLD)
        pool->nr_cold -= 1u << order;
}

/* A fresh region from the bank enters as one free order-9 block; it leaves whole (pp_region_give). */
static bool pool_grow_locked(struct pp_pool *pool)
{
    bool cold;
    struct pp_region *r = pp_region_take(pool->node, &cold);
    if (!r)
        return false;
    for (unsigned o = 0; o < PP_NR_ORDERS; o++) {
        r->head[o] = r->tail[o] = PP_NO_PAGE;
        r->nhot[o] = 0;
    }
    r->nr_free = 0;
    set_nr_free_of(pool, r);
    r->in_pool = 1;
    memset(r->state, PP_PG_FREE_TAIL, sizeof(r->state));
    r->flags[0] = cold ? PP_PF_COLD : 0;
    list_add(pool, r, 0, PP_MAX_ORDER, false);
    return true;
}

/* Split a block of order `high` down to `low`, keeping the lower half each time and freeing the
 * upper: the block handed out stays at the low address, so the pool fills from the bottom. */
static void expand(struct pp_pool *pool, struct pp_region *r, unsigned pi, unsigned low, unsigned high)
{
    uint8_t flags = r->flags[pi];
    while (high > low) {
        high--;
        unsigned half = pi + (1u << high);
        r->flags[half] = flags;
        list_add(pool, r, half, high, false);
    }
}

/* Pages handed out, by whether they were resident (statistics: page faults avoided or taken). */
static void count_out(struct pp_pool *pool, bool cold, unsigned pages)
{
    if (cold)
        pool->cold_pages_out += pages;
    else
        pool->hot_pages_out += pages;
}

/* The first block of order o in r that is hot (cold: any). */
static unsigned pick(const struct pp_region *r, unsigned o, bool cold)
{
    unsigned pi = r->head[o];
    if (!cold)
        while (r->flags[pi] & PP_PF_COLD)
            pi = r->link_next[pi];
    return pi;
}

/* Hot before cold (seed 002): a released block refaults and is zeroed by the kernel on next touch,
 * so the pool first looks for a hot block of any order that fits (densest region first, map_pick),
 * and takes a cold one only when there is none. */
uintptr_t pp_buddy_alloc_locked(struct pp_pool *pool, unsigned order) { return pp_buddy_alloc_cold_locked(pool, order, NULL); }

/* The same, telling whether the block was cold (released or never touched). */
uintptr_t pp_buddy_alloc_cold_locked(struct pp_pool *pool, unsigned order, bool *cold)
{
    pp_assert_internal(order <= PP_MAX_ORDER);
    for (int attempt = 0; attempt < 2; attempt++) {
        for (int pass = 0; pass < 2; pass++) {
            int set = pass ? PP_MAP_AVAIL : PP_MAP_HOT;
            for (unsigned o = order; o <= PP_MAX_ORDER; o++) {
                long idx = map_pick(pool, set, o);
                if (idx < 0)
                    continue;
                struct pp_region *r = pp_bank_region(pp_bank_of(pool->node), (uint32_t)idx);
                unsigned pi = pick(r, o, pass);
                list_del(pool, r, pi, o);
                expand(pool, r, pi, order, o);
                memset(&r->state[pi], PP_PG_CACHED, 1u << order);
                if (cold)
                    *cold = r->flags[pi] & PP_PF_COLD;
                count_out(pool, r->flags[pi] & PP_PF_COLD, 1u << order);
                r->flags[pi] = 0;
                pp_assert_expensive(pp_buddy_is_valid(pool));
                return pp_page_addr(r, pi);
            }
        }
        if (!pool_grow_locked(pool))
            break;
    }
    return 0;
}

uintptr_t pp_buddy_alloc(struct pp_pool *pool, unsigned order)
{
    pthread_mutex_lock(&pool->lock);
    uintptr_t b = pp_buddy_alloc_locked(pool, order);
    pthread_mutex_unlock(&pool->lock);
    return b;
}

/* Capture (kernel compaction_capture): the reclaimer's context takes the block at its exact order. */
static bool capture(struct pp_capture *capc, struct pp_pool *pool, struct pp_region *r, unsigned pi, unsigned order)
{
    if (!capc || capc->pool != pool || capc->block || capc->order != order)
        return false;
    memset(&r->state[pi], PP_PG_CACHED, 1u << order);
    capc->block = pp_page_addr(r, pi);
    return true;
}

/* Is a merge with the next-higher buddy likely soon? Then put this block at the tail, so the
 * pool uses other blocks first and the pair gets a chance to coalesce (kernel buddy_merge_likely, M14). */
static bool merge_likely(const struct pp_region *r, unsigned pi, unsigned order)
{
    if (order >= PP_MAX_ORDER - 1)
        return false;
    unsigned parent = pi & ~(1u << order);
    unsigned higher = parent ^ (1u << (order + 1));
    return r->state[higher] == PP_PG_FREE_HEAD && r->order[higher] == order + 1;
}

void pp_buddy_free_locked(struct pp_pool *pool, uintptr_t block, unsigned order, unsigned fpi, struct pp_capture *capc)
{
    struct pp_region *r = pp_region_of(block);
    unsigned pi = pp_page_index(block);
    pp_assert_internal(r && r->kind == PP_REGION_POOL && (pi & ((1u << order) - 1)) == 0);
    memset(&r->state[pi], PP_PG_FREE_TAIL, 1u << order);
    uint8_t flags = (fpi & PP_FREE_COLD) ? PP_PF_COLD : 0;
    while (order < PP_MAX_ORDER) {
        if (capture(capc, pool, r, pi, order))
            return;
        unsigned buddy = pi ^ (1u << order);
        if (r->state[buddy] != PP_PG_FREE_HEAD || r->order[buddy] != order)
            break;
        flags &= r->flags[buddy];          /* cold only if both halves are cold */
        list_del(pool, r, buddy, order);
        pi &= buddy;
        order++;
    }
    if (capture(capc, pool, r, pi, order))
        return;
    r->flags[pi] = flags;
    if (order == PP_MAX_ORDER) {
        /* the whole region is free: cash goes back to the bank */
        pp_assert_internal(r->nr_free == 0);
        r->in_pool = 0;
        pp_region_give(r, flags & PP_PF_COLD);
    } else {
        list_add(pool, r, pi, order, (fpi & PP_FREE_TO_TAIL) || flags || merge_likely(r, pi, order));
    }
    pp_assert_expensive(pp_buddy_is_valid(pool));
}

/* Take a hot free block of order >= min_order off the lists so that the reclaimer can release it
 * (then it comes back through pp_buddy_free_locked with PP_FREE_COLD, like the kernel's free page
 * reporting). Highest region first (the sparsest, M15), largest order first. Returns 0 if none. */
uintptr_t pp_buddy_isolate_hot_locked(struct pp_pool *pool, unsigned min_order, unsigned *order_out)
{
    for (int o = PP_MAX_ORDER - 1; o >= (int)min_order; o--) {
        long idx = map_last(pool, PP_MAP_HOT, (unsigned)o);
        if (idx < 0)
            continue;
        struct pp_region *r = pp_bank_region(pp_bank_of(pool->node), (uint32_t)idx);
        unsigned pi = pick(r, (unsigned)o, false);
        list_del(pool, r, pi, (unsigned)o);
        memset(&r->state[pi], PP_PG_CACHED, 1u << o);
        *order_out = (unsigned)o;
        return pp_page_addr(r, pi);
    }
    return 0;
}

void pp_buddy_free(struct pp_pool *pool, uintptr_t block, unsigned order)
{
    pthread_mutex_lock(&pool->lock);
    pp_buddy_free_locked(pool, block, order, 0, NULL);
    pthread_mutex_unlock(&pool->lock);
}

/* ---- Runs: npages contiguous pages, not a power of two (large blocks, M19) ---- */
static unsigned order_for(size_t npages)
{
    return npages <= 1 ? 0 : 64u - (unsigned)__builtin_clzll(npages - 1);
}

/* Free pages [pi, pi + npages) of r as the largest aligned blocks that fit. */
static void free_pages_locked(struct pp_pool *pool, struct pp_region *r, unsigned pi, size_t npages)
{
    while (npages) {
        unsigned o = pi ? (unsigned)__builtin_ctz(pi) : PP_MAX_ORDER;
        if (o > PP_MAX_ORDER) o = PP_MAX_ORDER;
        while ((1u << o) > npages) o--;
        pp_buddy_free_locked(pool, pp_page_addr(r, pi), o, 0, NULL);
        pi += 1u << o;
        npages -= 1u << o;
    }
}

/* The free extent around the free block at pi: the pages from the first free block that ends where
 * the extent starts, back, to the last free block that starts where it ends, forward; forward only
 * as far as `want` pages. Returns the extent's first page; *end is one past its last. */
static unsigned extent_of(const struct pp_region *r, unsigned pi, unsigned want, unsigned *end)
{
    unsigned s = pi, e = pi + (1u << r->order[pi]);
    for (bool more = true; more;) {         /* back: a free block of some order o that ends at s */
        more = false;
        for (unsigned o = 0; o < PP_MAX_ORDER && (1u << o) <= s; o++) {
            unsigned b = s - (1u << o);
            if ((b & ((1u << o) - 1)) == 0 && r->state[b] == PP_PG_FREE_HEAD && r->order[b] == o) {
                s = b;
                more = true;
                break;
            }
        }
    }
    while (e - s < want && e < PP_REGION_PAGES && r->state[e] == PP_PG_FREE_HEAD)
        e += 1u << r->order[e];
    *end = e;
    return s;
}

/* Page-granular fit for a run of n pages (2^(order-1) < n < 2^order): the lowest n pages of a free
 * extent made of adjacent buddy blocks, such as the tail a run of another size gave back. Splitting
 * a fresh 2^order block instead leaves its tail, and later runs of other sizes never fit the tails
 * exactly: the pool spreads, and each round of a phase-changing program touches pages the previous
 * one did not (bench-phase: 262 MiB in the first round, 320 by the sixth, for 256 MiB live). An
 * extent of more than 2^(order-1) pages holds a whole free block of order - 1 or order - 2, so
 * those lists are where to look: in the densest hot region (map_pick), then in the other regions
 * of its group of 64 that have such a hot block, a few candidates each, on a path that is about
 * to touch at least 33 KiB anyway. Looking in the densest region alone, 86 % of bench-phase's
 * runs found no extent and cut a fresh block, whose tail later runs fill only in part: 300 MiB
 * after two rounds of 256 MiB, 285 now (bench-realloc's peak RSS 0.91x; RESULTS.md, session 15).
 * Returns the run's address, or 0. */
#define RUN_FIT_TRIES 8

/* Does the free block of order o at pi touch another free page, before or after it? Most
 * candidates in a fragmented pool do not, and this saves extent_of's walk back through the orders
 * (about 900 instructions a run when all 16 candidates fail: stress-ng --malloc 1, blocks to 64 KiB). */
static bool free_next_to(const struct pp_region *r, unsigned pi, unsigned o)
{
    unsigned e = pi + (1u << o);
    return (pi && (r->state[pi - 1] == PP_PG_FREE_HEAD || r->state[pi - 1] == PP_PG_FREE_TAIL)) ||
           (e < PP_REGION_PAGES && r->state[e] == PP_PG_FREE_HEAD);
}

/* Take pages [s, s + n) of r, which free blocks cover from s on: every block that starts in the
 * range leaves its list, and the last one's pages past s + n go back. Returns whether every page
 * taken was cold. */
static bool take_range_locked(struct pp_pool *pool, struct pp_region *r, unsigned s, unsigned n)
{
    bool all_cold = true;
    unsigned p = s, stop = s + n;
    while (p < stop) {
        unsigned bo = r->order[p], next = p + (1u << bo), taken = (next > stop ? stop : next) - p;
        bool c = r->flags[p] & PP_PF_COLD;
        all_cold &= c;
        count_out(pool, c, taken);
        list_del(pool, r, p, bo);
        r->flags[p] = 0;
        p = next;
    }
    memset(&r->state[s], PP_PG_CACHED, n);
    if (p > stop)
        free_pages_locked(pool, r, stop, p - stop);
    return all_cold;
}

/* The first of r's free blocks of order o (a few candidates) whose extent holds n pages: the run
 * is taken there. */
static uintptr_t run_fit_region(struct pp_pool *pool, struct pp_region *r, unsigned n, unsigned o, bool *cold)
{
    unsigned pi = r->head[o];
    for (int t = 0; t < RUN_FIT_TRIES && pi != PP_NO_PAGE; t++, pi = r->link_next[pi]) {
        if (!free_next_to(r, pi, o))
            continue;                       /* alone between used pages: the extent is the block, < n */
        unsigned end, s = extent_of(r, pi, n, &end);
        if (end - s < n)
            continue;
        bool all_cold = take_range_locked(pool, r, s, n);
        if (cold)
            *cold = all_cold;
        pp_assert_expensive(pp_buddy_is_valid(pool));
        return pp_page_addr(r, s);
    }
    return 0;
}

static uintptr_t run_fit_locked(struct pp_pool *pool, unsigned n, unsigned order, bool *cold)
{
    for (unsigned k = 1; k <= 2; k++) {
        long idx = map_pick(pool, PP_MAP_HOT, order - k);
        if (idx < 0)
            continue;
        /* the densest region first, then the others of its group of 64 */
        struct pp_bank *bank = pp_bank_of(pool->node);
        uint32_t first = (uint32_t)idx / 64 * 64;
        uintptr_t b = run_fit_region(pool, pp_bank_region(bank, (uint32_t)idx), n, order - k, cold);
        for (uint64_t bits = pool->group[idx / 64].bits[PP_MAP_HOT][order - k] & ~(1ull << (idx % 64));
             !b && bits; bits &= bits - 1)
            b = run_fit_region(pool, pp_bank_region(bank, first + (uint32_t)__builtin_ctzll(bits)), n, order - k, cold);
        if (b)
            return b;
    }
    return 0;
}

/* Allocate a run aligned to align_pages (a power of two). Unaligned runs first try a free extent
 * that fits them to the page (run_fit_locked). Else: take the power-of-two block and give the
 * unused tail back at once, so a 33-page request costs 33 pages, not 64. The tail goes back hot
 * even when the block was cold: marking it cold is more exact, but then allocation passes it over
 * for hot blocks in other regions and spreads the heap (bench-return after a 90% free: 176 ->
 * 190 MiB; RESULTS.md, session 3). */
uintptr_t pp_buddy_alloc_run(struct pp_pool *pool, size_t npages, size_t align_pages, bool *cold)
{
    unsigned order = order_for(npages > align_pages ? npages : align_pages);
    if (order > PP_MAX_ORDER)
        return 0;
    pthread_mutex_lock(&pool->lock);
    uintptr_t b = align_pages == 1 && npages > 2 && npages < (1u << order)
                ? run_fit_locked(pool, (unsigned)npages, order, cold) : 0;
    if (!b) {
        b = pp_buddy_alloc_cold_locked(pool, order, cold);
        if (b && npages < (1u << order))
            free_pages_locked(pool, pp_region_of(b), pp_page_index(b) + (unsigned)npages, (1u << order) - npages);
    }
    pthread_mutex_unlock(&pool->lock);
    return b;
}

/* Grow a run in place: take the n pages from page `end` of r on (just past the run) when free
 * blocks of the buddy cover them, else take nothing and return false. A block realloc'd by small
 * steps then grows into the pages after it, often the tail it gave back itself (M19), instead of
 * moving to a new run each time: no copy, and the pages it leaves behind are not touched. Blocks
 * in a page cache are not free here (their state is PP_PG_CACHED): those fail. *cold: every page
 * taken was cold. */
bool pp_buddy_extend_run(struct pp_pool *pool, struct pp_region *r, unsigned end, unsigned n, bool *cold)
{
    if (end + n > PP_REGION_PAGES)
        return false;
    pthread_mutex_lock(&pool->lock);
    unsigned p = end;
    while (p < end + n && r->state[p] == PP_PG_FREE_HEAD)
        p += 1u << r->order[p];
    bool ok = p >= end + n;
    if (ok) {
        *cold = take_range_locked(pool, r, end, n);
        pp_assert_expensive(pp_buddy_is_valid(pool));
    }
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

void pp_buddy_free_run_locked(struct pp_pool *pool, uintptr_t start, size_t npages)
{
    free_pages_locked(pool, pp_region_of(start), pp_page_index(start), npages);
}

void pp_buddy_free_run(struct pp_pool *pool, uintptr_t start, size_t npages)
{
    pthread_mutex_lock(&pool->lock);
    pp_buddy_free_run_locked(pool, start, npages);
    pthread_mutex_unlock(&pool->lock);
}

/* ---- Whole-pool operations ---- */
/* Pages handed out hot (no refault: page faults avoided) and cold, over the process's life. */
void pp_buddy_pages_out(size_t *hot, size_t *cold)
{
    *hot = *cold = 0;
    for (unsigned i = 0; i < pp_nr_nodes; i++) {
        *hot += __atomic_load_n(&pools[i]->hot_pages_out, __ATOMIC_RELAXED);
        *cold += __atomic_load_n(&pools[i]->cold_pages_out, __ATOMIC_RELAXED);
    }
}

size_t pp_buddy_free_pages(size_t *cold)
{
    size_t n = 0, c = 0;
    for (unsigned i = 0; i < pp_nr_nodes; i++) {
        n += __atomic_load_n(&pools[i]->nr_free, __ATOMIC_RELAXED);
        c += __atomic_load_n(&pools[i]->nr_cold, __ATOMIC_RELAXED);
    }
    if (cold)
        *cold = c;
    return n;
}

/* Free blocks of each order in every pool, hot and cold (the kernel's /proc/buddyinfo): which
 * sizes the free pages could serve (PAGEPOOL_STATS=2). */
void pp_buddy_free_blocks(size_t hot[PP_NR_ORDERS], size_t cold[PP_NR_ORDERS])
{
    for (unsigned o = 0; o < PP_NR_ORDERS; o++)
        hot[o] = cold[o] = 0;
    for (unsigned i = 0; i < pp_nr_nodes; i++) {
        struct pp_pool *pool = pools[i];
        struct pp_bank *b = pp_bank_of(pool->node);
        pthread_mutex_lock(&pool->lock);
        for (uint32_t idx = 0; idx < b->nregions; idx++) {
            const struct pp_region *r = pp_bank_region(b, idx);
            if (!r->in_pool)
                continue;
            for (unsigned o = 0; o < PP_NR_ORDERS; o++) {
                size_t n = 0;
                for (unsigned pi = r->head[o]; pi != PP_NO_PAGE; pi = r->link_next[pi])
                    n++;
                hot[o] += r->nhot[o];
                cold[o] += n - r->nhot[o];
            }
        }
        pthread_mutex_unlock(&pool->lock);
    }
}

void pp_buddy_lock_all(void)
{
    for (unsigned i = 0; i < pp_nr_nodes; i++)
        pthread_mutex_lock(&pools[i]->lock);
}

void pp_buddy_unlock_all(void)
{
    for (unsigned i = 0; i < pp_nr_nodes; i++)
        pthread_mutex_unlock(&pools[i]->lock);
}

void pp_buddy_reinit_locks(void)
{
    for (unsigned i = 0; i < pp_nr_nodes; i++)
        pthread_mutex_init(&pools[i]->lock, NULL);
}

/* ---- Invariant walker (debug level 3, and unit tests). Caller holds the pool lock. ---- */
bool pp_buddy_is_valid(struct pp_pool *pool)
{
    struct pp_bank *b = pp_bank_of(pool->node);
    size_t total = 0, cold = 0;
    for (uint32_t idx = 0; idx < b->nregions; idx++) {
        struct pp_region *r = pp_bank_region(b, (uint32_t)idx);
        if (!r->in_pool) {
            for (unsigned o = 0; o < PP_NR_ORDERS; o++)
                if (map_test(pool, PP_MAP_AVAIL, o, idx) || map_test(pool, PP_MAP_HOT, o, idx))
                    return false;
            continue;
        }
        uint32_t rfree = 0;
        for (unsigned o = 0; o < PP_NR_ORDERS; o++) {
            if (map_test(pool, PP_MAP_AVAIL, o, idx) != (r->head[o] != PP_NO_PAGE))
                return false;
            uint16_t prev = PP_NO_PAGE, nhot = 0;
            for (uint16_t pi = r->head[o]; pi != PP_NO_PAGE; pi = r->link_next[pi]) {
                if (o == PP_MAX_ORDER || (pi & ((1u << o) - 1)) || r->state[pi] != PP_PG_FREE_HEAD ||
                    r->order[pi] != o || r->link_prev[pi] != prev)
                    return false;
                for (unsigned k = 1; k < (1u << o); k++)
                    if (r->state[pi + k] != PP_PG_FREE_TAIL)
                        return false;
                unsigned buddy = pi ^ (1u << o);
                if (r->state[buddy] == PP_PG_FREE_HEAD && r->order[buddy] == o)
                    return false;          /* two free buddies that did not merge */
                rfree += 1u << o;
                if (r->flags[pi] & PP_PF_COLD)
                    cold += 1u << o;
                else
                    nhot++;
                prev = pi;
            }
            if (r->tail[o] != prev || r->nhot[o] != nhot || map_test(pool, PP_MAP_HOT, o, idx) != (nhot > 0))
                return false;
        }
        if (rfree != r->nr_free || pp_pool_nr_free_of(pool, r->idx) != r->nr_free)
            return false;
        total += rfree;
    }
    return total == pool->nr_free && cold == pool->nr_cold;
}
