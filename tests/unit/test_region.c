/* Unit tests of lib/region.c on the fake OS: pagemap, bank take/give/purge ranges, huge blocks. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"

TEST_BEGIN(test_take_maps_a_chunk_and_registers_it)
{
    fake_os_reset();
    bool cold;
    struct pp_region *r = pp_region_take(0, &cold);
    expect_ptr_not_null(r, "a region");
    expect_true(cold, "a new region is cold (never touched, reads as zero)");
    expect_zu_eq(r->base % PP_REGION_SIZE, 0, "2 MiB aligned");
    expect_ptr_eq(pp_region_of(r->base), r, "pagemap: base");
    expect_ptr_eq(pp_region_of(r->base + PP_REGION_SIZE - 1), r, "pagemap: last byte");
    expect_int_eq(fake_os_count('m') >= 1, 1, "mapped from the OS");
    pp_region_give(r, false);
}
TEST_END

TEST_BEGIN(test_decay_purges_whole_region)
{
    long saved = pp_opt.retain;
    pp_opt.retain = 0;
    bool cold;
    struct pp_region *r = pp_region_take(0, &cold);
    fake_os_reset();
    pp_region_give(r, false);
    expect_int_eq(fake_os_count('p'), 0, "a region given back stays resident during the decay");
    fake_os.now_ms += (uint64_t)pp_opt.decay_ms;
    pp_region_bank_decay();
    const struct fake_call *c = fake_os_last('p');
    expect_ptr_not_null(c, "released once the decay has passed");
    if (c) {
        expect_zu_eq(c->addr, r->base, "purge starts at the region");
        expect_zu_eq(c->size, PP_REGION_SIZE, "and covers exactly 2 MiB (the huge page is not split)");
        expect_int_eq(c->how, PP_PURGE_DONTNEED, "with MADV_DONTNEED");
    }
    pp_opt.retain = saved;
}
TEST_END

TEST_BEGIN(test_retain_keeps_hot_and_trim_purges)
{
    long saved = pp_opt.retain;
    pp_opt.retain = 4 * PP_REGION_SIZE;
    bool cold;
    struct pp_region *r = pp_region_take(0, &cold);
    fake_os_reset();
    pp_region_give(r, false);
    fake_os.now_ms += 10 * (uint64_t)pp_opt.decay_ms;
    pp_region_bank_decay();
    expect_int_eq(fake_os_count('p'), 0, "kept resident within the retain budget, whatever its age");
    struct pp_region *again = pp_region_take(0, &cold);
    expect_ptr_eq(again, r, "a resident region is reused first");
    expect_false(cold, "and it is hot");
    pp_region_give(again, false);
    fake_os_reset();
    pp_region_bank_purge(0);
    expect_int_ge(fake_os_count('p'), 1, "trim releases the resident regions");
    pp_opt.retain = saved;
}
TEST_END

TEST_BEGIN(test_lowest_index_first)
{
    bool cold;
    struct pp_region *a = pp_region_take(0, &cold), *b = pp_region_take(0, &cold);
    expect_true(a->idx < b->idx, "taken in index order");
    pp_region_give(b, false);
    pp_region_give(a, false);
    struct pp_region *c = pp_region_take(0, &cold);
    expect_true(c->idx <= a->idx, "the lowest free index comes back first");
    pp_region_give(c, false);
}
TEST_END

TEST_BEGIN(test_huge_alloc_free_resize)
{
    struct pp_region *r = pp_region_huge_alloc(5 * PP_REGION_SIZE + 1, PP_REGION_SIZE, 0);
    expect_ptr_not_null(r, "huge block");
    expect_int_eq(r->huge_n, 6, "rounded to whole regions");
    for (int i = 0; i < 6; i++)
        expect_ptr_eq(pp_region_of(r->base + (size_t)i * PP_REGION_SIZE), r, "pagemap entry %d -> head", i);
    expect_true(pp_region_huge_resize(r, 3 * PP_REGION_SIZE), "shrink in place");
    expect_int_eq(r->huge_n, 3, "three regions left");
    expect_ptr_ne(pp_region_of(r->base + 3 * PP_REGION_SIZE), r, "the tail region is detached");
    expect_true(pp_region_huge_resize(r, 6 * PP_REGION_SIZE), "grow back in place: the next regions are banked");
    expect_ptr_eq(pp_region_of(r->base + 5 * PP_REGION_SIZE), r, "pagemap covers the new end");
    uintptr_t base = r->base;
    pp_region_huge_free(r);
    struct pp_region *after = pp_region_of(base);
    expect_int_eq(after->kind, PP_REGION_POOL, "regions back in the bank");
    expect_int_eq(after->state[0], PP_PG_FREED, "and marked, so a second free() is named a double free");
}
TEST_END

TEST_BEGIN(test_huge_move_with_mremap)
{
    struct pp_region *a = pp_region_huge_alloc(2 * PP_REGION_SIZE, PP_REGION_SIZE, 0);
    struct pp_region *blocker = pp_region_huge_alloc(PP_REGION_SIZE + 1, PP_REGION_SIZE, 0);
    memset((void *)a->base, 7, 2 * PP_REGION_SIZE);
    struct pp_region *b = pp_region_huge_alloc(8 * PP_REGION_SIZE, PP_REGION_SIZE, 0);
    fake_os_reset();
    expect_true(pp_region_huge_move(a, b), "moved");
    expect_int_eq(fake_os_count('r'), 1, "one mremap");
    expect_int_eq(fake_os_count('f'), 1, "the old range mapped fresh again");
    expect_int_eq(((unsigned char *)b->base)[2 * PP_REGION_SIZE - 1], 7, "content moved");
    expect_int_eq(pp_region_of(a->base)->kind, PP_REGION_POOL, "old regions back in the bank");
    pp_region_huge_free(b);
    pp_region_huge_free(blocker);
}
TEST_END

/* When the moved block's old range cannot be mapped again, its regions are lost and their
 * addresses look up to the dead sentinel (all zero, in .bss: known by its address). */
TEST_BEGIN(test_huge_move_refill_failure)
{
    struct pp_region *a = pp_region_huge_alloc(2 * PP_REGION_SIZE, PP_REGION_SIZE, 0);
    struct pp_region *blocker = pp_region_huge_alloc(PP_REGION_SIZE + 1, PP_REGION_SIZE, 0);
    struct pp_region *b = pp_region_huge_alloc(8 * PP_REGION_SIZE, PP_REGION_SIZE, 0);
    uintptr_t old = a->base;
    struct pp_bank *bank = pp_bank_of(0);
    size_t lost = bank->nlost;
    fake_os_reset();
    fake_os.fail_map_fixed = 1;
    expect_true(pp_region_huge_move(a, b), "moved");
    fake_os.fail_map_fixed = 0;
    expect_ptr_eq(pp_region_of(old), &pp_region_dead, "the old range is dead");
    expect_ptr_eq(pp_region_of(old + PP_REGION_SIZE), &pp_region_dead, "both of its regions");
    expect_zu_eq(bank->nlost, lost + 2, "two regions lost");
    expect_int_eq(pp_region_dead.kind, 0, "the sentinel stays all zero");
    pp_region_huge_free(b);
    pp_region_huge_free(blocker);
}
TEST_END

TEST_BEGIN(test_pagemap_unmapped_is_null)
{
    expect_ptr_null(pp_region_of(0), "NULL");
    expect_ptr_null(pp_region_of(0x12345678), "wild address");
    expect_ptr_null(pp_region_of((uintptr_t)1 << 50), "beyond the user address space");
    expect_ptr_null(pp_slab_of(0x12345678), "slab map: wild address");
}
TEST_END

/* The slab map: entries only where committed, the sentinel (limit 0) everywhere else: in a part
 * of the map never committed, in a committed page's empty entries, and for the first 2 MiB of the
 * address space, whose entries are the sentinel's words. */
TEST_BEGIN(test_slabmap_lookup_and_sentinel)
{
    uintptr_t a = ((uintptr_t)0x5a5 << 32) + 7 * PP_REGION_SIZE;   /* only the map: no memory needed */
    enum { CHUNK = 1 << PP_SLABMAP_SHIFT };
    static struct pp_slab fake = { .limit = 1 };
    expect_int_eq(pp_slab_lookup(a)->limit, 0, "never committed: the sentinel");
    expect_ptr_null(pp_slab_of(a), "never committed: no slab");
    fake_os_reset();
    expect_int_eq(pp_slabmap_commit(a, 2 * PP_REGION_SIZE), 0, "commit two regions");
    const struct fake_call *c = fake_os_last('c');
    expect_true(c && c->size == PP_PAGE_SIZE, "one page of entries (it covers 32 MiB)");
    expect_true(c && c->addr <= (uintptr_t)pp_slabmap_entry(a) &&
                c->addr + c->size >= (uintptr_t)(pp_slabmap_entry(a + 2 * PP_REGION_SIZE - 1) + 1),
                "the page that holds the two regions' entries");
    pp_slabmap_set(a + 3 * CHUNK, 2 * CHUNK / PP_PAGE_SIZE, &fake);
    expect_ptr_eq(pp_slab_lookup(a + 3 * CHUNK), &fake, "first chunk");
    expect_ptr_eq(pp_slab_of(a + 4 * CHUNK + 100), &fake, "second chunk, any byte");
    expect_ptr_eq(pp_slab_of(a + 5 * CHUNK - 1), &fake, "second chunk, last byte");
    expect_int_eq(pp_slab_lookup(a + 5 * CHUNK)->limit, 0, "empty entry: the sentinel");
    expect_ptr_null(pp_slab_of(a + 5 * CHUNK), "empty entry: no slab");
    expect_ptr_null(pp_slab_of(a + 3 * CHUNK - 1), "the chunk before: no slab");
    const struct pp_slab *sentinel = pp_slab_lookup(0);
    expect_int_eq(sentinel->limit, 0, "address 0: the sentinel");
    expect_true(sentinel->mul == 0 && sentinel->start == 0, "its other words are entries of the first 2 MiB: zero");
    pp_slabmap_set(a + 3 * CHUNK, 2 * CHUNK / PP_PAGE_SIZE, NULL);
    expect_ptr_null(pp_slab_of(a + 3 * CHUNK), "cleared");
    expect_int_eq(pp_slab_lookup((uintptr_t)1 << 46)->limit, 0, "another part never committed");
}
TEST_END

/* A region that starts a 4 GiB range is a region like any other (the two-level slab map that came
 * before the flat one kept such regions out of the pools). */
TEST_BEGIN(test_4gib_region_may_hold_slabs)
{
    enum { NODE = 7 };                      /* a bank of its own */
    uintptr_t boundary = (uintptr_t)0x5b00 << 32; /* above ASan's shadow, below the stacks */
    fake_os.map_at = boundary;
    bool cold;
    struct pp_region *r = pp_region_take(NODE, &cold);
    expect_ptr_not_null(r, "a region");
    if (!r)
        return;
    expect_true(r->base == boundary, "the chunk was placed where asked, at 4 GiB");
    static struct pp_slab fake = { .limit = 1 };
    pp_slabmap_set(r->base, 16, &fake);
    expect_ptr_eq(pp_slab_of(r->base), &fake, "its first chunk holds a slab");
    pp_slabmap_set(r->base, 16, NULL);
    pp_region_give(r, false);
    struct pp_region *h = pp_region_huge_alloc(3 * PP_REGION_SIZE, PP_REGION_SIZE, NODE);
    expect_ptr_not_null(h, "a huge block");
    if (h)
        pp_region_huge_free(h);
}
TEST_END

/* A huge block that no run of banked regions fits makes the bank map more; the hot banked regions
 * that could not serve are released first (beyond PAGEPOOL_RETAIN), or the process would grow by
 * what sits idle. */
TEST_BEGIN(test_growth_releases_hot_regions_that_cannot_serve)
{
    enum { NODE = 6 };                      /* a bank of its own: one region so far */
    long saved = pp_opt.retain;
    bool cold;
    struct pp_region *r = pp_region_take(NODE, &cold);
    expect_ptr_not_null(r, "a region");
    if (!r)
        return;
    pp_region_give(r, false);               /* banked, hot */
    pp_opt.retain = PP_REGION_SIZE;
    fake_os_reset();
    struct pp_region *h = pp_region_huge_alloc(3 * PP_REGION_SIZE, PP_REGION_SIZE, NODE);
    expect_ptr_not_null(h, "a huge block from new regions");
    expect_int_eq(fake_os_count('p'), 0, "within PAGEPOOL_RETAIN the hot region stays");
    pp_region_huge_free(h);
    pp_region_bank_purge(0);                /* all banked regions cold: a clean start */
    r = pp_region_take(NODE, &cold);
    pp_region_give(r, false);               /* the only hot one */
    pp_opt.retain = 0;
    fake_os_reset();
    h = pp_region_huge_alloc(64 * PP_REGION_SIZE, PP_REGION_SIZE, NODE);   /* more than is banked */
    expect_ptr_not_null(h, "a huge block from new regions");
    const struct fake_call *c = fake_os_last('p');
    expect_int_eq(fake_os_count('p'), 1, "the hot region that could not serve is released");
    expect_true(c && c->addr == r->base && c->size == PP_REGION_SIZE, "that region, whole");
    expect_true(fake_os_count('m') >= 1, "and the bank grew");
    if (h)
        pp_region_huge_free(h);
    pp_opt.retain = saved;
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    return RUN_TESTS(test_take_maps_a_chunk_and_registers_it, test_decay_purges_whole_region,
                     test_retain_keeps_hot_and_trim_purges, test_lowest_index_first, test_huge_alloc_free_resize, test_huge_move_with_mremap, test_huge_move_refill_failure, test_growth_releases_hot_regions_that_cannot_serve,
                     test_pagemap_unmapped_is_null, test_slabmap_lookup_and_sentinel,
                     test_4gib_region_may_hold_slabs);
}
