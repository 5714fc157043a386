/* Unit tests of lib/options.c: numbers with K/M/G, words for the options that take them (and
 * their aliases and numbers), lower bounds, and the default when a value is not valid. */
#include "../../lib/internal.h"
#include "../test.h"

static long with(const char *name, const char *value, long *where)
{
    setenv(name, value, 1);
    pp_options_init();
    unsetenv(name);
    return *where;
}

TEST_BEGIN(test_numbers)
{
    expect_int_eq(with("PAGEPOOL_LIMIT", "64M", &pp_opt.limit), 64l << 20, "M suffix");
    expect_int_eq(with("PAGEPOOL_RETAIN", "512k", &pp_opt.retain), 512l << 10, "k suffix");
    expect_int_eq(with("PAGEPOOL_HIGH", "1GB", &pp_opt.high), 1l << 30, "GB suffix");
    expect_int_eq(with("PAGEPOOL_DECAY_MS", "-1", &pp_opt.decay_ms), -1, "-1: never release");
    expect_int_eq(with("PAGEPOOL_DECAY_MS", "-2", &pp_opt.decay_ms), 250, "below the minimum: the default");
    expect_int_eq(with("PAGEPOOL_PCP_BATCH", "0", &pp_opt.pcp_batch), 64, "a batch of 0: the default");
    expect_int_eq(with("PAGEPOOL_LIMIT", "12x", &pp_opt.limit), 0, "junk after the number: the default");
}
TEST_END

TEST_BEGIN(test_words)
{
    expect_int_eq(with("PAGEPOOL_THP", "madvise", &pp_opt.thp), 1, "madvise");
    expect_int_eq(with("PAGEPOOL_THP", "always", &pp_opt.thp), 1, "always is madvise");
    expect_int_eq(with("PAGEPOOL_THP", "never", &pp_opt.thp), 2, "never");
    expect_int_eq(with("PAGEPOOL_THP", "2", &pp_opt.thp), 2, "or the number");
    expect_int_eq(with("PAGEPOOL_THP", "3", &pp_opt.thp), 0, "a number past the words: the default");
    expect_int_eq(with("PAGEPOOL_THP", "alwaysx", &pp_opt.thp), 0, "a longer word does not match");
    expect_int_eq(with("PAGEPOOL_PURGE", "free", &pp_opt.purge_free), 1, "MADV_FREE");
    expect_int_eq(with("PAGEPOOL_LIMIT_MODE", "hard", &pp_opt.limit_hard), 1, "hard");
    expect_int_eq(with("PAGEPOOL_LIMIT_MODE", "soft", &pp_opt.limit_hard), 0, "soft");
}
TEST_END

int main(void)
{
    return RUN_TESTS(test_numbers, test_words);
}
