/*
 * slab.c — slabs: buddy blocks carved into objects of one size class, owned by one thread heap.
 *
 * A slab is in exactly one place: its heap's current bin (PP_SLAB_CURRENT), the heap's partial list
 * (has free objects), the heap's full list (none, as far as the owner knows), or the global abandoned
 * list of its class (its thread exited). Objects move: carved lazily from `bump` (so untouched pages
 * stay untouched) -> `free` (owner, no atomics) -> handed out -> back to `free` (owner's free()) or to
 * `thread_free` (another thread's free(): a lock-free push), which the owner collects in its slow path.
 * `used` counts objects handed out and not yet back on `free`, so a slab is empty when used == 0,
 * and it cannot be released while any of its objects is still on its way through thread_free.
 * The slab stores it as `left` = used - notify_at, so free() tests one counter for zero: notify_at
 * is 0 normally (empty), capacity - 1 on the full list (the first free into a full slab).
 * Remote frees on the way to one slab are gathered per freeing thread (up to 64) and pushed as one
 * chain; the freer adds their count to thread_freed after the push, and the owner takes the count
 * before the list, so `used` may lag behind the objects collected but never runs ahead of them.
 *
 * Remote frees and full slabs: a remote free that finds a slab's thread_free empty (the first
 * since the owner last collected) sets bit cls of the owner's remote_pending, and the owner clears
 * the bit, then scans its full list. A push after the clear sets it again, so none is lost: the
 * freer need not know whether the slab is on the full list (reading that would pull the owner's
 * cache line), and the owner needs no fence when it moves a slab there. One word for all classes
 * (not a counter per class) keeps a thread heap within a page.
 *
 * A free object holds the free-list link in word 0 and its slab's descriptor address in word 1 (the
 * key); malloc clears word 1. free() of an object whose word 1 is the key is a double free.
 *
 * Stranded slabs: a full slab whose objects all came back from other threads is free, but only its
 * owner's slow path would notice, and an owner that stops allocating (a thread that handed its
 * data to workers and waits for them) never takes one. The freer whose push makes a full slab's
 * pending count equal to its `used` flags the heap (`stranded`); a thread about to take a new
 * slab, the reclaimer and pp_reclaim take such slabs back (pp_slab_take_stranded; thread.c picks
 * the heaps: parked ones, and live ones idle for a while), holding the heap lock: the owner holds
 * it in every slow path that changes its lists, the fast paths never.
 * The owner's fast paths cannot touch such a slab: malloc pops only the current slab, and free()
 * of one of its objects would be a double free; a local free that is under way has left `used`
 * above the pending count until its release store of `left`, which follows the link.
 *
 * Sparse slabs: memory pinned by a few live objects. After a random 90% free, a 16-object slab
 * empties out only with probability 0.9^16 = 18%, so freeing most of a heap would free few slabs.
 * When the owner's free() brings a partial slab down to a quarter of its objects (and to at most
 * two a page), the slab turns sparse, in O(1): `owner` gets tag bit 0, so every later free of its
 * objects misses the fast path's owner test and comes to pp_slab_free_remote. The owner's free
 * sets the object's bit in a bitmap (struct pp_sparse; a set bit is a double free, since a
 * released object has lost its key); other threads' frees take the usual remote push, and
 * collect() moves them into the bitmap. The free list stays as it was. Once the slab has been
 * sparse for a decay period, the reclaimer (pp_slab_purge_sparse, from the reclaim tick) folds
 * the free list into the bitmap (its links live in the objects, and a released page would cut it)
 * and releases every page that holds only free objects; the objects never carved, from `bump` on,
 * count as free and stay out of both. The owner and the reclaimer exclude each other with the
 * state's spin lock, which the reclaimer only try-locks. malloc takes a sparse slab back like any
 * partial slab: refill links every bitmap object onto the free list with its key, and the slab is
 * ordinary again, so the current slab is never sparse and never trades pages with the OS; if
 * nothing had been released, the heap backs off for the class (sparse_feedback). Released pages
 * count in pp_counters.slab_purged_pages (not resident, so not in the footprint) until the slab
 * is taken back or goes to the pool. PAGEPOOL_DECAY_MS=-1 turns it off. A large block about to
 * fault in new memory does not wait for the decay: pp_slab_purge_sparse_for releases about as
 * many such pages first (heap.c).
 * Layer: called by heap.c and the inline fast path; calls pcp.c and buddy.c.
 */
#include "internal.h"
#include <pagepool.h>
#include <sched.h>

PP_HIDDEN struct pp_slab pp_slab_empty;    /* free == NULL: the fast path falls through to the slow path */

static pthread_mutex_t desc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_slab *desc_free;          /* recycled descriptors. desc_lock */
static struct pp_slab *desc_next, *desc_end; /* the never-used rest of the last batch. desc_lock */

struct abandoned {
    pthread_mutex_t lock;
    struct pp_slab_list list;
};
static struct abandoned abandoned[PP_NCLASSES];
static _Atomic size_t abandoned_count;

/* ---- Descriptors (type-stable: never unmapped) ---- */
/* Taken from a batch in address order, so a process with a few slabs touches the first page of
 * a batch only (linking the whole batch up front wrote all of its three pages). */
static struct pp_slab *desc_alloc(void)
{
    enum { BATCH = 64 };
    pthread_mutex_lock(&desc_lock);
    struct pp_slab *s = desc_free;
    if (s) {
        desc_free = s->next;
    } else {
        if (desc_next == desc_end) {
            struct pp_slab *batch = pp_meta_alloc(BATCH * sizeof(*batch));
            if (batch) {
                desc_next = batch;
                desc_end = batch + BATCH;
            }
        }
        if (desc_next != desc_end)
            s = desc_next++;
    }
    pthread_mutex_unlock(&desc_lock);
    return s;
}

static void desc_free_one(struct pp_slab *s)
{
    pthread_mutex_lock(&desc_lock);
    s->next = desc_free;
    desc_free = s;
    pthread_mutex_unlock(&desc_lock);
}

/* ---- Heap lists (owner only): doubly linked, O(1) removal ---- */
static void list_push(struct pp_slab_list *l, struct pp_slab *s)
{
    s->prev = NULL;
    s->next = l->first;
    if (l->first)
        l->first->prev = s;
    else
        l->last = s;
    l->first = s;
}

/* Partial slabs queue at the tail: by the time one reaches the head it has had the longest to
 * collect frees, so the slow path finds slabs with many free objects near the head. */
static void list_append(struct pp_slab_list *l, struct pp_slab *s)
{
    s->next = NULL;
    s->prev = l->last;
    if (l->last)
        l->last->next = s;
    else
        l->first = s;
    l->last = s;
}

static void list_remove(struct pp_slab_list *l, struct pp_slab *s)
{
    if (s->prev) s->prev->next = s->next; else l->first = s->next;
    if (s->next) s->next->prev = s->prev; else l->last = s->prev;
    s->next = s->prev = NULL;
}

static void set_list(struct pp_slab *s, uint8_t list) { s->list = list; }

/* The owner word: a thread pointer (0 for none), with bit 0 kept set while the slab is sparse. */
static void set_owner(struct pp_slab *s, uintptr_t self)
{
    atomic_store(&s->owner, self | (s->sparse != NULL));
}

/* ---- The heap lock (see the top of the file) ---- */
#define HEAP_LOCK_TAKER ((uintptr_t)1)      /* a thread pointer is never 1 */

/* The owner's side: returns false when the caller holds it already (a slow path inside a slow
 * path: direct reclaim from slab_new reclaims the caller's own heap). Waits only for a taker. */
static bool heap_lock(struct pp_heap *h)
{
    uintptr_t self = pp_thread_self(), expected = 0;
    if (atomic_load_explicit(&h->lock, memory_order_relaxed) == self)
        return false;
    for (unsigned spins = 0; !atomic_compare_exchange_weak_explicit(&h->lock, &expected, self,
                                 memory_order_acquire, memory_order_relaxed); spins++) {
        expected = 0;
        if (spins > 64)
            sched_yield();                  /* a taker releases a few slabs: microseconds */
    }
    return true;
}

static void heap_unlock(struct pp_heap *h, bool took)
{
    if (took)
        atomic_store_explicit(&h->lock, 0, memory_order_release);
}

/* used and left are kept as left = used - notify_at (modulo 2^32), so free() tests one counter. */
static inline uint32_t used_of(const struct pp_slab *s) { return s->left + s->notify_at; }
/* The same, read from another thread than the owner (stranded slabs): `left` with the given order. */
static inline uint32_t used_seen(const struct pp_slab *s, int order)
{
    return __atomic_load_n(&s->left, order) + __atomic_load_n(&s->notify_at, __ATOMIC_RELAXED);
}
static inline void set_notify(struct pp_slab *s, uint32_t at)
{
    uint32_t used = used_of(s);
    s->notify_at = at;
    s->left = used - at;
}

/* Keep a couple of slabs per class even when empty (while the partial list holds at most one): a
 * program that frees and allocates around a slab boundary must not hand the block back and forth
 * to the page cache. */
static bool keep_empty(struct pp_heap *h, unsigned cls) { return h->partial[cls].first == h->partial[cls].last; }

/* ---- Objects ---- */
static void sparse_take(struct pp_slab *s, void **list);

/* Take the remote frees (owner only): two exchanges and no walk of the list (whose objects sit in
 * other cores' caches). The count is taken before the list, and freers add to it after pushing, so
 * every object counted is in the list taken: `used` may lag (a count still to come), never lead,
 * and a slab is never released while a free is in flight. A count that comes after its objects
 * were taken is taken alone, by the next collect (so an empty list is not "nothing to do" while a
 * count is pending). Returns whether objects came. */
static bool collect(struct pp_slab *s)
{
    if (!atomic_load_explicit(&s->thread_free, memory_order_relaxed) &&
        !atomic_load_explicit(&s->thread_freed, memory_order_relaxed))
        return false;
    uint32_t n = atomic_exchange_explicit(&s->thread_freed, 0, memory_order_acquire);
    void **list = atomic_exchange_explicit(&s->thread_free, NULL, memory_order_acquire);
    s->left -= n;
    /* a partial slab waiting to turn sparse at notify_at may have dropped below it here: wait for
     * empty instead, or the owner's frees would count past the mark without noticing it */
    if (s->list == PP_SLAB_PARTIAL && s->notify_at && used_of(s) < s->notify_at)
        set_notify(s, 0);
    if (!list)
        return false;
    if (PP_UNLIKELY(s->sparse)) {
        sparse_take(s, list);
        return false;                       /* into the bitmap, not onto `free` */
    }
    if (s->free) {                          /* rare: the walk is needed only to append */
        void **last = list;
        while (last[0])
            last = last[0];
        last[0] = s->free;
    }
    s->free = list;
    return true;
}

/* Carve never-used objects into the free list, in address order: about a page's worth (at least
 * one object, at most 64), so a class used a little touches little memory. Objects of a page or
 * more come one at a time: each is about to be touched for the first time, which costs far more
 * than a slow path (carving four wrote the link into four pages, 12 KiB of a 4 KiB stdio buffer's
 * class never used in a small program). */
static bool carve(struct pp_slab *s)
{
    if (s->bump >= s->end)
        return false;
    uintptr_t n = (s->end - s->bump) / s->size, want = PP_PAGE_SIZE / s->size;
    if (want < 1) want = 1;
    if (want > 64) want = 64;
    if (n > want) n = want;
    uintptr_t first = s->bump;
    for (uintptr_t i = 0; i + 1 < n; i++)
        *(void **)(first + i * s->size) = (void *)(first + (i + 1) * s->size);
    *(void **)(first + (n - 1) * s->size) = s->free;
    s->free = (void *)first;
    s->bump = first + n * s->size;
    s->limit += n * (uint64_t)s->size * s->mul;   /* n * e: e = size * mul mod 2^64 */
    return true;
}

static bool sparse_unpack(struct pp_slab *s);

static bool refill(struct pp_slab *s)
{
    if (PP_UNLIKELY(s->sparse)) {           /* first: the reclaimer may be folding its free list */
        collect(s);
        return sparse_unpack(s) || carve(s);
    }
    return s->free || collect(s) || carve(s);
}

/* ---- Slab life cycle ---- */
static struct pp_slab *slab_new(struct pp_heap *h, unsigned cls)
{
    unsigned order = pp_class_order[cls];
    /* a direct reclaim on the way keeps the block it frees (capture, seeds 000/001/003): the block
     * of this order and node that its frees coalesce first is handed back here, not to the lists */
    struct pp_capture capc = { .pool = h->pool, .order = order };
    if (!pp_reclaim_admit(PP_PAGE_SIZE << order, &capc))
        return NULL;
    if (PP_UNLIKELY(pp_slab_stranded_take_flag()))
        pp_thread_take_stranded(h);         /* before new memory: free slabs other heaps forgot */
    uintptr_t block = capc.block ? capc.block : pp_pcp_alloc(&h->pcp, h->pool, order);
    if (!block) {
        pp_reclaim_direct(&capc);           /* memory may sit in other threads' caches (M10) */
        block = capc.block ? capc.block : pp_pcp_alloc(&h->pcp, h->pool, order);
        if (!block)
            return NULL;
    }
    struct pp_slab *s = desc_alloc();
    if (!s) {
        pp_pcp_free(&h->pcp, h->pool, block, order);
        return NULL;
    }
    uint32_t size = pp_class_size[cls];
    s->free = NULL;
    s->left = 0;
    s->size = size;
    s->capacity = (uint32_t)((PP_PAGE_SIZE << order) / size);
    s->mul = pp_slab_mul(size);
    s->limit = 0;
    s->cls = (uint8_t)cls;
    s->order = (uint8_t)order;
    s->start = s->bump = block;
    s->end = block + (uintptr_t)s->capacity * size;
    atomic_store_explicit(&s->thread_free, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->thread_freed, 0, memory_order_relaxed);
    s->notify_at = 0;                       /* left = used = 0 */
    s->sparse = NULL;
    atomic_store_explicit(&s->heap, h, memory_order_relaxed);
    atomic_store_explicit(&s->owner, pp_thread_self(), memory_order_relaxed);
    struct pp_region *r = pp_region_of(block);
    unsigned pi = pp_page_index(block);
    pp_slabmap_set(block, (size_t)1 << order, s);
    memset(&r->state[pi], PP_PG_SLAB, 1u << order);
    pp_inuse_add((size_t)1 << order);
    return s;
}

static uint32_t sparse_drop(struct pp_slab *s);
static void sparse_feedback(struct pp_heap *h, unsigned cls, uint32_t npurged);
static bool purge_block(uintptr_t a, size_t pages, size_t fresh);

/* Give an empty slab's block back (to the caller's page cache when there is one). */
static void slab_release(struct pp_heap *h, struct pp_slab *s)
{
    pp_assert_internal(used_of(s) == 0 && !atomic_load(&s->thread_free));
    struct pp_region *r = pp_region_of(s->start);
    size_t pages = (size_t)1 << s->order;
    pp_slabmap_set(s->start, pages, NULL);
    pp_inuse_sub(pages);
    set_list(s, PP_SLAB_NONE);
    bool cold = false;
    /* a block that is mostly released already goes back cold, released whole (one more madvise) */
    if (PP_UNLIKELY(s->sparse)) {
        uint32_t npurged = sparse_drop(s);
        if (npurged * 2 >= pages)
            cold = purge_block(s->start, pages, pages - npurged);
    }
    if (cold) {
        struct pp_pool *pool = pp_pool_of(r->node);
        pthread_mutex_lock(&pool->lock);
        pp_buddy_free_locked(pool, s->start, s->order, PP_FREE_COLD, NULL);
        pthread_mutex_unlock(&pool->lock);
    } else if (h && h != &pp_heap_empty && r->node == h->pool->node) {
        pp_pcp_free(&h->pcp, h->pool, s->start, s->order);
    } else {
        pp_buddy_free(pp_pool_of(r->node), s->start, s->order);
    }
    desc_free_one(s);
}

static void make_current(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    set_notify(s, 0);
    set_list(s, PP_SLAB_CURRENT);
    pp_heap_bin_set(h, cls, s);
}

/* A partial slab asks to be told when it is down to a quarter, and to at most two live objects a
 * page (to turn sparse), else when empty. With more objects than that a page is rarely wholly
 * free, and the frees below the mark are the ones that take the slow path. */
static uint32_t sparse_mark(const struct pp_slab *s)
{
    uint32_t mark = s->capacity / 4, per_page = 2u << s->order;
    if (mark > per_page)
        mark = per_page;
    return pp_opt.decay_ms >= 0 && !s->sparse && used_of(s) > mark ? mark : 0;
}

static void to_partial(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    set_notify(s, sparse_mark(s));
    set_list(s, PP_SLAB_PARTIAL);
    list_append(&h->partial[cls], s);
}

/* All objects are handed out (used == capacity, more while a remote count lags: collect): the
 * first local free must tell us (notify_at). */
static void to_full(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    pp_assert_internal(used_of(s) >= s->capacity);
    set_notify(s, s->capacity - 1);
    set_list(s, PP_SLAB_FULL);
    list_push(&h->full[cls], s);
}

/* ---- Sparse slabs (see the top of the file) ---- */

/* Every sparse slab, oldest first, for the reclaimer (pp_slab_purge_sparse). Lock order: the list
 * lock, then a slab's lock, which the reclaimer only try-locks and holds only with the list lock. */
static pthread_mutex_t sparse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_sparse *sparse_first, *sparse_last;
static size_t sparse_count;
static size_t sparse_bytes;                 /* bytes of the slabs on the list (read racily) */

size_t pp_slab_sparse_bytes(void) { return __atomic_load_n(&sparse_bytes, __ATOMIC_RELAXED); }

static void sp_lock(struct pp_sparse *sp)
{
    for (unsigned spins = 0; atomic_exchange_explicit(&sp->lock, 1, memory_order_acquire); spins++)
        if (spins > 64)
            sched_yield();                  /* the reclaimer is in madvise: a few microseconds */
}
static bool sp_trylock(struct pp_sparse *sp) { return !atomic_exchange_explicit(&sp->lock, 1, memory_order_acquire); }
static void sp_unlock(struct pp_sparse *sp) { atomic_store_explicit(&sp->lock, 0, memory_order_release); }

static void sparse_link_locked(struct pp_sparse *sp)
{
    __atomic_store_n(&sparse_bytes, sparse_bytes + (PP_PAGE_SIZE << sp->slab->order), __ATOMIC_RELAXED);
    sparse_count++;
    sp->next = NULL;
    sp->prev = sparse_last;
    if (sparse_last) sparse_last->next = sp; else sparse_first = sp;
    sparse_last = sp;
}

static void sparse_unlink_locked(struct pp_sparse *sp)
{
    __atomic_store_n(&sparse_bytes, sparse_bytes - (PP_PAGE_SIZE << sp->slab->order), __ATOMIC_RELAXED);
    sparse_count--;
    if (sp->prev) sp->prev->next = sp->next; else sparse_first = sp->next;
    if (sp->next) sp->next->prev = sp->prev; else sparse_last = sp->prev;
    sp->next = sp->prev = NULL;
}

/* The state comes in five sizes, by bitmap words: 1, 8, 16, 32, 64 (capacity is at most 4096
 * objects: 16 B in 64 KiB), recycled under desc_lock. */
static struct pp_sparse *sparse_recycled[5];

static unsigned sparse_kind(uint32_t capacity)
{
    unsigned k = 0;
    while (k < 4 && (k ? 512u << (k - 1) : 64u) < capacity)
        k++;
    return k;
}
static size_t sparse_size(unsigned k) { return sizeof(struct pp_sparse) + 8 * (k ? (size_t)8 << (k - 1) : 1); }

static struct pp_sparse *sparse_alloc(struct pp_slab *s)
{
    _Static_assert(sizeof(struct pp_sparse) == 56, "a one-word state takes 64 bytes of metadata");
    unsigned k = sparse_kind(s->capacity);
    pthread_mutex_lock(&desc_lock);
    struct pp_sparse *sp = sparse_recycled[k];
    if (sp)
        sparse_recycled[k] = sp->next;
    pthread_mutex_unlock(&desc_lock);
    if (sp)
        memset(sp, 0, sparse_size(k));
    else if (!(sp = pp_meta_alloc(sparse_size(k))))
        return NULL;
    sp->slab = s;
    return sp;
}

static void sparse_free_state(struct pp_sparse *sp)
{
    unsigned k = sparse_kind(sp->slab->capacity);
    pthread_mutex_lock(&desc_lock);
    sp->next = sparse_recycled[k];
    sparse_recycled[k] = sp;
    pthread_mutex_unlock(&desc_lock);
}

static inline bool bit_test(const uint64_t *b, uint32_t i) { return b[i >> 6] >> (i & 63) & 1; }
static inline void bit_set(uint64_t *b, uint32_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }

/* Are bits lo..hi all set? */
static bool bits_all(const uint64_t *b, uint32_t lo, uint32_t hi)
{
    for (uint32_t i = lo; i <= hi;) {
        uint32_t w = i >> 6, from = i & 63, to = (hi >> 6) == w ? hi & 63 : 63;
        uint64_t mask = (to == 63 ? ~(uint64_t)0 : ((uint64_t)1 << (to + 1)) - 1) & ~(((uint64_t)1 << from) - 1);
        if ((b[w] & mask) != mask)
            return false;
        i = (w + 1) << 6;
    }
    return true;
}

static uint32_t index_of(const struct pp_slab *s, const void *p)
{
    return (uint32_t)(((uintptr_t)p - s->start) / s->size);
}

/* Release pages [a, a + pages); `fresh` of them were resident (the others were released before). */
static bool purge_block(uintptr_t a, size_t pages, size_t fresh)
{
    if (pp_os_purge((void *)a, pages << PP_PAGE_SHIFT, pp_opt.purge_free ? PP_PURGE_FREE : PP_PURGE_DONTNEED))
        return false;
    pp_stat_add(madvise_calls, 1);
    pp_released_add(fresh << PP_PAGE_SHIFT);
    pp_stat_add(released_slab, fresh << PP_PAGE_SHIFT);
    return true;
}

/* Does page j of a sparse slab hold only free objects (or none: the slab's tail, and the objects
 * never carved, from `bump` on, which a sparse slab leaves alone)? */
static bool page_free(const struct pp_slab *s, const struct pp_sparse *sp, uint32_t j)
{
    uintptr_t lo = ((uintptr_t)j << PP_PAGE_SHIFT) / s->size, carved = index_of(s, (void *)s->bump);
    if (lo >= carved)
        return true;
    uintptr_t hi = (((uintptr_t)(j + 1) << PP_PAGE_SHIFT) - 1) / s->size;
    if (hi >= carved)
        hi = carved - 1;
    return bits_all(sp->bits, (uint32_t)lo, (uint32_t)hi);
}

/* Release the resident pages of a sparse slab that hold only free objects, one madvise per run.
 * First the free list goes into the bitmap: its links live in the objects. sp->lock held. */
static void sparse_purge_locked(struct pp_slab *s, struct pp_sparse *sp)
{
    for (void **o = s->free, **next; o; o = next) {
        next = o[0];
        bit_set(sp->bits, index_of(s, o));
        sp->nfree++;
    }
    s->free = NULL;
    uint32_t pages = 1u << s->order, run = 0;
    for (uint32_t j = 0; j <= pages; j++) {
        if (j < pages && !bit_test(sp->purged, j) && page_free(s, sp, j)) {
            run++;
            continue;
        }
        if (run && purge_block(s->start + ((uintptr_t)(j - run) << PP_PAGE_SHIFT), run, run)) {
            for (uint32_t k = j - run; k < j; k++)
                bit_set(sp->purged, k);
            sp->npurged += run;
            pp_slab_purged_add(run);
        }
        run = 0;
    }
    sp->dirty = 0;
    pp_assert_expensive(({ uint32_t n = 0; for (uint32_t w = 0; w < (s->capacity + 63) / 64; w++)
                             n += (uint32_t)__builtin_popcountll(sp->bits[w]); n == sp->nfree; }));
}

/* The owner's free() brought a partial slab down to its mark: it turns sparse, in O(1). The free
 * list stays as it is (the reclaimer folds it into the bitmap), and so does `bump`: the objects
 * never carved stay out of both, and carving resumes when the slab is taken back. */
PP_NOINLINE static void sparse_enter(struct pp_heap *h, struct pp_slab *s)
{
    set_notify(s, 0);
    struct pp_sparse *sp = sparse_alloc(s);
    if (!sp)
        return;                             /* stays an ordinary slab */
    sp->dirty = 1;
    s->sparse = sp;
    atomic_fetch_or_explicit(&s->owner, 1, memory_order_release);
    sp->ms = (uint32_t)pp_os_now_ms();
    pthread_mutex_lock(&sparse_lock);
    sparse_link_locked(sp);
    pthread_mutex_unlock(&sparse_lock);
    if (pp_slab_sparse_bytes() > (size_t)pp_opt.high)
        pp_reclaim_kick();                  /* the reclaimer releases the pages after the decay */
}

/* malloc took a sparse slab back. If nothing was released while it was sparse, turning it sparse
 * was wasted work (a program that frees and allocates the class in waves): pass by the next 1, 3,
 * 7 ... 63 slabs of the class before trying again. A slab that did release resets the backoff.
 * (A sparse slab that empties out is no such sign: its block goes back to the pool either way.) */
static void sparse_feedback(struct pp_heap *h, unsigned cls, uint32_t npurged)
{
    if (!h || h == &pp_heap_empty)
        return;
    if (npurged) {
        h->sparse_backoff[cls] = 0;
        return;
    }
    uint8_t b = h->sparse_backoff[cls];
    b = b >= 63 ? 63 : (uint8_t)(2 * b + 1);
    h->sparse_backoff[cls] = b;
    h->sparse_skip[cls] = b;
}

/* The slab stops being sparse (taken back or released). First off the list, and past any release
 * pass in flight: from then on the state is the owner's alone. */
static struct pp_sparse *sparse_detach(struct pp_slab *s)
{
    struct pp_sparse *sp = s->sparse;
    pthread_mutex_lock(&sparse_lock);
    sparse_unlink_locked(sp);
    pthread_mutex_unlock(&sparse_lock);
    sp_lock(sp);                            /* wait for a release pass in flight */
    sp_unlock(sp);
    return sp;
}

/* Then the state goes and the slab is ordinary. Its released pages count as resident again (the
 * slab is about to be used, or its block freed). Returns the pages that were released. */
static uint32_t sparse_finish(struct pp_slab *s, struct pp_sparse *sp)
{
    uint32_t npurged = sp->npurged;
    pp_slab_purged_sub(npurged);
    s->sparse = NULL;
    sparse_free_state(sp);
    atomic_fetch_and_explicit(&s->owner, ~(uintptr_t)1, memory_order_release);
    return npurged;
}

/* The slab's block goes back to the pool. */
PP_NOINLINE static uint32_t sparse_drop(struct pp_slab *s) { return sparse_finish(s, sparse_detach(s)); }

/* Remote frees collected into the bitmap. They passed the fast path's checks, but a released
 * object has lost its key, so the bit is the double-free test. */
PP_NOINLINE static void sparse_take(struct pp_slab *s, void **list)
{
    struct pp_sparse *sp = s->sparse;
    sp_lock(sp);
    for (void **next; list; list = next) {
        next = list[0];
        uint32_t i = index_of(s, list);
        if (bit_test(sp->bits, i)) {
            sp_unlock(sp);
            pp_bad_pointer("free", list, "double free", "freed twice, the second time from another thread");
        }
        bit_set(sp->bits, i);
        sp->nfree++;
    }
    sp->dirty = 1;
    sp_unlock(sp);
}

/* malloc takes a sparse slab back: every free object goes onto the free list, in address order,
 * with its key, and the slab is ordinary again. Linking touches every free object, so the pages
 * come back (they would as the objects are handed out); a current slab that stayed sparse would
 * send every free() through the slow path while the program churns on it. */
PP_NOINLINE static bool sparse_unpack(struct pp_slab *s)
{
    struct pp_sparse *sp = sparse_detach(s);
    uint32_t words = (s->capacity + 63) / 64;
    void **head = NULL, **last = NULL;
    for (uint32_t w = 0; w < words; w++)
        for (uint64_t bits = sp->bits[w]; bits; bits &= bits - 1) {
            uintptr_t i = ((uintptr_t)w << 6) + (uintptr_t)__builtin_ctzll(bits);
            void **o = (void **)(s->start + i * s->size);
            o[1] = s;
            if (last) last[0] = o; else head = o;
            last = o;
        }
    if (last) {
        last[0] = s->free;
        s->free = head;
    }
    uint32_t npurged = sparse_finish(s, sp);
    sparse_feedback(atomic_load_explicit(&s->heap, memory_order_relaxed), s->cls, npurged);
    return s->free != NULL;
}

/* The owner frees an object of its sparse slab. */
PP_NOINLINE static void sparse_free(struct pp_heap *h, struct pp_slab *s, void *p, const char *call)
{
    struct pp_sparse *sp = s->sparse;
    uint32_t i = index_of(s, p);
    sp_lock(sp);
    if (bit_test(sp->bits, i)) {
        sp_unlock(sp);
        pp_bad_pointer(call, p, "double free", NULL);
    }
    bit_set(sp->bits, i);
    sp->nfree++;
    sp->dirty = 1;
    sp_unlock(sp);
    s->left--;                              /* notify_at is 0: left = used */
    if (used_of(s) == 0 && s->list == PP_SLAB_PARTIAL) {
        list_remove(&h->partial[s->cls], s);
        slab_release(h, s);
        pp_reclaim_kick();
    }
}

/* The reclaimer (and pp_reclaim, malloc_trim with force): release the wholly free pages of the
 * sparse slabs that have been sparse for a decay period and had frees since the last pass, oldest
 * first, until `want` bytes are released or `max_steps` slabs were looked at (each goes to the back
 * of the list, so the next call goes on from there). The list lock is dropped between slabs for the
 * owners; a slab whose owner holds its lock is skipped this time. Returns bytes released. */
static size_t purge_sparse(bool force, size_t want, size_t max_steps)
{
    if (!__atomic_load_n(&sparse_first, __ATOMIC_RELAXED))
        return 0;
    size_t before = atomic_load(&pp_counters.released_slab);
    uint32_t now = (uint32_t)pp_os_now_ms();
    pthread_mutex_lock(&sparse_lock);
    /* each step moves the head to the tail; as many steps as there were slabs (owners may take
     * some off meanwhile: then a few are seen twice, which is harmless) */
    size_t steps = sparse_count < max_steps ? sparse_count : max_steps;
    for (; steps > 0 && sparse_first; steps--) {
        struct pp_sparse *sp = sparse_first;
        sparse_unlink_locked(sp);
        sparse_link_locked(sp);
        if (!force && now - sp->ms < (uint32_t)pp_opt.decay_ms)
            continue;
        /* the list lock stays held while the slab is worked on, so fork (which takes it) never
         * finds a slab lock held by this thread */
        if (sp_trylock(sp)) {
            if (sp->dirty)
                sparse_purge_locked(sp->slab, sp);
            sp_unlock(sp);
        }
        if (atomic_load(&pp_counters.released_slab) - before >= want)
            break;
        pthread_mutex_unlock(&sparse_lock);
        pthread_mutex_lock(&sparse_lock);
    }
    pthread_mutex_unlock(&sparse_lock);
    return atomic_load(&pp_counters.released_slab) - before;
}

size_t pp_slab_purge_sparse(bool force) { return purge_sparse(force, SIZE_MAX, SIZE_MAX); }

/* A program about to fault in `bytes` of new memory for a large block while pages of its sparse
 * slabs hold only free objects: release about as many of those first, whatever their age, so the
 * footprint stays where it was. The free objects in sparse slabs are memory that only their own
 * class can use (bench-frag: 32 KiB blocks, 96.8 % freed at random, leave 40 % of the slabs with a
 * live object or two); new memory for a large block is the sign that nothing is reusing them.
 * At most 64 slabs a call, so a program with many sparse slabs and nothing left to release in
 * them does not walk them all for every block. */
size_t pp_slab_purge_sparse_for(size_t bytes) { return purge_sparse(true, bytes, 64); }

/* Did a slab of class cls get a first remote free since the last call? Clears the flag: the owner
 * scans after this, so a push that comes later flags again. The acquire pairs with the freer's
 * release, so the scan sees the push. */
static bool take_pending(struct pp_heap *h, unsigned cls)
{
    uint64_t bit = 1ull << cls;
    if (!(atomic_load_explicit(&h->remote_pending, memory_order_relaxed) & bit))
        return false;
    atomic_fetch_and_explicit(&h->remote_pending, ~bit, memory_order_acquire);
    return true;
}

/* Scan the full list for slabs that received remote frees since the owner last looked. */
static void scan_full(struct pp_heap *h, unsigned cls)
{
    struct pp_slab *s = h->full[cls].first, *next;
    for (; s; s = next) {
        next = s->next;
        if (!atomic_load_explicit(&s->thread_free, memory_order_relaxed))
            continue;
        list_remove(&h->full[cls], s);
        collect(s);
        if (used_of(s) == 0)
            slab_release(h, s);
        else
            to_partial(h, cls, s);
    }
}

static struct pp_slab *adopt(struct pp_heap *h, unsigned cls)
{
    struct abandoned *a = &abandoned[cls];
    if (!a->list.first)                     /* racy peek: a miss only means a new slab */
        return NULL;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        struct pp_slab *s = a->list.first;
        if (s) {
            list_remove(&a->list, s);
            abandoned_count--;
            set_list(s, PP_SLAB_NONE);
        }
        pthread_mutex_unlock(&a->lock);
        if (!s)
            return NULL;
        set_notify(s, 0);
        atomic_store(&s->heap, h);
        set_owner(s, pp_thread_self());
        collect(s);
        if (used_of(s) == 0) {
            slab_release(h, s);
            continue;
        }
        if (refill(s))
            return s;
        to_full(h, cls, s);
    }
}

/* The walker of malloc's table: every entry is the heap's bin for its class. */
static bool direct_matches(const struct pp_heap *h)
{
    for (unsigned i = 0; i < PP_DIRECT_N; i++)
        if (pp_tls_direct[i] != h->bins[pp_class_fast[i]])
            return false;
    return true;
}

/* The partial slab to take next: the one with the most free objects among the first few (the
 * list is a queue, see list_append). Taking a slab that just got its first free back from full
 * would buy one object per slow path when frees are spread over the class's slabs. */
static struct pp_slab *emptiest_partial(const struct pp_slab_list *l)
{
    struct pp_slab *best = l->first;
    if (!best)
        return NULL;
    unsigned n = 0;
    for (struct pp_slab *s = best->next; s && ++n < 8; s = s->next)
        if (used_of(s) < used_of(best))
            best = s;
    return best;
}

static void *malloc_slow_locked(struct pp_heap *h, unsigned cls);

/* The allocation slow path for a small class: the current slab is out of free objects. */
void *pp_slab_malloc_slow(struct pp_heap *h, unsigned cls)
{
    if (PP_UNLIKELY(h == &pp_heap_empty)) {
        h = pp_thread_heap_init();
        if (!h) {
            errno = ENOMEM;
            return NULL;
        }
        if (h->bins[cls]->free)             /* a recursive call during init may have filled it */
            return pp_slab_pop(h->bins[cls]);
    }
    bool took = heap_lock(h);
    void *p = malloc_slow_locked(h, cls);
    heap_unlock(h, took);
    return p;
}

static void *malloc_slow_locked(struct pp_heap *h, unsigned cls)
{
    h->slow_calls++;
    pp_assert_expensive(direct_matches(h));
    pp_slab_flush_remote(h);
    struct pp_slab *s = h->bins[cls];
    if (s != &pp_slab_empty) {
        if (refill(s))
            return pp_slab_pop(s);
        pp_heap_bin_set(h, cls, &pp_slab_empty);
        to_full(h, cls, s);
    }
    for (int pass = 0; pass < 2; pass++) {
        while ((s = emptiest_partial(&h->partial[cls]))) {
            list_remove(&h->partial[cls], s);
            set_list(s, PP_SLAB_NONE);      /* a sparse slab must not release what we take next */
            if (refill(s)) {
                make_current(h, cls, s);
                return pp_slab_pop(s);
            }
            to_full(h, cls, s);
        }
        if (pass || !take_pending(h, cls))
            break;
        scan_full(h, cls);
    }
    s = adopt(h, cls);
    if (!s) {
        s = slab_new(h, cls);
        if (!s) {
            errno = ENOMEM;
            return NULL;
        }
        refill(s);
    }
    make_current(h, cls, s);
    return pp_slab_pop(s);
}

/* After a local free brought `left` to 0 (used down to notify_at): a full slab got a free object, a
 * partial slab is down to a quarter (it turns sparse), or a slab became empty. The current slab
 * stays even when empty: the next malloc would want it back. */
static void local_slow_locked(struct pp_heap *h, struct pp_slab *s);

void pp_slab_local_slow(struct pp_slab *s)
{
    struct pp_heap *h = pp_tls_heap;
    bool took = heap_lock(h);
    local_slow_locked(h, s);
    heap_unlock(h, took);
}

static void local_slow_locked(struct pp_heap *h, struct pp_slab *s)
{
    unsigned cls = s->cls;
    uint8_t list = s->list;
    if (list == PP_SLAB_FULL) {
        list_remove(&h->full[cls], s);
        if (used_of(s) == 0 && !keep_empty(h, cls))
            slab_release(h, s);
        else
            to_partial(h, cls, s);
    } else if (list == PP_SLAB_PARTIAL && s->notify_at) {
        if (h->sparse_skip[cls]) {
            h->sparse_skip[cls]--;
            set_notify(s, 0);
        } else {
            sparse_enter(h, s);
        }
    } else if (used_of(s) == 0 && list == PP_SLAB_PARTIAL && !keep_empty(h, cls)) {
        list_remove(&h->partial[cls], s);
        slab_release(h, s);
        pp_reclaim_kick();                  /* no lock held here: may start the background thread */
    }
}

/* ---- Stranded slabs (see the top of the file) ---- */
static _Atomic bool stranded_any;           /* some heap's `stranded` may be set */

/* After a push that brought s's pending count to its capacity: if that is every object of a full
 * slab, flag the heap for a taker (its owner may never look). Read racily, maybe of a recycled
 * descriptor (they are type-stable): a false flag costs one scan. Out of line: push_remote stays
 * small enough to inline into free(). */
PP_NOINLINE static void check_stranded(struct pp_heap *h, const struct pp_slab *s, uint32_t pending)
{
    if (!h || __atomic_load_n(&s->list, __ATOMIC_RELAXED) != PP_SLAB_FULL ||
        pending != used_seen(s, __ATOMIC_RELAXED))
        return;
    if (!atomic_load_explicit(&h->stranded, memory_order_relaxed))
        atomic_store_explicit(&h->stranded, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&stranded_any, memory_order_relaxed))
        atomic_store_explicit(&stranded_any, true, memory_order_release);
}

void pp_slab_stranded_flag_again(void) { atomic_store_explicit(&stranded_any, true, memory_order_relaxed); }

bool pp_slab_stranded_take_flag(void)
{
    return atomic_load_explicit(&stranded_any, memory_order_relaxed) &&
           atomic_exchange_explicit(&stranded_any, false, memory_order_acquire);
}

/* Take back h's full slabs whose objects have all come back (pending == used, and no object on
 * the owner's list: a local free under way), into the pool, hot (a taker's own page cache would
 * hold them while their owner, should it wake, takes new memory: RESULTS.md, session 8). Only
 * tries the heap lock: a heap whose owner is in a slow path stays flagged for the next taker.
 * Returns pages taken back. */
size_t pp_slab_take_stranded(struct pp_heap *h)
{
    uintptr_t expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&h->lock, &expected, HEAP_LOCK_TAKER,
                                                 memory_order_acquire, memory_order_relaxed)) {
        pp_slab_stranded_flag_again();
        return 0;
    }
    atomic_store_explicit(&h->stranded, 0, memory_order_relaxed);
    size_t pages = 0;
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s, *next;
        for (s = h->full[cls].first; s; s = next) {
            next = s->next;
            /* the count first; `left` with acquire (the local free's release), then `free` */
            uint32_t pending = atomic_load_explicit(&s->thread_freed, memory_order_acquire);
            if (pending != used_seen(s, __ATOMIC_ACQUIRE) || s->free || s->sparse)
                continue;
            list_remove(&h->full[cls], s);
            atomic_store_explicit(&s->thread_free, NULL, memory_order_relaxed);
            atomic_store_explicit(&s->thread_freed, 0, memory_order_relaxed);
            s->left = s->notify_at = 0;
            pages += (size_t)1 << s->order;
            pp_stat_add(stranded_slabs, 1);
            slab_release(NULL, s);
        }
    }
    atomic_store_explicit(&h->lock, 0, memory_order_release);
    return pages;
}

/* Push a chain first..last of n objects of slab s on its thread_free with one CAS, then count them. */
static void push_remote(struct pp_slab *s, void *first, void *last, uint32_t n)
{
    /* read before the push: once pushed (and counted), the slab may be released and reused */
    struct pp_heap *h = atomic_load_explicit(&s->heap, memory_order_acquire);
    unsigned cls = s->cls;
    void *old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    do {
        *(void **)last = old;
    } while (!atomic_compare_exchange_weak_explicit(&s->thread_free, &old, first, memory_order_release, memory_order_relaxed));
    uint32_t pending = atomic_fetch_add_explicit(&s->thread_freed, n, memory_order_release) + n;
    /* heaps are type-stable, so flagging a recycled heap is harmless (one extra scan) */
    if (!old && h)
        atomic_fetch_or_explicit(&h->remote_pending, 1ull << cls, memory_order_release);
    if (PP_UNLIKELY(pending >= s->capacity))
        check_stranded(h, s, pending);
}

/* The slab of a class's gathered chain (not empty): every gathered object holds its slab's key in
 * word 1, and the head was written by this thread at its last free of the class (in cache). */
static inline struct pp_slab *rbuf_slab(const struct pp_rbuf *rb) { return ((struct pp_slab **)rb->head)[1]; }

static void flush_class(struct pp_heap *h, unsigned cls)
{
    struct pp_rbuf *rb = &h->rbuf[cls];
    push_remote(rbuf_slab(rb), rb->head, rb->tail, h->rbuf_n[cls]);
    h->rbuf_total -= h->rbuf_n[cls];
    h->rbuf_n[cls] = 0;
    h->rbuf_used &= ~((uint64_t)1 << cls);
}

/* Push the gathered remote frees (slow paths, thread exit, too many held). */
void pp_slab_flush_remote(struct pp_heap *h)
{
    for (uint64_t m = h->rbuf_used; m; m &= m - 1)
        flush_class(h, (unsigned)__builtin_ctzll(m));
}

/* A free from a thread that does not own the slab. Frees to one slab (a consumer freeing a
 * producer's batch) are gathered, up to RBUF_SLAB_MAX, one slab per class, and pushed with one CAS:
 * the objects still count in the slab's `used`, so the slab cannot go away meanwhile. A thread
 * holds at most RBUF_TOTAL_MAX such objects, all classes together: what sits here is missing from
 * its owner, whose malloc then carves fresh pages instead (the bound used to apply only when a class
 * started a new batch, so a consumer of many classes held up to 64 of each: xmalloc t=4 peak RSS
 * 3.6 -> 2.9 MiB with the bound kept, for 4% more instructions; RESULTS.md). */
#define RBUF_SLAB_MAX  64
#define RBUF_TOTAL_MAX 128
void pp_slab_free_remote(struct pp_slab *s, void *p, const char *call)
{
    void **b = p;
    struct pp_heap *h = pp_tls_heap;
    uintptr_t owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (PP_UNLIKELY(owner & 1) && (owner & ~(uintptr_t)1) == pp_thread_self()) {
        sparse_free(h, s, p, call);
        return;
    }
    b[1] = s;
    if (PP_UNLIKELY(h == &pp_heap_empty)) {
        push_remote(s, p, p, 1);
        return;
    }
    unsigned cls = s->cls;
    struct pp_rbuf *rb = &h->rbuf[cls];
    if (!h->rbuf_n[cls] || rbuf_slab(rb) != s || h->rbuf_n[cls] >= RBUF_SLAB_MAX) {
        if (h->rbuf_n[cls])
            flush_class(h, cls);
        rb->tail = p;
        b[0] = NULL;
        h->rbuf_used |= (uint64_t)1 << cls;
    } else {
        b[0] = rb->head;
    }
    rb->head = p;
    h->rbuf_n[cls]++;
    if (++h->rbuf_total >= RBUF_TOTAL_MAX)
        pp_slab_flush_remote(h);
}

/* ---- Per-class statistics (pp_stats_classes) ---- */
static void class_add(struct pp_class_stats *c, const struct pp_slab *s)
{
    size_t touched = s->bump - s->start;
    const struct pp_sparse *sp = s->sparse;
    if (sp) {                               /* its released pages are not resident */
        size_t purged = (size_t)__atomic_load_n(&sp->npurged, __ATOMIC_RELAXED) << PP_PAGE_SHIFT;
        touched = purged < touched ? touched - purged : 0;
        c->sparse++;
    }
    c->slabs++;
    c->slab_bytes += PP_PAGE_SIZE << s->order;
    c->touched_bytes += touched;
    c->used_bytes += (size_t)used_seen(s, __ATOMIC_RELAXED) * s->size;
}

/* Add h's slabs to by_class[cls], holding the heap lock as a taker does. The owner holds the lock
 * only in slow paths, microseconds; a caller that interrupted its own thread's slow path (a
 * signal handler) would wait forever, so the wait is bounded and the heap left out. The current
 * slab's counts move under the owner's fast paths: a snapshot, not an exact sum. */
bool pp_slab_class_stats(struct pp_heap *h, struct pp_class_stats *by_class)
{
    uintptr_t expected = 0;
    for (unsigned tries = 0; !atomic_compare_exchange_weak_explicit(&h->lock, &expected, HEAP_LOCK_TAKER,
                                 memory_order_acquire, memory_order_relaxed); tries++) {
        expected = 0;
        if (tries > 1000)
            return false;
        if (tries % 16 == 15)
            sched_yield();
    }
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_class_stats *c = &by_class[cls];
        if (h->bins[cls] != &pp_slab_empty)
            class_add(c, h->bins[cls]);
        for (const struct pp_slab *s = h->partial[cls].first; s; s = s->next)
            class_add(c, s);
        for (const struct pp_slab *s = h->full[cls].first; s; s = s->next)
            class_add(c, s);
    }
    atomic_store_explicit(&h->lock, 0, memory_order_release);
    return true;
}

void pp_slab_abandoned_class_stats(struct pp_class_stats *by_class)
{
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct abandoned *a = &abandoned[cls];
        pthread_mutex_lock(&a->lock);
        for (const struct pp_slab *s = a->list.first; s; s = s->next)
            class_add(&by_class[cls], s);
        pthread_mutex_unlock(&a->lock);
    }
}

/* ---- Thread exit: the heap's slabs are released if empty, else abandoned for adoption ---- */
static void abandon_one(struct pp_heap *h, struct pp_slab *s)
{
    collect(s);
    if (used_of(s) == 0) {
        slab_release(h, s);
        return;
    }
    set_list(s, PP_SLAB_ABANDONED);
    set_owner(s, 0);
    atomic_store(&s->heap, NULL);
    struct abandoned *a = &abandoned[s->cls];
    pthread_mutex_lock(&a->lock);
    list_push(&a->list, s);
    abandoned_count++;
    pthread_mutex_unlock(&a->lock);
}

void pp_slab_abandon_all(struct pp_heap *h)
{
    bool took = heap_lock(h);
    pp_slab_flush_remote(h);
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s = h->bins[cls];
        pp_heap_bin_set(h, cls, &pp_slab_empty);
        if (s != &pp_slab_empty)
            abandon_one(h, s);
        struct pp_slab_list *lists[2] = { &h->partial[cls], &h->full[cls] };
        for (int i = 0; i < 2; i++)
            while ((s = lists[i]->first)) {
                list_remove(lists[i], s);
                abandon_one(h, s);
            }
        take_pending(h, cls);
    }
    heap_unlock(h, took);
}

/* A heap gets a thread (self) or loses it (0): every slab it holds changes owner. The thread
 * pointer of a thread that exited comes back with a later thread, which must not find itself the
 * owner of slabs it never had. Sparse slabs keep bit 0. */
void pp_slab_set_owner_all(struct pp_heap *h, uintptr_t self)
{
    bool took = heap_lock(h);
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s = h->bins[cls];
        if (s != &pp_slab_empty)
            set_owner(s, self);
        for (s = h->partial[cls].first; s; s = s->next)
            set_owner(s, self);
        for (s = h->full[cls].first; s; s = s->next)
            set_owner(s, self);
    }
    heap_unlock(h, took);
}

/* Release the owner's empty slabs (reclaim, malloc_trim). Returns pages released. */
size_t pp_slab_reclaim(struct pp_heap *h)
{
    size_t pages = 0;
    if (h == &pp_heap_empty)
        return 0;
    bool took = heap_lock(h);
    pp_slab_flush_remote(h);
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s = h->bins[cls];
        if (s != &pp_slab_empty) {
            collect(s);
            if (used_of(s) == 0) {
                pp_heap_bin_set(h, cls, &pp_slab_empty);
                pages += 1u << s->order;
                slab_release(h, s);
            }
        }
        if (take_pending(h, cls))           /* full slabs only empty out through remote frees */
            scan_full(h, cls);
        struct pp_slab *next;
        for (s = h->partial[cls].first; s; s = next) {
            next = s->next;
            collect(s);
            if (used_of(s) == 0) {
                list_remove(&h->partial[cls], s);
                pages += 1u << s->order;
                slab_release(h, s);
            }
        }
    }
    heap_unlock(h, took);
    return pages;
}

/* Release abandoned slabs whose objects have all been freed by other threads. */
size_t pp_slab_reclaim_abandoned(void)
{
    size_t pages = 0;
    if (!abandoned_count)
        return 0;
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct abandoned *a = &abandoned[cls];
        pthread_mutex_lock(&a->lock);
        struct pp_slab *s, *next;
        for (s = a->list.first; s; s = next) {
            next = s->next;
            collect(s);                     /* safe: nobody owns it, and we hold the list lock */
            if (used_of(s) == 0) {
                list_remove(&a->list, s);
                abandoned_count--;
                pages += 1u << s->order;
                slab_release(NULL, s);
            }
        }
        pthread_mutex_unlock(&a->lock);
    }
    return pages;
}

/* ---- fork ---- */
void pp_slab_heap_lock_reset(struct pp_heap *h) { atomic_store_explicit(&h->lock, 0, memory_order_relaxed); }

void pp_slab_fork_prepare(void)
{
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_lock(&abandoned[c].lock);
    pthread_mutex_lock(&sparse_lock);
    pthread_mutex_lock(&desc_lock);
}

void pp_slab_fork_parent(void)
{
    pthread_mutex_unlock(&desc_lock);
    pthread_mutex_unlock(&sparse_lock);
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_unlock(&abandoned[c].lock);
}

void pp_slab_fork_child(void)
{
    pthread_mutex_init(&desc_lock, NULL);
    pthread_mutex_init(&sparse_lock, NULL);
    /* a thread that does not exist in the child may have held a sparse slab's lock (its own frees) */
    for (struct pp_sparse *sp = sparse_first; sp; sp = sp->next)
        sp_unlock(sp);
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_init(&abandoned[c].lock, NULL);
}
