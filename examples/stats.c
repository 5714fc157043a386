/* examples/stats.c — use the pp_* API next to the C library's malloc (link with libpagepool_core):
 * allocate, look at where the memory is, give it back, look again. */
#include <pagepool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    enum { N = 10000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = pp_malloc(100 + (size_t)(i % 50) * 100);
        memset(blocks[i], 1, 100);
    }
    printf("after %d allocations:\n", N);
    fflush(stdout);
    pp_stats_print(STDOUT_FILENO);
    for (int i = 0; i < N; i++)
        pp_free(blocks[i]);
    size_t released = pp_reclaim();
    printf("after freeing everything and pp_reclaim() (%zu KiB released):\n", released >> 10);
    fflush(stdout);
    pp_stats_print(STDOUT_FILENO);
    return 0;
}
