/* Unit tests of lib/reclaim.c and the buddy's cold blocks on the fake OS: exact madvise ranges,
 * cold bits through merge, hot before cold, decay of pools above `high`. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"
#include <pagepool.h>

static struct pp_pool *pool;

/* A region whose pages [64, 512) were freed by the program (hot), [0, 64) still in use. */
static uintptr_t hot_region(void)
{
    uintptr_t b = pp_buddy_alloc(pool, 9);
    pp_buddy_free_run(pool, b + 64 * PP_PAGE_SIZE, PP_REGION_PAGES - 64);
    return b;
}

static bool valid(void)
{
    pthread_mutex_lock(&pool->lock);
    bool ok = pp_buddy_is_valid(pool);
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

TEST_BEGIN(test_purge_ranges_and_cold_bits)
{
    uintptr_t hold = hot_region();
    size_t hot_before = pool->nr_free - pool->nr_cold;
    expect_zu_eq(hot_before, 448, "pages freed by the program are hot");
    fake_os_reset();
    size_t released = pp_reclaim_pool_hot(pool, 0);
    expect_zu_eq(released, (size_t)448 << PP_PAGE_SHIFT, "blocks of order 6, 7, 8 released");
    expect_int_eq(fake_os_count('p'), 3, "one madvise per block");
    for (unsigned i = 0; i < fake_os.nlog; i++) {
        const struct fake_call *c = &fake_os.log[i];
        if (c->op != 'p')
            continue;
        expect_zu_eq((c->addr - hold) % c->size, 0, "purge range aligned to its size");
        expect_zu_ge(c->size, 16 * PP_PAGE_SIZE, "no purge below 64 KiB");
        expect_int_eq(c->how, PP_PURGE_DONTNEED, "MADV_DONTNEED by default");
    }
    expect_zu_eq(pool->nr_cold, 448, "released blocks are cold");
    expect_true(valid(), "invariants with cold blocks");
    pp_buddy_free_run(pool, hold, 64);
    expect_zu_eq(pool->nr_free, 0, "region whole again, back to the bank");
}
TEST_END

TEST_BEGIN(test_hot_before_cold)
{
    uintptr_t hold = hot_region();
    pp_buddy_free_run(pool, hold + 32 * PP_PAGE_SIZE, 32);     /* [32, 64) hot, order 5 */
    pthread_mutex_lock(&pool->lock);
    unsigned o;
    uintptr_t big = pp_buddy_isolate_hot_locked(pool, 6, &o);  /* make the order-8 block cold */
    pp_buddy_free_locked(pool, big, o, PP_FREE_COLD, NULL);
    pthread_mutex_unlock(&pool->lock);
    size_t hot0, cold0, hot1, cold1;
    pp_buddy_pages_out(&hot0, &cold0);
    uintptr_t b = pp_buddy_alloc(pool, 4);
    expect_true(b >= hold + 32 * PP_PAGE_SIZE && b < hold + 64 * PP_PAGE_SIZE,
                "order 4 is split from the hot order-5 block, not from a lower-address cold one");
    pp_buddy_pages_out(&hot1, &cold1);
    expect_zu_eq(hot1 - hot0, 16, "counted as a page fault avoided (16 pages)");
    expect_zu_eq(cold1, cold0, "no cold pages handed out");
    pp_buddy_free(pool, b, 4);
    pthread_mutex_lock(&pool->lock);
    expect_true(pp_buddy_is_valid(pool), "invariants");
    pthread_mutex_unlock(&pool->lock);
    pp_buddy_free_run(pool, hold, 32);
    pp_reclaim_pool_hot(pool, 0);
}
TEST_END

TEST_BEGIN(test_cold_merge)
{
    uintptr_t hold = pp_buddy_alloc(pool, 9);
    pp_buddy_free_run(pool, hold + 64 * PP_PAGE_SIZE, PP_REGION_PAGES - 64);
    pthread_mutex_lock(&pool->lock);
    size_t cold0 = pool->nr_cold;
    pp_buddy_free_locked(pool, hold, 4, PP_FREE_COLD, NULL);
    pp_buddy_free_locked(pool, hold + 16 * PP_PAGE_SIZE, 4, PP_FREE_COLD, NULL);
    struct pp_region *r = pp_region_of(hold);
    expect_true(r->flags[0] & PP_PF_COLD, "cold + cold = cold");
    expect_int_eq(r->order[0], 5, "merged to order 5");
    expect_zu_eq(pool->nr_cold, cold0 + 32, "cold pages counted");
    pp_buddy_free_locked(pool, hold + 32 * PP_PAGE_SIZE, 5, 0, NULL);
    expect_false(r->flags[0] & PP_PF_COLD, "cold + hot = hot (the kernel clears Reported on merge)");
    expect_true(pp_buddy_is_valid(pool), "invariants");
    pthread_mutex_unlock(&pool->lock);
    expect_zu_eq(pool->nr_free, 0, "whole region returned");
}
TEST_END

TEST_BEGIN(test_tick_releases_after_decay)
{
    long saved_high = pp_opt.high;
    pp_opt.high = 0;
    uintptr_t hold = hot_region();
    fake_os_reset();
    pp_reclaim_tick();
    expect_int_eq(fake_os_count('p'), 0, "nothing released before the decay");
    fake_os.now_ms += (uint64_t)pp_opt.decay_ms;
    pp_reclaim_tick();
    expect_int_ge(fake_os_count('p'), 1, "released once above high for a whole decay period");
    pp_buddy_free_run(pool, hold, 64);
    pp_opt.high = saved_high;
}
TEST_END

TEST_BEGIN(test_watermarks)
{
    long saved_limit = pp_opt.limit, saved_bg = pp_opt.background, saved_retain = pp_opt.retain;
    pp_opt.background = 0;
    pp_opt.retain = 1l << 40;               /* the bank keeps everything hot: only the watermark releases */
    enum { N = 20 };
    uintptr_t r[N];
    for (int i = 0; i < N; i++)
        r[i] = pp_buddy_alloc(pool, 9);     /* 40 MiB of regions, handed out */
    for (int i = 0; i < N; i++)
        pp_buddy_free(pool, r[i], 9);       /* back to the bank, hot */
    size_t fp = pp_reclaim_footprint();
    pp_opt.limit = (long)(fp + (512 << 10)); /* headroom 512 KiB: below the low watermark */
    pp_reclaim_init();
    struct pp_stats s0, s1;
    pp_stats_get(&s0);
    fake_os_reset();
    pp_reclaim_tick();
    pp_stats_get(&s1);
    expect_true(s1.wmark_wakeups == s0.wmark_wakeups + 1, "the low watermark started a pass");
    expect_int_ge(fake_os_count('p'), N, "the hot banked regions were released");
    size_t room = (size_t)pp_opt.limit - pp_reclaim_footprint();
    expect_zu_ge(room, (size_t)pp_opt.limit / 64, "headroom back above the watermarks");
    expect_true(s1.released_wmark > s0.released_wmark, "released bytes counted by reason");
    /* below min: the allocating thread reclaims itself */
    uint64_t direct0 = s1.direct_reclaims;
    expect_true(pp_reclaim_admit(room - (size_t)pp_opt.limit / 128, NULL), "an allocation within the limit is admitted");
    pp_stats_get(&s1);
    expect_true(s1.direct_reclaims == direct0 + 1, "after a direct reclaim (headroom would fall below min)");
    pp_opt.limit = saved_limit;
    pp_opt.background = saved_bg;
    pp_opt.retain = saved_retain;
    pp_reclaim_init();
}
TEST_END

/* Memory about to be faulted in releases about as much resident free memory first, down to
 * `high`, and a large block that needs new memory does so before it is touched. */
TEST_BEGIN(test_growth_releases_hot_blocks)
{
    long saved_high = pp_opt.high;
    pp_opt.high = 64l << PP_PAGE_SHIFT;
    uintptr_t hold = hot_region();          /* 448 hot pages: blocks of order 8, 7, 6 */
    fake_os_reset();
    size_t got = pp_reclaim_growth(pool, (size_t)100 << PP_PAGE_SHIFT);
    expect_zu_ge(got, (size_t)100 << PP_PAGE_SHIFT, "at least what is about to be faulted in");
    expect_zu_ge(pool->nr_free - pool->nr_cold, 64, "high stays resident");
    expect_int_ge(fake_os_count('p'), 1, "with madvise, now: no decay period");
    size_t hot = pool->nr_free - pool->nr_cold;
    got = pp_reclaim_growth(pool, (size_t)1 << 30);
    expect_zu_eq(pool->nr_free - pool->nr_cold, 64, "more than there is: down to high");
    expect_zu_eq(got, (hot - 64) << PP_PAGE_SHIFT, "and counted");
    expect_zu_eq(pp_reclaim_growth(pool, (size_t)1 << 30), 0, "nothing at high");
    expect_true(valid(), "invariants");
    pp_buddy_free_run(pool, hold, 64);
    pp_reclaim_pool_hot(pool, 0);

    long saved_decay = pp_opt.decay_ms;
    pp_opt.decay_ms = -1;                   /* never release */
    hold = hot_region();
    fake_os_reset();
    expect_zu_eq(pp_reclaim_growth(pool, (size_t)100 << PP_PAGE_SHIFT), 0, "DECAY_MS=-1: nothing released");
    expect_int_eq(fake_os_count('p'), 0, "no madvise");
    pp_opt.decay_ms = saved_decay;

    pp_buddy_free_run(pool, hold, 64);
    pp_reclaim_pool_hot(pool, 0);

    /* through malloc: four hot runs of 64 pages between used ones, and a 1 MiB block (256
     * pages) that none of them fits, so it takes cold memory */
    pp_opt.high = 0;
    hold = pp_buddy_alloc(pool, 9);
    for (unsigned i = 1; i < 8; i += 2)
        pp_buddy_free_run(pool, hold + ((uintptr_t)i << (6 + PP_PAGE_SHIFT)), 64);
    pp_region_bank_purge(0);                /* the bank's regions are cold */
    fake_os_reset();
    expect_zu_eq(pool->nr_free - pool->nr_cold, 256, "four hot runs");
    void *big = pp_malloc(1u << 20);
    expect_ptr_not_null(big, "a large block");
    expect_true((uintptr_t)big < hold || (uintptr_t)big >= hold + PP_REGION_SIZE, "from another region");
    expect_zu_eq(pool->nr_free - pool->nr_cold, 0, "its size of hot memory released first");
    expect_int_eq(fake_os_count('p'), 4, "one madvise a run");
    pp_free(big);
    for (unsigned i = 0; i < 8; i += 2)
        pp_buddy_free_run(pool, hold + ((uintptr_t)i << (6 + PP_PAGE_SHIFT)), 64);
    pp_reclaim_pool_hot(pool, 0);
    expect_true(valid(), "invariants");
    pp_opt.high = saved_high;
}
TEST_END

/* malloc_trim backs off for a program that keeps trimming: a free of less than an eighth of the
 * footprint is left to the decay, where a program that trims now and then gets it back at once
 * (both only within the window after a full pass; fake clock). */
TEST_BEGIN(test_trim_backs_off_when_called_all_the_time)
{
    enum { LIVE = 1024, FREED = 64, BLK = 64 << 10 };     /* 64 MiB live, 4 MiB freed: < 1/8 */
    static void *p[LIVE + FREED];
    for (int i = 0; i < LIVE + FREED; i++)
        p[i] = pp_malloc(BLK);
    fake_os.now_ms += 100000;
    expect_int_eq(pp_malloc_trim(0), 0, "a first trim: a full pass, nothing free yet");
    /* now and then: a free of 4 MiB a moment after a full pass is released (threshold 1 MiB) */
    for (int i = LIVE; i < LIVE + FREED / 2; i++)
        pp_free(p[i]);
    fake_os.now_ms += 1;
    expect_int_eq(pp_malloc_trim(0), 1, "an occasional trimmer gets 2 MiB back at once");
    /* all the time: a full pass at the end of every window doubles the window */
    for (unsigned w = 10; w <= 160; w *= 2) {
        fake_os.now_ms += w;
        pp_malloc_trim(0);
    }
    for (int i = LIVE + FREED / 2; i < LIVE + FREED; i++)
        pp_free(p[i]);
    fake_os.now_ms += 1;
    expect_int_eq(pp_malloc_trim(0), 0, "a continuous trimmer leaves 2 MiB of a 64 MiB heap to the decay");
    fake_os.now_ms += 100000;               /* a pause: the next trim is a full pass again */
    expect_int_eq(pp_malloc_trim(0), 1, "after a pause, everything");
    for (int i = 0; i < LIVE; i++)
        pp_free(p[i]);
    fake_os.now_ms += 1;
    expect_int_eq(pp_malloc_trim(0), 1, "a big free is released at once");
    expect_true(valid(), "invariants");
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    pool = pp_pool_of(0);
    pp_opt.retain = 1l << 40;
    return RUN_TESTS(test_purge_ranges_and_cold_bits, test_hot_before_cold, test_cold_merge,
                     test_tick_releases_after_decay, test_watermarks, test_growth_releases_hot_blocks,
                     test_trim_backs_off_when_called_all_the_time);
}
