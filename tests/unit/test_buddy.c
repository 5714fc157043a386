/* Unit tests of lib/buddy.c on the fake OS: split, merge, runs, region order, bank return, capture. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"

static struct pp_pool *pool;

static bool valid(void)
{
    pthread_mutex_lock(&pool->lock);
    bool ok = pp_buddy_is_valid(pool);
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

static size_t bank_regions(void)
{
    struct pp_bank *b = pp_bank_of(0);
    return b->nhot + b->ncold;
}

TEST_BEGIN(test_split_and_merge)
{
    pp_buddy_free(pool, pp_buddy_alloc(pool, 0), 0);   /* the first use maps a chunk into the bank */
    size_t before = bank_regions();
    uintptr_t b0 = pp_buddy_alloc(pool, 0);
    expect_true(b0 != 0, "order-0 block");
    expect_zu_eq(b0 % PP_REGION_SIZE, 0, "the first block of a fresh region is at its start");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 1, "a fresh region split down to order 0 leaves 511 free pages");
    /* the split leaves one free block of each order 0..8 */
    struct pp_region *r = pp_region_of(b0);
    for (unsigned o = 0; o < PP_MAX_ORDER; o++)
        expect_true(r->head[o] == (1u << o), "order %u free block at page %u", o, 1u << o);
    expect_true(valid(), "invariants after split");
    /* the free blocks by order (PAGEPOOL_STATS=2): one of each order 0..8, and they hold nr_free */
    size_t hot[PP_NR_ORDERS], cold[PP_NR_ORDERS], pages = 0, cold_pages = 0;
    pp_buddy_free_blocks(hot, cold);
    for (unsigned o = 0; o < PP_NR_ORDERS; o++) {
        expect_zu_eq(hot[o] + cold[o], o < PP_MAX_ORDER, "free blocks of order %u", o);
        pages += (hot[o] + cold[o]) << o;
        cold_pages += cold[o] << o;
    }
    expect_zu_eq(pages, pool->nr_free, "the blocks by order add up to the free pages");
    expect_zu_eq(cold_pages, pool->nr_cold, "and the cold ones to the cold pages");
    pp_buddy_free(pool, b0, 0);
    expect_zu_eq(pool->nr_free, 0, "everything merged back");
    expect_zu_eq(bank_regions(), before, "the whole region went back to the bank");
}
TEST_END

TEST_BEGIN(test_random_order_frees_coalesce)
{
    enum { N = 512 };
    static uintptr_t blocks[N];
    size_t before = bank_regions();
    for (int i = 0; i < N; i++) {
        blocks[i] = pp_buddy_alloc(pool, 0);
        expect_true(blocks[i] != 0, "alloc %d", i);
    }
    expect_true(valid(), "invariants when full");
    /* all 512 pages of one region: the region is wholly used */
    expect_zu_eq(pool->nr_free, 0, "a full region has no free pages");
    unsigned seed = 12345;
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)(seed % (unsigned)(i + 1));
        uintptr_t t = blocks[i]; blocks[i] = blocks[j]; blocks[j] = t;
    }
    for (int i = 0; i < N; i++) {
        pp_buddy_free(pool, blocks[i], 0);
        if (i % 64 == 0)
            expect_true(valid(), "invariants during frees (%d)", i);
    }
    expect_zu_eq(pool->nr_free, 0, "all merged");
    expect_zu_eq(bank_regions(), before, "region back in the bank");
}
TEST_END

TEST_BEGIN(test_run_trims_tail)
{
    uintptr_t run = pp_buddy_alloc_run(pool, 33, 1, NULL);
    expect_true(run != 0, "run of 33 pages");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 33, "only 33 pages leave the pool, not 64 (M19)");
    expect_true(valid(), "invariants after trimming");
    pp_buddy_free_run(pool, run, 33);
    expect_zu_eq(pool->nr_free, 0, "run freed, region returned");
}
TEST_END

TEST_BEGIN(test_run_fits_a_tail)
{
    /* a 33-page run leaves [33, 64) free as blocks of 1, 2, 4, 8 and 16 pages; a 20-page run must
     * land on the first 20 of them, at page 33, not split a fresh 32-page block */
    uintptr_t run = pp_buddy_alloc_run(pool, 33, 1, NULL);
    expect_true(run != 0, "run of 33 pages");
    bool cold = true;
    uintptr_t fit = pp_buddy_alloc_run(pool, 20, 1, &cold);
    expect_zu_eq(fit, run + 33 * PP_PAGE_SIZE, "the 20-page run starts where the 33-page run ends");
    expect_false(cold, "made of blocks given back hot: not known to read as zero");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 53, "53 pages out, the rest of the 16-page block back");
    struct pp_region *r = pp_region_of(run);
    for (unsigned pi = 33; pi < 53; pi++)
        expect_true(r->state[pi] == PP_PG_CACHED, "page %u handed out", pi);
    expect_true(r->state[53] == PP_PG_FREE_HEAD && r->order[53] == 0, "page 53 free again");
    expect_true(valid(), "invariants after a fit across five blocks");
    pp_buddy_free_run(pool, run, 33);
    expect_true(valid(), "invariants after freeing the first run");
    pp_buddy_free_run(pool, fit, 20);
    expect_zu_eq(pool->nr_free, 0, "both freed, region returned");
}
TEST_END

TEST_BEGIN(test_run_extends_into_free_pages)
{
    /* a 33-page run gives back [33, 64) as blocks of 1, 2, 4, 8 and 16 pages at 33, 34, 36, 40
     * and 48; growing the run by 7 pages takes the first three blocks whole */
    uintptr_t run = pp_buddy_alloc_run(pool, 33, 1, NULL);
    struct pp_region *r = pp_region_of(run);
    unsigned pi = pp_page_index(run);
    bool cold = true;
    expect_true(pp_buddy_extend_run(pool, r, pi + 33, 7, &cold), "pages 33-39 are free");
    expect_false(cold, "the tail went back hot");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 40, "40 pages out");
    for (unsigned p = 33; p < 40; p++)
        expect_true(r->state[pi + p] == PP_PG_CACHED, "page %u taken", p);
    expect_true(valid(), "invariants after an extension along whole blocks");
    /* 10 more: through the 8-page block at 40 and 2 pages of the 16-page block at 48 */
    expect_true(pp_buddy_extend_run(pool, r, pi + 40, 10, &cold), "pages 40-49 are free");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 50, "50 pages out, the 16-page block's rest back");
    expect_true(r->state[pi + 50] == PP_PG_FREE_HEAD, "page 50 free again");
    expect_true(valid(), "invariants after an extension that splits a block");
    /* something in the way: a second run right after, then no extension across it */
    uintptr_t next = pp_buddy_alloc_run(pool, 14, 1, NULL);
    expect_zu_eq(next, run + 50 * PP_PAGE_SIZE, "the next run fits the tail at 50");
    expect_false(pp_buddy_extend_run(pool, r, pi + 50, 1, &cold), "page 50 is taken: no extension");
    expect_false(pp_buddy_extend_run(pool, r, PP_REGION_PAGES - 1, 2, &cold), "not past the region");
    expect_zu_eq(pool->nr_free, PP_REGION_PAGES - 64, "a failed extension takes nothing");
    expect_true(valid(), "invariants after failed extensions");
    pp_buddy_free_run(pool, next, 14);
    pp_buddy_free_run(pool, run, 50);
    expect_zu_eq(pool->nr_free, 0, "both freed, region returned");
}
TEST_END

TEST_BEGIN(test_aligned_run)
{
    uintptr_t a = pp_buddy_alloc(pool, 0);
    uintptr_t run = pp_buddy_alloc_run(pool, 3, 64, NULL);
    expect_zu_eq(run % (64 * PP_PAGE_SIZE), 0, "run aligned to 64 pages");
    expect_true(valid(), "invariants");
    pp_buddy_free_run(pool, run, 3);
    pp_buddy_free(pool, a, 0);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

/* Two whole regions taken from the pool, the one with the lower bank index in *lo. */
static void two_regions(uintptr_t *lo, uintptr_t *hi)
{
    *lo = pp_buddy_alloc(pool, 9);
    *hi = pp_buddy_alloc(pool, 9);
    expect_true(*lo && *hi && *lo != *hi, "two regions");
    if (pp_region_of(*lo)->idx > pp_region_of(*hi)->idx) {
        uintptr_t t = *lo;
        *lo = *hi;
        *hi = t;
    }
}

TEST_BEGIN(test_lowest_region_first)
{
    /* take two whole regions, free the higher one's pages, keep one page of the lower: new
     * allocations must come from the lower region although the higher one has more free */
    uintptr_t lo, hi;
    two_regions(&lo, &hi);
    struct pp_region *rlo = pp_region_of(lo);
    /* give back all but one page of each: free as runs */
    pp_buddy_free_run(pool, lo + PP_PAGE_SIZE, PP_REGION_PAGES - 1);
    pp_buddy_free_run(pool, hi + PP_PAGE_SIZE, PP_REGION_PAGES - 1);
    for (unsigned o = 0; o < PP_MAX_ORDER; o++) {
        uintptr_t b = pp_buddy_alloc(pool, o);
        expect_ptr_eq(pp_region_of(b), rlo, "order %u from the lower region", o);
        pp_buddy_free(pool, b, o);
    }
    expect_true(valid(), "invariants");
    pp_buddy_free(pool, lo, 0);
    pp_buddy_free(pool, hi, 0);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

TEST_BEGIN(test_densest_region_first)
{
    /* the higher region keeps 64 pages in use, the lower one 1: a block that both can give comes
     * from the higher, denser one, so the sparser region is the one that drains */
    uintptr_t lo, hi;
    two_regions(&lo, &hi);
    struct pp_region *rlo = pp_region_of(lo), *rhi = pp_region_of(hi);
    pp_buddy_free_run(pool, lo + PP_PAGE_SIZE, PP_REGION_PAGES - 1);
    pp_buddy_free_run(pool, hi + 64 * PP_PAGE_SIZE, PP_REGION_PAGES - 64);
    expect_zu_eq(pp_pool_nr_free_of(pool, rhi->idx), PP_REGION_PAGES - 64, "packed free count");
    for (unsigned o = 6; o < PP_MAX_ORDER; o++) {
        uintptr_t b = pp_buddy_alloc(pool, o);
        expect_ptr_eq(pp_region_of(b), rhi, "order %u from the denser region", o);
        pp_buddy_free(pool, b, o);
    }
    uintptr_t b = pp_buddy_alloc(pool, 0);
    expect_ptr_eq(pp_region_of(b), rlo, "order 0: only the lower region has one (smallest order first)");
    pp_buddy_free(pool, b, 0);
    expect_true(valid(), "invariants");
    pp_buddy_free(pool, lo, 0);
    pp_buddy_free_run(pool, hi, 64);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

TEST_BEGIN(test_run_fit_looks_past_the_densest_region)
{
    /* the denser region's free blocks of the orders a 20-page run looks at (16 and 8 pages) are
     * alone between used pages; the sparser one has [33, 64) free after a 33-page run: the run
     * lands there, at page 33, and does not split a fresh 32-page block at page 64 */
    uintptr_t a, b;
    two_regions(&a, &b);
    pp_buddy_free_run(pool, a + 16 * PP_PAGE_SIZE, 16);
    pp_buddy_free_run(pool, a + 40 * PP_PAGE_SIZE, 8);
    pp_buddy_free_run(pool, b + 33 * PP_PAGE_SIZE, PP_REGION_PAGES - 33);
    struct pp_region *ra = pp_region_of(a), *rb = pp_region_of(b);
    expect_true(ra->nr_free < rb->nr_free, "the first region is the denser one");
    uintptr_t fit = pp_buddy_alloc_run(pool, 20, 1, NULL);
    expect_zu_eq(fit, b + 33 * PP_PAGE_SIZE, "the 20-page run fits the other region's free extent");
    expect_true(valid(), "invariants");
    pp_buddy_free_run(pool, fit, 20);
    pp_buddy_free_run(pool, a, 16);
    pp_buddy_free_run(pool, a + 32 * PP_PAGE_SIZE, 8);
    pp_buddy_free_run(pool, a + 48 * PP_PAGE_SIZE, PP_REGION_PAGES - 48);
    pp_buddy_free_run(pool, b, 33);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

TEST_BEGIN(test_capture_after_merge)
{
    /* a 4-page block freed as four order-0 pages is captured once it has coalesced to order 2 */
    uintptr_t hold = pp_buddy_alloc(pool, 0);   /* keeps the region in the pool */
    uintptr_t b = pp_buddy_alloc(pool, 2);
    uintptr_t pages[4] = { b, b + PP_PAGE_SIZE, b + 2 * PP_PAGE_SIZE, b + 3 * PP_PAGE_SIZE };
    pthread_mutex_lock(&pool->lock);
    struct pp_region *r = pp_region_of(b);
    memset(&r->state[pp_page_index(b)], PP_PG_CACHED, 4);
    for (int i = 0; i < 3; i++)                    /* split it by hand into four used pages */
        r->order[pp_page_index(pages[i])] = 0;
    size_t free_before = pool->nr_free;
    struct pp_capture capc = { .pool = pool, .order = 2, .block = 0 };
    for (int i = 0; i < 4; i++)
        pp_buddy_free_locked(pool, pages[i], 0, 0, &capc);
    expect_true(capc.block == b, "the coalesced order-2 block was captured");
    /* pages 0,1 merged to order 1 (on the list), then 2,3 merged to order 1 and on to order 2 */
    expect_zu_eq(pool->nr_free, free_before, "a captured block leaves the free counters (M3)");
    expect_true(pp_buddy_is_valid(pool), "invariants with a captured block out");
    pp_buddy_free_locked(pool, capc.block, 2, 0, NULL);
    pthread_mutex_unlock(&pool->lock);
    pp_buddy_free(pool, hold, 0);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

TEST_BEGIN(test_capture_wrong_pool_or_order)
{
    uintptr_t hold = pp_buddy_alloc(pool, 0);
    uintptr_t b = pp_buddy_alloc(pool, 1);
    struct pp_capture other = { .pool = pool, .order = 3, .block = 0 };
    pthread_mutex_lock(&pool->lock);
    pp_buddy_free_locked(pool, b, 1, 0, &other);
    pthread_mutex_unlock(&pool->lock);
    expect_true(other.block == 0, "no block of the wanted order was formed: nothing captured");
    expect_true(valid(), "invariants");
    pp_buddy_free(pool, hold, 0);
    expect_zu_eq(pool->nr_free, 0, "all back");
}
TEST_END

TEST_BEGIN(test_map_failure_gives_null)
{
    /* use up the bank's regions, then make mmap fail */
    struct pp_bank *bank = pp_bank_of(0);
    uint32_t n = bank->nhot + bank->ncold;
    uintptr_t got[64];
    for (uint32_t i = 0; i < n && i < 64; i++)
        got[i] = pp_buddy_alloc(pool, 9);
    fake_os.fail_maps_after = 0;
    uintptr_t b = pp_buddy_alloc(pool, 9);
    expect_true(b == 0, "no region and mmap refused: NULL, no crash");
    fake_os.fail_maps_after = -1;
    for (uint32_t i = 0; i < n && i < 64; i++)
        pp_buddy_free(pool, got[i], 9);
    expect_true(valid(), "invariants");
}
TEST_END

/* The densest-region search against a plain scan: random counts (with ties) and masks. */
TEST_BEGIN(test_densest_matches_scan)
{
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        uint16_t nr[64];
        for (int i = 0; i < 64; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            nr[i] = (uint16_t)(round & 1 ? x % 8 : x % (PP_REGION_PAGES + 1));   /* odd rounds: many ties */
        }
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint64_t bits = round % 3 == 0 ? x : round % 3 == 1 ? x & (x >> 1) & (x >> 2) : ~0ull;
        if (!bits)
            bits = 1ull << (round % 64);
        unsigned want = 64, want_free = ~0u;
        for (unsigned i = 0; i < 64; i++)
            if ((bits >> i & 1) && nr[i] < want_free) {
                want_free = nr[i];
                want = i;
            }
        unsigned got = pp_buddy_densest(nr, bits);
        if (got != want) {
            expect_int_eq(got, want, "round %d", round);
            break;
        }
    }
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    pool = pp_pool_of(0);
    pp_opt.retain = 1l << 40;          /* the bank keeps everything: tests count regions */
    return RUN_TESTS(test_densest_matches_scan, test_split_and_merge, test_random_order_frees_coalesce, test_run_trims_tail, test_run_fits_a_tail, test_run_fit_looks_past_the_densest_region, test_run_extends_into_free_pages,
                     test_aligned_run, test_lowest_region_first, test_densest_region_first, test_capture_after_merge,
                     test_capture_wrong_pool_or_order, test_map_failure_gives_null);
}
