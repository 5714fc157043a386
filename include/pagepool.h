/*
 * pagepool.h — the public API of pagepool.
 *
 * pagepool is a malloc for Linux built on a buddy page pool. Programs get it in one of two ways:
 *   - LD_PRELOAD=libpagepool.so (or -lpagepool): the whole malloc family is replaced;
 *   - -lpagepool_core: only the pp_* names below, next to the C library's malloc.
 * Every pp_* function has the semantics of the C library function of the same name
 * (errno on failure, overflow checks, free(NULL) is a no-op, free preserves errno).
 */
#ifndef PAGEPOOL_H
#define PAGEPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAGEPOOL_VERSION "0.1.0"

#if defined(__GNUC__)
#define PP_API __attribute__((visibility("default")))
#define PP_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define PP_API
#define PP_MALLOC_ATTR
#endif

/* ---- The malloc family ---- */
PP_API PP_MALLOC_ATTR void *pp_malloc(size_t size);
PP_API void pp_free(void *ptr);
PP_API PP_MALLOC_ATTR void *pp_calloc(size_t nmemb, size_t size);
PP_API void *pp_realloc(void *ptr, size_t size);
PP_API void *pp_reallocarray(void *ptr, size_t nmemb, size_t size);
PP_API PP_MALLOC_ATTR void *pp_memalign(size_t alignment, size_t size);
PP_API int pp_posix_memalign(void **out, size_t alignment, size_t size);
PP_API PP_MALLOC_ATTR void *pp_aligned_alloc(size_t alignment, size_t size);
PP_API PP_MALLOC_ATTR void *pp_valloc(size_t size);
PP_API PP_MALLOC_ATTR void *pp_pvalloc(size_t size);
PP_API size_t pp_malloc_usable_size(const void *ptr);
PP_API void pp_free_sized(void *ptr, size_t size);
PP_API void pp_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* ---- Memory return ---- */
/* Release everything releasable: every thread's page cache, empty slabs, free pages (MADV_DONTNEED).
 * Returns the number of bytes released to the OS. */
PP_API size_t pp_reclaim(void);
/* glibc's malloc_trim: 1 if memory was released, else 0. */
PP_API int pp_malloc_trim(size_t pad);

/* ---- Statistics ---- */
/* Every byte the pool has mapped is in exactly one of: in_use (slabs and large blocks handed out,
 * including free objects inside live slabs), free_hot, free_cold, cached (per-thread page caches),
 * bank (whole free regions held by the region bank). mapped = in_use + free_hot + free_cold +
 * cached + bank, up to concurrent updates. */
struct pp_stats {
    size_t mapped;          /* bytes of regions mapped from the OS (pool + huge blocks) */
    size_t in_use;          /* bytes of pages handed to slabs and large/huge blocks */
    size_t free_hot;        /* bytes free in the buddy pools, resident */
    size_t free_cold;       /* bytes free in the buddy pools, released with madvise */
    size_t cached;          /* bytes in per-thread page caches */
    size_t bank;            /* bytes of whole free regions held by the region bank */
    size_t huge;            /* bytes of huge (multi-region) blocks, part of in_use */
    uint64_t slow_calls;    /* slow-path entries (fast-path calls are not counted) */
    uint64_t mmap_calls;    /* mmap calls made for the pool */
    uint64_t madvise_calls; /* madvise calls that released memory */
    size_t released;        /* bytes released to the OS with madvise, cumulative */
    uint64_t threads;       /* thread heaps ever created */
    uint64_t threads_live;  /* thread heaps currently attached to a thread */
    uint64_t nodes;         /* NUMA nodes (pools) in use */
    size_t footprint;       /* resident bytes the pool holds: mapped less what was released */
    size_t limit;           /* PAGEPOOL_LIMIT or the cgroup's soft limit; 0: none */
    uint64_t limit_hard;    /* 1 if the limit is hard (allocations fail with ENOMEM) */
    uint64_t direct_reclaims; /* allocations that reclaimed before growing past the limit */
    uint64_t wmark_wakeups; /* background passes started by the low watermark */
    size_t released_decay;  /* bytes released by the decay (idle memory) */
    size_t released_wmark;  /* bytes released to restore the headroom under the limit */
    size_t released_direct; /* bytes released by direct reclaim, malloc_trim and pp_reclaim */
    size_t faults_avoided;  /* pages the pools handed out still resident (no page fault) */
    size_t faults_taken;    /* pages the pools handed out cold (released or never touched) */
    size_t released_slab;   /* bytes released inside slabs that still hold live objects (sparse slabs) */
    uint64_t captures;      /* direct reclaims that kept the block their own frees coalesced (capture) */
    uint64_t stranded_slabs; /* full slabs taken back from a heap that did not look: all their objects
                              * were freed by other threads (its thread stopped allocating) */
};
PP_API void pp_stats_get(struct pp_stats *out);
/* Print the statistics, human readable, to fd (no malloc); with PAGEPOOL_STATS=2, a line per size
 * class too (pp_stats_classes). */
PP_API void pp_stats_print(int fd);

/* One small size class, summed over every thread heap (live and parked) and the slabs of exited
 * threads waiting for adoption. Where the in_use bytes of small objects are: a slab's block counts
 * in slab_bytes from the moment it is taken, its pages in touched_bytes once objects were carved
 * on them (carving is lazy), and the objects handed out in used_bytes. touched - used is what the
 * class holds free inside its slabs; slab - touched was never touched (not resident). */
struct pp_class_stats {
    size_t size;            /* object size, bytes */
    size_t slabs;           /* slabs of the class */
    size_t slab_bytes;      /* bytes of their blocks */
    size_t touched_bytes;   /* bytes carved into objects and not released since (sparse slabs) */
    size_t used_bytes;      /* bytes of objects handed out, or freed by other threads and not yet
                             * collected by the owner */
    size_t sparse;          /* slabs that are sparse (a few live objects, free pages released) */
};
/* Fill out[0 .. n) with the first n classes, smallest size first, and return how many classes
 * there are (call with n = 0 to size the array). Each heap is read under its lock; a heap whose
 * thread keeps it busy for long is left out. No malloc. */
PP_API size_t pp_stats_classes(struct pp_class_stats *out, size_t n);

/* ---- Errors ---- */
/* Called for a detected misuse (invalid or double free) before pagepool aborts; msg is the one-line
 * error. If the handler returns, pagepool aborts. Tests use it to intercept. */
typedef void pp_error_handler_t(const char *msg, void *arg);
PP_API void pp_set_error_handler(pp_error_handler_t *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* PAGEPOOL_H */
