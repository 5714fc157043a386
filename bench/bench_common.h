/* bench_common.h - helpers shared by the pagepool benchmark workloads.
 *
 * The workloads are plain C programs that call the malloc family of the C
 * library; they are never linked against pagepool, so the allocator under test
 * is chosen with LD_PRELOAD.  Every workload prints exactly one result line
 *     <name>: key=value key=value ...
 * on stdout (bench/compare parses it).  Common options:
 *     -t N   threads (or thread pairs, see the workload)
 *     -s X   scale factor for the amount of work / memory (default 1.0)
 *     -r N   random seed
 *     -h     help
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PAGE 4096u

struct bench_opts {
	int threads;
	double scale;
	uint64_t seed;
	double wait;   /* seconds, only used by some workloads */
	long n;        /* workload-specific count, 0 = default */
};

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64* - cheap, decent, per-thread state */
static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t bench_seed(uint64_t base, uint64_t i)
{
	uint64_t s = base * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;
	for (int k = 0; k < 4; k++)
		bench_rand(&s);
	return s ? s : 1;
}

/* uniform in [lo, hi] */
static inline size_t bench_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(bench_rand(s) % (uint64_t)(hi - lo + 1));
}

/* log-uniform in [lo, hi] (favours small sizes the way real programs do) */
static inline size_t bench_logrange(uint64_t *s, size_t lo, size_t hi)
{
	double u = (double)(bench_rand(s) >> 11) * (1.0 / 9007199254740992.0);
	double l = log((double)lo), h = log((double)hi + 1);
	size_t v = (size_t)exp(l + u * (h - l));
	if (v < lo) v = lo;
	if (v > hi) v = hi;
	return v;
}

/* write one byte in every page of [p, p+n) (and the first/last byte) */
static inline void bench_touch(void *p, size_t n)
{
	volatile char *c = (volatile char *)p;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i += BENCH_PAGE)
		c[i] = (char)i;
	c[n - 1] = 1;
}

/* /proc/self/statm's resident and shared pages (0 and 0 if unreadable). open/read, not stdio: no
 * malloc inside the measurement of the allocator under test. */
static inline void bench_statm(unsigned long *res, unsigned long *shared)
{
	char buf[128];
	unsigned long size = 0;
	*res = *shared = 0;
	int fd = open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	if (sscanf(buf, "%lu %lu %lu", &size, res, shared) != 3)
		*res = *shared = 0;
}

/* resident set size of this process in bytes */
static inline size_t bench_rss(void)
{
	unsigned long res, shared;
	bench_statm(&res, &shared);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Anonymous resident bytes (resident minus shared): the heap, without the program's and its
 * libraries' file pages. A forked child maps file pages lazily, and the kernel maps up to 16 of
 * them around each fault, so a code path run for the first time (a free loop after a fill) adds
 * 300-400 KiB of RSS under every allocator; the heap's own growth is in this figure only. */
static inline size_t bench_rss_anon(void)
{
	unsigned long res, shared;
	bench_statm(&res, &shared);
	return shared <= res ? (size_t)(res - shared) * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static inline double bench_mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static inline void *bench_xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", n);
		exit(3);
	}
	return p;
}

static void bench_usage(const char *name, const char *desc, const char *extra)
{
	fprintf(stderr, "usage: %s [-t threads] [-s scale] [-r seed]%s\n%s\n", name,
		extra ? extra : "", desc);
}

/* parse the common options; returns 0 or exits */
static inline void bench_parse(int argc, char **argv, struct bench_opts *o,
			       const char *desc, const char *extra)
{
	int c;
	while ((c = getopt(argc, argv, "t:s:r:w:n:h")) != -1) {
		switch (c) {
		case 't': o->threads = atoi(optarg); break;
		case 's': o->scale = atof(optarg); break;
		case 'r': o->seed = strtoull(optarg, NULL, 0); break;
		case 'w': o->wait = atof(optarg); break;
		case 'n': o->n = atol(optarg); break;
		case 'h':
		default:
			bench_usage(argv[0], desc, extra);
			exit(c == 'h' ? 0 : 2);
		}
	}
	if (o->threads < 1) o->threads = 1;
	if (o->scale <= 0) o->scale = 1.0;
	if (!o->seed) o->seed = 42;
}

static inline long bench_scaled(long base, double scale)
{
	double v = (double)base * scale;
	return v < 1 ? 1 : (long)v;
}

/* opaque sink so the compiler cannot drop malloc/free pairs */
static void *volatile bench_sink;

#endif
