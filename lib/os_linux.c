/*
 * os_linux.c — the OS layer: the only file that calls mmap, munmap, mremap, madvise, mbind or libnuma.
 *
 * Contract (os.h): return 0 or an errno value; the caller's errno is never changed (an application
 * that reads errno after free() must see what it set). Nothing here allocates with malloc.
 * Layer: called by region.c (maps, purges, binding) and the side layer (write, tid).
 */
#include "os.h"
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <numaif.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* save errno on entry, restore on exit (snmalloc's KeepErrno) */
#define KEEP_ERRNO int saved_errno_ __attribute__((cleanup(restore_errno))) = errno
static void restore_errno(int *e) { errno = *e; }

int pp_os_map(size_t size, size_t align, void **out)
{
    KEEP_ERRNO;
    if (align <= 4096) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return errno;
        *out = p;
        return 0;
    }
    /* over-map by align and trim both ends: the kernel has no aligned mmap */
    size_t span = size + align;
    if (span < size)
        return ENOMEM;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)p, tail = span - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)a + size, tail);
    *out = (void *)a;
    return 0;
}

int pp_os_purge(void *addr, size_t size, enum pp_purge how)
{
    KEEP_ERRNO;
    int advice = how == PP_PURGE_FREE ? MADV_FREE : MADV_DONTNEED;
    return madvise(addr, size, advice) ? errno : 0;
}

int pp_os_hugepage(void *addr, size_t size, bool on)
{
    KEEP_ERRNO;
    return madvise(addr, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) ? errno : 0;
}

int pp_os_move(void *from, size_t size, void *to)
{
    KEEP_ERRNO;
    void *p = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    return p == MAP_FAILED ? errno : 0;
}

int pp_os_reserve(size_t size, void **out)
{
    KEEP_ERRNO;
    /* read-only private memory is never charged against the commit limit, whatever the overcommit
     * mode; pp_os_commit charges only what it makes writable */
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    madvise(p, size, MADV_DONTDUMP);         /* a 16 GiB zero range in every core file helps nobody */
    *out = p;
    return 0;
}

int pp_os_commit(void *addr, size_t size)
{
    KEEP_ERRNO;
    return mprotect(addr, size, PROT_READ | PROT_WRITE) ? errno : 0;
}

int pp_os_map_fixed(void *addr, size_t size)
{
    KEEP_ERRNO;
    void *p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    if (p != addr) {                         /* kernels before 4.17 treat the flag as a hint */
        munmap(p, size);
        return EEXIST;
    }
    return 0;
}

/* Read a small file into buf (NUL-terminated); no malloc, no stdio. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

/* The smaller of memory.high and memory.max of this process's cgroup (v2), 0 when both are "max". */
size_t pp_os_cgroup_limit(void)
{
    KEEP_ERRNO;
    char line[512], path[768], val[64];
    if (read_small("/proc/self/cgroup", line, sizeof(line)) <= 0)
        return 0;
    char *p = strstr(line, "0::");
    if (!p)
        return 0;
    p += 3;
    char *end = strchr(p, '\n');
    if (end)
        *end = 0;
    if (strcmp(p, "/") == 0)
        p = "";
    size_t best = 0;
    const char *files[2] = { "memory.high", "memory.max" };
    for (int i = 0; i < 2; i++) {
        if (strlen(p) + 32 >= sizeof(path))
            return 0;
        strcpy(path, "/sys/fs/cgroup");
        strcat(path, p);
        strcat(path, "/");
        strcat(path, files[i]);
        if (read_small(path, val, sizeof(val)) <= 0)
            continue;
        if (strncmp(val, "max", 3) == 0)
            continue;
        size_t v = strtoull(val, NULL, 10);
        if (v && (!best || v < best))
            best = v;
    }
    return best;
}

/* The clock. The C library's clock_gettime only forwards to the kernel's vDSO, but it lies in a part
 * of libc's text that nothing else at start-up needs, and the kernel maps the file 64 KiB around
 * each page a process first executes: calling the vDSO directly, and taking the page size from the
 * auxiliary vector instead of sysconf, keeps about 55 KiB of libc out of every process's RSS
 * (RESULTS.md). The vDSO is an ELF image the kernel maps into every process (vdso(7)); its
 * dynamic symbol table is found through the program headers, and its DT_HASH gives the count. */
typedef int vdso_gettime_fn(clockid_t, struct timespec *);

static vdso_gettime_fn *vdso_lookup(const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return NULL;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)eh + eh->e_phoff);
    const Elf64_Dyn *dyn = NULL;
    uintptr_t bias = 0;
    bool loaded = false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !loaded) {
            bias = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
            loaded = true;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const Elf64_Dyn *)((const char *)eh + ph[i].p_offset);
        }
    }
    if (!loaded || !dyn)
        return NULL;
    const Elf64_Sym *sym = NULL;
    const char *str = NULL;
    const Elf32_Word *hash = NULL;          /* nbucket, nchain (= symbols), ... */
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            sym = (const Elf64_Sym *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            str = (const char *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_HASH)
            hash = (const Elf32_Word *)(bias + dyn->d_un.d_ptr);
    }
    if (!sym || !str || !hash)
        return NULL;
    for (Elf32_Word i = 0; i < hash[1]; i++)
        if (ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC && sym[i].st_shndx != SHN_UNDEF &&
            strcmp(str + sym[i].st_name, name) == 0)
            return (vdso_gettime_fn *)(bias + sym[i].st_value);
    return NULL;
}

/* Resolved once; racing first calls find the same answer. A kernel without a vDSO (or a tool that
 * hides it) gets the system call. */
static vdso_gettime_fn *_Atomic vdso_gettime;
static _Atomic bool vdso_looked;

uint64_t pp_os_now_ms(void)
{
    struct timespec ts;
    vdso_gettime_fn *fn = atomic_load_explicit(&vdso_gettime, memory_order_acquire);
    if (!fn && !atomic_load_explicit(&vdso_looked, memory_order_acquire)) {
        fn = vdso_lookup("__vdso_clock_gettime");
        atomic_store_explicit(&vdso_gettime, fn, memory_order_release);
        atomic_store_explicit(&vdso_looked, true, memory_order_release);
    }
    if (!fn || fn(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
        KEEP_ERRNO;
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC_COARSE, &ts);
    }
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* NUMA. The node count comes from sysfs, read with plain syscalls (no allocation: start-up needs
 * it before malloc works), as libnuma's numa_max_node() + 1 would. libnuma itself is loaded with
 * dlopen only on a machine with more than one node, once start-up is done (pp_os_numa_load):
 * linking it runs its constructor in every process, about 280 KiB of resident memory for a
 * single-node machine that never binds anything. Regions mapped before that are not bound
 * (first touch places them). */
static unsigned numa_nodes_cached;
static long (*numa_mbind)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned);

unsigned pp_os_numa_nodes(void)
{
    if (numa_nodes_cached)
        return numa_nodes_cached;
    KEEP_ERRNO;
    unsigned max = 0, cur = 0;
    bool digits = false;
    char buf[256];
    int fd = open("/sys/devices/system/node/online", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i <= n; i++) {        /* "0", "0-3", "0,2-5\n": the highest number */
        char c = i < n ? buf[i] : '\0';
        if (c >= '0' && c <= '9') {
            cur = cur * 10 + (unsigned)(c - '0');
            digits = true;
        } else {
            if (digits && cur > max)
                max = cur;
            cur = 0;
            digits = false;
        }
    }
    numa_nodes_cached = max + 1 > 64 ? 64 : max + 1;
    return numa_nodes_cached;
}

void pp_os_numa_load(void)
{
    KEEP_ERRNO;
    if (pp_os_numa_nodes() <= 1)
        return;
    void *lib = dlopen("libnuma.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    int (*available)(void) = (int (*)(void))dlsym(lib, "numa_available");
    if (available && available() >= 0)
        numa_mbind = (long (*)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned))dlsym(lib, "mbind");
}

int pp_os_bind(void *addr, size_t size, unsigned node)
{
    KEEP_ERRNO;
    if (!numa_mbind || node >= 64)
        return 0;
    unsigned long mask = 1ul << node;
    /* preferred, not bind: a full node must not turn into SIGBUS on first touch */
    return numa_mbind(addr, size, MPOL_PREFERRED, &mask, 64, 0) ? errno : 0;
}

unsigned pp_os_cpu_node(void)
{
    KEEP_ERRNO;
    unsigned cpu = 0, node = 0;
    if (syscall(SYS_getcpu, &cpu, &node, NULL) != 0)
        return 0;
    return node;
}

pid_t pp_os_gettid(void) { return (pid_t)syscall(SYS_gettid); }

size_t pp_os_page_size(void) { return (size_t)getauxval(AT_PAGESZ); }   /* not sysconf: see pp_os_now_ms */

void pp_os_write(int fd, const char *buf, size_t len)
{
    KEEP_ERRNO;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}
