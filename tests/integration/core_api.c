/* The pp_* API of libpagepool_core (no malloc interposition), on the real OS layer: the core's
 * integration test that also runs under ASan and UBSan (test.sh), next to the C library's malloc. */
#include "../test.h"
#include <errno.h>
#include <pagepool.h>
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

int main(void)
{
    return RUN_TESTS(test_sizes_and_content, test_errno_and_overflow, test_alignment_and_realloc);
}
