/*
 * misuse.c — invalid and double frees abort with a one-line report on stderr.
 *
 * pagepool reports a bad pointer as the first line of stderr,
 *     pagepool: <call>(): invalid pointer[ (detail)] 0x...
 *     pagepool: <call>(): double free[ (detail)] 0x...
 * (a backtrace may follow on later lines), then abort()s. Each case runs in a forked child
 * (expect_abort in test.h). Against glibc most of these do not hold: this file is for pagepool.
 */
#include "../test.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif
#if defined(__GNUC__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));
typedef void pp_error_handler_t(const char *msg, void *arg);
extern void pp_set_error_handler(pp_error_handler_t *fn, void *arg) __attribute__((weak));

/* Hide pointer provenance from the compiler. */
static void *launder(void *p)
{
    void *volatile v = p;
    return v;
}

static char static_array[256];

/*
 * The first line of the last child's stderr must be "pagepool: <call>(): ..." and contain
 * `what` and a 0x address.
 */
static void check_first_line(const char *file, int line, const char *call, const char *what)
{
    char first[512];
    const char *nl = strchr(test_abort_stderr_, '\n');
    size_t n = nl ? (size_t)(nl - test_abort_stderr_) : strlen(test_abort_stderr_);
    if (n >= sizeof(first))
        n = sizeof(first) - 1;
    memcpy(first, test_abort_stderr_, n);
    first[n] = '\0';
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "pagepool: %s(): ", call);
    if (strncmp(first, prefix, strlen(prefix)) != 0)
        test_fail_(file, line, "first stderr line \"%s\" does not start with \"%s\"", first, prefix);
    else if (strstr(first, what) == NULL)
        test_fail_(file, line, "first stderr line \"%s\" lacks \"%s\"", first, what);
    else if (strstr(first, "0x") == NULL)
        test_fail_(file, line, "first stderr line \"%s\" has no address", first);
    else
        printf("#   %s\n", first);
}

#define EXPECT_MISUSE(fn, call, what)                                                              \
    do {                                                                                           \
        if (expect_abort(fn, what))                                                                \
            check_first_line(__FILE__, __LINE__, call, what);                                      \
    } while (0)

/* ---- invalid pointers ---- */
static void free_stack(void)
{
    char buf[64];
    memset(buf, 0, sizeof(buf));
    free(launder(buf + 16));
}

static void free_wild(void)
{
    free(launder((void *)(uintptr_t)0x12345678));
}

static void free_wild_high(void)
{
    free(launder((void *)(uintptr_t)0x7ffff0000010ull));
}

static void free_static(void)
{
    free(launder(static_array + 32));
}

static void free_interior_small(void)
{
    char *p = malloc(64);
    free(launder(p + 8));
}

static void free_interior_small_unaligned(void)
{
    char *p = malloc(64);
    free(launder(p + 1));
}

static void free_interior_large(void)
{
    char *p = malloc(100000);
    free(launder(p + 4096));
}

static void free_interior_huge(void)
{
    char *p = malloc(8 << 20);
    free(launder(p + (4 << 20)));
}

static void realloc_invalid(void)
{
    char buf[32];
    void *q = realloc(launder(buf), 100);
    free(q);
}

static void realloc_interior(void)
{
    char *p = malloc(64);
    void *q = realloc(launder(p + 16), 100);
    free(q);
}

static void usable_size_invalid(void)
{
    char *p = malloc(100000);
    volatile size_t n = malloc_usable_size(launder(p + 8192));
    (void)n;
}

static void free_sized_invalid(void)
{
    free_sized(launder((void *)(uintptr_t)0x12345678), 16);
}

/* ---- double frees: nothing allocated between the two frees ---- */
static void double_free_size(size_t size)
{
    void *p = malloc(size);
    memset(p, 1, size);
    free(p);
    free(launder(p));
}

static void double_free_small(void) { double_free_size(32); }
static void double_free_tiny(void) { double_free_size(1); }
static void double_free_medium(void) { double_free_size(5000); }
static void double_free_large(void) { double_free_size(200000); }
static void double_free_huge(void) { double_free_size(8 << 20); }

/* a double free after other blocks of the same class were freed in between */
static void double_free_small_interleaved(void)
{
    void *a = malloc(48), *b = malloc(48), *c = malloc(48);
    free(a);
    free(b);
    free(launder(a));
    free(c);
}

static void realloc_after_free_sizes(size_t size, size_t new_size)
{
    void *p = malloc(size);
    free(p);
    void *q = realloc(launder(p), new_size);
    free(q);
}

/* a freed large block, to a size that moves it and (realloc's in-place test must not take it) to
 * one that fits; a freed small object, to a bigger class (not copied out) and to the same (not kept) */
static void realloc_after_free(void) { realloc_after_free_sizes(200000, 300000); }
static void realloc_after_free_fits(void) { realloc_after_free_sizes(200000, 190000); }
static void realloc_after_free_small(void) { realloc_after_free_sizes(100, 1000); }
static void realloc_after_free_small_fits(void) { realloc_after_free_sizes(100, 90); }

static void realloc_interior_large(void)
{
    char *p = malloc(200000);
    void *q = realloc(launder(p + 8192), 100000);   /* page-aligned, inside the block */
    free(q);
}

static void double_free_sized(void)
{
    void *p = malloc(100);
    free_sized(p, 100);
    free_sized(launder(p), 100);
}

/* ---- the error handler sees the message before the abort ---- */
static void handler(const char *msg, void *arg)
{
    char line[600];
    snprintf(line, sizeof(line), "HANDLER(%s):%s\n", (const char *)arg, msg);
    fputs(line, stderr);
    fflush(stderr);
}

static void handler_then_abort(void)
{
    pp_set_error_handler(handler, "cookie");
    double_free_size(64);
}

TEST_BEGIN(test_free_stack)
{
    EXPECT_MISUSE(free_stack, "free", "invalid pointer");
    /* libunwind is loaded on demand for the report: the backtrace reaches the caller */
    expect_true(strstr(test_abort_stderr_, "pagepool:   #0 ") && strstr(test_abort_stderr_, "free_stack"),
                "a backtrace naming the caller follows");
}
TEST_END
TEST_BEGIN(test_free_wild)
{
    EXPECT_MISUSE(free_wild, "free", "invalid pointer");
    EXPECT_MISUSE(free_wild_high, "free", "invalid pointer");
}
TEST_END
TEST_BEGIN(test_free_static) { EXPECT_MISUSE(free_static, "free", "invalid pointer"); } TEST_END
TEST_BEGIN(test_free_interior)
{
    EXPECT_MISUSE(free_interior_small, "free", "invalid pointer");
    EXPECT_MISUSE(free_interior_small_unaligned, "free", "invalid pointer");
    EXPECT_MISUSE(free_interior_large, "free", "invalid pointer");
    EXPECT_MISUSE(free_interior_huge, "free", "invalid pointer");
}
TEST_END
TEST_BEGIN(test_double_free_small)
{
    EXPECT_MISUSE(double_free_small, "free", "double free");
    EXPECT_MISUSE(double_free_tiny, "free", "double free");
}
TEST_END
TEST_BEGIN(test_double_free_medium) { EXPECT_MISUSE(double_free_medium, "free", "double free"); } TEST_END
TEST_BEGIN(test_double_free_large) { EXPECT_MISUSE(double_free_large, "free", "double free"); } TEST_END
TEST_BEGIN(test_double_free_huge) { EXPECT_MISUSE(double_free_huge, "free", "double free"); } TEST_END
TEST_BEGIN(test_double_free_interleaved)
{
    /* a's slot is still free (b was pushed on top of it): detectable */
    EXPECT_MISUSE(double_free_small_interleaved, "free", "double free");
}
TEST_END
TEST_BEGIN(test_realloc_invalid)
{
    EXPECT_MISUSE(realloc_invalid, "realloc", "invalid pointer");
    EXPECT_MISUSE(realloc_interior, "realloc", "invalid pointer");
    EXPECT_MISUSE(realloc_after_free, "realloc", "double free");
    EXPECT_MISUSE(realloc_after_free_fits, "realloc", "double free");
    EXPECT_MISUSE(realloc_interior_large, "realloc", "invalid pointer");
    EXPECT_MISUSE(realloc_after_free_small, "realloc", "double free");
    EXPECT_MISUSE(realloc_after_free_small_fits, "realloc", "double free");
}
TEST_END
TEST_BEGIN(test_usable_size_invalid)
{
    EXPECT_MISUSE(usable_size_invalid, "malloc_usable_size", "invalid pointer");
}
TEST_END
TEST_BEGIN(test_free_sized_misuse)
{
    if (free_sized == NULL) {
        expect_true(0, "free_sized is not defined");
        return;
    }
    EXPECT_MISUSE(free_sized_invalid, "free_sized", "invalid pointer");
    EXPECT_MISUSE(double_free_sized, "free_sized", "double free");
}
TEST_END
TEST_BEGIN(test_error_handler)
{
    if (pp_set_error_handler == NULL) {
        expect_true(0, "pp_set_error_handler is not defined");
        return;
    }
    if (expect_abort(handler_then_abort, "HANDLER(cookie):pagepool: free(): double free"))
        check_first_line(__FILE__, __LINE__, "free", "double free");
}
TEST_END

int main(void)
{
    return RUN_TESTS(test_free_stack, test_free_wild, test_free_static, test_free_interior,
                     test_double_free_small, test_double_free_medium, test_double_free_large,
                     test_double_free_huge, test_double_free_interleaved, test_realloc_invalid,
                     test_usable_size_invalid, test_free_sized_misuse, test_error_handler);
}
