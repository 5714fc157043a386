/* Memory return through the preloaded allocator: malloc_trim, the decay (background thread),
 * decay off, fork while the background thread runs. RSS comes from /proc/self/statm; margins are
 * generous (tests assert behaviour, benchmarks measure). Run with PAGEPOOL_DECAY_MS=100. */
#include "../test.h"
#include <malloc.h>
#include <pagepool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024.0 * 1024.0)
enum { N = 3200, BLOCK = 64 * 1024 };      /* 200 MiB in 64 KiB blocks */
static void *blocks[N];

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / MiB;
}

static void fill(void)
{
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(BLOCK + (size_t)(i % 7) * 1000);
        memset(blocks[i], i, BLOCK);
    }
}

static void release_all(void)
{
    for (int i = 0; i < N; i++)
        free(blocks[i]);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

TEST_BEGIN(test_malloc_trim_returns_memory)
{
    double base = rss_mib();
    fill();
    double full = rss_mib();
    expect_true(full > base + 150, "200 MiB touched (rss %.0f -> %.0f MiB)", base, full);
    release_all();
    expect_int_eq(malloc_trim(0), 1, "malloc_trim says it released memory");
    double after = rss_mib();
    printf("# malloc_trim: base %.1f MiB, full %.1f MiB, after trim %.1f MiB\n", base, full, after);
    expect_true(after < base + 16, "RSS back near the start after malloc_trim (%.1f MiB)", after);
}
TEST_END

TEST_BEGIN(test_malloc_trim_right_after_a_trim)
{
    /* malloc_trim is throttled for a decay period after a full pass (stress-ng calls it every few frees),
     * but not for a big free: the second trim, a moment after the first, must still give it back */
    fill();
    for (int i = 0; i < N; i += 2)
        free(blocks[i]);
    malloc_trim(0);
    double before = rss_mib();
    for (int i = 1; i < N; i += 2)
        free(blocks[i]);
    expect_int_eq(malloc_trim(0), 1, "the second trim releases the other 100 MiB");
    double after = rss_mib();
    printf("# trim, free 100 MiB, trim: %.1f -> %.1f MiB\n", before, after);
    expect_true(after < before - 64, "RSS fell after the second trim (%.1f -> %.1f MiB)", before, after);
    int released = 0;
    for (int i = 0; i < 1000; i++) {
        free(malloc(64));
        released += malloc_trim(0);
    }
    printf("# 1000 trims after a small free each: %d released something\n", released);
}
TEST_END

TEST_BEGIN(test_decay_returns_memory_when_idle)
{
    double base = rss_mib();
    fill();
    release_all();
    double freed = rss_mib();
    sleep_ms(1500);                 /* PAGEPOOL_DECAY_MS=100: many periods; only the background thread runs */
    double idle = rss_mib();
    printf("# decay: base %.1f MiB, just freed %.1f MiB, idle 1.5 s %.1f MiB\n", base, freed, idle);
    expect_true(idle < base + 40, "idle RSS comes down without any call (%.1f MiB)", idle);
    struct pp_stats s;
    pp_stats_get(&s);
    expect_zu_eq(s.mapped, s.in_use + s.free_hot + s.free_cold + s.cached + s.bank, "every byte accounted for");
}
TEST_END

TEST_BEGIN(test_fork_with_background_thread)
{
    fill();
    release_all();                  /* the background thread is running by now */
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            fill();
            for (int i = 0; i < N; i++)
                if (((unsigned char *)blocks[i])[BLOCK - 1] != (unsigned char)i)
                    _exit(2);
            release_all();
            sleep_ms(300);          /* the child's own background thread starts and runs */
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d exited cleanly (status %#x)", round, status);
    }
}
TEST_END

int main(void)
{
    const char *d = getenv("PAGEPOOL_DECAY_MS");
    if (!d || atoi(d) <= 0 || atoi(d) > 200) {
        printf("1..0 # skip: run with PAGEPOOL_DECAY_MS=100\n");
        return 0;
    }
    return RUN_TESTS(test_malloc_trim_returns_memory, test_malloc_trim_right_after_a_trim, test_decay_returns_memory_when_idle,
                     test_fork_with_background_thread);
}
