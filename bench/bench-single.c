/* bench-single: single-thread malloc/free throughput across size ranges.
 *
 * For each size range (16-128 B, 128 B-1 KiB, 1-32 KiB) keep a window of
 * W live blocks (default 1000) and replace a random one on every step:
 * free(slot) + malloc(random size in range) + write the first/last byte.
 * One "op" is one malloc+free pair.  Prints Mops/s per range and the
 * harmonic mean over the ranges.  -s scales the number of ops, -n sets W.
 */
#include "bench_common.h"

struct range { const char *name; size_t lo, hi; long ops; };

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "single-thread malloc/free window churn", " [-n window]");
	long window = o.n > 0 ? o.n : 1000;
	struct range r[] = {
		{ "small",  16,   128,   8000000 },
		{ "medium", 128,  1024,  5000000 },
		{ "large",  1024, 32768, 2000000 },
	};
	const int nr = sizeof r / sizeof r[0];
	void **slot = bench_xmalloc(window * sizeof *slot);
	double mops[3], total_t = 0;
	long total_ops = 0;
	uint64_t s = bench_seed(o.seed, 0);

	for (int k = 0; k < nr; k++) {
		long ops = bench_scaled(r[k].ops, o.scale);
		for (long i = 0; i < window; i++) {
			size_t n = bench_range(&s, r[k].lo, r[k].hi);
			slot[i] = bench_xmalloc(n);
			((char *)slot[i])[0] = 1;
		}
		double t0 = bench_now();
		for (long i = 0; i < ops; i++) {
			uint64_t x = bench_rand(&s);
			long j = (long)(x % (uint64_t)window);
			size_t n = r[k].lo + (size_t)((x >> 32) % (r[k].hi - r[k].lo + 1));
			free(slot[j]);
			char *p = malloc(n);
			if (!p) { fprintf(stderr, "malloc failed\n"); return 3; }
			p[0] = (char)i;
			p[n - 1] = (char)i;
			slot[j] = p;
		}
		double t = bench_now() - t0;
		for (long i = 0; i < window; i++)
			free(slot[i]);
		mops[k] = (double)ops / t / 1e6;
		total_t += t;
		total_ops += ops;
	}
	free(slot);
	printf("single: mops=%.3f", (double)total_ops / total_t / 1e6);
	for (int k = 0; k < nr; k++)
		printf(" %s_mops=%.3f", r[k].name, mops[k]);
	printf(" secs=%.3f\n", total_t);
	return 0;
}
