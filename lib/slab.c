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
 * since the owner last collected) bumps the owner's remote_hint[cls], and the owner scans its full
 * list when the hint moved. The hint only grows, so a bump is never lost: the freer need not know
 * whether the slab is on the full list (reading that would pull the owner's cache line), and the
 * owner needs no fence when it moves a slab there.
 *
 * A free object holds the free-list link in word 0 and pp_free_key in word 1; malloc clears word 1.
 * free() of an object whose word 1 is the key is a double free (the key is random per process).
 * Layer: called by heap.c and the inline fast path; calls pcp.c and buddy.c.
 */
#include "internal.h"

PP_HIDDEN struct pp_slab pp_slab_empty;    /* free == NULL: the fast path falls through to the slow path */
PP_HIDDEN uintptr_t pp_free_key;

static pthread_mutex_t desc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pp_slab *desc_free;          /* recycled descriptors. desc_lock */

struct abandoned {
    pthread_mutex_t lock;
    struct pp_slab_list list;
};
static struct abandoned abandoned[PP_NCLASSES];
static _Atomic size_t abandoned_count;

/* ---- Descriptors (type-stable: never unmapped) ---- */
static struct pp_slab *desc_alloc(void)
{
    pthread_mutex_lock(&desc_lock);
    struct pp_slab *s = desc_free;
    if (s) {
        desc_free = s->next;
    } else {
        enum { BATCH = 64 };
        struct pp_slab *batch = pp_meta_alloc(BATCH * sizeof(*batch));
        if (batch) {
            for (int i = 1; i < BATCH - 1; i++)
                batch[i].next = &batch[i + 1];
            batch[BATCH - 1].next = NULL;
            desc_free = &batch[1];
            s = &batch[0];
        }
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
    l->first = s;
    l->count++;
}

static void list_remove(struct pp_slab_list *l, struct pp_slab *s)
{
    if (s->prev) s->prev->next = s->next; else l->first = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    l->count--;
}

static void set_list(struct pp_slab *s, uint8_t list) { s->list = list; }

/* used and left are kept as left = used - notify_at (modulo 2^32), so free() tests one counter. */
static inline uint32_t used_of(const struct pp_slab *s) { return s->left + s->notify_at; }
static inline void set_notify(struct pp_slab *s, uint32_t at)
{
    uint32_t used = used_of(s);
    s->notify_at = at;
    s->left = used - at;
}

/* Keep a couple of slabs per class even when empty: a program that frees and allocates around a
 * slab boundary must not hand the block back and forth to the page cache. */
static bool keep_empty(struct pp_heap *h, unsigned cls) { return h->partial[cls].count < 2; }

/* ---- Objects ---- */
/* Take the remote frees (owner only): two exchanges and no walk of the list (whose objects sit in
 * other cores' caches). The count is taken before the list, and freers add to it after pushing, so
 * every object counted is in the list taken: `used` may lag (a count still to come), never lead,
 * and a slab is never released while a free is in flight. Returns whether objects came. */
static bool collect(struct pp_slab *s)
{
    if (!atomic_load_explicit(&s->thread_free, memory_order_relaxed))
        return false;
    uint32_t n = atomic_exchange_explicit(&s->thread_freed, 0, memory_order_acquire);
    void **list = atomic_exchange_explicit(&s->thread_free, NULL, memory_order_acquire);
    s->left -= n;
    if (!list)
        return false;
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
 * 4, at most 64), so a class used a little touches little memory. */
static bool carve(struct pp_slab *s)
{
    if (s->bump >= s->end)
        return false;
    uintptr_t n = (s->end - s->bump) / s->size, want = PP_PAGE_SIZE / s->size;
    if (want < 4) want = 4;
    if (want > 64) want = 64;
    if (n > want) n = want;
    uintptr_t first = s->bump;
    for (uintptr_t i = 0; i + 1 < n; i++)
        *(void **)(first + i * s->size) = (void *)(first + (i + 1) * s->size);
    *(void **)(first + (n - 1) * s->size) = s->free;
    s->free = (void *)first;
    s->bump = first + n * s->size;
    return true;
}

static bool refill(struct pp_slab *s) { return s->free || collect(s) || carve(s); }

/* ---- Slab life cycle ---- */
static struct pp_slab *slab_new(struct pp_heap *h, unsigned cls)
{
    unsigned order = pp_class_order[cls];
    if (!pp_reclaim_admit(PP_PAGE_SIZE << order))
        return NULL;
    uintptr_t block = pp_pcp_alloc(&h->pcp, h->pool, order);
    if (!block) {
        pp_reclaim_direct();                /* memory may sit in other threads' caches (M10) */
        block = pp_pcp_alloc(&h->pcp, h->pool, order);
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
    s->magic = (((uint64_t)1 << 40) + size - 1) / size;
    s->cls = (uint8_t)cls;
    s->order = (uint8_t)order;
    s->start = s->bump = block;
    s->end = block + (uintptr_t)s->capacity * size;
    atomic_store_explicit(&s->thread_free, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->thread_freed, 0, memory_order_relaxed);
    s->notify_at = 0;                       /* left = used = 0 */
    atomic_store_explicit(&s->heap, h, memory_order_relaxed);
    struct pp_region *r = pp_region_of(block);
    unsigned pi = pp_page_index(block);
    pp_slabmap_set(block, (size_t)1 << order, s);
    memset(&r->state[pi], PP_PG_SLAB, 1u << order);
    pp_inuse_add((size_t)1 << order);
    return s;
}

/* Give an empty slab's block back (to the caller's page cache when there is one). */
static void slab_release(struct pp_heap *h, struct pp_slab *s)
{
    pp_assert_internal(used_of(s) == 0 && !atomic_load(&s->thread_free));
    struct pp_region *r = pp_region_of(s->start);
    pp_slabmap_set(s->start, (size_t)1 << s->order, NULL);
    pp_inuse_sub((size_t)1 << s->order);
    set_list(s, PP_SLAB_NONE);
    if (h && h != &pp_heap_empty && r->node == h->pool->node)
        pp_pcp_free(&h->pcp, h->pool, s->start, s->order);
    else
        pp_buddy_free(pp_pool_of(r->node), s->start, s->order);
    desc_free_one(s);
}

static void make_current(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    set_notify(s, 0);
    set_list(s, PP_SLAB_CURRENT);
    h->bins[cls] = s;
}

static void to_partial(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    set_notify(s, 0);
    set_list(s, PP_SLAB_PARTIAL);
    list_push(&h->partial[cls], s);
}

/* All objects are handed out (used == capacity): the first local free must tell us (notify_at). */
static void to_full(struct pp_heap *h, unsigned cls, struct pp_slab *s)
{
    pp_assert_internal(used_of(s) == s->capacity);
    set_notify(s, s->capacity - 1);
    set_list(s, PP_SLAB_FULL);
    list_push(&h->full[cls], s);
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
        }
        pthread_mutex_unlock(&a->lock);
        if (!s)
            return NULL;
        set_notify(s, 0);
        atomic_store(&s->heap, h);
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
    h->slow_calls++;
    pp_slab_flush_remote(h);
    struct pp_slab *s = h->bins[cls];
    if (s != &pp_slab_empty) {
        if (refill(s))
            return pp_slab_pop(s);
        h->bins[cls] = &pp_slab_empty;
        to_full(h, cls, s);
    }
    for (int pass = 0; pass < 2; pass++) {
        while ((s = h->partial[cls].first)) {
            list_remove(&h->partial[cls], s);
            if (refill(s)) {
                make_current(h, cls, s);
                return pp_slab_pop(s);
            }
            to_full(h, cls, s);
        }
        uint32_t hint = atomic_load_explicit(&h->remote_hint[cls], memory_order_acquire);
        if (pass || hint == h->remote_seen[cls])
            break;
        h->remote_seen[cls] = hint;
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

/* After a local free brought `left` to 0 (used down to notify_at): a full slab got a free object, or a slab
 * became empty. The current slab stays even when empty: the next malloc would want it back. */
void pp_slab_local_slow(struct pp_slab *s)
{
    struct pp_heap *h = pp_tls_heap;
    unsigned cls = s->cls;
    uint8_t list = s->list;
    if (list == PP_SLAB_FULL) {
        list_remove(&h->full[cls], s);
        if (used_of(s) == 0 && !keep_empty(h, cls))
            slab_release(h, s);
        else
            to_partial(h, cls, s);
    } else if (used_of(s) == 0 && list == PP_SLAB_PARTIAL && !keep_empty(h, cls)) {
        list_remove(&h->partial[cls], s);
        slab_release(h, s);
        pp_reclaim_kick();                  /* no lock held here: may start the background thread */
    }
}

/* Push a chain first..last of n objects of slab s on its thread_free with one CAS, then count them. */
static void push_remote(struct pp_slab *s, void *first, void *last, uint32_t n)
{
    struct pp_heap *h = atomic_load_explicit(&s->heap, memory_order_acquire);  /* before the push: s may be reused after */
    void *old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    do {
        *(void **)last = old;
    } while (!atomic_compare_exchange_weak_explicit(&s->thread_free, &old, first, memory_order_release, memory_order_relaxed));
    atomic_fetch_add_explicit(&s->thread_freed, n, memory_order_release);
    /* heaps are type-stable, so bumping a recycled heap's hint is harmless (one extra scan) */
    if (!old && h)
        atomic_fetch_add_explicit(&h->remote_hint[s->cls], 1, memory_order_release);
}

/* Push the gathered remote frees (slow paths, thread exit, a full buffer, another slab). */
void pp_slab_flush_remote(struct pp_heap *h)
{
    if (h->rbuf_n) {
        push_remote(h->rbuf_slab, h->rbuf_head, h->rbuf_tail, h->rbuf_n);
        h->rbuf_n = 0;
        h->rbuf_slab = NULL;
    }
}

/* A free from a thread that does not own the slab. Consecutive frees to one slab (a consumer
 * freeing a producer's batch) are gathered, up to 64, and pushed with one CAS: the objects still
 * count in the slab's `used`, so the slab cannot go away meanwhile. */
void pp_slab_free_remote(struct pp_slab *s, void *p)
{
    void **b = p;
    b[1] = (void *)pp_free_key;
    struct pp_heap *h = pp_tls_heap;
    if (PP_UNLIKELY(h == &pp_heap_empty)) {
        push_remote(s, p, p, 1);
        return;
    }
    if (h->rbuf_slab != s || h->rbuf_n >= 64) {
        pp_slab_flush_remote(h);
        h->rbuf_slab = s;
        h->rbuf_tail = p;
        b[0] = NULL;
    } else {
        b[0] = h->rbuf_head;
    }
    h->rbuf_head = p;
    h->rbuf_n++;
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
    atomic_store(&s->heap, NULL);
    struct abandoned *a = &abandoned[s->cls];
    pthread_mutex_lock(&a->lock);
    list_push(&a->list, s);
    abandoned_count++;
    pthread_mutex_unlock(&a->lock);
}

void pp_slab_abandon_all(struct pp_heap *h)
{
    pp_slab_flush_remote(h);
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s = h->bins[cls];
        h->bins[cls] = &pp_slab_empty;
        if (s != &pp_slab_empty)
            abandon_one(h, s);
        struct pp_slab_list *lists[2] = { &h->partial[cls], &h->full[cls] };
        for (int i = 0; i < 2; i++)
            while ((s = lists[i]->first)) {
                list_remove(lists[i], s);
                abandon_one(h, s);
            }
        h->remote_seen[cls] = atomic_load(&h->remote_hint[cls]);
    }
}

/* Release the owner's empty slabs (reclaim, malloc_trim). Returns pages released. */
size_t pp_slab_reclaim(struct pp_heap *h)
{
    size_t pages = 0;
    if (h == &pp_heap_empty)
        return 0;
    pp_slab_flush_remote(h);
    for (unsigned cls = 1; cls < PP_NCLASSES; cls++) {
        struct pp_slab *s = h->bins[cls];
        if (s != &pp_slab_empty) {
            collect(s);
            if (used_of(s) == 0) {
                h->bins[cls] = &pp_slab_empty;
                pages += 1u << s->order;
                slab_release(h, s);
            }
        }
        uint32_t hint = atomic_load_explicit(&h->remote_hint[cls], memory_order_acquire);
        if (hint != h->remote_seen[cls]) {  /* full slabs only empty out through remote frees */
            h->remote_seen[cls] = hint;
            scan_full(h, cls);
        }
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
void pp_slab_fork_prepare(void)
{
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_lock(&abandoned[c].lock);
    pthread_mutex_lock(&desc_lock);
}

void pp_slab_fork_parent(void)
{
    pthread_mutex_unlock(&desc_lock);
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_unlock(&abandoned[c].lock);
}

void pp_slab_fork_child(void)
{
    pthread_mutex_init(&desc_lock, NULL);
    for (unsigned c = 0; c < PP_NCLASSES; c++)
        pthread_mutex_init(&abandoned[c].lock, NULL);
}
