/*
 * thread.c — process start-up, the thread registry, heap life cycle, and fork.
 *
 * Start-up is re-entrant. Everything pagepool needs before it can serve an allocation (options via
 * getenv, size classes, the pools, which only mmap, and the thread-exit key) runs first, without
 * malloc. Only then is the state READY; the steps that may call malloc themselves (pthread_atfork,
 * liburcu) come after, and their allocations take the ordinary path. A thread that finds
 * another thread initialising waits for it; the initialising thread itself never waits.
 *
 * Parking: when a thread exits, its heap is parked whole, slabs, page cache and all (up to
 * PARK_MAX heaps), and the next new thread takes it over in O(1), as glibc reuses arenas: a server
 * that runs each request on a fresh thread pays no per-thread warm-up. Beyond PARK_MAX, and on
 * pp_reclaim(), heaps are retired: empty slabs released, the others abandoned to per-class lists
 * that any thread adopts from, the page cache drained.
 *
 * Registry: every live or parked heap is on an RCU list (liburcu-bp: no thread registration needed from the
 * application). Reclaimers walk it under rcu_read_lock and drain the page caches through each cache's
 * own lock, so reclaim never blocks thread start or exit. Exiting heaps are unlinked, wait for one
 * grace period in batches (one synchronize_rcu per ZOMBIE_BATCH exits), then are recycled.
 * Layer: called by slab.c/heap.c (heap init) and reclaim paths; calls slab.c, pcp.c, buddy.c, region.c.
 */
#include "internal.h"
#include <pagepool.h>
#include <urcu-bp.h>
#include <urcu/rculist.h>
#include <sched.h>
#include <signal.h>

PP_HIDDEN struct pp_heap pp_heap_empty = { .bins = { [0 ... PP_NCLASSES - 1] = &pp_slab_empty } };
PP_HIDDEN __thread struct pp_heap *pp_tls_heap = &pp_heap_empty;
PP_HIDDEN __thread struct pp_slab *pp_tls_direct[PP_DIRECT_N] = { [0 ... PP_DIRECT_N - 1] = &pp_slab_empty };
PP_HIDDEN _Atomic int pp_init_state;       /* 0 none, 1 initialising, 2 ready */

/* The caller's malloc table from its heap (or all empty, for no heap). */
static void direct_load(const struct pp_heap *h)
{
    for (unsigned i = 0; i < PP_DIRECT_N; i++)
        pp_tls_direct[i] = h->bins[pp_class_fast[i]];
}

enum { ZOMBIE_BATCH = 32, PARK_MAX = 16 };
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static CDS_LIST_HEAD(registry);            /* live heaps. RCU readers; writers hold registry_lock */
static struct pp_heap *zombies;            /* exited, unlinked, waiting for a grace period. registry_lock */
static unsigned nzombies;
static struct pp_heap *heap_free;          /* ready for reuse. registry_lock */
static struct pp_heap *parked;             /* heaps of exited threads, whole. registry_lock */
static unsigned nparked;
static pthread_key_t exit_key;
static pid_t init_tid;

static void thread_exit(void *arg);
static struct pp_heap *take_parked_locked(unsigned node);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void init_core(void)
{
    pp_options_init();
    if (pp_os_page_size() != PP_PAGE_SIZE)
        pp_fatal("this machine's page size is %zu; pagepool is built for 4 KiB pages", pp_os_page_size());
    pp_sizeclass_init();
    int err = pp_slabmap_init();
    if (err)
        pp_fatal("cannot reserve the slab map, 16 GiB of address space (errno %d): raise `ulimit -v`, "
                 "or build pagepool with -Dslab_map=paged", err);
    err = pp_buddy_init(pp_opt.nodes > 0 ? (unsigned)pp_opt.nodes : pp_os_numa_nodes());
    if (err)
        pp_fatal("cannot reserve the pagemap or the pools (errno %d): check `ulimit -v`", err);
    pp_reclaim_init();
    pthread_key_create(&exit_key, thread_exit);   /* allocates nothing (glibc): before READY, so every heap can use it */
}

static void stats_signal(int sig)
{
    (void)sig;
    pp_stats_print(2);                      /* no malloc, write(2) only */
}

void pp_thread_init_once(void)
{
    int state = atomic_load_explicit(&pp_init_state, memory_order_acquire);
    if (PP_LIKELY(state == 2))
        return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&pp_init_state, &expected, 1)) {
        init_tid = pp_os_gettid();
        init_core();
        atomic_store_explicit(&pp_init_state, 2, memory_order_release);
        /* from here on, malloc works: these may allocate */
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        pp_os_numa_load();
        if (pp_opt.stats_signal) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = stats_signal;
            sa.sa_flags = SA_RESTART;
            sigaction(SIGUSR2, &sa, NULL);
        }
        pp_verbose("started: %u node(s), pid %d", pp_nr_nodes, (int)init_tid);
        if (pp_opt.print_options)
            pp_options_print(1);
        return;
    }
    while (atomic_load_explicit(&pp_init_state, memory_order_acquire) != 2)
        sched_yield();
}

struct pp_heap *pp_thread_heap_init(void)
{
    pp_thread_init_once();
    if (pp_tls_heap != &pp_heap_empty)      /* initialised by a recursive call */
        return pp_tls_heap;
    unsigned node = pp_opt.nodes > 0 ? (unsigned)pp_os_gettid() % pp_nr_nodes
                  : pp_nr_nodes > 1 ? pp_os_cpu_node() % pp_nr_nodes : 0;
    pthread_mutex_lock(&registry_lock);
    struct pp_heap *h = take_parked_locked(node);
    if (h) {
        pthread_mutex_unlock(&registry_lock);
        h->tid = pp_os_gettid();
        pp_slab_set_owner_all(h, pp_thread_self());
        atomic_store(&h->state, PP_HEAP_LIVE);
        pp_tls_heap = h;
        direct_load(h);
        pp_stat_add(threads, 1);
        pp_stat_add(threads_live, 1);
        pthread_setspecific(exit_key, h);
        return h;
    }
    h = heap_free;
    if (h)
        heap_free = h->next_free;
    pthread_mutex_unlock(&registry_lock);
    if (!h) {
        h = pp_meta_alloc_aligned(sizeof(*h), PP_PAGE_SIZE);   /* one page per thread, not two */
        if (!h)
            return NULL;
    } else {
        memset(h, 0, offsetof(struct pp_heap, remote_pending));   /* bins and lists; a stale
                                                                   * pending bit costs one scan */
    }
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pp_heap_bin_set(h, c, &pp_slab_empty);
    h->tid = pp_os_gettid();
    h->node = node;
    h->pool = pp_pool_of(h->node);
    pp_pcp_init(&h->pcp);
    atomic_store(&h->state, PP_HEAP_LIVE);
    pp_tls_heap = h;                        /* before anything below can recurse into malloc */
    pthread_mutex_lock(&registry_lock);
    cds_list_add_rcu(&h->registry, &registry);
    pthread_mutex_unlock(&registry_lock);
    pp_stat_add(threads, 1);
    pp_stat_add(threads_live, 1);
    pthread_setspecific(exit_key, h);        /* init_once returned: the key exists */
    return h;
}

static void recycle_zombies_locked(void)
{
    synchronize_rcu();                      /* no reclaimer still walks through them */
    while (zombies) {
        struct pp_heap *z = zombies;
        zombies = z->next_free;
        atomic_store(&z->state, PP_HEAP_FREE);
        z->next_free = heap_free;
        heap_free = z;
    }
    nzombies = 0;
}

/* Detach a heap from its (exited) thread: slabs abandoned or released, page cache drained. */
static void heap_retire(struct pp_heap *h)
{
    pp_slab_abandon_all(h);
    pp_pcp_drain(&h->pcp, h->pool, NULL);
    atomic_store(&h->state, PP_HEAP_DEAD);
    pp_stat_add(slow_calls_exited, h->slow_calls);
    h->slow_calls = 0;
}

/* A parked heap of the wanted node, else any parked heap. */
static struct pp_heap *take_parked_locked(unsigned node)
{
    struct pp_heap **pp = &parked, **any = NULL;
    for (; *pp; pp = &(*pp)->next_free) {
        if ((*pp)->node == node)
            break;
        if (!any)
            any = pp;
    }
    if (!*pp)
        pp = any;
    if (!pp || !*pp)
        return NULL;
    struct pp_heap *h = *pp;
    *pp = h->next_free;
    nparked--;
    return h;
}

static void retire_and_unlink(struct pp_heap *h)
{
    heap_retire(h);
    pthread_mutex_lock(&registry_lock);
    cds_list_del_rcu(&h->registry);
    h->next_free = zombies;
    zombies = h;
    if (++nzombies >= ZOMBIE_BATCH)
        recycle_zombies_locked();
    pthread_mutex_unlock(&registry_lock);
}

/* A heap whose thread is gone waits, whole, for the next new thread. Caller holds registry_lock. */
static void park_locked(struct pp_heap *h)
{
    pp_slab_set_owner_all(h, 0);
    atomic_store(&h->state, PP_HEAP_PARKED);
    h->next_free = parked;
    parked = h;
    nparked++;
}

static void thread_exit(void *arg)
{
    struct pp_heap *h = arg;
    pp_slab_flush_remote(h);
    pp_tls_heap = &pp_heap_empty;           /* later frees from this thread go the remote way */
    direct_load(&pp_heap_empty);
    pthread_mutex_lock(&registry_lock);
    pp_stat_sub(threads_live, 1);
    if (nparked < PARK_MAX) {
        park_locked(h);
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    pthread_mutex_unlock(&registry_lock);
    retire_and_unlink(h);
}

/* Retire every parked heap (reclaim): their slabs become adoptable, their caches drain. */
void pp_thread_retire_parked(void)
{
    pthread_mutex_lock(&registry_lock);
    struct pp_heap *list = parked;
    parked = NULL;
    nparked = 0;
    pthread_mutex_unlock(&registry_lock);
    while (list) {
        struct pp_heap *h = list;
        list = h->next_free;
        retire_and_unlink(h);
    }
}

/* Drain every thread's page cache into the pools (reclaim, malloc_trim, allocation failure), or
 * only those not used since the previous idle pass (the background decay). */
static size_t drain(bool idle_only, struct pp_capture *capc)
{
    size_t pages = 0;
    struct pp_heap *h;
    rcu_read_lock();
    cds_list_for_each_entry_rcu(h, &registry, registry)
        if (atomic_load(&h->state) != PP_HEAP_DEAD)
            pages += idle_only ? pp_pcp_drain_idle(&h->pcp, h->pool) : pp_pcp_drain(&h->pcp, h->pool, capc);
    rcu_read_unlock();
    return pages;
}

size_t pp_thread_drain_all(struct pp_capture *capc) { return drain(false, capc); }
size_t pp_thread_drain_idle(void) { return drain(true, NULL); }

/* Take back the stranded slabs of every flagged heap but the caller's own (`self`, NULL for none;
 * slab.c): of parked heaps, and of live heaps whose thread has stopped allocating. Their blocks go
 * to the pools, hot, for whoever needs memory next. One taker at a time (the others go on without). */
static pthread_mutex_t take_lock = PTHREAD_MUTEX_INITIALIZER;
enum { STRANDED_IDLE_MS = 10 };

size_t pp_thread_take_stranded(struct pp_heap *self)
{
    if (pthread_mutex_trylock(&take_lock)) {
        pp_slab_stranded_flag_again();
        return 0;
    }
    size_t pages = 0;
    uint64_t now = 0;
    struct pp_heap *h;
    rcu_read_lock();
    cds_list_for_each_entry_rcu(h, &registry, registry) {
        if (h == self || !atomic_load_explicit(&h->stranded, memory_order_relaxed))
            continue;
        int state = atomic_load(&h->state);
        if (state == PP_HEAP_LIVE) {
            /* an owner that is still allocating finds its slabs itself (scan_full), and taking
             * them would send it to new memory: take only from an owner with no slow path for
             * STRANDED_IDLE_MS (a producer waiting for its consumer is not idle enough) */
            uint64_t calls = __atomic_load_n(&h->slow_calls, __ATOMIC_RELAXED);
            if (!now)
                now = pp_os_now_ms();
            if (calls != h->taker_seen) {
                h->taker_seen = calls;
                h->taker_seen_ms = now;
            }
            if (now - h->taker_seen_ms < STRANDED_IDLE_MS) {
                pp_slab_stranded_flag_again();
                continue;
            }
        } else if (state != PP_HEAP_PARKED) {
            continue;
        }
        pages += pp_slab_take_stranded(h);
    }
    rcu_read_unlock();
    pthread_mutex_unlock(&take_lock);
    return pages;
}

/* Every heap's slabs by class (pp_stats_classes), then the abandoned ones. */
void pp_thread_class_stats(struct pp_class_stats *by_class)
{
    struct pp_heap *h;
    rcu_read_lock();
    cds_list_for_each_entry_rcu(h, &registry, registry) {
        int state = atomic_load(&h->state);
        if (state == PP_HEAP_LIVE || state == PP_HEAP_PARKED)
            pp_slab_class_stats(h, by_class);
    }
    rcu_read_unlock();
    pp_slab_abandoned_class_stats(by_class);
}

/* Pages in every thread's page cache; also sums the heaps' slow-path counters. */
size_t pp_thread_cached_pages(uint64_t *slow_calls)
{
    size_t pages = 0;
    uint64_t slow = atomic_load(&pp_counters.slow_calls_exited);
    struct pp_heap *h;
    rcu_read_lock();
    cds_list_for_each_entry_rcu(h, &registry, registry) {
        pages += __atomic_load_n(&h->pcp.pages, __ATOMIC_RELAXED);
        slow += __atomic_load_n(&h->slow_calls, __ATOMIC_RELAXED);
    }
    rcu_read_unlock();
    if (slow_calls)
        *slow_calls = slow;
    return pages;
}

/* ---- fork: every lock is taken before, released in the parent, re-created in the child ---- */
static void fork_prepare(void)
{
    if (atomic_load(&pp_init_state) != 2)
        return;
    pthread_mutex_lock(&registry_lock);
    pthread_mutex_lock(&take_lock);         /* a taker holds a heap lock and takes cache locks */
    struct pp_heap *h;
    cds_list_for_each_entry(h, &registry, registry)
        pthread_mutex_lock(&h->pcp.lock);
    pp_slab_fork_prepare();
    pp_buddy_lock_all();
    pp_region_fork_prepare();
    urcu_bp_before_fork();
}

static void fork_parent(void)
{
    if (atomic_load(&pp_init_state) != 2)
        return;
    urcu_bp_after_fork_parent();
    pp_region_fork_parent();
    pp_buddy_unlock_all();
    pp_slab_fork_parent();
    struct pp_heap *h;
    cds_list_for_each_entry(h, &registry, registry)
        pthread_mutex_unlock(&h->pcp.lock);
    pthread_mutex_unlock(&take_lock);
    pthread_mutex_unlock(&registry_lock);
}

static void fork_child(void)
{
    if (atomic_load(&pp_init_state) != 2)
        return;
    urcu_bp_after_fork_child();
    pp_reclaim_fork_child();
    pp_region_fork_child();
    pp_buddy_reinit_locks();
    pp_slab_fork_child();
    pthread_mutex_init(&registry_lock, NULL);
    pthread_mutex_init(&take_lock, NULL);
    struct pp_heap *h, *tmp;
    cds_list_for_each_entry(h, &registry, registry) {
        pthread_mutex_init(&h->pcp.lock, NULL);
        pp_slab_heap_lock_reset(h);         /* an owner that does not exist in the child may hold it */
    }
    /* the other threads do not exist in the child: their heaps are parked for the child's threads */
    cds_list_for_each_entry_safe(h, tmp, &registry, registry) {
        if (h == pp_tls_heap || atomic_load(&h->state) != PP_HEAP_LIVE)
            continue;
        park_locked(h);
        pp_stat_sub(threads_live, 1);
    }
}
