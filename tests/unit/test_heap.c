/* Unit tests of the heap and slabs through the pp_* API on the fake OS: routing, accounting
 * identity, remote frees, full slabs coming back, thread exit and adoption, reclaim. */
#include "../../lib/internal.h"
#include "../test.h"
#include "os_fake.h"
#include <pagepool.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>

static bool accounting_holds(void)
{
    struct pp_stats s;
    pp_stats_get(&s);
    bool ok = pp_stats_check();
    if (!ok)
        fprintf(stderr, "mapped %zu in_use %zu hot %zu cold %zu cached %zu bank %zu\n", s.mapped, s.in_use,
                s.free_hot, s.free_cold, s.cached, s.bank);
    return ok;
}

TEST_BEGIN(test_routing_by_size)
{
    void *small = pp_malloc(100), *large = pp_malloc(100000), *huge = pp_malloc(5 << 20);
    expect_ptr_not_null(pp_slab_of((uintptr_t)small), "100 B from a slab");
    expect_ptr_null(pp_slab_of((uintptr_t)large), "100 KB is not in a slab");
    expect_int_eq(pp_region_of((uintptr_t)large)->state[pp_page_index((uintptr_t)large)], PP_PG_LARGE_HEAD, "100 KB is a run");
    expect_int_eq(pp_region_of((uintptr_t)huge)->kind, PP_REGION_HUGE, "5 MB is huge");
    expect_zu_eq(pp_malloc_usable_size(large), 25 * 4096, "a run is trimmed to its pages");
    expect_true(accounting_holds(), "mapped = in_use + free + cached + bank");
    pp_free(small);
    pp_free(large);
    pp_free(huge);
    expect_true(accounting_holds(), "after frees");
}
TEST_END

TEST_BEGIN(test_large_realloc_grows_in_place)
{
    /* 100 000 B is a 25-page run whose block's tail went back free: growing it takes those pages
     * (and a quarter of headroom) in place, without moving or copying */
    char *p = pp_malloc(100000);
    memset(p, 7, 100000);
    char *q = pp_realloc(p, 120000);
    expect_ptr_eq(q, p, "grown in place");
    expect_zu_eq(pp_malloc_usable_size(q), 37 * 4096, "30 pages and a quarter of headroom");
    expect_true(q[0] == 7 && q[99999] == 7, "contents kept");
    expect_true(accounting_holds(), "in_use counts the pages taken");
    /* a block right after it: growth past that must move */
    char *wall = pp_malloc(37 * 4096);
    expect_ptr_eq(wall, q + 37 * 4096, "the next run fits right after it");
    char *m = pp_realloc(q, 40 * 4096);
    expect_ptr_ne(m, q, "the pages after it are taken: moved");
    expect_true(m[0] == 7 && m[99999] == 7, "contents copied");
    q = m;
    pp_free(wall);
    pp_free(q);
    expect_true(accounting_holds(), "after frees");
}
TEST_END

TEST_BEGIN(test_full_slab_returns_after_local_free)
{
    enum { N = 5000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = pp_malloc(48);
    for (int i = 0; i < N; i += 2)
        pp_free(p[i]);
    /* the freed objects are reused before any new slab */
    struct pp_stats before;
    pp_stats_get(&before);
    for (int i = 0; i < N; i += 2)
        p[i] = pp_malloc(48);
    struct pp_stats after;
    pp_stats_get(&after);
    expect_zu_eq(after.in_use, before.in_use, "refilling freed slots takes no new pages");
    for (int i = 0; i < N; i++)
        pp_free(p[i]);
    expect_true(accounting_holds(), "accounting");
}
TEST_END

struct handoff { void **blocks; int n; };

static void *free_them(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < h->n; i++)
        pp_free(h->blocks[i]);
    return NULL;
}

TEST_BEGIN(test_remote_frees_are_reused)
{
    enum { N = 20000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = pp_malloc(64);
    struct pp_stats s1;
    pp_stats_get(&s1);
    struct handoff h = { p, N };
    pthread_t t;
    pthread_create(&t, NULL, free_them, &h);
    pthread_join(t, NULL);
    for (int i = 0; i < N; i++)
        p[i] = pp_malloc(64);
    struct pp_stats s2;
    pp_stats_get(&s2);
    expect_zu_le(s2.in_use, s1.in_use, "objects freed by another thread are found again (full slabs too)");
    for (int i = 0; i < N; i++)
        pp_free(p[i]);
}
TEST_END

/* Bytes of small objects handed out, all classes. */
static size_t used_small_bytes(void)
{
    struct pp_class_stats cs[PP_NCLASSES];
    size_t n = pp_stats_classes(cs, PP_NCLASSES), used = 0;
    for (size_t i = 0; i < n; i++)
        used += cs[i].used_bytes;
    return used;
}

/* Moves every block to a class 1.5x up with realloc, checking the bytes that came along. */
static void *grow_them(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < h->n; i++) {
        size_t n = 100 + (size_t)i % 1000;
        uintptr_t a = (uintptr_t)h->blocks[i];
        unsigned char *q = pp_realloc(h->blocks[i], n + n / 2);
        if ((uintptr_t)q == a) {
            h->n = -2;
            return NULL;
        }
        for (size_t k = 0; k < n; k++)
            if (q[k] != (unsigned char)(i + k)) {
                h->n = -1;
                return NULL;
            }
        h->blocks[i] = q;
    }
    return NULL;
}

/* A small block that no longer fits its class moves: the copy, and the old object's free, which
 * goes to its owner's free list (same thread) or down the remote path (another thread's). */
TEST_BEGIN(test_small_realloc_moves)
{
    enum { N = 3000 };
    static void *p[N];
    for (int pass = 0; pass < 2; pass++) {
        size_t used0 = used_small_bytes();
        for (int i = 0; i < N; i++) {
            size_t n = 100 + (size_t)i % 1000;
            unsigned char *b = pp_malloc(n);
            for (size_t k = 0; k < n; k++)
                b[k] = (unsigned char)(i + k);
            p[i] = b;
        }
        struct handoff h = { p, N };
        if (pass == 0) {
            grow_them(&h);
        } else {
            pthread_t t;
            pthread_create(&t, NULL, grow_them, &h);
            pthread_join(t, NULL);
        }
        expect_int_eq(h.n, N, pass ? "moved, the bytes with it (by another thread)" : "moved, the bytes with it");
        size_t usable = 0;
        for (int i = 0; i < N; i++) {
            size_t n = 100 + (size_t)i % 1000, u = pp_malloc_usable_size(p[i]);
            expect_zu_ge(u, n + n / 2, "the new block holds the new size");
            usable += u;
        }
        /* the owner's own frees are counted at once; another thread's wait for the owner's collect */
        if (pass == 0)
            expect_zu_eq(used_small_bytes(), used0 + usable, "the old objects were freed");
        for (int i = 0; i < N; i++)
            pp_free(p[i]);
        expect_true(accounting_holds(), "mapped = in_use + free + cached + bank");
    }
}
TEST_END

enum { HELD_CLASSES = 20, HELD_EACH = 60 };

/* Frees the blocks class by class in turn (one of each class, then the next of each), as a
 * consumer of mixed sizes does, and returns the most objects it held back for their owner. */
static void *free_interleaved(void *arg)
{
    void **p = arg;
    uintptr_t most = 0;
    pp_free(pp_malloc(1));                  /* a thread without a heap pushes each free at once */
    for (int i = 0; i < HELD_EACH; i++)
        for (int c = 0; c < HELD_CLASSES; c++) {
            pp_free(p[c * HELD_EACH + i]);
            if (pp_tls_heap->rbuf_total > most)
                most = pp_tls_heap->rbuf_total;
        }
    return (void *)most;
}

TEST_BEGIN(test_remote_frees_held_are_bounded)
{
    /* 20 classes x 60 objects, all freed by another thread: it may gather them per slab, but never
     * hold more than 128 in all (RBUF_TOTAL_MAX), or their owner carves fresh pages meanwhile */
    static void *p[HELD_CLASSES * HELD_EACH];
    for (int c = 0; c < HELD_CLASSES; c++)
        for (int i = 0; i < HELD_EACH; i++)
            p[c * HELD_EACH + i] = pp_malloc(16 * (size_t)(c + 1));
    pthread_t t;
    void *most;
    pthread_create(&t, NULL, free_interleaved, p);
    pthread_join(t, &most);
    expect_zu_lt((size_t)(uintptr_t)most, 128, "objects held for other threads stay under the bound");
    expect_true(accounting_holds(), "accounting after the remote frees");
}
TEST_END

TEST_BEGIN(test_remote_count_that_lags)
{
    /* A remote free pushes the object, then adds to the count: the owner can take the object before
     * its count (here by hand: X pushed, counted only after the owner took it back). A later
     * collect with no list must still take that count, or the slab looks one object fuller than
     * it is (to_full's check at debug level 2) and never looks empty. */
    enum { SIZE = 2560 };                   /* a class no other test uses */
    unsigned cls = pp_size_class(SIZE);
    const int CAP = (int)((PP_PAGE_SIZE << pp_class_order[cls]) / pp_class_size[cls]);
    void *p[512] = { NULL };
    expect_int_le(CAP, 512, "objects per slab");
    for (int i = 0; i < CAP; i++)
        p[i] = pp_malloc(SIZE);
    struct pp_slab *s = pp_slab_of((uintptr_t)p[0]);
    for (int i = 1; i < CAP; i++)
        expect_ptr_eq(pp_slab_of((uintptr_t)p[i]), s, "object %d in the first slab", i);
    void **x = p[0];
    x[0] = NULL;
    x[1] = s;                               /* the key, as a remote free stores it */
    atomic_store(&s->thread_free, (void *)x);
    expect_ptr_eq(pp_malloc(SIZE), x, "the owner takes the pushed object before its count");
    atomic_fetch_add(&s->thread_freed, 1);
    void *q = pp_malloc(SIZE);              /* the slab is exhausted: it goes to the full list */
    expect_ptr_ne(pp_slab_of((uintptr_t)q), s, "the next object comes from another slab");
    for (int i = 0; i < CAP; i++)
        pp_free(p[i]);
    pp_free(q);
    pp_free(pp_malloc(SIZE));               /* a slow path looks at the slabs again */
    expect_true(accounting_holds(), "accounting after the lagging count");
    expect_ptr_eq(atomic_load(&s->thread_free), NULL, "nothing left pushed");
}
TEST_END

static void *alloc_and_exit(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < h->n; i++)
        h->blocks[i] = pp_malloc(200);
    return NULL;
}

TEST_BEGIN(test_thread_exit_abandon_and_adopt)
{
    enum { N = 3000 };
    static void *p[N];
    struct handoff h = { p, N };
    pthread_t t;
    pthread_create(&t, NULL, alloc_and_exit, &h);
    pthread_join(t, NULL);          /* its slabs are abandoned with live objects */
    for (int i = 0; i < N; i++) {
        memset(p[i], 0x5a, 200);
        pp_free(p[i]);              /* remote frees into abandoned slabs */
    }
    pp_reclaim();                   /* releases the abandoned slabs that are now empty */
    expect_true(accounting_holds(), "accounting after abandon and reclaim");
    /* churn: many threads, none keeps memory: in_use must not grow */
    struct pp_stats s1, s2;
    pp_stats_get(&s1);
    for (int k = 0; k < 200; k++) {
        pthread_create(&t, NULL, alloc_and_exit, &(struct handoff){ p, 50 });
        pthread_join(t, NULL);
        for (int i = 0; i < 50; i++)
            pp_free(p[i]);
    }
    pp_reclaim();
    pp_stats_get(&s2);
    expect_zu_le(s2.in_use, s1.in_use + (1u << 20), "thread churn does not grow in_use");
}
TEST_END

/* Ownership follows the heap: a thread that exits leaves its slabs to no thread (its thread
 * pointer may come back with the next thread, which must not take them for its own), and the
 * thread that takes the parked heap over owns them. */
static void *alloc_one(void *arg) { *(void **)arg = pp_malloc(48); return NULL; }
static void *take_over(void *arg)
{
    struct pp_slab *s = arg;
    void *q = pp_malloc(48);                   /* takes the parked heap */
    bool mine = atomic_load(&s->owner) == pp_thread_self() && atomic_load(&s->heap) == pp_tls_heap;
    pp_free(q);
    return (void *)(uintptr_t)mine;
}
TEST_BEGIN(test_owner_follows_the_heap)
{
    void *p, *mine;
    pthread_t t;
    pthread_create(&t, NULL, alloc_one, &p);
    pthread_join(t, NULL);
    struct pp_slab *s = pp_slab_of((uintptr_t)p);
    expect_ptr_not_null(s, "a slab object");
    expect_int_eq(atomic_load(&s->owner), 0, "parked: owned by no thread");
    expect_true(atomic_load(&s->owner) != pp_thread_self(), "not by this one either");
    pthread_create(&t, NULL, take_over, s);
    pthread_join(t, &mine);
    expect_true(mine != NULL, "the thread that took the heap over owns its slabs");
    expect_int_eq(atomic_load(&s->owner), 0, "parked again");
    pp_free(p);                                /* a remote free into a parked heap's slab */
    expect_true(accounting_holds(), "accounting");
}
TEST_END

/* When the current slab runs out, malloc takes the partial slab with the most free objects, not the
 * one at the head of the queue that has a single free object. */
TEST_BEGIN(test_refill_takes_the_emptiest_partial)
{
    enum { SIZE = 1000, MAX = 4096 };
    static void *p[MAX];
    p[0] = pp_malloc(SIZE);
    uint32_t cap = pp_slab_of((uintptr_t)p[0])->capacity;
    expect_true(3 * cap <= MAX, "capacity %u", cap);
    int n = 1;
    /* run the current slab dry, then fill two more */
    while (n < MAX && pp_slab_of((uintptr_t)p[n - 1])->free)
        p[n++] = pp_malloc(SIZE);
    int first_full = n;
    for (int k = 0; k < (int)(2 * cap) && n < MAX; k++)
        p[n++] = pp_malloc(SIZE);
    struct pp_slab *a = pp_slab_of((uintptr_t)p[first_full]);
    struct pp_slab *b = pp_slab_of((uintptr_t)p[first_full + cap]);
    expect_true(a != b, "two slabs");
    for (int i = 0; i < n; i++)               /* one of b's first: b heads the partial queue */
        if (p[i] && pp_slab_of((uintptr_t)p[i]) == b) {
            pp_free(p[i]);
            p[i] = NULL;
            break;
        }
    for (int i = 0; i < n; i++)               /* then half of a's, queued behind b */
        if (p[i] && pp_slab_of((uintptr_t)p[i]) == a && (i & 1)) {
            pp_free(p[i]);
            p[i] = NULL;
        }
    struct pp_slab *cur = pp_slab_of((uintptr_t)p[n - 1]);
    void *q;
    while ((q = pp_malloc(SIZE)) && pp_slab_of((uintptr_t)q) == cur && n < MAX)
        p[n++] = q;                           /* whatever the current slab still has */
    expect_ptr_eq(pp_slab_of((uintptr_t)q), a, "the half-free slab, not the one with one free object");
    p[n++] = q;
    for (int i = 0; i < n; i++)
        pp_free(p[i]);
    expect_true(accounting_holds(), "accounting");
}
TEST_END

TEST_BEGIN(test_reclaim_releases)
{
    void *p[256];
    for (int i = 0; i < 256; i++)
        p[i] = pp_malloc(20000);
    for (int i = 0; i < 256; i++)
        pp_free(p[i]);
    fake_os_reset();
    pp_reclaim();
    struct pp_stats s;
    pp_stats_get(&s);
    expect_zu_eq(s.cached, 0, "every page cache drained");
    expect_int_ge(fake_os_count('p'), 1, "whole free regions released with madvise");
    expect_true(accounting_holds(), "accounting after reclaim");
}
TEST_END

TEST_BEGIN(test_calloc_after_release_is_zero)
{
    unsigned char *p = pp_malloc(100000);
    memset(p, 0xff, 100000);
    pp_free(p);
    pp_reclaim();                           /* released: the run comes back cold */
    unsigned char *q = pp_calloc(1, 100000);
    size_t nonzero = 0;
    for (size_t i = 0; i < 100000; i++)
        nonzero += q[i] != 0;
    expect_zu_eq(nonzero, 0, "calloc of a released (cold) run reads as zero");
    memset(q, 0xee, 100000);
    pp_free(q);
    q = pp_calloc(1, 100000);               /* a hot run: memset needed */
    nonzero = 0;
    for (size_t i = 0; i < 100000; i++)
        nonzero += q[i] != 0;
    expect_zu_eq(nonzero, 0, "calloc of a hot run reads as zero");
    pp_free(q);
}
TEST_END

/* ---- Stranded slabs: full slabs whose objects all came back while their owner waits ---- */
enum { STRAND_N = 4000 };                   /* 64 B objects: 1024 a slab, so three full slabs */
struct strand {
    void *blocks[STRAND_N];
    struct pp_heap *heap;
    sem_t made, go, done;
};

/* Allocates, hands over, then waits without allocating (a thread that gave its data to workers),
 * and allocates and frees again once told: its heap must be whole after the taker was there. */
static void *strand_owner(void *arg)
{
    struct strand *st = arg;
    for (int i = 0; i < STRAND_N; i++)
        st->blocks[i] = pp_malloc(64);
    st->heap = pp_tls_heap;
    sem_post(&st->made);
    sem_wait(&st->go);
    for (int i = 0; i < STRAND_N; i++)
        st->blocks[i] = pp_malloc(64);
    for (int i = 0; i < STRAND_N; i++)
        pp_free(st->blocks[i]);
    sem_post(&st->done);
    return NULL;
}

TEST_BEGIN(test_stranded_slabs_are_taken_back)
{
    static struct strand st;
    sem_init(&st.made, 0, 0);
    sem_init(&st.go, 0, 0);
    sem_init(&st.done, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, strand_owner, &st);
    sem_wait(&st.made);
    unsigned cls = pp_size_class(64);
    size_t full = 0;
    for (struct pp_slab *s = st.heap->full[cls].first; s; s = s->next)
        full++;
    expect_zu_ge(full, 3, "the owner filled three slabs");
    struct pp_stats s1, s2;
    pp_stats_get(&s1);
    for (int i = 0; i < STRAND_N; i++)      /* remote frees: the owner never collects them */
        pp_free(st.blocks[i]);
    pp_slab_flush_remote(pp_tls_heap);      /* what this thread gathered per slab, pushed */
    expect_true(atomic_load(&st.heap->stranded), "the last free into a full slab flags its heap");
    pp_thread_take_stranded(NULL);          /* a first look notes the owner's slow-path count */
    expect_ptr_not_null(st.heap->full[cls].first, "an owner just seen may still be allocating");
    fake_os.now_ms += 5;
    pp_thread_take_stranded(NULL);
    expect_ptr_not_null(st.heap->full[cls].first, "and 5 ms without a slow path is not idle yet");
    fake_os.now_ms += 10;
    void *other = pp_malloc(3000);          /* a new slab for this thread: the owner has not moved, so
                                             * the stranded slabs are taken first */
    pp_stats_get(&s2);
    expect_zu_ge(s2.stranded_slabs - s1.stranded_slabs, full, "every full slab taken back");
    expect_ptr_null(st.heap->full[cls].first, "the owner's full list is empty");
    expect_false(atomic_load(&st.heap->stranded), "and the flag is down");
    unsigned ocls = pp_size_class(3000);
    expect_zu_le(s2.in_use + full * (PP_PAGE_SIZE << pp_class_order[cls]),
                 s1.in_use + (PP_PAGE_SIZE << pp_class_order[ocls]), "their pages are no longer in use");
    expect_true(accounting_holds(), "accounting after the take");
    sem_post(&st.go);                       /* the owner goes on with what is left of its heap */
    sem_wait(&st.done);
    pthread_join(t, NULL);
    pp_free(other);
    expect_true(accounting_holds(), "accounting after the owner's second round");
}
TEST_END

/* The race the taker must lose: the owner frees, locally, the one object still live in a full
 * slab whose other objects all came back from another thread, while a taker scans. The local
 * free puts the object on the owner's list before its count says so (a release store), so a
 * taker sees either the object live or the object on the list, and leaves the slab alone. */
enum { RACE_ROUNDS = 300, RACE_N = 2048 };  /* two full slabs of 64 B a round */
struct race {
    void *blocks[RACE_N];
    _Atomic int round;                      /* the owner publishes a round; the freer answers */
    _Atomic int freed;
    _Atomic bool stop;
    struct pp_heap *heap;                   /* the owner's */
};

static void *race_freer(void *arg)
{
    struct race *r = arg;
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        while (atomic_load(&r->round) != round)
            sched_yield();
        for (int i = 0; i < RACE_N; i++)
            if (i % 1024)                   /* all but the first object of each slab */
                pp_free(r->blocks[i]);
        pp_slab_flush_remote(pp_tls_heap);  /* counts in: the slabs are complete but for one */
        atomic_store(&r->freed, round);
    }
    return NULL;
}

static void *race_taker(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        atomic_store(&r->heap->stranded, 1);   /* scan the owner's heap every time, flagged or not */
        r->heap->taker_seen_ms -= 1000;         /* and find its owner idle (take_lock is free) */
        pp_slab_stranded_flag_again();
        pp_thread_take_stranded(NULL);
    }
    return NULL;
}

TEST_BEGIN(test_stranded_take_races_a_local_free)
{
    static struct race r;
    pp_free(pp_malloc(64));
    r.heap = pp_tls_heap;
    pthread_t f, k;
    pthread_create(&f, NULL, race_freer, &r);
    pthread_create(&k, NULL, race_taker, &r);
    int lost = 0;
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        for (int i = 0; i < RACE_N; i++)
            r.blocks[i] = pp_malloc(64);
        atomic_store(&r.round, round);
        while (atomic_load(&r.freed) != round)
            sched_yield();
        for (int i = 0; i < RACE_N; i += 1024) {  /* the owner's local frees, racing the taker */
            pp_free(r.blocks[i]);
            struct pp_slab *sl = pp_slab_of((uintptr_t)r.blocks[i]);
            lost += !sl || atomic_load(&sl->heap) != pp_tls_heap;
        }
    }
    expect_int_eq(lost, 0, "a slab the owner just freed into stays the owner's (on its partial list)");
    atomic_store(&r.stop, true);
    pthread_join(f, NULL);
    pthread_join(k, NULL);
    pp_reclaim();
    expect_true(accounting_holds(), "accounting after the race");
}
TEST_END

int main(void)
{
    pp_thread_init_once();
    return RUN_TESTS(test_routing_by_size, test_large_realloc_grows_in_place, test_full_slab_returns_after_local_free, test_remote_frees_are_reused, test_small_realloc_moves, test_remote_frees_held_are_bounded, test_remote_count_that_lags,
                     test_thread_exit_abandon_and_adopt, test_owner_follows_the_heap, test_refill_takes_the_emptiest_partial,
                     test_reclaim_releases,
                     test_calloc_after_release_is_zero, test_stranded_slabs_are_taken_back,
                     test_stranded_take_races_a_local_free);
}
