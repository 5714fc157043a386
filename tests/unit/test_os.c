/* Unit tests of the real OS layer's clock and page size (lib/os_linux.c), which bypass the C
 * library: the clock calls the kernel's vDSO directly, the page size comes from the auxiliary
 * vector. Both must agree with what libc says. */
#include "../../lib/os.h"
#include "../test.h"
#include <time.h>
#include <unistd.h>

static uint64_t libc_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

TEST_BEGIN(test_clock_matches_libc)
{
    for (int i = 0; i < 5; i++) {
        uint64_t a = libc_ms(), ours = pp_os_now_ms(), b = libc_ms();
        expect_true(ours + 20 >= a && ours <= b + 20, "pp_os_now_ms %llu within [%llu, %llu] (coarse clock)",
                    (unsigned long long)ours, (unsigned long long)a, (unsigned long long)b);
        struct timespec nap = { 0, 30 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
}
TEST_END

TEST_BEGIN(test_clock_advances)
{
    uint64_t t0 = pp_os_now_ms();
    struct timespec nap = { 0, 120 * 1000 * 1000 };
    nanosleep(&nap, NULL);
    uint64_t t1 = pp_os_now_ms();
    expect_true(t1 >= t0 + 100 && t1 <= t0 + 2000, "120 ms sleep: the clock moved %llu ms",
                (unsigned long long)(t1 - t0));
}
TEST_END

TEST_BEGIN(test_page_size_matches_sysconf)
{
    expect_zu_eq(pp_os_page_size(), (size_t)sysconf(_SC_PAGESIZE), "auxv page size = sysconf's");
}
TEST_END

int main(void)
{
    return RUN_TESTS(test_clock_matches_libc, test_clock_advances, test_page_size_matches_sysconf);
}
