/* os_fake.h — what the fake OS layer records, for unit tests to assert on. */
#ifndef PP_OS_FAKE_H
#define PP_OS_FAKE_H
#include <stddef.h>
#include <stdint.h>

struct fake_call { char op; uintptr_t addr; size_t size; int how; };   /* op: 'm'ap 'p'urge 'h'uge 'r' move 'f'ixed map 'b'ind 'v' reserve 'c'ommit */
#define FAKE_LOG_MAX 4096
struct fake_os {
    struct fake_call log[FAKE_LOG_MAX];
    unsigned nlog;
    unsigned nodes;            /* what pp_os_numa_nodes answers */
    int fail_maps_after;       /* >= 0: that many maps succeed, then ENOMEM */
    int fail_map_fixed;        /* nonzero: mapping a moved huge block's old range fresh fails */
    uintptr_t map_at;          /* nonzero: the next map is placed there (real mmap), then cleared */
    size_t mapped;             /* bytes currently mapped */
    uint64_t now_ms;           /* what pp_os_now_ms answers: tests move time by hand */
};
extern struct fake_os fake_os;
void fake_os_reset(void);
unsigned fake_os_count(char op);
const struct fake_call *fake_os_last(char op);
#endif
