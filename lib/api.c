/*
 * api.c — the pp_* entry points: the C library's semantics (errno, EINVAL, overflow) on top of the
 * heap. preload/preload.c gives the same functions their C library names.
 * Layer: top of the core; calls fastpath.h and heap.c.
 */
#include "fastpath.h"
#include <pagepool.h>

static inline bool pow2(size_t x) { return x && !(x & (x - 1)); }

PP_API void *pp_malloc(size_t size) { return pp_malloc_fast(size); }
PP_API void pp_free(void *p) { pp_free_fast(p, "free"); }
PP_API void *pp_calloc(size_t n, size_t size) { return pp_heap_calloc(n, size); }
PP_API void *pp_realloc(void *p, size_t size)
{
    if (p && size == 0) {                   /* glibc: realloc(p, 0) frees and returns NULL */
        pp_free_fast(p, "realloc");
        return NULL;
    }
    return pp_heap_realloc(p, size, "realloc");
}

PP_API void *pp_reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pp_realloc(p, total);
}

PP_API void *pp_memalign(size_t align, size_t size)
{
    if (!pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return pp_heap_malloc_aligned(align, size, false);
}

PP_API void *pp_aligned_alloc(size_t align, size_t size) { return pp_memalign(align, size); }

PP_API int pp_posix_memalign(void **out, size_t align, size_t size)
{
    if (!pow2(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = pp_heap_malloc_aligned(align, size, false);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

PP_API void *pp_valloc(size_t size) { return pp_heap_malloc_aligned(PP_PAGE_SIZE, size, false); }

PP_API void *pp_pvalloc(size_t size)
{
    size_t rounded = PP_ALIGN_UP(size ? size : 1, PP_PAGE_SIZE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return pp_heap_malloc_aligned(PP_PAGE_SIZE, rounded, false);
}

PP_API size_t pp_malloc_usable_size(const void *p) { return pp_heap_usable_size(p, "malloc_usable_size"); }
PP_API void pp_free_sized(void *p, size_t size) { (void)size; pp_free_fast(p, "free_sized"); }
PP_API void pp_free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align; (void)size;
    pp_free_fast(p, "free_aligned_sized");
}

PP_API size_t pp_reclaim(void)
{
    pp_thread_init_once();
    return pp_reclaim_direct(NULL);
}

/* Some programs call malloc_trim thousands of times a second (stress-ng does, once per few frees).
 * Walking every thread's caches and slabs each time would cost more than it returns, so within a
 * window after a full pass only the pools' and the bank's free memory is released, and only once
 * more of it is resident than the last trim left (or than the least a trim saw since, when
 * allocations reused it) by a threshold: a pass that finds a few frees' worth costs a lock round
 * and, in such a program, the refaults of what it released. The window is 10 ms and the threshold
 * TRIM_MIN_BYTES for a program that trims now and then; one that keeps trimming (a full pass
 * again within twice the window) doubles the window each time, up to PAGEPOOL_DECAY_MS, and its
 * threshold is an eighth of the footprint. A pause longer than the window starts over. A program
 * that frees a big structure and trims gets it back at once either way. (stress-ng's default
 * malloc stressor, 1 000 000 ops: with 10 ms and 1 MiB throughout, 25 296 madvise calls and
 * 2.8 GiB refaulted, 790 ms; with this, 805 calls, 722 ms, the same peak RSS; RESULTS.md,
 * session 15.) */
#define TRIM_MIN_BYTES ((size_t)1 << 20)
#define TRIM_WINDOW_MS 10
PP_API int pp_malloc_trim(size_t pad)
{
    (void)pad;
    static _Atomic uint64_t last_full_ms, window_ms = TRIM_WINDOW_MS;
    static _Atomic size_t left_hot;         /* hot free bytes the last trim left behind */
    pp_thread_init_once();
    uint64_t now = pp_os_now_ms(), last = atomic_load_explicit(&last_full_ms, memory_order_relaxed);
    uint64_t window = atomic_load_explicit(&window_ms, memory_order_relaxed);
    int released;
    if (last && now - last < window) {
        size_t hot = pp_reclaim_hot_free_bytes(), left = atomic_load_explicit(&left_hot, memory_order_relaxed);
        size_t min = window > TRIM_WINDOW_MS ? pp_reclaim_footprint() / 8 : 0;
        if (min < TRIM_MIN_BYTES)
            min = TRIM_MIN_BYTES;
        if (hot < left + min) {
            if (hot < left)                 /* reused since: what comes free next counts from here */
                atomic_store_explicit(&left_hot, hot, memory_order_relaxed);
            return 0;
        }
        released = pp_reclaim_free_memory() > 0;
    } else {
        uint64_t most = pp_opt.decay_ms > TRIM_WINDOW_MS ? (uint64_t)pp_opt.decay_ms : TRIM_WINDOW_MS;
        window = last && now - last < 2 * window ? (2 * window < most ? 2 * window : most) : TRIM_WINDOW_MS;
        atomic_store_explicit(&window_ms, window, memory_order_relaxed);
        atomic_store_explicit(&last_full_ms, now, memory_order_relaxed);   /* racing callers skip */
        released = pp_reclaim_direct(NULL) > 0;
        atomic_store_explicit(&last_full_ms, pp_os_now_ms(), memory_order_relaxed);   /* the window from its end */
    }
    atomic_store_explicit(&left_hot, pp_reclaim_hot_free_bytes(), memory_order_relaxed);
    return released;
}
