/* Unit tests of lib/pcp.c on the fake OS: batched refill, the high limit, drains. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"
#include <string.h>

static struct pp_pool *pool;

static bool pool_valid(void)
{
    pthread_mutex_lock(&pool->lock);
    bool ok = pp_buddy_is_valid(pool);
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

/* First test: the pool is empty, so the refill grows it with a fresh (cold) region. The blocks the
 * refill caches are never written, and drained unused they go back cold. */
TEST_BEGIN(test_cached_blocks_stay_cold)
{
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    pcp.batch = 16;
    uintptr_t b = pp_pcp_alloc(&pcp, pool, 0);
    expect_true(b != 0, "a page");
    expect_zu_eq(pool->cold_pages_out, 16, "the batch came from a fresh region: 16 cold pages out");
    size_t cold = pool->nr_cold;
    expect_zu_eq(pp_pcp_drain(&pcp, pool, NULL), 15, "drain returns the 15 cached pages");
    expect_zu_eq(pool->nr_cold, cold + 15, "and they are cold again: caching did not touch them");
    pp_buddy_free(pool, b, 0);
    expect_true(pool_valid(), "invariants");
}
TEST_END

/* A block in the cache keeps its contents: the link is kept in the region descriptor. */
TEST_BEGIN(test_cache_does_not_write_blocks)
{
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    uintptr_t b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = pp_buddy_alloc(pool, 1);
        memset((void *)b[i], 0xa5, 2 * PP_PAGE_SIZE);
        pp_pcp_free(&pcp, pool, b[i], 1);
    }
    for (int i = 2; i >= 0; i--) {
        uintptr_t got = pp_pcp_alloc(&pcp, pool, 1);
        expect_true(got == b[i], "last in, first out (block %d)", i);
        bool intact = true;
        for (size_t k = 0; k < 2 * PP_PAGE_SIZE; k++)
            intact &= ((unsigned char *)got)[k] == 0xa5;
        expect_true(intact, "block %d unchanged by its time in the cache", i);
        pp_buddy_free(pool, got, 1);
    }
}
TEST_END

static uint32_t cached(const struct pp_pcp *pcp, unsigned o) { return pcp->count[PP_PCP_HOT][o] + pcp->count[PP_PCP_COLD][o]; }

TEST_BEGIN(test_refill_is_batched)
{
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    pcp.batch = 16;
    size_t free0 = pool->nr_free;
    uintptr_t b = pp_pcp_alloc(&pcp, pool, 0);
    expect_true(b != 0, "a page");
    expect_int_eq(cached(&pcp, 0), 15, "one refill brought a batch of 16, one handed out");
    expect_int_eq(pcp.pages, 15, "pages counted");
    struct pp_region *r = pp_region_of(b);
    expect_int_eq(r->state[pp_page_index(b)], PP_PG_CACHED, "handed-out page is marked");
    uintptr_t b2 = pp_pcp_alloc(&pcp, pool, 0);
    expect_int_eq(cached(&pcp, 0), 14, "second allocation from the cache, no refill");
    pp_pcp_free(&pcp, pool, b, 0);
    pp_pcp_free(&pcp, pool, b2, 0);
    expect_int_eq(pcp.pages, 16, "both back in the cache");
    pthread_mutex_lock(&pcp.lock);
    expect_true(pp_pcp_is_valid(&pcp), "the walker agrees with the counts");
    pthread_mutex_unlock(&pcp.lock);
    expect_zu_eq(pp_pcp_drain(&pcp, pool, NULL), 16, "drain returns every page");
    expect_int_eq(pcp.pages, 0, "empty after drain");
    expect_zu_eq(pool->nr_free, free0, "pool is whole again");
}
TEST_END

TEST_BEGIN(test_high_limit_drains)
{
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    pcp.batch = 8;
    pcp.high = 32;
    uintptr_t blocks[64];
    for (int i = 0; i < 64; i++)
        blocks[i] = pp_buddy_alloc(pool, 0);
    for (int i = 0; i < 64; i++) {
        pp_pcp_free(&pcp, pool, blocks[i], 0);
        expect_true(pcp.pages <= pcp.high, "never above high (%u pages after %d frees)", pcp.pages, i);
    }
    pp_pcp_drain(&pcp, pool, NULL);
    expect_true(pool_valid(), "invariants after drains");
}
TEST_END

/* A thread that frees blocks into a cache full of a refill's untouched spares keeps the blocks it
 * freed (resident: reused without a page fault) and drains the spares; the next allocation is the
 * block freed last. Draining the top of one stack sent the freed blocks to the pool instead. */
TEST_BEGIN(test_drain_keeps_hot_blocks)
{
    static uintptr_t taken[PP_REGION_PAGES];
    size_t ntaken = 0;
    while (pool->nr_free > pool->nr_cold && ntaken < PP_REGION_PAGES)
        taken[ntaken++] = pp_buddy_alloc(pool, 0);    /* the pool's hot pages, so the spares are cold */
    pp_region_bank_purge(0);                          /* and the bank's hot regions */
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    pcp.batch = 16;
    uintptr_t first = pp_pcp_alloc(&pcp, pool, 0);    /* the refill leaves 15 spares */
    expect_int_eq(pcp.count[PP_PCP_COLD][0], 15, "a refill's untouched spares are cached cold");
    uintptr_t used[4];
    for (int i = 0; i < 4; i++) {
        used[i] = pp_buddy_alloc(pool, 0);
        memset((void *)used[i], 0x5a, PP_PAGE_SIZE);
    }
    pcp.batch = 4;
    pcp.high = 16;
    pp_pcp_free(&pcp, pool, first, 0);
    for (int i = 0; i < 4; i++)
        pp_pcp_free(&pcp, pool, used[i], 0);
    expect_true(pcp.pages <= pcp.high, "drained below high (%u pages)", pcp.pages);
    expect_int_eq(pcp.count[PP_PCP_HOT][0], 5, "every block freed into the cache is still there");
    pthread_mutex_lock(&pcp.lock);
    expect_true(pp_pcp_is_valid(&pcp), "the walker agrees with the lists");
    pthread_mutex_unlock(&pcp.lock);
    for (int i = 3; i >= 0; i--) {
        uintptr_t got = pp_pcp_alloc(&pcp, pool, 0);
        expect_true(got == used[i], "the freed blocks come back first, last in first out (%d)", i);
        pp_buddy_free(pool, got, 0);
    }
    expect_true(pp_pcp_alloc(&pcp, pool, 0) == first, "then the first one freed");
    pp_buddy_free(pool, first, 0);
    pp_pcp_drain(&pcp, pool, NULL);
    while (ntaken)
        pp_buddy_free(pool, taken[--ntaken], 0);
    expect_true(pool_valid(), "invariants after the drain");
}
TEST_END

TEST_BEGIN(test_large_orders_bypass)
{
    struct pp_pcp pcp;
    pp_pcp_init(&pcp);
    uintptr_t b = pp_pcp_alloc(&pcp, pool, PP_PCP_ORDERS);
    expect_true(b != 0, "an order beyond the cache comes from the pool");
    expect_int_eq(pcp.pages, 0, "and nothing is cached");
    pp_pcp_free(&pcp, pool, b, PP_PCP_ORDERS);
    expect_int_eq(pcp.pages, 0, "freed straight to the pool");
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    pool = pp_pool_of(0);
    return RUN_TESTS(test_cached_blocks_stay_cold, test_cache_does_not_write_blocks, test_refill_is_batched, test_high_limit_drains, test_drain_keeps_hot_blocks,
                     test_large_orders_bypass);
}
