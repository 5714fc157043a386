/*
 * threads.c — multithreaded stress of the malloc family (linked with libpagepool.so).
 *
 *   test_exchange        N threads allocate random sizes, write a pattern derived from the block's
 *                        key, pass blocks to each other through mutex-protected rings; the receiver
 *                        verifies, then frees or reallocs (and verifies again) or keeps the block.
 *   test_fork            fork while the other threads allocate; the child allocates, checks content,
 *                        starts threads of its own, and _exit(0)s; repeated.
 *   test_thread_churn    thousands of short threads, in batches, each allocating ~100 blocks, freeing
 *                        half and handing half to main; RSS must not grow without bound.
 *   test_exit_with_live  threads exit with blocks live; main (and later threads) free them.
 *   test_free_most_then_reuse  each thread allocates, frees 90 % (half itself, half by its
 *                        neighbour), sleeps while the slabs' free pages are released (run with
 *                        a short PAGEPOOL_DECAY_MS), checks what it kept, allocates again.
 *
 * Scale with PAGEPOOL_TEST_THREADS (default 4) and PAGEPOOL_TEST_SCALE (default 1, may be
 * fractional). Works against any malloc: gcc -D_GNU_SOURCE -pthread tests/stress/threads.c.
 */
#include "../test.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int nthreads = 4;
static double scale = 1.0;

static long scaled(long n)
{
    long v = (long)((double)n * scale);
    return v < 1 ? 1 : v;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- errors from any thread ---- */
static atomic_long errors;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static void error_at(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error_at(int line, const char *fmt, ...)
{
    long n = atomic_fetch_add(&errors, 1);
    if (n >= 20)
        return;
    va_list ap;
    pthread_mutex_lock(&err_lock);
    printf("#   %s:%d: ", __FILE__, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&err_lock);
}
#define ERROR(...) error_at(__LINE__, __VA_ARGS__)

/* ---- random numbers: xorshift64* per thread ---- */
static inline uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* mostly small, some up to 64 KiB, rarely 100 KB..4 MB */
static size_t random_size(uint64_t *s)
{
    uint64_t r = rnd(s);
    unsigned pick = (unsigned)(r % 1000);
    r >>= 10;
    if (pick < 2)
        return 100 * 1000 + (size_t)(r % (4 * MiB - 100 * 1000));
    if (pick < 700)
        return 1 + (size_t)(r % 512);
    if (pick < 950)
        return 1 + (size_t)(r % (8 * KiB));
    return 1 + (size_t)(r % (64 * KiB));
}

/* ---- patterns: a block is described by (ptr, size, key); the bytes are a function of key ---- */
struct block {
    unsigned char *p;
    size_t size;
    uint64_t key;
};

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Every byte up to 64 KiB; past that, one 8-byte word per 512 bytes and the last byte. */
#define DENSE_LIMIT (64 * KiB)

static void pattern_write(struct block *b)
{
    b->key = mix((uintptr_t)b->p ^ (b->size << 20) ^ 0x5bd1e995u);
    uint64_t k = b->key;
    size_t n = b->size;
    if (n <= DENSE_LIMIT) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v = k + i;
            memcpy(b->p + i, &v, 8);
        }
        if (i < n) { /* the tail: the first bytes of the next word, so any prefix is checkable */
            uint64_t v = k + i;
            memcpy(b->p + i, &v, n - i);
        }
    } else {
        for (size_t i = 0; i + 8 < n; i += 512) { /* words never reach the last byte */
            uint64_t v = k + i;
            memcpy(b->p + i, &v, 8);
        }
        b->p[n - 1] = (unsigned char)(k >> 8);
    }
}

/* Check the first `n` bytes (n <= b->size) of b->p against the pattern of key b->key for size
 * b->size. Returns the bad offset or SIZE_MAX. */
static size_t pattern_check_prefix(const unsigned char *p, size_t size, uint64_t k, size_t n)
{
    if (size <= DENSE_LIMIT) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (v != k + i)
                return i;
        }
        if (i < n) {
            uint64_t v = k + i;
            if (memcmp(p + i, &v, n - i) != 0)
                return i;
        }
    } else {
        for (size_t i = 0; i + 8 < n; i += 512) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (v != k + i)
                return i;
        }
        if (n == size && p[n - 1] != (unsigned char)(k >> 8))
            return n - 1;
    }
    return SIZE_MAX;
}

static bool block_verify(const struct block *b, const char *when)
{
    size_t bad = pattern_check_prefix(b->p, b->size, b->key, b->size);
    if (bad != SIZE_MAX) {
        ERROR("%s: block %p size %zu corrupted at offset %zu", when, (void *)b->p, b->size, bad);
        return false;
    }
    return true;
}

static bool block_alloc(struct block *b, size_t size)
{
    b->p = malloc(size);
    b->size = size;
    if (!b->p) {
        ERROR("malloc(%zu) failed", size);
        return false;
    }
    if (malloc_usable_size(b->p) < size)
        ERROR("malloc_usable_size(%p) = %zu < %zu", (void *)b->p, malloc_usable_size(b->p), size);
    pattern_write(b);
    return true;
}

/* realloc, check the kept prefix, rewrite the pattern for the new pointer/size */
static bool block_realloc(struct block *b, size_t size)
{
    size_t keep = size < b->size ? size : b->size;
    uint64_t oldkey = b->key;
    size_t oldsize = b->size;
    unsigned char *q = realloc(b->p, size);
    if (!q) {
        ERROR("realloc(%p, %zu) failed", (void *)b->p, size);
        free(b->p);
        b->p = NULL;
        return false;
    }
    /* a dense (<= 64 KiB) old block keeps all its bytes; a sparse one only its sampled words */
    size_t bad = pattern_check_prefix(q, oldsize, oldkey, oldsize <= DENSE_LIMIT ? keep : keep & ~(size_t)511);
    if (bad != SIZE_MAX)
        ERROR("realloc %zu -> %zu: content lost at offset %zu", oldsize, size, bad);
    b->p = q;
    b->size = size;
    pattern_write(b);
    return bad == SIZE_MAX;
}

/* ---- (a) exchange through rings ---- */
#define RING_CAP 512
struct ring {
    pthread_mutex_t lock;
    unsigned head, count;
    struct block slot[RING_CAP];
};

static struct ring *rings;

static bool ring_push(struct ring *r, const struct block *b)
{
    bool ok = false;
    pthread_mutex_lock(&r->lock);
    if (r->count < RING_CAP) {
        r->slot[(r->head + r->count) % RING_CAP] = *b;
        r->count++;
        ok = true;
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static bool ring_pop(struct ring *r, struct block *b)
{
    bool ok = false;
    pthread_mutex_lock(&r->lock);
    if (r->count > 0) {
        *b = r->slot[r->head];
        r->head = (r->head + 1) % RING_CAP;
        r->count--;
        ok = true;
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

struct xarg {
    int id;
    long ops;
    atomic_long *sent, *received;
};

#define LOCAL_MAX 256

static void *exchange_thread(void *arg)
{
    struct xarg *a = arg;
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(a->id + 1);
    struct block local[LOCAL_MAX];
    int nlocal = 0;
    long sent = 0, received = 0;

    for (long op = 0; op < a->ops && atomic_load(&errors) == 0; op++) {
        struct block b;
        /* allocate and send (or keep) */
        if (!block_alloc(&b, random_size(&s)))
            break;
        int to = (int)(rnd(&s) % (uint64_t)nthreads);
        if (to != a->id && ring_push(&rings[to], &b)) {
            sent++;
        } else if (nlocal < LOCAL_MAX) {
            local[nlocal++] = b;
        } else {
            int i = (int)(rnd(&s) % LOCAL_MAX);
            block_verify(&local[i], "local");
            free(local[i].p);
            local[i] = b;
        }
        /* receive a couple */
        for (int k = 0; k < 2 && ring_pop(&rings[a->id], &b); k++) {
            received++;
            if (!block_verify(&b, "received"))
                continue; /* leak it: the memory is suspect */
            unsigned what = (unsigned)(rnd(&s) % 8);
            if (what < 4) {
                free(b.p);
            } else if (what < 7) {
                /* realloc to a new random size; verify again after */
                size_t ns = (what == 6) ? b.size / 2 + 1 : random_size(&s);
                if (block_realloc(&b, ns) && block_verify(&b, "after realloc")) {
                    if (nlocal < LOCAL_MAX)
                        local[nlocal++] = b;
                    else
                        free(b.p);
                }
            } else {
                /* pass it on again */
                int to2 = (int)(rnd(&s) % (uint64_t)nthreads);
                if (!ring_push(&rings[to2], &b))
                    free(b.p);
            }
        }
        /* sometimes free a local block */
        if (nlocal > 0 && rnd(&s) % 3 == 0) {
            int i = (int)(rnd(&s) % (uint64_t)nlocal);
            block_verify(&local[i], "local");
            free(local[i].p);
            local[i] = local[--nlocal];
        }
    }
    for (int i = 0; i < nlocal; i++) {
        block_verify(&local[i], "local at exit");
        free(local[i].p);
    }
    atomic_fetch_add(a->sent, sent);
    atomic_fetch_add(a->received, received);
    return NULL;
}

TEST_BEGIN(test_exchange)
{
    atomic_store(&errors, 0);
    rings = calloc((size_t)nthreads, sizeof(*rings));
    expect_ptr_not_null(rings, "calloc rings");
    if (!rings)
        return;
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&rings[i].lock, NULL);
    atomic_long sent = 0, received = 0;
    pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
    struct xarg *a = calloc((size_t)nthreads, sizeof(*a));
    double t0 = now();
    for (int i = 0; i < nthreads; i++) {
        a[i] = (struct xarg){.id = i, .ops = scaled(400000) / nthreads, .sent = &sent, .received = &received};
        expect_int_eq(pthread_create(&t[i], NULL, exchange_thread, &a[i]), 0, "pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    /* drain what is left in the rings */
    long left = 0;
    for (int i = 0; i < nthreads; i++) {
        struct block b;
        while (ring_pop(&rings[i], &b)) {
            left++;
            if (block_verify(&b, "drained"))
                free(b.p);
        }
        pthread_mutex_destroy(&rings[i].lock);
    }
    printf("# exchange: %d threads, sent %ld, received %ld, drained %ld, %.2f s\n", nthreads,
           atomic_load(&sent), atomic_load(&received), left, now() - t0);
    expect_true(atomic_load(&sent) > 0 || nthreads == 1, "blocks were exchanged");
    long nerr = atomic_load(&errors);
    expect_int_eq(nerr, 0, "errors in threads");
    free(t);
    free(a);
    free(rings);
    rings = NULL;
}
TEST_END

/* ---- (b) fork while other threads allocate ---- */
static atomic_int stop_flag;

static void *background_alloc(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    struct block held[64];
    memset(held, 0, sizeof(held));
    while (!atomic_load(&stop_flag)) {
        int i = (int)(rnd(&s) % 64);
        if (held[i].p) {
            block_verify(&held[i], "background");
            if (rnd(&s) % 4 == 0) {
                block_realloc(&held[i], random_size(&s));
                continue;
            }
            free(held[i].p);
            held[i].p = NULL;
        } else {
            block_alloc(&held[i], random_size(&s));
        }
    }
    for (int i = 0; i < 64; i++)
        free(held[i].p);
    return NULL;
}

static void *child_thread(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg + 77;
    for (int i = 0; i < 500; i++) {
        struct block b;
        if (!block_alloc(&b, random_size(&s)))
            return (void *)1;
        bool ok = block_verify(&b, "child thread");
        free(b.p);
        if (!ok)
            return (void *)1;
    }
    return NULL;
}

/* the child: a few thousand blocks, content checks, two threads of its own */
static int fork_child(int round)
{
    alarm(30); /* a deadlock in the allocator after fork: SIGALRM */
    uint64_t s = 0xabcdef12345ull + (uint64_t)round;
    enum { N = 3000 };
    struct block *b = malloc(N * sizeof(*b));
    if (!b)
        return 2;
    for (int i = 0; i < N; i++) {
        size_t sz = random_size(&s);
        if (sz > 300 * KiB)
            sz = 300 * KiB;
        if (!block_alloc(&b[i], sz))
            return 3;
    }
    for (int i = 0; i < N; i += 2)
        if (!block_verify(&b[i], "child"))
            return 4;
    for (int i = 0; i < N; i += 2)
        free(b[i].p);
    for (int i = 1; i < N; i += 2) {
        if (!block_verify(&b[i], "child"))
            return 4;
        free(b[i].p);
    }
    free(b);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)(round * 2 + i)) != 0)
            return 5;
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        if (r)
            rc = 6;
    }
    return rc;
}

TEST_BEGIN(test_fork)
{
    atomic_store(&errors, 0);
    atomic_store(&stop_flag, 0);
    int nbg = nthreads > 1 ? nthreads - 1 : 1;
    pthread_t *t = calloc((size_t)nbg, sizeof(*t));
    for (int i = 0; i < nbg; i++)
        expect_int_eq(pthread_create(&t[i], NULL, background_alloc, (void *)(uintptr_t)(i + 1)), 0,
                      "pthread_create");
    usleep(20000);
    double t0 = now();
    long rounds = scaled(20);
    for (long r = 0; r < rounds; r++) {
        /* the parent allocates around the fork too */
        void *before = malloc(1000 + (size_t)r);
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            expect_true(0, "fork: %s", strerror(errno));
            free(before);
            break;
        }
        if (pid == 0) {
            int rc = fork_child((int)r);
            free(before);
            _exit(rc ? rc : (atomic_load(&errors) ? 7 : 0));
        }
        void *after = malloc(3000);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(status))
            expect_true(0, "round %ld: child killed by signal %d (%s)%s", r, WTERMSIG(status),
                        strsignal(WTERMSIG(status)),
                        WTERMSIG(status) == SIGALRM ? ": deadlock after fork?" : "");
        else
            expect_int_eq(WEXITSTATUS(status), 0, "round %ld: child exit status", r);
        free(before);
        free(after);
        if (test_failed_)
            break;
        usleep(2000);
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < nbg; i++)
        pthread_join(t[i], NULL);
    free(t);
    printf("# fork: %ld rounds with %d allocating threads, %.2f s\n", rounds, nbg, now() - t0);
    long nerr = atomic_load(&errors);
    expect_int_eq(nerr, 0, "errors in threads");
}
TEST_END

/* ---- (c) thread churn ---- */
#define CHURN_BLOCKS 100

struct churn_out {
    int n;
    struct block b[CHURN_BLOCKS / 2];
};

static void *churn_thread(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 3;
    struct block mine[CHURN_BLOCKS];
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        size_t sz = 16 + (size_t)(rnd(&s) % 2000);
        if (i % 25 == 0)
            sz = 40 * KiB + (size_t)(rnd(&s) % (20 * KiB));
        if (!block_alloc(&mine[i], sz))
            return NULL;
    }
    struct churn_out *out = malloc(sizeof(*out));
    if (!out) {
        ERROR("malloc(churn_out) failed");
        return NULL;
    }
    out->n = 0;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        if (i % 2) {
            out->b[out->n++] = mine[i];
        } else {
            block_verify(&mine[i], "churn own");
            free(mine[i].p);
        }
    }
    return out;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

TEST_BEGIN(test_thread_churn)
{
    atomic_store(&errors, 0);
    long total = scaled(5000);
    long mark = total / 10; /* RSS after the first 10% (500 at default scale) */
    int batch = nthreads < 1 ? 1 : nthreads;
    pthread_t *t = calloc((size_t)batch, sizeof(*t));
    size_t rss_mark = 0, rss_peak = 0;
    double t0 = now();
    long done = 0;
    while (done < total && atomic_load(&errors) == 0) {
        int n = (int)(total - done < batch ? total - done : batch);
        for (int i = 0; i < n; i++) {
            int rc = pthread_create(&t[i], NULL, churn_thread, (void *)(uintptr_t)(done + i + 1));
            if (rc != 0) {
                expect_int_eq(rc, 0, "pthread_create #%ld", done + i);
                n = i;
                break;
            }
        }
        for (int i = 0; i < n; i++) {
            void *r = NULL;
            pthread_join(t[i], &r);
            struct churn_out *out = r;
            if (!out) {
                ERROR("churn thread %ld returned nothing", done + i);
                continue;
            }
            for (int k = 0; k < out->n; k++) {
                block_verify(&out->b[k], "handed to main");
                free(out->b[k].p);
            }
            free(out);
        }
        if (n == 0)
            break;
        done += n;
        if (rss_mark == 0 && done >= mark)
            rss_mark = rss_bytes();
        size_t r = rss_bytes();
        if (r > rss_peak)
            rss_peak = r;
    }
    size_t rss_end = rss_bytes();
    printf("# churn: %ld threads, RSS after %ld: %zu KiB, peak %zu KiB, end %zu KiB, %.2f s\n", done,
           mark, rss_mark / 1024, rss_peak / 1024, rss_end / 1024, now() - t0);
    expect_int_eq(done, total, "threads run");
    expect_zu_lt(rss_end, rss_mark + 64 * MiB, "RSS grew without bound over thread churn");
    expect_zu_lt(rss_peak, rss_mark + 64 * MiB, "peak RSS over thread churn");
    long nerr = atomic_load(&errors);
    expect_int_eq(nerr, 0, "errors in threads");
    free(t);
}
TEST_END

/* ---- (d) threads exit with live blocks ---- */
#define LIVE_N 1000

struct live_set {
    struct block b[LIVE_N];
    int n;
    uint64_t seed;
};

static void *leave_live(void *arg)
{
    struct live_set *ls = arg;
    uint64_t s = ls->seed;
    ls->n = 0;
    for (int i = 0; i < LIVE_N; i++) {
        size_t sz = random_size(&s);
        if (i % 100 == 0)
            sz = 3 * MiB; /* a huge one */
        if (!block_alloc(&ls->b[ls->n], sz))
            break;
        ls->n++;
    }
    /* free a few of its own, so that its heap has partially used slabs */
    for (int i = 0; i < ls->n; i += 7) {
        free(ls->b[i].p);
        ls->b[i].p = NULL;
    }
    return NULL;
}

static void *free_others(void *arg)
{
    struct live_set *ls = arg;
    for (int i = 0; i < ls->n; i++) {
        if (!ls->b[i].p)
            continue;
        block_verify(&ls->b[i], "freed by another thread");
        if (i % 5 == 0) {
            /* realloc someone else's block */
            if (block_realloc(&ls->b[i], ls->b[i].size + 100))
                free(ls->b[i].p);
        } else {
            free(ls->b[i].p);
        }
        ls->b[i].p = NULL;
    }
    return NULL;
}

TEST_BEGIN(test_exit_with_live)
{
    atomic_store(&errors, 0);
    int n = nthreads * 2;
    long rounds = scaled(4);
    struct live_set *ls = calloc((size_t)n, sizeof(*ls));
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    expect_ptr_not_null(ls, "calloc");
    if (!ls || !t)
        return;
    double t0 = now();
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            ls[i].seed = (uint64_t)(r * 1000 + i + 1) * 0x9E3779B97F4A7C15ull;
            expect_int_eq(pthread_create(&t[i], NULL, leave_live, &ls[i]), 0, "pthread_create");
        }
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        /* all the owners are gone. Half the sets: main frees; the other half: new threads free
         * (while further threads allocate and exit) */
        for (int i = 0; i < n; i += 2) {
            for (int k = 0; k < ls[i].n; k++) {
                if (!ls[i].b[k].p)
                    continue;
                block_verify(&ls[i].b[k], "freed by main after its thread exited");
                free(ls[i].b[k].p);
                ls[i].b[k].p = NULL;
            }
        }
        pthread_t extra[64];
        int ne = 0;
        for (int i = 1; i < n && ne < 64; i += 2)
            if (pthread_create(&extra[ne], NULL, free_others, &ls[i]) == 0)
                ne++;
        struct live_set *more = calloc(2, sizeof(*more));
        pthread_t mt[2];
        for (int i = 0; i < 2; i++) {
            more[i].seed = (uint64_t)(r + 1) * 7777 + (uint64_t)i;
            pthread_create(&mt[i], NULL, leave_live, &more[i]);
        }
        for (int i = 0; i < ne; i++)
            pthread_join(extra[i], NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(mt[i], NULL);
        for (int i = 0; i < 2; i++)
            free_others(&more[i]);
        free(more);
    }
    printf("# exit with live blocks: %ld rounds of %d threads, %.2f s\n", rounds, n, now() - t0);
    long nerr = atomic_load(&errors);
    expect_int_eq(nerr, 0, "errors in threads");
    free(ls);
    free(t);
}
TEST_END

/* ---- (e) most of a heap freed, locally and remotely, left to decay, then used again ---- */
#define PHASE_N 6000

enum { KEEP, FREE_LOCAL, FREE_REMOTE };
struct phase_set {
    struct block b[PHASE_N];
    unsigned char fate[PHASE_N];
    uint64_t seed;
};
static struct phase_set *phase_sets;
static pthread_barrier_t phase_barrier;
static long phase_rounds;

/* sizes that live in slabs, most of them several to a page */
static size_t phase_size(uint64_t *s)
{
    uint64_t r = rnd(s);
    return (r & 3) ? 16 + (size_t)((r >> 2) % 2048) : 2048 + (size_t)((r >> 2) % (30 * KiB));
}

static void *phase_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct phase_set *me = &phase_sets[id], *left = &phase_sets[(id + nthreads - 1) % nthreads];
    uint64_t s = me->seed;
    for (long r = 0; r < phase_rounds; r++) {
        for (int i = 0; i < PHASE_N; i++) {
            if (!block_alloc(&me->b[i], phase_size(&s)))
                me->b[i].p = NULL;
            unsigned x = (unsigned)(rnd(&s) % 20);
            me->fate[i] = x < 2 ? KEEP : (x < 11 ? FREE_LOCAL : FREE_REMOTE);
        }
        pthread_barrier_wait(&phase_barrier);
        /* 90 % freed: ours, and the left neighbour's that it left to us */
        for (int i = 0; i < PHASE_N; i++) {
            if (me->fate[i] == FREE_LOCAL && me->b[i].p) {
                block_verify(&me->b[i], "freed by its owner");
                free(me->b[i].p);
                me->b[i].p = NULL;
            }
            if (left->fate[i] == FREE_REMOTE && left->b[i].p) {
                block_verify(&left->b[i], "freed by another thread");
                free(left->b[i].p);
                left->b[i].p = NULL;
            }
        }
        pthread_barrier_wait(&phase_barrier);
        usleep(30000);                      /* PAGEPOOL_DECAY_MS is short in this run: pages go */
        for (int i = 0; i < PHASE_N; i++)
            if (me->b[i].p)
                block_verify(&me->b[i], "live across the release of its neighbours' pages");
        /* allocate again into the sparse slabs, then free everything */
        static __thread struct block more[PHASE_N / 2];
        for (int i = 0; i < PHASE_N / 2; i++)
            if (!block_alloc(&more[i], phase_size(&s)))
                more[i].p = NULL;
        for (int i = 0; i < PHASE_N / 2; i++)
            if (more[i].p) {
                block_verify(&more[i], "allocated after the release");
                free(more[i].p);
            }
        for (int i = 0; i < PHASE_N; i++)
            if (me->b[i].p) {
                block_verify(&me->b[i], "kept");
                free(me->b[i].p);
                me->b[i].p = NULL;
            }
        pthread_barrier_wait(&phase_barrier);
    }
    return NULL;
}

TEST_BEGIN(test_free_most_then_reuse)
{
    atomic_store(&errors, 0);
    phase_rounds = scaled(3);
    phase_sets = calloc((size_t)nthreads, sizeof(*phase_sets));
    pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
    expect_ptr_not_null(phase_sets, "calloc");
    if (!phase_sets || !t)
        return;
    pthread_barrier_init(&phase_barrier, NULL, (unsigned)nthreads);
    double t0 = now();
    for (int i = 0; i < nthreads; i++) {
        phase_sets[i].seed = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        expect_int_eq(pthread_create(&t[i], NULL, phase_thread, (void *)(intptr_t)i), 0, "pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&phase_barrier);
    printf("# free most then reuse: %ld rounds of %d threads, %.2f s\n", phase_rounds, nthreads, now() - t0);
    expect_int_eq(atomic_load(&errors), 0, "errors in threads");
    malloc_trim(0);
    free(phase_sets);
    free(t);
}
TEST_END

int main(void)
{
    const char *e = getenv("PAGEPOOL_TEST_THREADS");
    if (e && atoi(e) > 0)
        nthreads = atoi(e);
    e = getenv("PAGEPOOL_TEST_SCALE");
    if (e && strtod(e, NULL) > 0)
        scale = strtod(e, NULL);
    printf("# threads %d, scale %g\n", nthreads, scale);
    return RUN_TESTS(test_exchange, test_fork, test_thread_churn, test_exit_with_live, test_free_most_then_reuse);
}
