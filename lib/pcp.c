/*
 * pcp.c — the per-thread page cache (the kernel's per-cpu page lists, M6–M9).
 *
 * Each thread heap caches blocks of orders 0..PP_PCP_ORDERS-1 so that most slab allocations and
 * frees do not take the pool lock. Refill and drain move `batch` pages at a time under one pool-lock
 * hold; the cache drains once it holds more than `high` pages. Each cache has its own small lock, so
 * a reclaimer can drain any thread's cache without waiting for (or signalling) its owner (M9).
 * Cached blocks are linked through their head page's descriptor slots (link_next, link_prev and
 * npages of the region: the next block's page number), never through the block itself, as the
 * buddy's lists: caching a block that was never touched (a refill takes a batch, most of which may
 * wait) or was released (cold) does not fault a page of it in. A cold block keeps PP_PF_COLD in
 * flags[] of its head while cached and goes back to the pool cold if it is drained unused.
 * Hot before cold (seed 002), inside the cache too: hot and cold blocks have separate stacks; an
 * allocation takes the hot block freed last, and a drain gives back cold blocks first.
 * Invariant: a cached block's pages are PP_PG_CACHED, its head is PP_PF_COLD exactly on a cold
 * stack; pcp->pages = sum(count[k][o] << o)
 * (pp_pcp_is_valid walks the lists at debug level 3).
 * Lock order: pcp lock, then pool lock.
 * Layer: called by slab.c and heap.c; calls buddy.c.
 */
#include "internal.h"

void pp_pcp_init(struct pp_pcp *pcp)
{
    pthread_mutex_init(&pcp->lock, NULL);
    memset(pcp->list, 0, sizeof(pcp->list));
    memset(pcp->count, 0, sizeof(pcp->count));
    pcp->pages = 0;
    pcp->batch = (uint32_t)pp_opt.pcp_batch;
    pcp->high = (uint32_t)pp_opt.pcp_high;
}

/* The link of a cached block: the next block's page number (35 bits of a 47-bit address; 0 ends the
 * list) in three 16-bit slots of its head page, which only free and large blocks use otherwise. */
static void set_next(struct pp_region *r, unsigned pi, uintptr_t next)
{
    uint64_t v = next >> PP_PAGE_SHIFT;
    r->link_next[pi] = (uint16_t)v;
    r->link_prev[pi] = (uint16_t)(v >> 16);
    r->npages[pi] = (uint16_t)(v >> 32);
}

static uintptr_t next_of(const struct pp_region *r, unsigned pi)
{
    uint64_t v = r->link_next[pi] | (uint64_t)r->link_prev[pi] << 16 | (uint64_t)r->npages[pi] << 32;
    return (uintptr_t)(v << PP_PAGE_SHIFT);
}

/* The walker (debug level 3, after every change): each list holds count[k][o] blocks, each the
 * head of a cached block of its order, aligned to it, cold exactly on the cold lists, and the pages
 * add up. Caller holds the pcp lock. */
bool pp_pcp_is_valid(const struct pp_pcp *pcp)
{
    uint32_t pages = 0;
    for (unsigned k = 0; k < 2; k++)
        for (unsigned o = 0; o < PP_PCP_ORDERS; o++) {
            uint32_t n = 0;
            for (uintptr_t b = pcp->list[k][o]; b; n++) {
                const struct pp_region *r = pp_region_of(b);
                unsigned pi = pp_page_index(b);
                if (!r || n > pcp->count[k][o] || (pi & ((1u << o) - 1)) || r->state[pi] != PP_PG_CACHED ||
                    !(r->flags[pi] & PP_PF_COLD) != (k == PP_PCP_HOT))
                    return false;
                b = next_of(r, pi);
            }
            if (n != pcp->count[k][o])
                return false;
            pages += n << o;
        }
    return pages == pcp->pages;
}

static void push(struct pp_pcp *pcp, uintptr_t block, unsigned order, bool cold)
{
    struct pp_region *r = pp_region_of(block);
    unsigned pi = pp_page_index(block);
    unsigned k = cold ? PP_PCP_COLD : PP_PCP_HOT;
    r->flags[pi] = cold ? PP_PF_COLD : 0;
    set_next(r, pi, pcp->list[k][order]);
    pcp->list[k][order] = block;
    pcp->count[k][order]++;
    pcp->pages += 1u << order;
}

/* The top block of list k of an order; *cold: it was never used since it was released. */
static uintptr_t pop_list(struct pp_pcp *pcp, unsigned k, unsigned order, bool *cold)
{
    uintptr_t b = pcp->list[k][order];
    if (b) {
        struct pp_region *r = pp_region_of(b);
        unsigned pi = pp_page_index(b);
        *cold = r->flags[pi] & PP_PF_COLD;
        r->flags[pi] = 0;
        pcp->list[k][order] = next_of(r, pi);
        pcp->count[k][order]--;
        pcp->pages -= 1u << order;
    }
    return b;
}

/* For use: a hot block first, the last one freed (seed 002). */
static uintptr_t pop(struct pp_pcp *pcp, unsigned order, bool *cold)
{
    uintptr_t b = pop_list(pcp, PP_PCP_HOT, order, cold);
    return b ? b : pop_list(pcp, PP_PCP_COLD, order, cold);
}

/* Move about `pages` pages from the cache to the pool: cold blocks first, then hot, largest orders
 * first in each. The hot blocks are the ones this thread is about to reuse without a page fault;
 * the cold ones (a refill's spare blocks, mostly) cost nothing where they go. Draining the top of
 * one stack instead sent the block just freed to the pool and kept the untouched spares, which the
 * next slab then faulted in (prodcons t=4: no block ever handed out hot, 1360 pages cold). A
 * direct reclaimer's capture context rides along into the buddy. Caller holds pcp lock. */
static size_t drain_locked(struct pp_pcp *pcp, struct pp_pool *pool, size_t pages, struct pp_capture *capc)
{
    size_t done = 0;
    pthread_mutex_lock(&pool->lock);
    static const unsigned lists[2] = { PP_PCP_COLD, PP_PCP_HOT };
    for (unsigned j = 0; j < 2; j++)
        for (int o = PP_PCP_ORDERS - 1; o >= 0; o--) {
            uintptr_t b;
            bool cold;
            while (done < pages && (b = pop_list(pcp, lists[j], (unsigned)o, &cold))) {
                struct pp_region *r = pp_region_of(b);
                if (r->node == pool->node) {
                    pp_buddy_free_locked(pool, b, (unsigned)o, cold ? PP_FREE_COLD : 0, capc);
                } else {                   /* a block of another node (an adopted slab): its own pool */
                    pthread_mutex_unlock(&pool->lock);
                    pp_buddy_free(pp_pool_of(r->node), b, (unsigned)o);
                    pthread_mutex_lock(&pool->lock);
                }
                done += 1u << o;
            }
        }
    pthread_mutex_unlock(&pool->lock);
    pp_assert_expensive(pp_pcp_is_valid(pcp));
    return done;
}

uintptr_t pp_pcp_alloc(struct pp_pcp *pcp, struct pp_pool *pool, unsigned order)
{
    if (order >= PP_PCP_ORDERS)
        return pp_buddy_alloc(pool, order);
    pthread_mutex_lock(&pcp->lock);
    pcp->ops++;
    bool cold;
    uintptr_t b = pop(pcp, order, &cold);
    if (!b) {
        /* refill: one pool-lock hold for a batch of blocks of this order */
        unsigned n = pcp->batch >> order;
        if (n == 0) n = 1;
        pthread_mutex_lock(&pool->lock);
        b = pp_buddy_alloc_locked(pool, order);
        for (unsigned i = 1; b && i < n; i++) {
            uintptr_t extra = pp_buddy_alloc_cold_locked(pool, order, &cold);
            if (!extra)
                break;
            push(pcp, extra, order, cold);
        }
        pthread_mutex_unlock(&pool->lock);
    }
    pp_assert_expensive(pp_pcp_is_valid(pcp));
    pthread_mutex_unlock(&pcp->lock);
    return b;
}

void pp_pcp_free(struct pp_pcp *pcp, struct pp_pool *pool, uintptr_t block, unsigned order)
{
    if (order >= PP_PCP_ORDERS) {
        pp_buddy_free(pp_pool_of(pp_region_of(block)->node), block, order);
        return;
    }
    struct pp_region *r = pp_region_of(block);
    memset(&r->state[pp_page_index(block)], PP_PG_CACHED, 1u << order);
    pthread_mutex_lock(&pcp->lock);
    pcp->ops++;
    push(pcp, block, order, false);
    if (pcp->pages > pcp->high)
        drain_locked(pcp, pool, pcp->pages - pcp->high + pcp->batch, NULL);
    pp_assert_expensive(pp_pcp_is_valid(pcp));
    pthread_mutex_unlock(&pcp->lock);
}

/* Drain the cache if it was not used since the last call (the decay of idle caches, M7). */
size_t pp_pcp_drain_idle(struct pp_pcp *pcp, struct pp_pool *pool)
{
    size_t n = 0;
    pthread_mutex_lock(&pcp->lock);
    if (pcp->ops == pcp->ops_seen && pcp->pages)
        n = drain_locked(pcp, pool, pcp->pages, NULL);
    pcp->ops_seen = pcp->ops;
    pthread_mutex_unlock(&pcp->lock);
    return n;
}

/* Drain everything (reclaim, thread exit, malloc_trim). Any thread may call it for any cache. */
size_t pp_pcp_drain(struct pp_pcp *pcp, struct pp_pool *pool, struct pp_capture *capc)
{
    pthread_mutex_lock(&pcp->lock);
    size_t n = drain_locked(pcp, pool, pcp->pages, capc);
    pthread_mutex_unlock(&pcp->lock);
    return n;
}
