/* Unit tests of lib/sizeclass.c and the fast path's divisibility test. */
#include "../../lib/fastpath.h"
#include "../test.h"

TEST_BEGIN(test_fast_table_matches)
{
    for (size_t size = 0; size <= PP_SMALL_FAST_MAX; size++)
        expect_int_eq(pp_class_fast[(size + 15) >> 4], pp_size_class(size), "size %zu", size);
}
TEST_END

TEST_BEGIN(test_classes_fit_and_are_tight)
{
    for (size_t size = 1; size <= PP_SMALL_MAX; size++) {
        unsigned c = pp_size_class(size);
        expect_true(c >= 1 && c < PP_NCLASSES, "class of %zu in range", size);
        expect_zu_ge(pp_class_size[c], size, "class fits %zu", size);
        if (c > 1)
            expect_zu_lt(pp_class_size[c - 1], size, "smallest class for %zu", size);
    }
    for (unsigned c = 2; c < PP_NCLASSES; c++) {
        expect_zu_eq(pp_class_size[c] % 16, 0, "class %u is 16-aligned", c);
        expect_true(pp_class_size[c] * 4 <= pp_class_size[c - 1] * 5 + 16 * 4 || pp_class_size[c] <= 128,
                    "classes %u,%u at most 25%% apart", c - 1, c);
    }
    for (unsigned c = 2; c < PP_NCLASSES; c++)
        if (pp_class_size[c - 1] >= 1024 && pp_class_size[c] <= 8192)
            expect_true(pp_class_size[c] * 8 <= pp_class_size[c - 1] * 9, "1-8 KiB: classes %u,%u at most 12.5%% apart", c - 1, c);
    expect_zu_eq(pp_class_size[pp_size_class(4368)], 4608, "a page and a header: 4368 in the 4608 class");
    for (size_t k = 1024; k <= 16384; k *= 2) {     /* a power of two and a header of up to 32 B */
        expect_zu_eq(pp_class_size[pp_size_class(k + 1)], k + PP_CLASS_HDR, "%zu + 1", k);
        expect_zu_eq(pp_class_size[pp_size_class(k + 8)], k + PP_CLASS_HDR, "%zu + 8", k);
        expect_zu_eq(pp_class_size[pp_size_class(k + PP_CLASS_HDR)], k + PP_CLASS_HDR, "%zu + 32", k);
        expect_zu_gt(pp_class_size[pp_size_class(k + PP_CLASS_HDR + 1)], k + PP_CLASS_HDR, "%zu + 33", k);
    }
    expect_zu_eq(pp_class_size[PP_NCLASSES - 1], PP_SMALL_MAX, "the last class is 32 KiB");
}
TEST_END

TEST_BEGIN(test_slab_orders)
{
    for (unsigned c = 1; c < PP_NCLASSES; c++) {
        size_t bytes = PP_PAGE_SIZE << pp_class_order[c];
        expect_zu_ge(bytes / pp_class_size[c], pp_class_order[c] < PP_SLAB_MAX_ORDER ? 64 : 16,
                     "class %u: at least 64 objects per slab (16 in the largest slabs)", c);
        expect_zu_le(bytes, (size_t)1 << 19, "class %u: slab within the 2^19 divisibility bound", c);
        expect_zu_ge(bytes, (size_t)1 << PP_SLABMAP_SHIFT, "class %u: a slab fills whole slab map chunks", c);
    }
}
TEST_END

/* The fast path's object test (fastpath.h): off * mul mod 2^64 < carved * e exactly when off is an
 * object start below the carved mark, for every class, offset and carved count that matter. */
TEST_BEGIN(test_object_test_exhaustive)
{
    for (unsigned c = 1; c < PP_NCLASSES; c++) {
        uint32_t size = pp_class_size[c];
        uint64_t mul = pp_slab_mul(size), e = (uint64_t)size * mul;
        expect_true(mul & 1, "class %u: odd multiplier", c);
        expect_true(e >= 1 && e <= 2 * (uint64_t)size, "class %u: e = %lu", c, (unsigned long)e);
        size_t bytes = PP_PAGE_SIZE << pp_class_order[c], n = bytes / size;
        size_t carved[] = { 0, 1, n / 2, n };
        for (unsigned k = 0; k < 4; k++) {
            uint64_t limit = carved[k] * e;
            for (uint64_t off = 0; off < bytes; off++) {
                bool ok = off * mul < limit, want = off % size == 0 && off / size < carved[k];
                if (ok != want) {
                    expect_true(false, "class %u size %u carved %zu offset %lu", c, size, carved[k], (unsigned long)off);
                    break;
                }
            }
        }
    }
}
TEST_END

/* malloc's direct table: each index (size + 15) / 16 is in exactly its class's range. */
TEST_BEGIN(test_direct_ranges)
{
    for (unsigned i = 0; i <= PP_SMALL_FAST_MAX / 16; i++)
        for (unsigned c = 1; c < PP_NCLASSES; c++) {
            bool in = i >= pp_class_direct_lo[c] && i <= pp_class_direct_hi[c];
            expect_true(in == (pp_class_fast[i] == c), "index %u class %u", i, c);
        }
    expect_true(pp_class_direct_lo[PP_NCLASSES - 1] > pp_class_direct_hi[PP_NCLASSES - 1], "32 KiB: none");
}
TEST_END

TEST_BEGIN(test_aligned_classes)
{
    for (size_t align = 16; align <= PP_PAGE_SIZE; align <<= 1)
        for (size_t size = 1; size <= PP_SMALL_MAX; size += 7) {
            unsigned c = pp_size_class_aligned(size, align);
            if (!c)
                continue;
            expect_zu_eq(pp_class_size[c] % align, 0, "align %zu size %zu", align, size);
            expect_zu_ge(pp_class_size[c], size, "fits");
        }
    expect_int_ne(pp_size_class_aligned(100, 256), 0, "small aligned sizes have a class");
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    return RUN_TESTS(test_fast_table_matches, test_classes_fit_and_are_tight, test_slab_orders,
                     test_object_test_exhaustive, test_direct_ranges, test_aligned_classes);
}
