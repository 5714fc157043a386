/*
 * reclaim.c — policy: when and what to give back to the OS (the buddy and the bank decide how).
 *
 * The sources of releasable memory, each with its own rule:
 *   - per-thread page caches not used for a whole decay period are drained into the pools (M7);
 *   - whole free regions in the bank: released after PAGEPOOL_DECAY_MS idle (region.c's decay);
 *   - hot free blocks inside regions that are still in use (seed 002): when a pool has held more
 *     than PAGEPOOL_HIGH bytes of hot free pages for a whole decay period, the excess is released,
 *     largest blocks of the sparsest regions first, and the blocks go back cold (they are used only
 *     when no hot block fits, and they merge into cold blocks);
 *   - on growth, at once: a large run or a huge block that faults in new memory first releases
 *     about as much resident free memory that could not serve it (pp_reclaim_growth): free pages
 *     of sparse slabs, then the pool's hot blocks above PAGEPOOL_HIGH, so the footprint stays;
 *   - the wholly free pages inside sparse slabs (slabs down to a quarter of their objects, see
 *     slab.c), once a slab has been sparse for a whole decay period;
 *   - everything, at once, on pp_reclaim()/malloc_trim(), and when an allocation would leave less
 *     headroom under the memory limit than the min watermark (direct reclaim);
 *   - below the low watermark, the background thread releases until the high watermark (kswapd).
 * Decay must happen in an idle process too, so a background thread (the kswapd analogue) runs the
 * tick every decay/2 ms. It is started lazily by the first free that gives pages back to a pool,
 * is re-created after fork when needed, and is turned off with PAGEPOOL_BACKGROUND=0 (then the tick
 * runs from the slow paths that give memory back).
 * Layer: beside the pool; called by heap.c; calls buddy.c (isolate, free cold), region.c (decay),
 * os (purge).
 */
#include "internal.h"
#include <signal.h>
#include <time.h>

enum { PURGE_MIN_ORDER = 4 };               /* 64 KiB: smaller blocks cost more syscalls than they return */

static _Atomic int bg_state;                /* 0 not started, 1 running, 2 off */
static _Atomic uint64_t last_tick_ms;
static uint64_t excess_since[PP_MAX_NODES]; /* when the pool first held more than `high` hot pages */
static bool in_excess[PP_MAX_NODES];
static uint64_t last_cache_decay_ms;

/* A pool's hot free pages, read without its lock (a racy snapshot is all the callers need). */
static size_t hot_pages(const struct pp_pool *pool)
{
    return __atomic_load_n(&pool->nr_free, __ATOMIC_RELAXED) - __atomic_load_n(&pool->nr_cold, __ATOMIC_RELAXED);
}

/* Release hot free blocks of a pool until at most keep_pages hot free pages remain. The pool lock is
 * dropped around each madvise, so allocation is never held up by a syscall. */
size_t pp_reclaim_pool_hot(struct pp_pool *pool, size_t keep_pages)
{
    size_t released = 0;
    enum pp_purge how = pp_opt.purge_free ? PP_PURGE_FREE : PP_PURGE_DONTNEED;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        unsigned order = 0;
        uintptr_t b = 0;
        if (pool->nr_free - pool->nr_cold > keep_pages)
            b = pp_buddy_isolate_hot_locked(pool, PURGE_MIN_ORDER, &order);
        pthread_mutex_unlock(&pool->lock);
        if (!b)
            return released;
        size_t bytes = PP_PAGE_SIZE << order;
        bool ok = pp_os_purge((void *)b, bytes, how) == 0;
        if (ok) {
            pp_stat_add(madvise_calls, 1);
            pp_released_add(bytes);
            released += bytes;
        }
        pthread_mutex_lock(&pool->lock);
        pp_buddy_free_locked(pool, b, order, ok ? PP_FREE_COLD : 0, NULL);
        pthread_mutex_unlock(&pool->lock);
        if (!ok)
            return released;
    }
}

/* A large run or a huge block is about to fault in `bytes` of new memory: the resident free memory
 * could not serve it (hot blocks go first, seed 002), so release about as much of it now, rather
 * than a decay period later, and the footprint stays where it was. First the free pages of sparse
 * slabs (only their class can use them), then the pool's hot free blocks above PAGEPOOL_HIGH:
 * blocks smaller than the request, or it would have had one. bench-frag, whose program asks for
 * 1-8 MiB blocks after freeing 96.8 % of 1 GiB of 32 KiB blocks, peaked 1529 MiB with the slabs'
 * pages alone, as it kept 215 MiB of such blocks resident (RESULTS.md, session 15). Returns the
 * bytes released. */
size_t pp_reclaim_growth(struct pp_pool *pool, size_t bytes)
{
    size_t done = pp_slab_purge_sparse_for(bytes);
    if (done >= bytes || pp_opt.decay_ms < 0)
        return done;
    size_t want = (bytes - done) >> PP_PAGE_SHIFT, high = (size_t)pp_opt.high >> PP_PAGE_SHIFT;
    size_t hot = hot_pages(pool);
    if (hot <= high)
        return done;
    return done + pp_reclaim_pool_hot(pool, hot - high > want ? hot - want : high);
}

/* One pass of the policy: bank decay, and pools above `high` for a whole decay period. */
static void watermark_reclaim(void);

void pp_reclaim_tick(void)
{
    watermark_reclaim();
    if (pp_opt.decay_ms < 0)
        return;
    uint64_t now = pp_os_now_ms();
    atomic_store_explicit(&last_tick_ms, now, memory_order_relaxed);
    if (now - last_cache_decay_ms >= (uint64_t)pp_opt.decay_ms) {
        pp_thread_drain_idle();             /* caches idle for a whole period go back to the pools */
        last_cache_decay_ms = now;
    }
    pp_region_bank_decay();
    if (pp_slab_stranded_take_flag())
        pp_thread_take_stranded(NULL);      /* full slabs an idle owner would never look at */
    pp_slab_purge_sparse(false);            /* free pages inside slabs sparse for a whole period */
    size_t high = (size_t)pp_opt.high >> PP_PAGE_SHIFT;
    for (unsigned n = 0; n < pp_nr_nodes; n++) {
        struct pp_pool *pool = pp_pool_of(n);
        size_t hot = hot_pages(pool);
        if (hot <= high) {
            in_excess[n] = false;
            continue;
        }
        if (!in_excess[n]) {
            in_excess[n] = true;
            excess_since[n] = now;
        }
        if (now - excess_since[n] >= (uint64_t)pp_opt.decay_ms) {
            pp_reclaim_pool_hot(pool, high);
            in_excess[n] = false;
        }
    }
}

static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond = PTHREAD_COND_INITIALIZER;  /* CLOCK_REALTIME deadlines */
static bool bg_woken;                       /* bg_lock */

static void *background_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bg_lock);
    for (;;) {
        long ms = pp_opt.decay_ms / 2 > 10 ? pp_opt.decay_ms / 2 : 10;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += ms / 1000;
        deadline.tv_nsec += (ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!bg_woken && pthread_cond_timedwait(&bg_cond, &bg_lock, &deadline) == 0)
            ;
        bg_woken = false;
        pthread_mutex_unlock(&bg_lock);
        pp_reclaim_tick();
        pthread_mutex_lock(&bg_lock);
    }
    return NULL;
}

/* Wake the background thread now (the headroom fell below the low watermark). */
static void background_wake(void)
{
    pthread_mutex_lock(&bg_lock);
    bg_woken = true;
    pthread_cond_signal(&bg_cond);
    pthread_mutex_unlock(&bg_lock);
}

/* Is there more free resident memory than the policy keeps anyway? (Small programs never get a
 * background thread.) */
static bool worth_decaying(void)
{
    if (pp_region_bank_bytes(true) > (size_t)pp_opt.retain)
        return true;
    if (pp_slab_sparse_bytes() > (size_t)pp_opt.high)
        return true;
    for (unsigned n = 0; n < pp_nr_nodes; n++) {
        struct pp_pool *pool = pp_pool_of(n);
        if (hot_pages(pool) << PP_PAGE_SHIFT > (size_t)pp_opt.high)
            return true;
    }
    return false;
}

static void start_background(bool force);

/* Called by the heap when pages went back to a pool: make sure decay will run. */
void pp_reclaim_kick(void)
{
    start_background(false);
}

static void start_background(bool force)
{
    int state = atomic_load_explicit(&bg_state, memory_order_relaxed);
    if (PP_LIKELY(state == 1))
        return;
    if (!force && !worth_decaying())
        return;
    if (state == 2 || !pp_opt.background || pp_opt.decay_ms < 0) {
        /* no background thread: run the tick from here, at most every decay/2 */
        uint64_t now = pp_os_now_ms();
        if (pp_opt.decay_ms >= 0 && now - atomic_load(&last_tick_ms) >= (uint64_t)pp_opt.decay_ms / 2)
            pp_reclaim_tick();
        return;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&bg_state, &expected, 1))
        return;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* the thread must not keep signals from the program's own threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&t, &attr, background_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err) {
        atomic_store(&bg_state, 2);
        pp_verbose("no background reclaim thread (error %d): decay runs from allocations", err);
    } else {
        pthread_setname_np(t, "pagepool-bg");
    }
}

/* The child of a fork has no background thread: the next kick starts one. */
void pp_reclaim_fork_child(void)
{
    pthread_mutex_init(&bg_lock, NULL);
    pthread_cond_init(&bg_cond, NULL);
    bg_woken = false;
    if (atomic_load(&bg_state) == 1)
        atomic_store(&bg_state, 0);
}

/* ---- Direct reclaim, watermarks and the memory limit ---- */
static size_t limit_bytes;                  /* 0: no limit */
static bool limit_hard;
static _Atomic size_t backoff_until;        /* soft limit: no new direct reclaim below this footprint */
/* Watermarks on the headroom (limit - footprint), as the kernel's on free memory (M11):
 *   below wm_low the background thread is woken, and works until the headroom is above wm_high;
 *   below wm_min the allocating thread reclaims itself (direct reclaim).
 * wm_min = limit / 64; low - min = high - low = max(min / 4, limit * 10 / 10000). */
static size_t wm_min, wm_low, wm_high;

static void set_watermarks(void)
{
    wm_min = limit_bytes / 64;
    size_t step = wm_min / 4 > limit_bytes / 1000 ? wm_min / 4 : limit_bytes / 1000;
    wm_low = wm_min + step;
    wm_high = wm_low + step;
}

void pp_reclaim_init(void)
{
    limit_hard = pp_opt.limit_hard;
    if (pp_opt.limit > 0) {
        limit_bytes = (size_t)pp_opt.limit;
    } else {
        limit_bytes = pp_os_cgroup_limit();
        limit_hard = false;                 /* the cgroup's own limit stays the hard one */
        if (limit_bytes)
            pp_verbose("soft limit %zu MiB from the cgroup", limit_bytes >> 20);
    }
    set_watermarks();
}

static size_t headroom(void)
{
    size_t fp = pp_reclaim_footprint();
    return fp < limit_bytes ? limit_bytes - fp : 0;
}

/* The background thread's work when woken by the low watermark: release, cheapest first, until
 * the headroom is back above the high watermark (kswapd). */
static void watermark_reclaim(void)
{
    if (!limit_bytes || headroom() >= wm_low)
        return;
    pp_stat_add(wmark_wakeups, 1);
    size_t before = atomic_load(&pp_counters.released);
    pp_region_bank_purge(0);
    if (headroom() < wm_high)
        pp_reclaim_all_pools();
    if (headroom() < wm_high) {
        pp_thread_drain_all(NULL);
        pp_reclaim_all_pools();
    }
    pp_stat_add(released_wmark, atomic_load(&pp_counters.released) - before);
}

size_t pp_reclaim_limit(bool *hard)
{
    if (hard)
        *hard = limit_hard;
    return limit_bytes;
}

/* Resident memory the pool holds or has handed out: everything mapped but what was released. */
size_t pp_reclaim_footprint(void)
{
    size_t cold_pages = 0;
    pp_buddy_free_pages(&cold_pages);
    size_t cold_bank = pp_region_bank_bytes(false) - pp_region_bank_bytes(true);
    size_t slab_purged = atomic_load_explicit(&pp_counters.slab_purged_pages, memory_order_relaxed);
    return pp_region_mapped_bytes() - ((cold_pages + slab_purged) << PP_PAGE_SHIFT) - cold_bank;
}

/* Release everything releasable: the calling thread's empty slabs, the free pages of every sparse
 * slab (without waiting for the decay), parked heaps, empty abandoned slabs, every thread's page
 * cache, every hot free block, every resident banked region. This is the one place that reaches up
 * (caches, slabs) as well as down (pools, bank, OS). A capture context gets the first block of its
 * order that the cache drain coalesces (counted in `captures`). */
size_t pp_reclaim_direct(struct pp_capture *capc)
{
    size_t before = atomic_load(&pp_counters.released);
    size_t slab_before = atomic_load(&pp_counters.released_slab);
    pp_slab_reclaim(pp_tls_heap);
    if (pp_slab_stranded_take_flag())
        pp_thread_take_stranded(NULL);
    pp_slab_purge_sparse(true);
    pp_thread_retire_parked();
    pp_slab_reclaim_abandoned();
    pp_thread_drain_all(capc);              /* the caller's block, once coalesced, is its own */
    if (capc && capc->block)
        pp_stat_add(captures, 1);
    pp_reclaim_all_pools();
    pp_region_bank_purge(0);
    size_t released = atomic_load(&pp_counters.released) - before;
    /* pages released inside slabs are counted as such (stats: "in slabs"), not twice */
    pp_stat_add(released_direct, released - (atomic_load(&pp_counters.released_slab) - slab_before));
    return released;
}

/* Free memory that is still resident: hot free pages in the pools and hot whole regions in the
 * bank (read racily; malloc_trim's throttle). */
size_t pp_reclaim_hot_free_bytes(void)
{
    size_t cold, pages = pp_buddy_free_pages(&cold) - cold;
    return (pages << PP_PAGE_SHIFT) + pp_region_bank_bytes(true);
}

/* Only what is already free in the pools and the bank (a cheap malloc_trim). */
size_t pp_reclaim_free_memory(void)
{
    size_t before = atomic_load(&pp_counters.released);
    pp_reclaim_all_pools();
    pp_region_bank_purge(0);
    return atomic_load(&pp_counters.released) - before;
}

/* May the pool grow by `bytes`? With headroom above the low watermark, yes. Between low and min,
 * yes, and the background thread is woken to make room. Below min, the caller reclaims first
 * (direct reclaim); then, over the limit, a soft limit grows anyway (and does not reclaim again
 * until it has grown by another 1/16 of the limit) and a hard limit says no (ENOMEM). */
bool pp_reclaim_admit(size_t bytes, struct pp_capture *capc)
{
    if (PP_LIKELY(!limit_bytes))
        return true;
    size_t fp = pp_reclaim_footprint();
    size_t after = fp + bytes;
    if (after + wm_low <= limit_bytes)
        return true;
    if (after + wm_min <= limit_bytes) {
        if (pp_opt.background) {
            start_background(true);
            if (atomic_load(&bg_state) == 1)
                background_wake();
        }
        return true;
    }
    if (!limit_hard && after <= atomic_load(&backoff_until))
        return true;
    pp_stat_add(direct_reclaims, 1);
    pp_reclaim_direct(capc);
    if (capc && capc->block)
        return true;                        /* the pool does not grow: the caller uses its capture */
    fp = pp_reclaim_footprint();
    if (fp + bytes <= limit_bytes)
        return true;                        /* under the limit, if not above min: let it go */
    if (limit_hard)
        return false;
    atomic_store(&backoff_until, fp + bytes + limit_bytes / 16);
    return true;
}

/* pp_reclaim(): every pool's hot free blocks. */
size_t pp_reclaim_all_pools(void)
{
    size_t released = 0;
    for (unsigned n = 0; n < pp_nr_nodes; n++)
        released += pp_reclaim_pool_hot(pp_pool_of(n), 0);
    return released;
}
