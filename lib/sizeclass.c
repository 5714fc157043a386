/*
 * sizeclass.c — size classes and the slab size of each.
 *
 * Classes: 16..128 in steps of 16, then four per doubling (2^k + i * 2^(k-2), i = 1..4) up to 32 KiB,
 * except 1-8 KiB, which has eight per doubling (steps of 128, 256 and 512 B), and one class just
 * above each power of two from 1 to 16 KiB: 2^k + 32 (1056, 2080, 4128, 8224, 16416). Neighbours
 * are at most 25% apart (128 -> 160). Why eight there: a program whose sizes spread evenly
 * (stress-ng's malloc stressor) rounds up by about half a step, 8% of its bytes at four per
 * doubling; 1-4 KiB holds most of the bytes of such programs below a page, and its classes are few
 * objects per 64 KiB slab anyway (16-56). Why the classes at 2^k + 32: "a power of two and a
 * header" is the commonest size there is (a wrapper that stores the size in front of a 1 KiB or
 * 4 KiB buffer: SQLite asks for 1032 and 4104 bytes), and the next class would round it up by
 * 12-25%: 8000 blocks of 8200 bytes, all written, took 82.5 MiB, 67.2 with the class (glibc
 * 65.7). Why eight from 4 to 8 KiB: SQLite's page cache asks for 4368 bytes (a page and its
 * header), which went to 5120 at four per doubling and goes to 4608 now. (sqlite3 :memory:,
 * 300 000 rows, bench/compare's sqlite: peak RSS in bench/RESULTS.md, session 13.) Eight per
 * doubling everywhere cost more than it saved: every class a thread uses keeps a partly carved
 * slab and free objects only that class can use (bench-single, whose 1-32 KiB window writes two
 * pages of every object it carves: 15 -> 22.8 MiB for 1-32 KiB, 14.9 -> 17.8 for 1-16 KiB, 14.9
 * for 1-8 KiB; RESULTS.md, sessions 6, 7 and 13).
 * Every class size is a multiple of 16 (the C alignment), and the power-of-two alignments below
 * 4 KiB find a class that is a multiple of them (pp_size_class_aligned).
 * Slab order: the smallest block of >= 64 KiB that holds >= 64 objects with <= 1/8 waste, else
 * the largest (order 7, 512 KiB: 16-63 objects of 8-32 KiB).
 * Layer: pure computation; called by heap.c and slab.c.
 */
#include "internal.h"

/* (size + 15) / 16 -> class for sizes 0..1024. A constant, so malloc works before start-up ran
 * (the first malloc comes from whichever library constructor runs first); the unit test checks it
 * against pp_size_class. */
PP_HIDDEN const uint8_t pp_class_fast[PP_SMALL_FAST_MAX / 16 + 1] = {
    1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 11, 11, 12,
    12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16,
    16, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18,
    18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20,
    20,
};
/* Per doubling k (sizes in (2^k, 2^(k+1)], k = 7..14): the class is off[k] + (size - 1) >> shift[k]
 * + (size > hdr[k]) (internal.h). With n classes the step is 2^shift = 2^k / n, and class
 * base_k + i - 1 has size 2^k + i * 2^shift, so off[k] = base_k - n. Where the doubling starts
 * with a header class (2^k + PP_CLASS_HDR, k = 10..14), that class is base_k and the others move
 * up by one: sizes above hdr[k] = 2^k + PP_CLASS_HDR get the + 1. Elsewhere hdr[k] is the largest
 * size, so the + 1 is never taken. Constants, like pp_class_fast. */
PP_HIDDEN const int8_t pp_class_off[PP_SMALL_MAX_SHIFT] = {
    [7] = 5, [8] = 9, [9] = 13, [10] = 13, [11] = 22, [12] = 31, [13] = 44, [14] = 49,
};
PP_HIDDEN const uint8_t pp_class_shift[PP_SMALL_MAX_SHIFT] = {
    [7] = 5, [8] = 6, [9] = 7, [10] = 7, [11] = 8, [12] = 9, [13] = 11, [14] = 12,
};
#define NO_HDR UINT32_MAX
PP_HIDDEN const uint32_t pp_class_hdr[PP_SMALL_MAX_SHIFT] = {
    [0 ... 9] = NO_HDR,
    [10] = 1024 + PP_CLASS_HDR, [11] = 2048 + PP_CLASS_HDR, [12] = 4096 + PP_CLASS_HDR,
    [13] = 8192 + PP_CLASS_HDR, [14] = 16384 + PP_CLASS_HDR,
};
PP_HIDDEN uint8_t pp_class_direct_lo[PP_NCLASSES], pp_class_direct_hi[PP_NCLASSES];
PP_HIDDEN uint32_t pp_class_size[PP_NCLASSES];
PP_HIDDEN uint8_t pp_class_order[PP_NCLASSES];

unsigned pp_size_class_aligned(size_t size, size_t align)
{
    if (align > PP_PAGE_SIZE || size > PP_SMALL_MAX)
        return 0;
    for (unsigned c = pp_size_class(size < align ? align : size); c < PP_NCLASSES; c++)
        if (pp_class_size[c] % align == 0)
            return c;
    return 0;
}

/* Many objects per slab make full/empty transitions (slow paths) rare: a class whose live objects
 * fit in one slab never switches slabs, and when frees are spread over a class's slabs, the slab
 * the slow path takes next holds free objects in proportion to its capacity. With 16 objects a
 * slab (64 KiB of 4 KiB objects), a random-size malloc/free/realloc mix (stress-ng's malloc
 * stressor, bench-stressmalloc -n 4096) took a slow path every third allocation; with 64, every
 * seventh (RESULTS.md, session 15). Carving is lazy, so a big slab costs no memory until it is
 * used. Slabs are at least 64 KiB (as mimalloc's small pages; and the slab map has one entry per
 * 64 KiB, internal.h); the largest (order 7, 512 KiB) is what the free fast path's divisibility
 * test allows, and holds at least 16 objects of the largest class. */
static unsigned slab_order(uint32_t size)
{
    for (unsigned o = PP_SLABMAP_SHIFT - PP_PAGE_SHIFT; o < PP_SLAB_MAX_ORDER; o++) {
        size_t bytes = PP_PAGE_SIZE << o;
        if (bytes / size >= 64 && (bytes % size) * 8 <= bytes)
            return o;
    }
    return PP_SLAB_MAX_ORDER;
}

void pp_sizeclass_init(void)
{
    pp_class_size[0] = 0;
    for (unsigned c = 1; c <= 8; c++)
        pp_class_size[c] = c * 16;
    unsigned c = 9;
    for (unsigned k = 7; k < PP_SMALL_MAX_SHIFT; k++) {
        if (pp_class_hdr[k] != NO_HDR)
            pp_class_size[c++] = pp_class_hdr[k];
        for (unsigned i = 1; i <= 1u << (k - pp_class_shift[k]); i++)
            pp_class_size[c++] = (1u << k) + (i << pp_class_shift[k]);
    }
    pp_assert(c == PP_NCLASSES);
    for (c = 1; c < PP_NCLASSES; c++) {
        pp_class_order[c] = (uint8_t)slab_order(pp_class_size[c]);
        pp_class_direct_lo[c] = 1;           /* lo > hi: no index (classes above 1 KiB) */
        pp_class_direct_hi[c] = 0;
    }
    for (unsigned i = PP_SMALL_FAST_MAX / 16 + 1; i-- > 0;) {   /* each class's indexes are contiguous */
        c = pp_class_fast[i];
        if (pp_class_direct_lo[c] > pp_class_direct_hi[c])
            pp_class_direct_hi[c] = (uint8_t)i;
        pp_class_direct_lo[c] = (uint8_t)i;
    }
}
