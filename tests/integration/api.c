/*
 * api.c — the malloc family as glibc documents it, called by its standard names.
 *
 * Built linked with libpagepool.so (PP_TEST_PAGEPOOL=1): every malloc-family name resolves to
 * pagepool. The same file builds against glibc alone (gcc -D_GNU_SOURCE tests/integration/api.c)
 * to check the tests themselves; where glibc differs from what pagepool promises, the stricter
 * checks are under PP_TEST_PAGEPOOL, and names glibc lacks (free_sized, __posix_memalign...) are
 * weak and skipped when absent.
 */
#include "../test.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free" /* the failed-realloc tests use the old block */
#endif

#ifndef PP_TEST_PAGEPOOL
#define PP_TEST_PAGEPOOL 0
#endif

/* Names glibc's headers don't declare (or no longer do). */
extern void cfree(void *ptr) __attribute__((weak));
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern int __posix_memalign(void **out, size_t alignment, size_t size) __attribute__((weak));

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Sizes through a volatile so the compiler neither warns about nor folds impossible requests. */
static volatile size_t vsize_max = SIZE_MAX;
static size_t big(size_t x) { volatile size_t v = x; return v; }

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 31 + (i >> 8));
}

/* index of the first byte that differs from fill(seed), or n */
static size_t check_fill(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 31 + (i >> 8)))
            return i;
    return n;
}

/* A weak name that pagepool must define: fail when linked with pagepool, skip against glibc. */
#define REQUIRE_NAME(fn)                                                                           \
    do {                                                                                           \
        if ((fn) == NULL) {                                                                        \
            if (PP_TEST_PAGEPOOL)                                                                  \
                expect_true(0, "%s is not defined", #fn);                                          \
            else                                                                                   \
                printf("# %s not defined by this C library: skipped\n", #fn);                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

TEST_BEGIN(test_is_pagepool)
{
    /* With PP_TEST_PAGEPOOL, malloc must be pagepool's, not glibc's. */
    Dl_info info;
    void *(*volatile m)(size_t) = malloc;
    void (*volatile f)(void *) = free;
    memset(&info, 0, sizeof(info));
    expect_true(dladdr((void *)m, &info) != 0, "dladdr(malloc)");
    printf("# malloc is from %s\n", info.dli_fname ? info.dli_fname : "?");
    if (PP_TEST_PAGEPOOL) {
        expect_true(info.dli_fname && strstr(info.dli_fname, "pagepool"),
                    "malloc resolves to %s", info.dli_fname ? info.dli_fname : "?");
        memset(&info, 0, sizeof(info));
        dladdr((void *)f, &info);
        expect_true(info.dli_fname && strstr(info.dli_fname, "pagepool"),
                    "free resolves to %s", info.dli_fname ? info.dli_fname : "?");
    }
}
TEST_END

TEST_BEGIN(test_malloc_zero)
{
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(0);
        expect_ptr_not_null(p[i], "malloc(0) #%d", i);
        for (int j = 0; j < i; j++)
            expect_ptr_ne(p[i], p[j], "malloc(0) #%d and #%d are the same pointer", i, j);
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
}
TEST_END

TEST_BEGIN(test_sizes_content)
{
    /* every size 1..4096, then steps up to 100000; keep a window of live blocks to interleave */
    enum { W = 32 };
    void *live[W] = {0};
    size_t lsz[W] = {0};
    size_t n = 0;
    for (size_t sz = 1; sz <= 100000; sz += (sz < 4096 ? 1 : sz < 20000 ? 7 : 61), n++) {
        size_t slot = n % W;
        if (live[slot]) {
            size_t bad = check_fill(live[slot], lsz[slot], (unsigned)lsz[slot]);
            expect_zu_eq(bad, lsz[slot], "content of a %zu-byte block changed", lsz[slot]);
            free(live[slot]);
        }
        void *p = malloc(sz);
        expect_ptr_not_null(p, "malloc(%zu)", sz);
        if (!p)
            return;
        expect_zu_ge(malloc_usable_size(p), sz, "malloc_usable_size of malloc(%zu)", sz);
        expect_zu_eq((uintptr_t)p % 16, 0, "malloc(%zu) = %p is not 16-byte aligned", sz, p);
        fill(p, sz, (unsigned)sz);
        live[slot] = p;
        lsz[slot] = sz;
    }
    for (size_t i = 0; i < W; i++) {
        if (live[i]) {
            expect_zu_eq(check_fill(live[i], lsz[i], (unsigned)lsz[i]), lsz[i], "content, %zu bytes", lsz[i]);
            free(live[i]);
        }
    }
    /* every size 1..100000: usable size, first and last byte writable */
    unsigned bad = 0;
    for (size_t sz = 1; sz <= 100000 && bad < 5; sz++) {
        unsigned char *p = malloc(sz);
        if (!p || malloc_usable_size(p) < sz) {
            expect_true(0, "malloc(%zu) = %p, usable size %zu", sz, (void *)p, p ? malloc_usable_size(p) : 0);
            bad++;
            free(p);
            continue;
        }
        p[0] = 1;
        p[sz - 1] = 2;
        p[malloc_usable_size(p) - 1] = 3;
        free(p);
    }
}
TEST_END

TEST_BEGIN(test_usable_size_writable)
{
    /* all of malloc_usable_size is usable */
    size_t sizes[] = {1, 7, 24, 100, 1000, 5000, 32 * KiB, 40 * KiB, 100000, 2 * MiB, 3 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = malloc(sizes[i]);
        expect_ptr_not_null(p, "malloc(%zu)", sizes[i]);
        if (!p)
            continue;
        size_t u = malloc_usable_size(p);
        expect_zu_ge(u, sizes[i], "usable size");
        memset(p, 0x5a, u);
        expect_bytes(p, 0x5a, u, "usable bytes of malloc(%zu)", sizes[i]);
        free(p);
    }
    expect_zu_eq(malloc_usable_size(NULL), 0, "malloc_usable_size(NULL)");
}
TEST_END

TEST_BEGIN(test_malloc_enomem)
{
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        errno = 0;
        void *p = malloc(big(sizes[i]));
        expect_ptr_null(p, "malloc(%zu)", sizes[i]);
        expect_int_eq(errno, ENOMEM, "errno after malloc(%zu)", sizes[i]);
        free(p);
    }
}
TEST_END

TEST_BEGIN(test_calloc_overflow)
{
    errno = 0;
    void *p = calloc(big(SIZE_MAX / 2 + 1), big(3));
    expect_ptr_null(p, "calloc(SIZE_MAX/2+1, 3)");
    expect_int_eq(errno, ENOMEM, "errno after calloc overflow");
    free(p);
    errno = 0;
    p = calloc(big(3), big(SIZE_MAX / 2 + 1));
    expect_ptr_null(p, "calloc(3, SIZE_MAX/2+1)");
    expect_int_eq(errno, ENOMEM, "errno after calloc overflow");
    free(p);
    errno = 0;
    p = calloc(big((size_t)1 << 32), big((size_t)1 << 32));
    expect_ptr_null(p, "calloc(2^32, 2^32)");
    expect_int_eq(errno, ENOMEM, "errno after calloc overflow");
    free(p);
    errno = 0;
    p = calloc(big(1), vsize_max);
    expect_ptr_null(p, "calloc(1, SIZE_MAX)");
    expect_int_eq(errno, ENOMEM, "errno after calloc(1, SIZE_MAX)");
    free(p);
    /* zero elements is fine */
    p = calloc(0, big(SIZE_MAX));
    free(p);
    p = calloc(0, 0);
    free(p);
}
TEST_END

TEST_BEGIN(test_reallocarray)
{
    unsigned char *p = reallocarray(NULL, 10, 10);
    expect_ptr_not_null(p, "reallocarray(NULL, 10, 10)");
    if (!p)
        return;
    fill(p, 100, 7);
    errno = 0;
    void *q = reallocarray(p, big(SIZE_MAX / 2 + 1), big(3));
    expect_ptr_null(q, "reallocarray overflow");
    expect_int_eq(errno, ENOMEM, "errno after reallocarray overflow");
    expect_zu_eq(check_fill(p, 100, 7), 100, "old block intact after failed reallocarray");
    q = reallocarray(p, 1000, 10);
    expect_ptr_not_null(q, "reallocarray(p, 1000, 10)");
    if (!q) {
        free(p);
        return;
    }
    expect_zu_eq(check_fill(q, 100, 7), 100, "content kept by reallocarray growth");
    expect_zu_ge(malloc_usable_size(q), 10000, "usable size after reallocarray");
    free(q);
}
TEST_END

TEST_BEGIN(test_realloc_failure)
{
    size_t sizes[] = {40, 5000, 100000, 8 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = malloc(sizes[i]);
        expect_ptr_not_null(p, "malloc(%zu)", sizes[i]);
        if (!p)
            continue;
        fill(p, sizes[i], 3);
        errno = 0;
        void *q = realloc(p, big(SIZE_MAX - 4096));
        expect_ptr_null(q, "realloc(%zu-byte block, SIZE_MAX-4096)", sizes[i]);
        expect_int_eq(errno, ENOMEM, "errno after failed realloc");
        expect_zu_eq(check_fill(p, sizes[i], 3), sizes[i], "old %zu-byte block intact", sizes[i]);
        errno = 0;
        q = realloc(p, vsize_max);
        expect_ptr_null(q, "realloc(p, SIZE_MAX)");
        expect_int_eq(errno, ENOMEM, "errno after failed realloc");
        expect_zu_eq(check_fill(p, sizes[i], 3), sizes[i], "old block intact");
        free(p);
    }
}
TEST_END

TEST_BEGIN(test_realloc_null_and_zero)
{
    void *p = realloc(NULL, 100);
    expect_ptr_not_null(p, "realloc(NULL, 100)");
    expect_zu_ge(malloc_usable_size(p), 100, "usable size of realloc(NULL, 100)");
    memset(p, 1, 100);
    void *a = malloc(1), *b;
    /* realloc(p, 0): frees p and returns NULL (glibc), or a unique freeable pointer */
    b = realloc(p, 0);
    if (b != NULL) {
        expect_ptr_ne(b, a, "realloc(p, 0) returned a live pointer");
        free(b);
    }
    free(a);
    p = realloc(NULL, 0);
    expect_ptr_not_null(p, "realloc(NULL, 0) behaves as malloc(0)");
    free(p);
    /* big blocks to zero */
    size_t sizes[] = {100000, 8 * MiB};
    for (int i = 0; i < 2; i++) {
        p = malloc(sizes[i]);
        expect_ptr_not_null(p, "malloc");
        b = realloc(p, 0);
        free(b);
    }
}
TEST_END

/* A large block stays where it is while it grows into its pages or shrinks by less than a
 * quarter of them, and shrinks in place past that. */
TEST_BEGIN(test_realloc_large_in_place)
{
    unsigned char *p = malloc(100000);
    expect_ptr_not_null(p, "malloc(100000)");
    if (!p)
        return;
    size_t usable = malloc_usable_size(p);
    expect_zu_eq(usable % 4096, 0, "a large block is whole pages");
    fill(p, 100000, 5);
    expect_ptr_eq(realloc(p, usable), p, "grow into the last page: in place");
    expect_ptr_eq(realloc(p, usable - 3 * 4096), p, "shrink by 3 of %zu pages: in place", usable / 4096);
    expect_zu_eq(malloc_usable_size(p), usable, "and the pages stay");
    expect_ptr_eq(realloc(p, 40000), p, "shrink by more than a quarter: in place");
    expect_zu_eq(malloc_usable_size(p), 40960, "the tail went back");
    expect_zu_eq(check_fill(p, 40000, 5), 40000, "content kept");
    free(p);
}
TEST_END

TEST_BEGIN(test_realloc_chain)
{
    /* 16 B -> 100 KB -> 10 MB -> 50 B, and other small/large/huge transitions */
    size_t chain[] = {16, 100 * 1000, 10 * MiB, 50, 1000, 5000, 40 * KiB, 2 * MiB, 2 * MiB + 1,
                      3 * MiB, 20 * MiB, 3 * MiB, 600 * KiB, 32, 1, 64 * KiB, 64 * KiB + 1, 24, 0};
    size_t n = sizeof(chain) / sizeof(chain[0]) - 1;
    unsigned char *p = realloc(NULL, chain[0]);
    expect_ptr_not_null(p, "realloc(NULL, 16)");
    if (!p)
        return;
    fill(p, chain[0], 11);
    for (size_t i = 1; i < n; i++) {
        size_t keep = chain[i - 1] < chain[i] ? chain[i - 1] : chain[i];
        unsigned char *q = realloc(p, chain[i]);
        expect_ptr_not_null(q, "realloc %zu -> %zu", chain[i - 1], chain[i]);
        if (!q) {
            free(p);
            return;
        }
        expect_zu_ge(malloc_usable_size(q), chain[i], "usable size after realloc to %zu", chain[i]);
        expect_zu_eq(check_fill(q, keep, 11), keep, "content after realloc %zu -> %zu", chain[i - 1], chain[i]);
        fill(q, chain[i], 11);
        p = q;
    }
    free(p);

    /* growing one byte at a time across the small range keeps content */
    p = NULL;
    for (size_t sz = 1; sz <= 9000; sz++) {
        unsigned char *q = realloc(p, sz);
        expect_ptr_not_null(q, "realloc to %zu", sz);
        if (!q)
            break;
        q[sz - 1] = (unsigned char)sz;
        if (sz > 1 && q[sz - 2] != (unsigned char)(sz - 1)) {
            expect_true(0, "byte %zu lost when growing to %zu", sz - 2, sz);
            free(q);
            return;
        }
        p = q;
    }
    for (size_t i = 0; i < 9000; i++)
        if (p[i] != (unsigned char)(i + 1)) {
            expect_true(0, "byte %zu is %u after growth", i, p[i]);
            break;
        }
    free(p);
}
TEST_END

TEST_BEGIN(test_posix_memalign_einval)
{
    size_t bad[] = {0, 1, 2, 4, 3, 12, 24, 48, 100, 4097, sizeof(void *) + 1, (size_t)3 << 20,
                    SIZE_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        void *p = (void *)0x1;
        errno = 4321;
        int r = posix_memalign(&p, big(bad[i]), 64);
        expect_int_eq(r, EINVAL, "posix_memalign(alignment %zu)", bad[i]);
        expect_int_eq(errno, 4321, "errno changed by posix_memalign(alignment %zu)", bad[i]);
        if (r == 0)
            free(p);
    }
    void *p = NULL;
    errno = 4321;
    int r = posix_memalign(&p, 64, big(SIZE_MAX - 4096));
    expect_int_eq(r, ENOMEM, "posix_memalign(64, SIZE_MAX-4096)"); /* errno: unspecified here */
    r = posix_memalign(&p, 64, 0);
    expect_int_eq(r, 0, "posix_memalign(64, 0)");
    if (r == 0)
        free(p);
}
TEST_END

TEST_BEGIN(test_aligned_alloc_einval)
{
    size_t bad[] = {3, 12, 24, 100, 4097, (size_t)3 << 20};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        void *p = aligned_alloc(big(bad[i]), 256);
        if (PP_TEST_PAGEPOOL || p == NULL) {
            /* glibc 2.36 rounds a non-power-of-two alignment up instead of failing */
            expect_ptr_null(p, "aligned_alloc(%zu, 256)", bad[i]);
            expect_int_eq(errno, EINVAL, "errno after aligned_alloc(%zu, 256)", bad[i]);
        }
        free(p);
        errno = 0;
        p = memalign(big(bad[i]), 256);
        if (PP_TEST_PAGEPOOL || p == NULL) {
            expect_ptr_null(p, "memalign(%zu, 256)", bad[i]);
            expect_int_eq(errno, EINVAL, "errno after memalign(%zu, 256)", bad[i]);
        }
        free(p);
    }
    /* an impossible alignment */
    errno = 0;
    void *p = memalign(big(SIZE_MAX / 2 + 1), 16);
    expect_ptr_null(p, "memalign(SIZE_MAX/2+1, 16)");
    free(p);
    /* too big */
    errno = 0;
    p = aligned_alloc(64, big(SIZE_MAX - 4096));
    expect_ptr_null(p, "aligned_alloc(64, SIZE_MAX-4096)");
    expect_int_eq(errno, ENOMEM, "errno after aligned_alloc(64, SIZE_MAX-4096)");
}
TEST_END

enum { AL_POSIX, AL_ALIGNED, AL_MEMALIGN, AL_LIBC_MEMALIGN, AL_UNDERSCORE_POSIX, AL_N };
static const char *const al_name[AL_N] = {"posix_memalign", "aligned_alloc", "memalign",
                                          "__libc_memalign", "__posix_memalign"};

static void *alloc_aligned(int how, size_t al, size_t sz)
{
    void *p = NULL;
    switch (how) {
    case AL_POSIX:
        if (posix_memalign(&p, al, sz) != 0)
            p = NULL;
        break;
    case AL_ALIGNED:
        p = aligned_alloc(al, sz);
        break;
    case AL_MEMALIGN:
        p = memalign(al, sz);
        break;
    case AL_LIBC_MEMALIGN:
        p = __libc_memalign(al, sz);
        break;
    case AL_UNDERSCORE_POSIX:
        if (__posix_memalign(&p, al, sz) != 0)
            p = NULL;
        break;
    }
    return p;
}

TEST_BEGIN(test_alignments)
{
    size_t sizes[] = {1, 8, 100, 256, 1000, 4096, 5000, 65536, 300000, 3 * MiB};
    for (int how = 0; how < AL_N; how++) {
        if (how == AL_UNDERSCORE_POSIX && __posix_memalign == NULL) {
            REQUIRE_NAME(__posix_memalign);
            continue;
        }
        for (size_t al = 8; al <= 2 * MiB; al <<= 1) {
            /* keep a few live at once so that alignment is not just luck of a fresh heap */
            void *live[sizeof(sizes) / sizeof(sizes[0])];
            for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                size_t sz = sizes[i];
                unsigned char *p = alloc_aligned(how, al, sz);
                live[i] = p;
                expect_ptr_not_null(p, "%s(%zu, %zu)", al_name[how], al, sz);
                if (!p)
                    continue;
                expect_zu_eq((uintptr_t)p & (al - 1), 0, "%s(%zu, %zu) = %p misaligned",
                             al_name[how], al, sz, (void *)p);
                expect_zu_ge(malloc_usable_size(p), sz, "usable size of %s(%zu, %zu)", al_name[how], al, sz);
                /* writable: first, last and a byte per page */
                for (size_t off = 0; off < sz; off += 4096)
                    p[off] = (unsigned char)off;
                p[0] = 0x11;
                p[sz - 1] = sz > 1 ? 0x77 : 0x11;
            }
            for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                unsigned char *p = live[i];
                if (!p)
                    continue;
                expect_int_eq(p[0], 0x11, "first byte");
                expect_int_eq(p[sizes[i] - 1], sizes[i] > 1 ? 0x77 : 0x11, "last byte");
                if (i % 3 == 0 && free_aligned_sized)
                    free_aligned_sized(p, al, sizes[i]);
                else
                    free(p);
            }
        }
    }
}
TEST_END

TEST_BEGIN(test_free_null)
{
    errno = 77;
    free(NULL);
    __libc_free(NULL);
    if (free_sized)
        free_sized(NULL, 0);
    if (free_aligned_sized)
        free_aligned_sized(NULL, 64, 0);
    if (cfree)
        cfree(NULL);
    expect_int_eq(errno, 77, "errno changed by free(NULL)");
}
TEST_END

TEST_BEGIN(test_free_preserves_errno)
{
    size_t sizes[] = {1, 16, 100, 1000, 5000, 32 * KiB, 100 * KiB, 2 * MiB, 8 * MiB, 64 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* several of each, so that frees hit the paths that return pages/regions to the OS */
        enum { N = 8 };
        void *p[N];
        for (int k = 0; k < N; k++) {
            p[k] = malloc(sizes[i]);
            expect_ptr_not_null(p[k], "malloc(%zu)", sizes[i]);
            if (p[k])
                memset(p[k], 0xab, sizes[i]);
        }
        for (int k = 0; k < N; k++) {
            errno = 1234;
            free(p[k]);
            expect_int_eq(errno, 1234, "errno after free of a %zu-byte block", sizes[i]);
        }
    }
    /* interleaved with other frees' reclaim: huge, then small, then large */
    void *h = malloc(8 * MiB), *s = malloc(24), *l = malloc(100 * KiB);
    errno = 1234;
    free(h);
    expect_int_eq(errno, 1234, "errno after free of a huge block");
    free(s);
    expect_int_eq(errno, 1234, "errno after free of a small block");
    free(l);
    expect_int_eq(errno, 1234, "errno after free of a large block");
}
TEST_END

static void calloc_zero_check(size_t sz)
{
    /* reuse: fill freed memory with 0xff, then calloc the same size */
    enum { N = 4 };
    void *p[N];
    for (int k = 0; k < N; k++) {
        p[k] = malloc(sz);
        expect_ptr_not_null(p[k], "malloc(%zu)", sz);
        if (p[k])
            memset(p[k], 0xff, malloc_usable_size(p[k]));
    }
    for (int k = N - 1; k >= 0; k--)
        free(p[k]);
    for (int k = 0; k < N; k++) {
        p[k] = calloc(1, sz);
        expect_ptr_not_null(p[k], "calloc(1, %zu)", sz);
        if (p[k])
            expect_bytes(p[k], 0, sz, "calloc(1, %zu) after reuse #%d", sz, k);
    }
    for (int k = 0; k < N; k++)
        free(p[k]);
    /* nmemb * size form */
    unsigned char *c = calloc(sz, 1);
    expect_ptr_not_null(c, "calloc(%zu, 1)", sz);
    if (c) {
        expect_bytes(c, 0, sz, "calloc(%zu, 1)", sz);
        free(c);
    }
}

TEST_BEGIN(test_calloc_zeroed)
{
    size_t sizes[] = {1, 8, 16, 24, 100, 512, 1024, 1500, 4096, 5000, 16 * KiB, 32 * KiB,
                      40 * KiB, 100 * KiB, 1 * MiB, 2 * MiB, 3 * MiB, 8 * MiB, 33 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        calloc_zero_check(sizes[i]);
    /* array form with many elements */
    int *a = calloc(100000, sizeof(int));
    expect_ptr_not_null(a, "calloc(100000, 4)");
    if (a) {
        expect_bytes(a, 0, 100000 * sizeof(int), "calloc(100000, 4)");
        free(a);
    }
    /* dirty a lot of small memory, free it, calloc many small blocks */
    enum { M = 4000 };
    static void *v[M];
    for (int k = 0; k < M; k++) {
        v[k] = malloc(48);
        if (v[k])
            memset(v[k], 0xee, 48);
    }
    for (int k = 0; k < M; k++)
        free(v[k]);
    for (int k = 0; k < M; k++) {
        v[k] = calloc(6, 8);
        expect_ptr_not_null(v[k], "calloc(6, 8)");
        if (v[k] && memchr(v[k], 0xee, 48)) {
            expect_true(0, "calloc(6, 8) #%d not zeroed", k);
            break;
        }
    }
    for (int k = 0; k < M; k++)
        free(v[k]);
}
TEST_END

TEST_BEGIN(test_valloc_pvalloc)
{
    size_t ps = page_size();
    size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 10000, 100000, 3 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = valloc(sizes[i]);
        expect_ptr_not_null(p, "valloc(%zu)", sizes[i]);
        if (p) {
            expect_zu_eq((uintptr_t)p % ps, 0, "valloc(%zu) = %p not page aligned", sizes[i], (void *)p);
            expect_zu_ge(malloc_usable_size(p), sizes[i], "usable size of valloc");
            if (sizes[i])
                memset(p, 1, sizes[i]);
            free(p);
        }
        p = pvalloc(sizes[i]);
        expect_ptr_not_null(p, "pvalloc(%zu)", sizes[i]);
        if (p) {
            size_t rounded = (sizes[i] + ps - 1) / ps * ps; /* pvalloc(0): any size (glibc: minimum chunk) */
            expect_zu_eq((uintptr_t)p % ps, 0, "pvalloc(%zu) = %p not page aligned", sizes[i], (void *)p);
            expect_zu_ge(malloc_usable_size(p), rounded, "pvalloc(%zu) rounds up to pages", sizes[i]);
            if (rounded)
                memset(p, 2, rounded); /* the whole rounded size is ours */
            free(p);
        }
    }
    errno = 0;
    void *p = pvalloc(big(SIZE_MAX - 100));
    expect_ptr_null(p, "pvalloc(SIZE_MAX-100)");
    expect_int_eq(errno, ENOMEM, "errno after pvalloc(SIZE_MAX-100)");
    errno = 0;
    p = valloc(big(SIZE_MAX - 100));
    expect_ptr_null(p, "valloc(SIZE_MAX-100)");
    expect_int_eq(errno, ENOMEM, "errno after valloc(SIZE_MAX-100)");
}
TEST_END

TEST_BEGIN(test_cfree_free_sized)
{
    REQUIRE_NAME(cfree);
    void *p = malloc(100);
    expect_ptr_not_null(p, "malloc(100)");
    cfree(p);
    p = malloc(100000);
    cfree(p);
    REQUIRE_NAME(free_sized);
    REQUIRE_NAME(free_aligned_sized);
    size_t sizes[] = {1, 16, 100, 4096, 5000, 100000, 3 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p = malloc(sizes[i]);
        expect_ptr_not_null(p, "malloc");
        errno = 99;
        free_sized(p, sizes[i]);
        expect_int_eq(errno, 99, "free_sized changed errno");
        p = aligned_alloc(256, sizes[i]);
        expect_ptr_not_null(p, "aligned_alloc");
        errno = 99;
        free_aligned_sized(p, 256, sizes[i]);
        expect_int_eq(errno, 99, "free_aligned_sized changed errno");
        p = calloc(1, sizes[i]);
        free_sized(p, sizes[i]);
    }
}
TEST_END

TEST_BEGIN(test_libc_aliases)
{
    unsigned char *p = __libc_malloc(100);
    expect_ptr_not_null(p, "__libc_malloc(100)");
    if (!p)
        return;
    memset(p, 3, 100);
    expect_zu_ge(malloc_usable_size(p), 100, "usable size of __libc_malloc");
    p = __libc_realloc(p, 100000);
    expect_ptr_not_null(p, "__libc_realloc(p, 100000)");
    if (!p)
        return;
    expect_bytes(p, 3, 100, "content after __libc_realloc");
    free(p); /* mixing: __libc_* blocks go to free() */
    p = __libc_calloc(10, 10);
    expect_ptr_not_null(p, "__libc_calloc(10, 10)");
    if (p)
        expect_bytes(p, 0, 100, "__libc_calloc zeroed");
    __libc_free(p);
    errno = 0;
    p = __libc_calloc(big(SIZE_MAX / 2 + 1), 3);
    expect_ptr_null(p, "__libc_calloc overflow");
    expect_int_eq(errno, ENOMEM, "errno after __libc_calloc overflow");
    p = __libc_memalign(4096, 10);
    expect_ptr_not_null(p, "__libc_memalign(4096, 10)");
    expect_zu_eq((uintptr_t)p % 4096, 0, "__libc_memalign alignment");
    __libc_free(p);
    p = malloc(50);
    __libc_free(p); /* and malloc blocks to __libc_free */
    if (__posix_memalign || PP_TEST_PAGEPOOL) {
        REQUIRE_NAME(__posix_memalign);
        void *q = NULL;
        expect_int_eq(__posix_memalign(&q, 128, 1000), 0, "__posix_memalign(128, 1000)");
        expect_zu_eq((uintptr_t)q % 128, 0, "__posix_memalign alignment");
        free(q);
        expect_int_eq(__posix_memalign(&q, 3, 1000), EINVAL, "__posix_memalign(3, 1000)");
    }
}
TEST_END

TEST_BEGIN(test_mallinfo_mallopt_stats)
{
    /* these must exist and not crash; the values are the allocator's business */
    void *p = malloc(1000), *q = malloc(1 * MiB);
    struct mallinfo2 mi2 = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
    (void)mi;
    (void)mi2;
    printf("# mallinfo2: arena %zu uordblks %zu fordblks %zu hblkhd %zu\n", mi2.arena, mi2.uordblks,
           mi2.fordblks, mi2.hblkhd);
    int r = mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    printf("# mallopt(M_TRIM_THRESHOLD) = %d\n", r);
    r = mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    printf("# mallopt(M_MMAP_THRESHOLD) = %d\n", r);
    r = mallopt(-12345, 1); /* unknown parameter: 0 in glibc; must not crash */
    printf("# mallopt(unknown) = %d\n", r);
    free(p);
    free(q);
    r = malloc_trim(0);
    expect_true(r == 0 || r == 1, "malloc_trim returned %d", r);
    r = malloc_trim(1 * MiB);
    expect_true(r == 0 || r == 1, "malloc_trim returned %d", r);

    /* malloc_stats writes to stderr; malloc_info writes XML to a FILE and returns 0 */
    fflush(stderr);
    malloc_stats();
    fflush(stderr);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    expect_ptr_not_null(f, "open_memstream");
    if (f) {
        r = malloc_info(0, f);
        fclose(f);
        expect_int_eq(r, 0, "malloc_info(0, f)");
        expect_true(len > 0 && strstr(buf, "<malloc"), "malloc_info writes <malloc ...>: \"%.80s\"",
                    buf ? buf : "");
        free(buf);
    }
    errno = 0;
    f = fopen("/dev/null", "w");
    if (f) {
        r = malloc_info(1, f); /* options must be 0: glibc returns EINVAL, the manual says -1/EINVAL */
        expect_true(r == EINVAL || (r == -1 && errno == EINVAL),
                    "malloc_info(1, f) = %d, errno %d", r, errno);
        fclose(f);
    }
}
TEST_END

TEST_BEGIN(test_many_live)
{
    /* many live blocks of mixed sizes: distinct, non-overlapping content */
    enum { N = 20000 };
    static unsigned char *p[N];
    static size_t sz[N];
    unsigned x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        sz[i] = (x >> 8) % 2000 + 1;
        if (i % 97 == 0)
            sz[i] = (x >> 4) % (300 * KiB) + 1;
        p[i] = malloc(sz[i]);
        expect_ptr_not_null(p[i], "malloc(%zu)", sz[i]);
        if (!p[i])
            return;
        memset(p[i], (unsigned char)i, sz[i]);
    }
    for (int i = 0; i < N; i += 2) {
        free(p[i]);
        p[i] = NULL;
    }
    for (int i = 1; i < N; i += 2) {
        if (p[i][0] != (unsigned char)i || p[i][sz[i] - 1] != (unsigned char)i ||
            memchr(p[i], (unsigned char)(i + 1), sz[i]) != NULL) {
            expect_true(0, "block %d (%zu bytes) overwritten", i, sz[i]);
            break;
        }
        free(p[i]);
    }
}
TEST_END

int main(void)
{
    return RUN_TESTS(test_is_pagepool, test_malloc_zero, test_sizes_content,
                     test_usable_size_writable, test_malloc_enomem, test_calloc_overflow,
                     test_reallocarray, test_realloc_failure, test_realloc_null_and_zero,
                     test_realloc_chain, test_realloc_large_in_place, test_posix_memalign_einval, test_aligned_alloc_einval,
                     test_alignments, test_free_null, test_free_preserves_errno, test_calloc_zeroed,
                     test_valloc_pvalloc, test_cfree_free_sized, test_libc_aliases,
                     test_mallinfo_mallopt_stats, test_many_live);
}
