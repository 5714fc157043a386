/*
 * preload.c — symbol interposition only: the malloc family, its glibc aliases and the C++ operators,
 * each forwarding to the core with no policy of its own. The small-object fast paths are inlined
 * here (fastpath.h), so malloc() costs no extra call.
 *
 * C++ operators are defined by their mangled names so that C programs do not load libstdc++:
 * failure calls the program's new_handler and throws std::bad_alloc through weak references to
 * libstdc++, which any C++ program has loaded.
 */
#include "fastpath.h"
#include <malloc.h>
#include <pagepool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t size) { return pp_malloc_fast(size); }
EXPORT void free(void *p) { pp_free_fast(p, "free"); }
EXPORT void cfree(void *p) { pp_free_fast(p, "free"); }
EXPORT void *calloc(size_t n, size_t size) { return pp_calloc(n, size); }
EXPORT void *realloc(void *p, size_t size) { return pp_realloc(p, size); }
EXPORT void *reallocarray(void *p, size_t n, size_t size) { return pp_reallocarray(p, n, size); }
EXPORT void *memalign(size_t align, size_t size) { return pp_memalign(align, size); }
EXPORT void *aligned_alloc(size_t align, size_t size) { return pp_aligned_alloc(align, size); }
EXPORT int posix_memalign(void **out, size_t align, size_t size) { return pp_posix_memalign(out, align, size); }
EXPORT void *valloc(size_t size) { return pp_valloc(size); }
EXPORT void *pvalloc(size_t size) { return pp_pvalloc(size); }
EXPORT size_t malloc_usable_size(void *p) { return pp_malloc_usable_size(p); }
EXPORT void free_sized(void *p, size_t size) { pp_free_sized(p, size); }
EXPORT void free_aligned_sized(void *p, size_t align, size_t size) { pp_free_aligned_sized(p, align, size); }
EXPORT int malloc_trim(size_t pad) { return pp_malloc_trim(pad); }
EXPORT int mallopt(int param, int value) { (void)param; (void)value; return 1; }  /* accepted, ignored */

/* glibc's internal names, which some programs and libraries call directly */
EXPORT void *__libc_malloc(size_t size) { return pp_malloc_fast(size); }
EXPORT void __libc_free(void *p) { pp_free_fast(p, "free"); }
EXPORT void *__libc_calloc(size_t n, size_t size) { return pp_calloc(n, size); }
EXPORT void *__libc_realloc(void *p, size_t size) { return pp_realloc(p, size); }
EXPORT void *__libc_memalign(size_t align, size_t size) { return pp_memalign(align, size); }
EXPORT void *__libc_valloc(size_t size) { return pp_valloc(size); }
EXPORT void *__libc_pvalloc(size_t size) { return pp_pvalloc(size); }
EXPORT int __posix_memalign(void **out, size_t align, size_t size) { return pp_posix_memalign(out, align, size); }

/* ---- _exit: processes that end with _exit (stress-ng's workers, forked children) skip the
 * destructors, so PAGEPOOL_STATS=1 would say nothing for them; print first, then exit ---- */
EXPORT void _exit(int status)
{
    pp_stats_exit_hook();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status) { _exit(status); }

/* ---- mallinfo, malloc_stats, malloc_info: answered from pagepool's statistics ---- */
EXPORT struct mallinfo2 mallinfo2(void)
{
    struct pp_stats s;
    pp_stats_get(&s);
    struct mallinfo2 mi = { 0 };
    mi.arena = s.mapped;
    mi.hblks = 0;
    mi.hblkhd = s.huge;
    mi.uordblks = s.in_use;
    mi.fordblks = s.free_hot + s.free_cold + s.cached + s.bank;
    mi.keepcost = s.bank;
    return mi;
}

EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi = { 0 };
    mi.arena = (int)m2.arena;
    mi.hblkhd = (int)m2.hblkhd;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    mi.keepcost = (int)m2.keepcost;
    return mi;
}

EXPORT void malloc_stats(void) { pp_stats_print(2); }

EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    struct pp_stats s;
    pp_stats_get(&s);
    fprintf(fp, "<malloc version=\"pagepool-%s\">\n"
                "<total type=\"mapped\" size=\"%zu\"/>\n<total type=\"in_use\" size=\"%zu\"/>\n"
                "<total type=\"free_hot\" size=\"%zu\"/>\n<total type=\"free_cold\" size=\"%zu\"/>\n"
                "<total type=\"cached\" size=\"%zu\"/>\n<total type=\"bank\" size=\"%zu\"/>\n</malloc>\n",
            PAGEPOOL_VERSION, s.mapped, s.in_use, s.free_hot, s.free_cold, s.cached, s.bank);
    return 0;
}

/* ---- C++ operators ---- */
typedef void (*new_handler_t)(void);
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));   /* std::get_new_handler() */
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn)); /* std::__throw_bad_alloc() */

/* operator new's failure protocol: call the new_handler and retry, else throw (or NULL if nothrow) */
static void *new_fail(size_t size, size_t align, bool nothrow)
{
    for (;;) {
        new_handler_t handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
        if (!handler) {
            if (nothrow)
                return NULL;
            if (_ZSt17__throw_bad_allocv)
                _ZSt17__throw_bad_allocv();
            pp_fatal("operator new(%zu): out of memory and no C++ runtime to throw std::bad_alloc", size);
        }
        handler();
        void *p = align ? pp_memalign(align, size) : pp_malloc_fast(size);
        if (p)
            return p;
    }
}

static inline void *new_impl(size_t size, bool nothrow)
{
    void *p = pp_malloc_fast(size);
    return PP_LIKELY(p != NULL) ? p : new_fail(size, 0, nothrow);
}

static inline void *new_aligned(size_t size, size_t align, bool nothrow)
{
    void *p = pp_memalign(align, size);
    return PP_LIKELY(p != NULL) ? p : new_fail(size, align, nothrow);
}

#define NT const void *nothrow_tag __attribute__((unused))
EXPORT void *_Znwm(size_t n) { return new_impl(n, false); }
EXPORT void *_Znam(size_t n) { return new_impl(n, false); }
EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, NT) { return new_impl(n, true); }
EXPORT void *_ZnamRKSt9nothrow_t(size_t n, NT) { return new_impl(n, true); }
EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al, false); }
EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al, false); }
EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT) { return new_aligned(n, al, true); }
EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT) { return new_aligned(n, al, true); }

EXPORT void _ZdlPv(void *p) { pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPv(void *p) { pp_free_fast(p, "operator delete[]"); }
EXPORT void _ZdlPvm(void *p, size_t n) { (void)n; pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPvm(void *p, size_t n) { (void)n; pp_free_fast(p, "operator delete[]"); }
EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al) { (void)al; pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { (void)al; pp_free_fast(p, "operator delete[]"); }
EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) { (void)n; (void)al; pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) { (void)n; (void)al; pp_free_fast(p, "operator delete[]"); }
EXPORT void _ZdlPvRKSt9nothrow_t(void *p, NT) { pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPvRKSt9nothrow_t(void *p, NT) { pp_free_fast(p, "operator delete[]"); }
EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT) { (void)al; pp_free_fast(p, "operator delete"); }
EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT) { (void)al; pp_free_fast(p, "operator delete[]"); }
