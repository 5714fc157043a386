/*
 * stats.c — counters and the memory explanation (pp_stats_get, pp_stats_print, PAGEPOOL_STATS=1),
 * and where small objects' pages are, class by class (pp_stats_classes, PAGEPOOL_STATS=2).
 *
 * Accounting identity, checked by pp_stats_check (debug builds and tests) when the process is quiet:
 *   mapped = in_use + free_hot + free_cold + cached + bank
 * where in_use is counted where pages change hands (slab.c, heap.c), free_* by the pools,
 * cached by the page caches and bank by the region bank.
 * Layer: side layer; reads counters of buddy.c, region.c and thread.c; prints through diag.c.
 */
#include "internal.h"
#include <pagepool.h>
#include <stdlib.h>
#include <unistd.h>

PP_HIDDEN struct pp_counters pp_counters;

void pp_stats_get(struct pp_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (atomic_load(&pp_init_state) != 2)
        return;
    size_t cold_pages;
    size_t free_pages = pp_buddy_free_pages(&cold_pages);
    size_t huge = atomic_load(&pp_counters.huge_bytes);
    out->mapped = pp_region_mapped_bytes();
    out->free_hot = (free_pages - cold_pages) << PP_PAGE_SHIFT;
    out->free_cold = cold_pages << PP_PAGE_SHIFT;
    uint64_t slow_calls;
    out->cached = pp_thread_cached_pages(&slow_calls) << PP_PAGE_SHIFT;
    out->bank = pp_region_bank_bytes(false);
    out->in_use = atomic_load(&pp_counters.in_use_pages) << PP_PAGE_SHIFT;
    out->huge = huge;
    out->slow_calls = slow_calls;
    out->mmap_calls = atomic_load(&pp_counters.mmap_calls);
    out->madvise_calls = atomic_load(&pp_counters.madvise_calls);
    out->released = atomic_load(&pp_counters.released);
    out->threads = atomic_load(&pp_counters.threads);
    out->threads_live = atomic_load(&pp_counters.threads_live);
    out->nodes = pp_nr_nodes;
    out->footprint = pp_reclaim_footprint();
    bool hard;
    out->limit = pp_reclaim_limit(&hard);
    out->limit_hard = hard;
    out->direct_reclaims = atomic_load(&pp_counters.direct_reclaims);
    out->wmark_wakeups = atomic_load(&pp_counters.wmark_wakeups);
    /* everything not released on demand or for the limit was released by the decay */
    out->released_slab = atomic_load(&pp_counters.released_slab);
    out->captures = atomic_load(&pp_counters.captures);
    out->stranded_slabs = atomic_load(&pp_counters.stranded_slabs);
    size_t on_demand = atomic_load(&pp_counters.released_wmark) + atomic_load(&pp_counters.released_direct) + out->released_slab;
    out->released_decay = out->released > on_demand ? out->released - on_demand : 0;
    out->released_wmark = atomic_load(&pp_counters.released_wmark);
    out->released_direct = atomic_load(&pp_counters.released_direct);
    pp_buddy_pages_out(&out->faults_avoided, &out->faults_taken);
}

static void line(int fd, const char *name, size_t bytes)
{
    char buf[128];
    int n = pp_format(buf, sizeof(buf), "pagepool:   %-12s %10zu KiB\n", name, bytes >> 10);
    pp_os_write(fd, buf, (size_t)n);
}

size_t pp_stats_classes(struct pp_class_stats *out, size_t n)
{
    struct pp_class_stats all[PP_NCLASSES];
    memset(all, 0, sizeof(all));
    if (atomic_load(&pp_init_state) == 2)
        pp_thread_class_stats(all);
    for (size_t c = 1; c < PP_NCLASSES && c <= n; c++) {
        out[c - 1] = all[c];
        out[c - 1].size = pp_class_size[c];
    }
    return PP_NCLASSES - 1;
}

/* A line per class that has slabs, and the sums: what the summary's in_use holds in small objects. */
static void print_classes(int fd)
{
    struct pp_class_stats c[PP_NCLASSES - 1], sum = { 0 };
    size_t n = pp_stats_classes(c, PP_NCLASSES - 1);
    char buf[160];
    int k = pp_format(buf, sizeof(buf), "pagepool:   %8s %7s %10s %12s %11s %5s %6s\n",
                      "class", "slabs", "slab KiB", "touched KiB", "in use KiB", "use%", "sparse");
    pp_os_write(fd, buf, (size_t)k);
    for (size_t i = 0; i <= n; i++) {
        const struct pp_class_stats *x = i < n ? &c[i] : &sum;
        if (i < n) {
            if (!x->slabs)
                continue;
            sum.slabs += x->slabs;
            sum.slab_bytes += x->slab_bytes;
            sum.touched_bytes += x->touched_bytes;
            sum.used_bytes += x->used_bytes;
            sum.sparse += x->sparse;
        }
        char name[16];
        if (i < n)
            pp_format(name, sizeof(name), "%zu B", x->size);
        else
            pp_format(name, sizeof(name), "all");
        k = pp_format(buf, sizeof(buf), "pagepool:   %8s %7zu %10zu %12zu %11zu %5zu %6zu\n", name, x->slabs,
                      x->slab_bytes >> 10, x->touched_bytes >> 10, x->used_bytes >> 10,
                      x->touched_bytes ? x->used_bytes * 100 / x->touched_bytes : 0, x->sparse);
        pp_os_write(fd, buf, (size_t)k);
    }
}

/* The pools' free blocks by order, hot/cold, as /proc/buddyinfo: free hot memory in blocks too
 * small for the slabs and runs the program asks for is what external fragmentation costs. */
static void print_free_blocks(int fd)
{
    size_t hot[PP_NR_ORDERS], cold[PP_NR_ORDERS];
    pp_buddy_free_blocks(hot, cold);
    char buf[512];
    size_t pos = (size_t)pp_format(buf, sizeof(buf), "pagepool:   free blocks by order (4 KiB << order), hot/cold:");
    for (unsigned o = 0; o < PP_NR_ORDERS; o++)
        pos += (size_t)pp_format(buf + pos, sizeof(buf) - pos, " %u:%zu/%zu", o, hot[o], cold[o]);
    pos += (size_t)pp_format(buf + pos, sizeof(buf) - pos, "\n");
    pp_os_write(fd, buf, pos);
}

void pp_stats_print(int fd)
{
    struct pp_stats s;
    pp_stats_get(&s);
    char buf[256];
    int n = pp_format(buf, sizeof(buf), "pagepool: statistics for pid %d (%lu thread heaps, %lu live, %lu node(s))\n",
                      (int)getpid(), (unsigned long)s.threads, (unsigned long)s.threads_live, (unsigned long)s.nodes);
    pp_os_write(fd, buf, (size_t)n);
    line(fd, "mapped", s.mapped);
    line(fd, "in use", s.in_use);
    line(fd, "free hot", s.free_hot);
    line(fd, "free cold", s.free_cold);
    line(fd, "cached", s.cached);
    line(fd, "bank", s.bank);
    line(fd, "huge", s.huge);
    line(fd, "footprint", s.footprint);
    line(fd, "released", s.released);
    line(fd, "  by decay", s.released_decay);
    line(fd, "  by wmark", s.released_wmark);
    line(fd, "  by direct", s.released_direct);
    line(fd, "  in slabs", s.released_slab);
    if (s.limit) {
        n = pp_format(buf, sizeof(buf), "pagepool:   limit        %10zu KiB (%s), %lu direct reclaims (%lu kept their block), %lu watermark wake-ups\n",
                      s.limit >> 10, s.limit_hard ? "hard" : "soft", (unsigned long)s.direct_reclaims,
                      (unsigned long)s.captures, (unsigned long)s.wmark_wakeups);
        pp_os_write(fd, buf, (size_t)n);
    }
    n = pp_format(buf, sizeof(buf), "pagepool:   pages handed out hot (page faults avoided) %zu, cold %zu; "
                  "stranded slabs taken back %lu\n", s.faults_avoided, s.faults_taken, (unsigned long)s.stranded_slabs);
    pp_os_write(fd, buf, (size_t)n);
    n = pp_format(buf, sizeof(buf), "pagepool:   calls: %lu slow paths, %lu mmap, %lu madvise\n",
                  (unsigned long)s.slow_calls, (unsigned long)s.mmap_calls, (unsigned long)s.madvise_calls);
    pp_os_write(fd, buf, (size_t)n);
    if (pp_opt.stats >= 2) {
        print_classes(fd);
        print_free_blocks(fd);
    }
}

/* The identity above; exact only when no other thread is allocating. */
PP_HIDDEN bool pp_stats_check(void)
{
    struct pp_stats s;
    pp_stats_get(&s);
    return s.mapped == s.in_use + s.free_hot + s.free_cold + s.cached + s.bank;
}

/* The same, for _exit (preload.c), once per process. */
void pp_stats_exit_hook(void)
{
    if (pp_opt.stats && atomic_load(&pp_init_state) == 2)
        pp_stats_print(2);
}

__attribute__((destructor)) static void stats_at_exit(void)
{
    if (atomic_load(&pp_init_state) == 2) {
        if (pp_opt.stats)
            pp_stats_print(2);
        /* debug builds check the accounting when only the exiting thread is left */
        if (PP_DEBUG >= 2 && atomic_load(&pp_counters.threads_live) <= 1 && !pp_stats_check())
            pp_message("accounting does not add up at exit (mapped != in use + free + cached + bank): a pagepool bug");
    } else if (getenv("PAGEPOOL_STATS") && getenv("PAGEPOOL_STATS")[0] == '1') {
        char buf[96];
        int n = pp_format(buf, sizeof(buf), "pagepool: statistics for pid %d: no allocations\n", (int)getpid());
        pp_os_write(2, buf, (size_t)n);
    }
}
