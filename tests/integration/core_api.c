/* The pp_* API of libpagepool_core (no malloc interposition), on the real OS layer: the core's
 * integration test that also runs under ASan and UBSan (test.sh), next to the C library's malloc. */
#include "../test.h"
#include <errno.h>
#include <pagepool.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

TEST_BEGIN(test_sizes_and_content)
{
    static void *p[4096];
    for (int i = 0; i < 4096; i++) {
        size_t n = (size_t)(i * 37) % 70000 + 1;
        p[i] = pp_malloc(n);
        expect_ptr_not_null(p[i], "malloc(%zu)", n);
        expect_zu_ge(pp_malloc_usable_size(p[i]), n, "usable size");
        memset(p[i], i & 0xff, n);
    }
    for (int i = 0; i < 4096; i++) {
        size_t n = (size_t)(i * 37) % 70000 + 1;
        expect_true(((unsigned char *)p[i])[n - 1] == (i & 0xff), "content %d", i);
        pp_free(p[i]);
    }
}
TEST_END

TEST_BEGIN(test_errno_and_overflow)
{
    errno = 0;
    expect_ptr_null(pp_malloc(SIZE_MAX), "malloc(SIZE_MAX)");
    expect_int_eq(errno, ENOMEM, "ENOMEM");
    errno = 0;
    expect_ptr_null(pp_calloc(SIZE_MAX / 2 + 1, 3), "calloc overflow");
    expect_int_eq(errno, ENOMEM, "ENOMEM");
    void *p = pp_malloc(100);
    errno = 0;
    expect_ptr_null(pp_reallocarray(p, SIZE_MAX / 2, 4), "reallocarray overflow");
    expect_int_eq(errno, ENOMEM, "ENOMEM");
    void *q;
    expect_int_eq(pp_posix_memalign(&q, 24, 10), EINVAL, "posix_memalign: not a power of two");
    errno = 0;
    expect_ptr_null(pp_aligned_alloc(3, 10), "aligned_alloc(3)");
    expect_int_eq(errno, EINVAL, "EINVAL");
    errno = 1234;
    pp_free(p);
    expect_int_eq(errno, 1234, "free keeps errno");
}
TEST_END

TEST_BEGIN(test_alignment_and_realloc)
{
    for (size_t al = 8; al <= (2u << 20); al <<= 1) {
        void *p = pp_memalign(al, 5000);
        expect_zu_eq((uintptr_t)p % al, 0, "aligned to %zu", al);
        memset(p, 1, 5000);
        pp_free(p);
    }
    char *s = pp_malloc(16);
    memset(s, 'a', 16);
    s = pp_realloc(s, 100000);
    s = pp_realloc(s, 10 << 20);
    expect_true(s[15] == 'a', "content kept through growth");
    s = pp_realloc(s, 50);
    expect_true(s[0] == 'a' && s[15] == 'a', "and through shrinking");
    pp_free(s);
    unsigned char *z = pp_calloc(1, 300000);
    size_t nz = 0;
    for (size_t i = 0; i < 300000; i++)
        nz += z[i] != 0;
    expect_zu_eq(nz, 0, "calloc zeroes");
    pp_free(z);
    (void)pp_reclaim();
}
TEST_END

/* pp_stats_classes: the class of 100-byte objects, before, with 1000 of them live, after freeing
 * them, and with 200 left behind by a thread that exited. */
static struct pp_class_stats class_of(size_t size)
{
    struct pp_class_stats c[64];
    size_t n = pp_stats_classes(c, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (c[i].size >= size)
            return c[i];
    return (struct pp_class_stats){ 0 };
}

static void *leave_objects(void *arg)
{
    void **keep = arg;
    for (int i = 0; i < 200; i++) {
        keep[i] = pp_malloc(100);
        memset(keep[i], 3, 100);
    }
    return NULL;
}

TEST_BEGIN(test_class_stats)
{
    struct pp_class_stats c[64];
    size_t n = pp_stats_classes(NULL, 0);
    expect_zu_gt(n, 8, "classes");
    expect_zu_le(n, 64, "classes");
    expect_zu_eq(pp_stats_classes(c, 64), n, "the count does not depend on the array");
    expect_zu_eq(c[0].size, 16, "smallest class");
    for (size_t i = 1; i < n; i++)
        expect_zu_gt(c[i].size, c[i - 1].size, "sizes ascend at %zu", i);

    struct pp_class_stats before = class_of(100);
    expect_zu_ge(before.size, 100, "a class holds 100 bytes");
    enum { N = 1000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = pp_malloc(100);
        memset(p[i], 1, 100);
    }
    struct pp_class_stats live = class_of(100);
    expect_zu_ge(live.used_bytes, before.used_bytes + N * live.size, "the live objects are in use");
    expect_zu_ge(live.touched_bytes, live.used_bytes, "in use <= touched");
    expect_zu_ge(live.slab_bytes, live.touched_bytes, "touched <= slab");
    expect_zu_ge(live.slabs, 1, "slabs");
    for (int i = 0; i < N; i++)
        pp_free(p[i]);
    struct pp_class_stats freed = class_of(100);
    expect_zu_le(freed.used_bytes, before.used_bytes, "freed objects are not in use");

    static void *keep[200];
    pthread_t t;
    expect_int_eq(pthread_create(&t, NULL, leave_objects, keep), 0, "pthread_create");
    pthread_join(t, NULL);
    struct pp_class_stats left = class_of(100);
    expect_zu_ge(left.used_bytes, freed.used_bytes + 200 * left.size,
                 "an exited thread's objects still count (its slabs are parked or abandoned)");
    for (int i = 0; i < 200; i++)
        pp_free(keep[i]);
}
TEST_END

int main(void)
{
    return RUN_TESTS(test_sizes_and_content, test_errno_and_overflow, test_alignment_and_realloc,
                     test_class_stats);
}
