/* bench-large: large blocks, 64 KiB - 8 MiB.
 *
 * Keep a window of W live blocks (default 16); each step frees a random one
 * and allocates a new block of log-uniform size in [64 KiB, 8 MiB], writing
 * one byte in every page.  This measures how the allocator handles large
 * blocks: mmap/munmap per block (page faults every time) versus reuse of
 * cached, already-faulted memory (fast, but higher RSS).  Fixed work (-s);
 * reports ops/s, touched GiB/s and secs.   -n W window, -t T threads (each
 * thread runs its own window; total work is divided among them)
 */
#include "bench_common.h"

#define LO (64u << 10)
#define HI (8u << 20)

static long window, steps;
static uint64_t base_seed;
static double touched[64];

static void *worker(void *arg)
{
	long id = (long)arg;
	uint64_t s = bench_seed(base_seed, (uint64_t)id);
	void **slot = bench_xmalloc(window * sizeof *slot);
	size_t *sz = bench_xmalloc(window * sizeof *sz);
	double bytes = 0;
	for (long i = 0; i < window; i++) {
		sz[i] = bench_logrange(&s, LO, HI);
		slot[i] = bench_xmalloc(sz[i]);
		bench_touch(slot[i], sz[i]);
		bytes += (double)sz[i];
	}
	for (long i = 0; i < steps; i++) {
		long j = (long)(bench_rand(&s) % (uint64_t)window);
		free(slot[j]);
		sz[j] = bench_logrange(&s, LO, HI);
		slot[j] = malloc(sz[j]);
		if (!slot[j]) { fprintf(stderr, "malloc(%zu) failed\n", sz[j]); exit(3); }
		bench_touch(slot[j], sz[j]);
		bytes += (double)sz[j];
	}
	for (long i = 0; i < window; i++)
		free(slot[i]);
	free(slot);
	free(sz);
	touched[id % 64] = bytes;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "large blocks 64 KiB - 8 MiB, touched", " [-n window]");
	if (o.threads > 64) o.threads = 64;
	window = o.n > 0 ? o.n : 16;
	base_seed = o.seed;
	steps = bench_scaled(40000, o.scale) / o.threads;
	pthread_t th[64];
	double t0 = bench_now();
	for (long i = 0; i < o.threads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i)) return 3;
	for (int i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);
	double el = bench_now() - t0, bytes = 0;
	for (int i = 0; i < o.threads; i++)
		bytes += touched[i];
	printf("large: kops=%.2f alloc_gibps=%.2f threads=%d secs=%.3f\n",
	       (double)steps * o.threads / el / 1e3, bytes / el / (1u << 30), o.threads, el);
	return 0;
}
