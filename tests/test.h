/*
 * test.h — a tiny test harness for pagepool's tests (header only).
 *
 *   TEST_BEGIN(test_foo) {
 *       void *p = malloc(8);
 *       expect_ptr_not_null(p, "malloc(8)");
 *       free(p);
 *   } TEST_END
 *
 *   int main(void) { return RUN_TESTS(test_foo, test_bar); }
 *
 * Each test prints "ok - name" or "not ok - name"; a failed expectation prints file:line and a
 * message to stdout (prefixed with '#') and marks the current test failed. The run ends with a
 * TAP comment "# N passed, N failed" and returns nonzero if any test failed. The output is TAP
 * (meson: protocol : 'tap').
 *
 * expect_abort(fn, substring): fork, run fn() in the child with its stderr captured through a
 * pipe, and check that the child died by SIGABRT with the substring in its stderr (the stderr is
 * left in test_abort_stderr_). expect_abort_arg(fn, arg, substring) does the same for fn(arg).
 */
#ifndef PP_TEST_H
#define PP_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void test_fn_t(void);

/* The stderr of the last expect_abort child (NUL-terminated, truncated to 4095 bytes). */
static char test_abort_stderr_[4096] __attribute__((unused));

static bool test_failed_ __attribute__((unused));
static const char *test_name_ __attribute__((unused)) = "";

static void test_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void test_fail_(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    test_failed_ = true;
    printf("#   %s:%d: %s: ", file, line, test_name_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define TEST_BEGIN(name)                                                                           \
    static void name(void)                                                                         \
    {                                                                                              \
        test_name_ = #name;                                                                        \
        do

#define TEST_END                                                                                   \
        while (0);                                                                                 \
    }

/* Stop the current test (after a failure that makes going on pointless). */
#define test_abort_current() return

#define expect_true(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail_(__FILE__, __LINE__, "expected true: %s", #cond);                            \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define expect_false(cond, ...) expect_true(!(cond), __VA_ARGS__)

#define expect_ptr_not_null(p, ...)                                                                \
    do {                                                                                           \
        if ((p) == NULL) {                                                                         \
            test_fail_(__FILE__, __LINE__, "expected non-NULL: %s", #p);                           \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define expect_ptr_null(p, ...)                                                                    \
    do {                                                                                           \
        const void *p_ = (p);                                                                      \
        if (p_ != NULL) {                                                                          \
            test_fail_(__FILE__, __LINE__, "expected NULL: %s = %p", #p, p_);                      \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define expect_ptr_eq(a, b, ...)                                                                   \
    do {                                                                                           \
        const void *a_ = (a), *b_ = (b);                                                           \
        if (a_ != b_) {                                                                            \
            test_fail_(__FILE__, __LINE__, "%s == %s: %p != %p", #a, #b, a_, b_);                  \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define expect_ptr_ne(a, b, ...)                                                                   \
    do {                                                                                           \
        const void *a_ = (a), *b_ = (b);                                                           \
        if (a_ == b_) {                                                                            \
            test_fail_(__FILE__, __LINE__, "%s != %s: both %p", #a, #b, a_);                       \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define TEST_CMP_(type, fmt, a, op, b, ...)                                                        \
    do {                                                                                           \
        type a_ = (a), b_ = (b);                                                                   \
        if (!(a_ op b_)) {                                                                         \
            test_fail_(__FILE__, __LINE__, "%s %s %s: " fmt " vs " fmt, #a, #op, #b, a_, b_);      \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

#define expect_zu_eq(a, b, ...) TEST_CMP_(size_t, "%zu", a, ==, b, __VA_ARGS__)
#define expect_zu_ne(a, b, ...) TEST_CMP_(size_t, "%zu", a, !=, b, __VA_ARGS__)
#define expect_zu_ge(a, b, ...) TEST_CMP_(size_t, "%zu", a, >=, b, __VA_ARGS__)
#define expect_zu_le(a, b, ...) TEST_CMP_(size_t, "%zu", a, <=, b, __VA_ARGS__)
#define expect_zu_lt(a, b, ...) TEST_CMP_(size_t, "%zu", a, <, b, __VA_ARGS__)
#define expect_zu_gt(a, b, ...) TEST_CMP_(size_t, "%zu", a, >, b, __VA_ARGS__)
#define expect_int_eq(a, b, ...) TEST_CMP_(long long, "%lld", a, ==, b, __VA_ARGS__)
#define expect_int_ne(a, b, ...) TEST_CMP_(long long, "%lld", a, !=, b, __VA_ARGS__)
#define expect_int_ge(a, b, ...) TEST_CMP_(long long, "%lld", a, >=, b, __VA_ARGS__)
#define expect_int_le(a, b, ...) TEST_CMP_(long long, "%lld", a, <=, b, __VA_ARGS__)
#define expect_u64_eq(a, b, ...) TEST_CMP_(uint64_t, "%" PRIu64, a, ==, b, __VA_ARGS__)

/* All bytes of [p, p+n) equal c; on failure reports the first bad offset. */
#define expect_bytes(p, c, n, ...)                                                                 \
    do {                                                                                           \
        const unsigned char *bp_ = (const unsigned char *)(p);                                     \
        size_t n_ = (n), i_;                                                                       \
        unsigned char c_ = (unsigned char)(c);                                                     \
        for (i_ = 0; i_ < n_ && bp_[i_] == c_; i_++) {}                                            \
        if (i_ < n_) {                                                                             \
            test_fail_(__FILE__, __LINE__, "byte %zu of %zu at %p is 0x%02x, expected 0x%02x",     \
                       i_, n_, (const void *)bp_, bp_[i_], c_);                                    \
            printf("#     "); printf(__VA_ARGS__); printf("\n");                                   \
        }                                                                                          \
    } while (0)

/*
 * Run fn(arg) in a forked child whose stderr goes to a pipe. Expect the child to die by SIGABRT
 * and its stderr to contain `substring` (NULL: don't check). Core dumps are disabled in the child.
 * Returns true if the expectation held. The child's stderr stays in test_abort_stderr_.
 */
static bool expect_abort_(const char *file, int line, const char *fnname, void (*fn)(void *),
                          void *arg, const char *substring) __attribute__((unused));
static bool expect_abort_(const char *file, int line, const char *fnname, void (*fn)(void *),
                          void *arg, const char *substring)
{
    int fds[2];
    char buf[4096];
    size_t len = 0;
    int status = 0;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) {
        test_fail_(file, line, "pipe: %s", strerror(errno));
        return false;
    }
    pid = fork();
    if (pid < 0) {
        test_fail_(file, line, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        fn(arg);
        /* Not aborted: say so on the pipe, exit with a recognisable status. */
        fprintf(stderr, "[%s returned]", fnname);
        fflush(stderr);
        _exit(99);
    }
    close(fds[1]);
    for (;;) {
        ssize_t r = read(fds[0], buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(buf) - 1) {
            /* Drain the rest so the child never blocks on a full pipe. */
            char sink[1024];
            while (read(fds[0], sink, sizeof(sink)) > 0) {}
            break;
        }
    }
    buf[len] = '\0';
    memcpy(test_abort_stderr_, buf, len + 1);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}

    /* strip a trailing newline for printing */
    char shown[4096];
    snprintf(shown, sizeof(shown), "%s", buf);
    size_t sl = strlen(shown);
    while (sl > 0 && shown[sl - 1] == '\n')
        shown[--sl] = '\0';

    bool ok = true;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        ok = false;
        if (WIFSIGNALED(status))
            test_fail_(file, line, "%s: child killed by signal %d (%s), expected SIGABRT; stderr: \"%s\"",
                       fnname, WTERMSIG(status), strsignal(WTERMSIG(status)), shown);
        else
            test_fail_(file, line, "%s: child exited with status %d, expected SIGABRT; stderr: \"%s\"",
                       fnname, WEXITSTATUS(status), shown);
    } else if (substring != NULL && strstr(buf, substring) == NULL) {
        ok = false;
        test_fail_(file, line, "%s: stderr \"%s\" lacks \"%s\"", fnname, shown, substring);
    }
    return ok;
}

struct test_void_fn_ {
    void (*fn)(void);
};
static void test_call_void_(void *arg) __attribute__((unused));
static void test_call_void_(void *arg) { ((struct test_void_fn_ *)arg)->fn(); }

/* expect_abort(fn, substring): fn is void fn(void). */
#define expect_abort(fn, substring)                                                                \
    ({                                                                                             \
        struct test_void_fn_ tvf_ = {(fn)};                                                        \
        expect_abort_(__FILE__, __LINE__, #fn, test_call_void_, &tvf_, (substring));               \
    })
/* expect_abort_arg(fn, arg, substring): fn is void fn(void *), called with arg. */
#define expect_abort_arg(fn, arg, substring)                                                       \
    expect_abort_(__FILE__, __LINE__, #fn, (fn), (arg), (substring))

static int test_run_(const char *names, test_fn_t *const *tests, size_t n) __attribute__((unused));
static int test_run_(const char *names, test_fn_t *const *tests, size_t n)
{
    size_t passed = 0, failed = 0;
    const char *only = getenv("PAGEPOOL_TEST_ONLY"); /* run just the test of that name */
    char name[256];
    const char *s = names;

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        /* names is the stringified argument list "t1, t2, ..." */
        while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t')
            s++;
        size_t k = 0;
        while (*s && *s != ',' && *s != ' ' && *s != '\n' && *s != '\t' && k < sizeof(name) - 1)
            name[k++] = *s++;
        name[k] = '\0';
        if (only != NULL && *only && strcmp(only, name) != 0) {
            printf("ok - %s # skip (PAGEPOOL_TEST_ONLY)\n", name);
            continue;
        }
        test_failed_ = false;
        test_name_ = name;
        tests[i]();
        fflush(stderr);
        if (test_failed_) {
            failed++;
            printf("not ok - %s\n", name);
        } else {
            passed++;
            printf("ok - %s\n", name);
        }
        fflush(stdout);
    }
    printf("# %zu passed, %zu failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

#define RUN_TESTS(...)                                                                             \
    ({                                                                                             \
        test_fn_t *const tests_[] = {__VA_ARGS__};                                                 \
        test_run_(#__VA_ARGS__, tests_, sizeof(tests_) / sizeof(tests_[0]));                       \
    })

/* For the brief's name: test_run(t1, t2, ...) is the same as RUN_TESTS. */
#define test_run(...) RUN_TESTS(__VA_ARGS__)

#endif /* PP_TEST_H */
