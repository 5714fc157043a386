/*
 * os.h — the OS layer's contract. lib/os_linux.c implements it with syscalls; tests/unit/os_fake.c
 * implements it in memory and records every call, so reclaim tests can assert exact ranges.
 *
 * Every function returns 0 or an errno value and leaves the caller's errno untouched.
 * Addresses and sizes are page-aligned, sizes > 0.
 */
#ifndef PP_OS_H
#define PP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum pp_purge { PP_PURGE_DONTNEED = 0, PP_PURGE_FREE = 1 };

int pp_os_map(size_t size, size_t align, void **out);       /* read/write, private, aligned to align */
int pp_os_reserve(size_t size, void **out);                  /* address space only: reads as zero, no commit
                                                              * charge, not dumped; pp_os_commit makes parts writable */
int pp_os_commit(void *addr, size_t size);                   /* make part of a reservation read/write */
int pp_os_purge(void *addr, size_t size, enum pp_purge how);  /* give the pages back; the range stays mapped */
int pp_os_hugepage(void *addr, size_t size, bool on);        /* MADV_HUGEPAGE / MADV_NOHUGEPAGE */
int pp_os_move(void *from, size_t size, void *to);           /* mremap the pages onto `to` (replacing it) */
int pp_os_map_fixed(void *addr, size_t size);                /* map fresh pages at addr, only if it is free */
uint64_t pp_os_now_ms(void);                                 /* monotonic, coarse (for decay) */
size_t pp_os_cgroup_limit(void);                             /* the cgroup v2 memory.high/max, 0 if none */
int pp_os_bind(void *addr, size_t size, unsigned node);      /* mbind to one node */
unsigned pp_os_numa_nodes(void);                             /* configured nodes, >= 1 (no allocation) */
void pp_os_numa_load(void);                                  /* after start-up (may allocate): libnuma, if NUMA */
unsigned pp_os_cpu_node(void);                               /* node of the calling thread's cpu */
pid_t pp_os_gettid(void);
size_t pp_os_page_size(void);
void pp_os_write(int fd, const char *buf, size_t len);       /* write(2), retried, errno kept */

#endif /* PP_OS_H */
