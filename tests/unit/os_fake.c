/*
 * os_fake.c — the OS layer for unit tests: the contract of lib/os.h on memory from the C library,
 * with every call logged so tests can assert exact ranges (purges above all), and map failures
 * injectable. Purge with DONTNEED zero-fills, as the kernel would.
 */
#include "../../lib/os.h"
#include "os_fake.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

struct fake_os fake_os = { .nodes = 1, .fail_maps_after = -1 };

void fake_os_reset(void)
{
    unsigned nodes = fake_os.nodes;
    size_t mapped = fake_os.mapped;
    uint64_t now = fake_os.now_ms;
    memset(&fake_os, 0, sizeof(fake_os));
    fake_os.nodes = nodes;
    fake_os.mapped = mapped;
    fake_os.now_ms = now;
    fake_os.fail_maps_after = -1;
}

static void record(char op, void *addr, size_t size, int how)
{
    if (fake_os.nlog < FAKE_LOG_MAX)
        fake_os.log[fake_os.nlog++] = (struct fake_call){ op, (uintptr_t)addr, size, how };
}

unsigned fake_os_count(char op)
{
    unsigned n = 0;
    for (unsigned i = 0; i < fake_os.nlog; i++)
        n += fake_os.log[i].op == op;
    return n;
}

const struct fake_call *fake_os_last(char op)
{
    for (unsigned i = fake_os.nlog; i-- > 0;)
        if (fake_os.log[i].op == op)
            return &fake_os.log[i];
    return NULL;
}

int pp_os_map(size_t size, size_t align, void **out)
{
    if (fake_os.fail_maps_after == 0)
        return ENOMEM;
    if (fake_os.fail_maps_after > 0)
        fake_os.fail_maps_after--;
    if (align < 4096)
        align = 4096;
    void *p;
    if (fake_os.map_at) {                   /* a chosen address: tests of address-dependent rules */
        p = mmap((void *)fake_os.map_at, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        fake_os.map_at = 0;
        if (p == MAP_FAILED)
            return errno;
        fake_os.mapped += size;
        record('m', p, size, 0);
        *out = p;
        return 0;
    }
    p = aligned_alloc(align, size);
    if (!p)
        return ENOMEM;
    memset(p, 0, size);
    fake_os.mapped += size;
    record('m', p, size, 0);
    *out = p;
    return 0;
}

/* The slab map's reservation needs real address space (the fake's memory comes from the C library,
 * anywhere): a real read-only mapping, logged like the rest. */
int pp_os_reserve(size_t size, void **out)
{
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    record('v', p, size, 0);
    *out = p;
    return 0;
}

int pp_os_commit(void *addr, size_t size)
{
    record('c', addr, size, 0);
    return mprotect(addr, size, PROT_READ | PROT_WRITE) ? errno : 0;
}

int pp_os_purge(void *addr, size_t size, enum pp_purge how)
{
    record('p', addr, size, how);
    if (how == PP_PURGE_DONTNEED)
        memset(addr, 0, size);
    return 0;
}

int pp_os_hugepage(void *addr, size_t size, bool on) { record('h', addr, size, on); return 0; }

/* mremap: the pages move, the source reads as unmapped; here: copy and zero (the fake never unmaps) */
int pp_os_move(void *from, size_t size, void *to)
{
    record('r', from, size, 0);
    memcpy(to, from, size);
    memset(from, 0xdd, size);
    return 0;
}

int pp_os_map_fixed(void *addr, size_t size)
{
    record('f', addr, size, 0);
    if (fake_os.fail_map_fixed)
        return ENOMEM;
    memset(addr, 0, size);
    return 0;
}

uint64_t pp_os_now_ms(void) { return fake_os.now_ms; }
size_t pp_os_cgroup_limit(void) { return 0; }

int pp_os_bind(void *addr, size_t size, unsigned node) { record('b', addr, size, (int)node); return 0; }
unsigned pp_os_numa_nodes(void) { return fake_os.nodes; }
void pp_os_numa_load(void) {}
unsigned pp_os_cpu_node(void) { return 0; }
pid_t pp_os_gettid(void) { return (pid_t)syscall(SYS_gettid); }
size_t pp_os_page_size(void) { return 4096; }
void pp_os_write(int fd, const char *buf, size_t len) { ssize_t r = write(fd, buf, len); (void)r; }
