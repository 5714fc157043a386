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
    pp_region_give(r);
}
TEST_END

TEST_BEGIN(test_give_beyond_retain_purges_whole_region)
{
    long saved = pp_opt.retain;
    pp_opt.retain = 0;
    bool cold;
    struct pp_region *r = pp_region_take(0, &cold);
    fake_os_reset();
    pp_region_give(r);
    const struct fake_call *c = fake_os_last('p');
    expect_ptr_not_null(c, "a purge");
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
    pp_region_give(r);
    expect_int_eq(fake_os_count('p'), 0, "kept resident within the retain budget");
    struct pp_region *again = pp_region_take(0, &cold);
    expect_ptr_eq(again, r, "a resident region is reused first");
    expect_false(cold, "and it is hot");
    pp_region_give(again);
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
    pp_region_give(b);
    pp_region_give(a);
    struct pp_region *c = pp_region_take(0, &cold);
    expect_true(c->idx <= a->idx, "the lowest free index comes back first");
    pp_region_give(c);
}
TEST_END

TEST_BEGIN(test_huge_alloc_free_resize)
{
    fake_os_reset();
    struct pp_region *r = pp_region_huge_alloc(5 * PP_REGION_SIZE + 1, PP_REGION_SIZE, 0);
    expect_ptr_not_null(r, "huge block");
    expect_zu_eq(r->huge_size, 6 * PP_REGION_SIZE, "rounded to whole regions");
    for (int i = 0; i < 6; i++)
        expect_ptr_eq(pp_region_of(r->base + (size_t)i * PP_REGION_SIZE), r, "pagemap entry %d", i);
    uintptr_t old = r->base;
    r = pp_region_huge_resize(r, 10 * PP_REGION_SIZE);
    expect_ptr_not_null(r, "resized");
    expect_zu_eq(r->huge_size, 10 * PP_REGION_SIZE, "new size");
    expect_ptr_eq(pp_region_of(r->base + 9 * PP_REGION_SIZE), r, "pagemap covers the new end");
    if (r->base != old)
        expect_ptr_eq(pp_region_of(old), &pp_region_dead, "the old range reads as freed");
    uintptr_t base = r->base;
    pp_region_huge_free(r);
    expect_ptr_eq(pp_region_of(base), &pp_region_dead, "a freed huge block reads as dead (double free is named)");
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

int main(void)
{
    pp_thread_init_once();
    return RUN_TESTS(test_take_maps_a_chunk_and_registers_it, test_give_beyond_retain_purges_whole_region,
                     test_retain_keeps_hot_and_trim_purges, test_lowest_index_first, test_huge_alloc_free_resize,
                     test_pagemap_unmapped_is_null);
}
