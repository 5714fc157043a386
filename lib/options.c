/*
 * options.c — the option table and PAGEPOOL_<NAME> parsing.
 *
 * One row per option: name, default, where it is stored, and its one-line documentation; the same
 * table prints the documentation (`pagepool-run --options`) so docs and code cannot drift.
 * Parsing uses getenv and no malloc: it runs while pagepool starts, possibly inside another
 * library's constructor. Sizes accept K/M/G suffixes.
 * Layer: side layer; calls diag.c for output.
 */
#include "internal.h"
#include <stdlib.h>

PP_HIDDEN struct pp_options pp_opt;

struct pp_option_row {
    const char *name;      /* without the PAGEPOOL_ prefix */
    long def;
    long *where;
    const char *doc;
    long min;              /* smallest number accepted */
    const char *const *names;  /* a word per value (0, 1, ...), aliases after '|'; NULL: a number */
};

static const char *const thp_names[] = { "default", "madvise|always", "never", NULL };
static const char *const purge_names[] = { "dontneed", "free", NULL };
static const char *const limit_mode_names[] = { "soft", "hard", NULL };

static const struct pp_option_row option_table[] = {
    { "VERBOSE",   0,   &pp_opt.verbose,   "1: print start-up and warning messages to stderr", 0, NULL },
    { "STATS",     0,   &pp_opt.stats,     "1: print statistics to stderr at exit; 2: also a line per small size class (slabs, touched and in-use bytes) and the free blocks by order", 0, NULL },
    { "NODES",     0,   &pp_opt.nodes,     "N > 0: pretend the machine has N NUMA nodes (testing); 0: real topology", 0, NULL },
    { "PCP_HIGH",  512, &pp_opt.pcp_high,  "pages a thread's page cache may hold; above it, a batch goes back to the pool (4 KiB pages)", 0, NULL },
    { "PCP_BATCH", 64,  &pp_opt.pcp_batch, "pages a thread's page cache moves per refill or drain", 1, NULL },
    { "RETAIN",    8l << 20, &pp_opt.retain, "bytes of whole free 2 MiB regions kept resident whatever their age (K/M/G)", 0, NULL },
    { "DECAY_MS",  250, &pp_opt.decay_ms,  "free memory stays resident this long before it is released (-1: never release)", -1, NULL },
    { "HIGH",      16l << 20, &pp_opt.high, "hot free bytes a pool keeps inside partly used regions; the excess is released after the decay (K/M/G)", 0, NULL },
    { "BACKGROUND", 1,  &pp_opt.background, "1: a background thread runs the decay, also while the program is idle; 0: only allocations do", 0, NULL },
    { "PURGE",     0,   &pp_opt.purge_free, "how memory is released: dontneed (MADV_DONTNEED, RSS drops at once) or free (MADV_FREE, lazily)", 0, purge_names },
    { "LIMIT",     0,   &pp_opt.limit,     "memory limit in bytes (K/M/G); unset: the cgroup's memory.high/memory.max as a soft limit, if finite", 0, NULL },
    { "LIMIT_MODE", 0,  &pp_opt.limit_hard, "soft: reclaim, then grow past the limit anyway; hard: reclaim, then fail with ENOMEM", 0, limit_mode_names },
    { "STATS_SIGNAL", 0, &pp_opt.stats_signal, "1: print statistics to stderr on SIGUSR2", 0, NULL },
    { "PRINT_OPTIONS", 0, &pp_opt.print_options, "1: print this table to stdout at start-up (what pagepool-run --options does)", 0, NULL },
    { "THP",       0,   &pp_opt.thp,       "huge pages on regions: default (leave the system setting), madvise or always (MADV_HUGEPAGE), never (MADV_NOHUGEPAGE)", 0, thp_names },
};
#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (end == s || errno)
        return false;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

/* A word of names[] ("a|b": either), or its index as a number. */
static bool parse_name(const char *const *names, const char *s, long *out)
{
    long n = 0;
    for (; names[n]; n++)
        for (const char *w = names[n]; *w;) {
            size_t len = strcspn(w, "|");
            if (strlen(s) == len && !strncmp(s, w, len)) {
                *out = n;
                return true;
            }
            w += len + (w[len] == '|');
        }
    return parse_long(s, out) && *out >= 0 && *out < n;
}

void pp_options_init(void)
{
    int saved = errno;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct pp_option_row *o = &option_table[i];
        char name[64] = "PAGEPOOL_";
        strncat(name, o->name, sizeof(name) - 10);
        *o->where = o->def;
        const char *v = getenv(name);
        if (!v || !*v)
            continue;
        long x;
        bool ok = o->names ? parse_name(o->names, v, &x) : parse_long(v, &x) && x >= o->min;
        if (ok)
            *o->where = x;
        else
            pp_message("%s=%s is not valid (%s); using the default", name, v, o->doc);
    }
    if (pp_opt.nodes > PP_MAX_NODES) pp_opt.nodes = PP_MAX_NODES;
    errno = saved;
}

void pp_options_print(int fd)
{
    char line[256];
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct pp_option_row *o = &option_table[i];
        char def[24];
        if (o->names)                       /* the value's first word */
            pp_format(def, sizeof(def), "%s", o->names[o->def]), def[strcspn(def, "|")] = '\0';
        else
            pp_format(def, sizeof(def), "%ld", o->def);
        int n = pp_format(line, sizeof(line), "PAGEPOOL_%-14s default %-8s %s\n", o->name, def, o->doc);
        pp_os_write(fd, line, (size_t)n);
    }
}
