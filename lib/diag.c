/*
 * diag.c — messages, fatal errors and the bad-pointer report, without malloc.
 *
 * Everything here may run inside malloc, inside a signal handler or while pagepool starts, so it
 * formats into stack buffers (pp_format: %s %c %d %u %ld %lu %zu %x %lx %p %%, with width and '-')
 * and writes with write(2). A thread-local guard stops recursion if reporting itself fails.
 * libunwind is loaded (dlopen) by the first report that wants a backtrace, not linked: linking it
 * maps it and what it needs (liblzma, libgcc_s) into every process, about 190 KiB resident. The
 * load allocates, so only a bad-pointer report (which runs with no pagepool lock held) loads it;
 * an internal error prints a backtrace only if libunwind is already there.
 * Layer: side layer; calls os (write) and libunwind (backtraces, off the fast path only).
 */
#include "internal.h"
#include <pagepool.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

static void put(char *buf, size_t len, size_t *pos, char c)
{
    if (*pos + 1 < len)
        buf[*pos] = c;
    (*pos)++;
}

static void put_num(char *buf, size_t len, size_t *pos, unsigned long long v, bool neg, unsigned base,
                    int width, bool left, char pad)  /* left-justified padding is the caller's */
{
    char tmp[32];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    if (!left)
        for (int i = n; i < width; i++) put(buf, len, pos, pad);
    while (n)
        put(buf, len, pos, tmp[--n]);
}

int pp_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
    size_t pos = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') { put(buf, len, &pos, *f); continue; }
        f++;
        bool left = false;
        char pad = ' ';
        int width = 0;
        if (*f == '-') { left = true; f++; }
        if (*f == '0') { pad = '0'; f++; }
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        int lng = 0;
        while (*f == 'l') { lng++; f++; }
        if (*f == 'z') { lng = 1; f++; }
        size_t start = pos;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            size_t n = strlen(s);
            if (!left) for (size_t i = n; i < (size_t)width; i++) put(buf, len, &pos, ' ');
            while (*s) put(buf, len, &pos, *s++);
            break;
        }
        case 'c': put(buf, len, &pos, (char)va_arg(ap, int)); break;
        case 'd': {
            long long v = lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(buf, len, &pos, v < 0 ? -(unsigned long long)v : (unsigned long long)v, v < 0, 10, left ? 0 : width, left, pad);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(buf, len, &pos, v, false, *f == 'x' ? 16 : 10, left ? 0 : width, left, pad);
            break;
        }
        case 'p':
            put(buf, len, &pos, '0'); put(buf, len, &pos, 'x');
            put_num(buf, len, &pos, (uintptr_t)va_arg(ap, void *), false, 16, 0, false, ' ');
            break;
        case '%': put(buf, len, &pos, '%'); break;
        default: put(buf, len, &pos, '?'); break;
        }
        if (left)
            while (pos - start < (size_t)width) put(buf, len, &pos, ' ');
    }
    if (len)
        buf[pos < len ? pos : len - 1] = 0;
    return (int)(pos < len ? pos : len - 1);
}

int pp_format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pp_vformat(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

static void vmessage(const char *fmt, va_list ap)
{
    char buf[512] = "pagepool: ";
    int n = pp_vformat(buf + 10, sizeof(buf) - 11, fmt, ap) + 10;
    buf[n++] = '\n';
    pp_os_write(2, buf, (size_t)n);
}

void pp_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void pp_verbose(const char *fmt, ...)
{
    if (!pp_opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

/* ---- Fatal errors ---- */
static pp_error_handler_t *error_handler;
static void *error_arg;
static __thread int in_fatal;

PP_API void pp_set_error_handler(pp_error_handler_t *fn, void *arg)
{
    error_handler = fn;
    error_arg = arg;
}

/* The libunwind entry points, by their real (architecture-prefixed) names: the API names are macros
 * (unw_getcontext is function-like, hence its tdep name). */
#define PP_STR2(x) #x
#define PP_STR(x) PP_STR2(x)
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
} unw;
static _Atomic int unw_state;               /* 0 not tried, 1 loaded, 2 unavailable */

static bool unwind_load(bool may_allocate)
{
    int st = atomic_load(&unw_state);
    if (st || !may_allocate)
        return st == 1;
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
        unw.getcontext = (int (*)(unw_context_t *))dlsym(lib, PP_STR(unw_tdep_getcontext));
        unw.init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(lib, PP_STR(unw_init_local));
        unw.step = (int (*)(unw_cursor_t *))dlsym(lib, PP_STR(unw_step));
        unw.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(lib, PP_STR(unw_get_reg));
        unw.get_proc_name = (int (*)(unw_cursor_t *, char *, size_t, unw_word_t *))dlsym(lib, PP_STR(unw_get_proc_name));
    }
    st = lib && unw.getcontext && unw.init_local && unw.step && unw.get_reg && unw.get_proc_name ? 1 : 2;
    atomic_store(&unw_state, st);
    return st == 1;
}

static void backtrace_print(bool may_allocate)
{
    if (!unwind_load(may_allocate)) {
        pp_os_write(2, "pagepool:   (no backtrace: libunwind not loaded)\n", 49);
        return;
    }
    unw_context_t ctx;
    unw_cursor_t cur;
    if (unw.getcontext(&ctx) || unw.init_local(&cur, &ctx))
        return;
    char line[256], name[160];
    for (int depth = 0; depth < 24 && unw.step(&cur) > 0; depth++) {
        unw_word_t ip = 0, off = 0;
        unw.get_reg(&cur, UNW_REG_IP, &ip);
        if (unw.get_proc_name(&cur, name, sizeof(name), &off))
            strcpy(name, "?");
        int n = pp_format(line, sizeof(line), "pagepool:   #%d %p %s+0x%lx\n", depth, (void *)ip, name, (unsigned long)off);
        pp_os_write(2, line, (size_t)n);
    }
}

static __attribute__((noreturn)) void die(const char *msg, bool may_allocate)
{
    if (in_fatal++ == 0) {
        pp_os_write(2, msg, strlen(msg));
        pp_os_write(2, "\n", 1);
        backtrace_print(may_allocate);
        if (error_handler)
            error_handler(msg, error_arg);
    }
    abort();
}

void pp_fatal(const char *fmt, ...)
{
    char buf[512] = "pagepool: ";
    va_list ap;
    va_start(ap, fmt);
    pp_vformat(buf + 10, sizeof(buf) - 10, fmt, ap);
    va_end(ap);
    die(buf, false);                        /* a lock may be held: loading libunwind would allocate */
}

/* "pagepool: free(): double free 0x7f..." or "... invalid pointer 0x1234 (not the start of a block)" */
void pp_bad_pointer(const char *call, const void *ptr, const char *what, const char *detail)
{
    char buf[256];
    pp_format(buf, sizeof(buf), "pagepool: %s(): %s %p%s%s%s", call, what, ptr,
              detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    die(buf, true);
}

void pp_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    pp_fatal("assertion failed: %s (%s:%d, %s); this is a pagepool bug: please report it with this line", expr, file, line, func);
}
