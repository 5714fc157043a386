/* Unit tests of sparse slabs on the fake OS: a slab down to a quarter of its objects turns sparse,
 * and once it has been sparse for a decay period the reclaimer releases exactly the pages that
 * hold only free objects (later frees: theirs at the next pass); a released object freed again is
 * a double free; remote frees and malloc take the slab back; pp_reclaim does not wait for the
 * decay; the accounting (footprint, released in slabs) follows. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"
#include <pagepool.h>
#include <pthread.h>

enum { MAXOBJ = 256 };

/* Allocate n objects of `size` and return one of their slabs that is full and holds only them,
 * its objects in address order in objs[]. The other allocations go to rest[] (freed by the caller). */
static struct pp_slab *own_full_slab(size_t size, int n, void **rest, void **objs)
{
    for (int i = 0; i < n; i++)
        rest[i] = pp_malloc(size);
    for (int i = 0; i < n; i++) {
        struct pp_slab *s = pp_slab_of((uintptr_t)rest[i]);
        if (s->list != PP_SLAB_FULL)
            continue;
        uint32_t mine = 0;
        for (int j = 0; j < n; j++)
            mine += pp_slab_of((uintptr_t)rest[j]) == s;
        if (mine != s->capacity)
            continue;
        for (int j = 0; j < n; j++)
            if (pp_slab_of((uintptr_t)rest[j]) == s) {
                objs[((uintptr_t)rest[j] - s->start) / s->size] = rest[j];
                rest[j] = NULL;
            }
        return s;
    }
    return NULL;
}

static void free_all(void **p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i]) {
            pp_free(p[i]);
            p[i] = NULL;
        }
}

/* Is page j of slab s inside a purge the fake OS logged? */
static bool page_purged(const struct pp_slab *s, unsigned j)
{
    uintptr_t a = s->start + ((uintptr_t)j << PP_PAGE_SHIFT);
    for (unsigned i = 0; i < fake_os.nlog; i++)
        if (fake_os.log[i].op == 'p' && fake_os.log[i].addr <= a && a < fake_os.log[i].addr + fake_os.log[i].size)
            return true;
    return false;
}

/* one reclaimer pass a decay period later */
static void reclaimer_pass(void)
{
    fake_os.now_ms += (uint64_t)pp_opt.decay_ms;
    pp_slab_purge_sparse(false);
}

static void *double_free_arg(void *p) { pp_free(p); return NULL; }
static void double_free(void *p) { pp_free(p); }

TEST_BEGIN(test_quarter_used_releases_free_pages)
{
    static void *rest[256], *objs[MAXOBJ], *again[128];
    struct pp_slab *s = own_full_slab(4096, 256, rest, objs);  /* 64 objects of one page each */
    expect_ptr_not_null(s, "a full slab of 4 KiB objects");
    if (!s)
        return;
    expect_int_eq(s->capacity, 64, "64 objects per 256 KiB slab");
    enum { C = 64, Q = C / 4 };             /* Q: the sparse mark (at most two a page: 128) */
    struct pp_stats a, b;
    pp_stats_get(&a);
    fake_os_reset();
    for (int i = 0; i < C - Q - 1; i++)
        pp_free(objs[i]);
    expect_int_eq(fake_os_count('p'), 0, "nothing released above a quarter used");
    pp_free(objs[C - Q - 1]);               /* used Q = capacity / 4 */
    expect_true(atomic_load(&s->owner) & 1, "the slab is sparse");
    pp_slab_purge_sparse(false);
    expect_int_eq(fake_os_count('p'), 0, "nothing released before the slab was sparse for a decay period");
    reclaimer_pass();
    expect_int_eq(fake_os_count('p'), 1, "one madvise for the free run");
    const struct fake_call *c = fake_os_last('p');
    expect_true(c && c->addr == s->start && c->size == (C - Q) * 4096 && c->how == PP_PURGE_DONTNEED,
                "exactly the %d pages of the freed objects, with DONTNEED", C - Q);
    pp_free(objs[C - Q]);
    expect_int_eq(fake_os_count('p'), 1, "free() itself makes no syscall");
    reclaimer_pass();
    expect_int_eq(fake_os_count('p'), 2, "the next pass releases the new free page");
    c = fake_os_last('p');
    expect_true(c && c->addr == s->start + (C - Q) * 4096 && c->size == 4096, "a later free releases its own page");
    pp_stats_get(&b);
    expect_zu_eq(b.released_slab - a.released_slab, (C - Q + 1) * 4096, "released in slabs");
    expect_zu_eq(a.footprint - b.footprint, (C - Q + 1) * 4096, "the footprint drops by the released pages");
    expect_true(pp_stats_check(), "mapped = in_use + free + cached + bank (released slab pages stay in use)");

    expect_abort_arg(double_free, objs[0], "double free");   /* released: its key is gone */

    /* a remote free goes through the remote list into the bitmap */
    pthread_t t;
    pthread_create(&t, NULL, double_free_arg, objs[C - Q + 1]);
    pthread_join(t, NULL);
    objs[C - Q + 1] = NULL;
    expect_ptr_not_null(atomic_load(&s->thread_free), "the remote free waits for the owner");

    /* malloc takes the slab back: the released objects come out of the bitmap, zero-filled */
    bool found = false, zero = true;
    for (int i = 0; i < 128 && !found; i++) {
        again[i] = pp_malloc(4096);
        if (again[i] == objs[0]) {
            found = true;
            for (size_t k = 16; k < 4096; k++)
                zero &= ((unsigned char *)again[i])[k] == 0;
        }
    }
    expect_true(found, "the slab's lowest free object is handed out again");
    expect_true(zero, "a released object reads as zero (DONTNEED)");
    expect_true(pp_stats_check(), "accounting after reuse");
    for (int i = 0; i <= C - Q; i++)
        objs[i] = NULL;                     /* freed above; some are in again[] now */
    free_all(again, 128);
    free_all(objs, MAXOBJ);
    free_all(rest, 256);
    pp_reclaim();                           /* the slab, now the empty current one, goes back too */
    expect_zu_eq(atomic_load(&pp_counters.slab_purged_pages), 0, "no released slab pages left counted");
    expect_true(pp_stats_check(), "accounting after freeing everything");
}
TEST_END

TEST_BEGIN(test_only_wholly_free_pages_are_released)
{
    static void *rest[256], *objs[MAXOBJ];
    struct pp_slab *s = own_full_slab(1024, 256, rest, objs);  /* 64 objects, 4 per page */
    expect_ptr_not_null(s, "a full slab of 1 KiB objects");
    if (!s)
        return;
    expect_int_eq(s->capacity, 64, "64 objects per slab");
    /* keep object 5 (page 1) and the first object of pages 3..15: pages 0 and 2 become free */
    bool keep[64] = { false };
    keep[5] = true;
    for (int j = 3; j < 16; j++)
        keep[4 * j] = true;
    fake_os_reset();
    for (int i = 0; i < 64; i++)
        if (!keep[i]) {
            pp_free(objs[i]);
            objs[i] = NULL;
        }
    reclaimer_pass();
    for (unsigned j = 0; j < 16; j++)
        expect_true(page_purged(s, j) == (j == 0 || j == 2), "page %u released: %d", j, page_purged(s, j));
    expect_int_eq(s->sparse ? s->sparse->npurged : 0, 2, "two pages counted");
    expect_abort_arg(double_free, (char *)s->start + 1024, "double free");     /* on a released page */
    expect_abort_arg(double_free, (char *)s->start + 6 * 1024, "double free"); /* on a resident page */
    free_all(objs, MAXOBJ);                 /* the slab empties and goes back */
    expect_int_eq(s->list, PP_SLAB_NONE, "an emptied sparse slab is released");
    free_all(rest, 256);
    expect_true(pp_stats_check(), "accounting");
}
TEST_END

TEST_BEGIN(test_objects_across_pages)
{
    static void *rest[128], *objs[MAXOBJ];
    struct pp_slab *s = own_full_slab(3072, 128, rest, objs);  /* 21 objects, straddling pages */
    expect_ptr_not_null(s, "a full slab of 3 KiB objects");
    if (!s)
        return;
    fake_os_reset();
    /* keep object 1 ([3072, 6144): pages 0 and 1) and the last objects */
    uint32_t n = s->capacity;
    for (uint32_t i = 0; i < n; i++)
        if (i != 1 && i + 4 < n) {
            pp_free(objs[i]);
            objs[i] = NULL;
        }
    reclaimer_pass();
    uint32_t pages = 1u << s->order;
    for (unsigned j = 0; j < pages; j++) {
        /* a page is free when every object overlapping it is */
        uintptr_t lo = (uintptr_t)j * 4096 / 3072, hi = ((uintptr_t)j * 4096 + 4095) / 3072;
        bool free_page = true;
        for (uintptr_t i = lo; i <= hi; i++)
            if (i < n && (i == 1 || i + 4 >= n))
                free_page = false;
        expect_true(page_purged(s, j) == free_page, "page %u: released %d, wholly free %d", j, page_purged(s, j), free_page);
    }
    free_all(objs, MAXOBJ);
    free_all(rest, 128);
    expect_true(pp_stats_check(), "accounting");
}
TEST_END

TEST_BEGIN(test_never_release_turns_it_off)
{
    long saved = pp_opt.decay_ms;
    pp_opt.decay_ms = -1;
    static void *rest[128], *objs[MAXOBJ];
    struct pp_slab *s = own_full_slab(2048, 128, rest, objs);
    expect_ptr_not_null(s, "a full slab of 2 KiB objects");
    if (s) {
        fake_os_reset();
        for (uint32_t i = 0; i + 1 < s->capacity; i++) {
            pp_free(objs[i]);
            objs[i] = NULL;
        }
        fake_os.now_ms += 1000;
        pp_slab_purge_sparse(false);
        expect_int_eq(fake_os_count('p'), 0, "PAGEPOOL_DECAY_MS=-1: nothing released inside slabs");
        expect_true(s->sparse == NULL, "the slab stays ordinary");
    }
    free_all(objs, MAXOBJ);
    free_all(rest, 128);
    pp_opt.decay_ms = saved;
}
TEST_END

TEST_BEGIN(test_reclaim_does_not_wait)
{
    static void *rest[256], *objs[MAXOBJ];
    struct pp_slab *s = own_full_slab(512, 256, rest, objs);   /* 128 objects, 8 per page */
    expect_ptr_not_null(s, "a full slab of 512 B objects");
    if (!s)
        return;
    fake_os_reset();
    for (int i = 0; i < 100; i++) {         /* used 28 < 32: sparse */
        pp_free(objs[i]);
        objs[i] = NULL;
    }
    expect_int_eq(fake_os_count('p'), 0, "a young sparse slab keeps its pages");
    pp_reclaim();
    expect_true(page_purged(s, 0) && page_purged(s, 11) && !page_purged(s, 12) && !page_purged(s, 13),
                "pp_reclaim releases the 12 free pages at once (page 12 holds a live object)");
    free_all(objs, MAXOBJ);
    free_all(rest, 256);
    expect_true(pp_stats_check(), "accounting");
}
TEST_END

/* A large block from new memory while a sparse slab holds free pages: they are released first,
 * young as they are, so the footprint does not grow by the block (bench-frag). */
TEST_BEGIN(test_growth_releases_sparse_pages_first)
{
    static void *rest[256], *objs[MAXOBJ];
    struct pp_slab *s = own_full_slab(512, 256, rest, objs);   /* 128 objects, 8 per page */
    expect_ptr_not_null(s, "a full slab of 512 B objects");
    if (!s)
        return;
    for (int i = 0; i < 100; i++) {         /* used 28 < 32: sparse */
        pp_free(objs[i]);
        objs[i] = NULL;
    }
    pp_region_bank_purge(0);                /* the bank's regions are cold: the block below is new memory */
    fake_os_reset();
    size_t released = atomic_load(&pp_counters.released_slab);
    void *big = pp_malloc(3u << 19);        /* 1.5 MiB: a whole region's run */
    expect_ptr_not_null(big, "a large block");
    expect_true(page_purged(s, 0) && page_purged(s, 11) && !page_purged(s, 12),
                "the sparse slab's 12 free pages are released before the block is touched");
    expect_zu_eq(atomic_load(&pp_counters.released_slab) - released, 12 * PP_PAGE_SIZE, "and counted");
    pp_free(big);
    free_all(objs, MAXOBJ);
    free_all(rest, 256);
    expect_true(pp_stats_check(), "accounting");
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    pp_opt.background = 0;                  /* passes run when the tests say so */
    return RUN_TESTS(test_quarter_used_releases_free_pages, test_only_wholly_free_pages_are_released,
                     test_objects_across_pages, test_never_release_turns_it_off,
                     test_reclaim_does_not_wait, test_growth_releases_sparse_pages_first);
}
