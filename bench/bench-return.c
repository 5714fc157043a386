/* bench-return: does freed memory go back to the OS?
 *
 * Phase fill:   allocate 1 GiB (x scale) in mixed sizes 16 B - 1 MiB, most
 *               bytes in 1-64 KiB blocks (byte shares: 10 % in 16 B-1 KiB,
 *               70 % in 1-64 KiB, 20 % in 64 KiB-1 MiB), allocations of the
 *               three classes interleaved at random; every page is written.
 * Phase free90: free a random 90 % of the blocks.
 * Phase wait1:  sleep W s (default 3), so allocators that return memory
 *               lazily (decay, background threads) get a chance.
 * Phase freeall: free the rest.
 * Phase wait2:  sleep W s.
 * RSS (from /proc/self/statm) is recorded after each phase and printed in
 * MiB, with the live (requested) bytes.   -s scale, -w W seconds
 */
#include "bench_common.h"

struct cls { size_t lo, hi; double share; };

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0, .wait = 3.0 };
	bench_parse(argc, argv, &o, "memory return to the OS after free", " [-w wait_secs]");
	size_t target = (size_t)((double)(1ull << 30) * o.scale);
	struct cls c[3] = {
		{ 16, 1024, 0.10 },
		{ 1024, 64 << 10, 0.70 },
		{ 64 << 10, 1 << 20, 0.20 },
	};
	uint64_t s = bench_seed(o.seed, 0);
	size_t budget[3], cap = 1024, n = 0, live = 0;
	for (int k = 0; k < 3; k++)
		budget[k] = (size_t)(c[k].share * (double)target);
	void **ptr = bench_xmalloc(cap * sizeof *ptr);
	size_t *sz = bench_xmalloc(cap * sizeof *sz);
	size_t rss0 = bench_rss();
	double t0 = bench_now();

	for (;;) {
		size_t left = budget[0] + budget[1] + budget[2];
		if (left == 0)
			break;
		/* pick a class with probability proportional to its remaining *count* */
		double w[3], tw = 0;
		for (int k = 0; k < 3; k++) {
			w[k] = budget[k] ? (double)budget[k] / ((double)(c[k].lo + c[k].hi) / 2) : 0;
			tw += w[k];
		}
		double u = (double)(bench_rand(&s) >> 11) * (1.0 / 9007199254740992.0) * tw;
		int k = 0;
		while (k < 2 && (u >= w[k] || w[k] == 0)) { u -= w[k]; k++; }
		if (w[k] == 0)
			for (k = 0; k < 3 && w[k] == 0; k++)
				;
		size_t len = bench_range(&s, c[k].lo, c[k].hi);
		if (len > budget[k]) len = budget[k] < c[k].lo ? c[k].lo : budget[k];
		budget[k] -= len < budget[k] ? len : budget[k];
		if (n == cap) {
			cap *= 2;
			ptr = realloc(ptr, cap * sizeof *ptr);
			sz = realloc(sz, cap * sizeof *sz);
			if (!ptr || !sz) return 3;
		}
		ptr[n] = bench_xmalloc(len);
		bench_touch(ptr[n], len);
		sz[n] = len;
		live += len;
		n++;
	}
	double t_fill = bench_now() - t0;
	size_t rss_fill = bench_rss();
	size_t live_fill = live;

	/* shuffle, then free the first 90 % */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(bench_rand(&s) % (i + 1));
		void *tp = ptr[i]; ptr[i] = ptr[j]; ptr[j] = tp;
		size_t ts = sz[i]; sz[i] = sz[j]; sz[j] = ts;
	}
	size_t nfree = n / 10 * 9;
	t0 = bench_now();
	for (size_t i = 0; i < nfree; i++) {
		free(ptr[i]);
		live -= sz[i];
	}
	double t_free = bench_now() - t0;
	size_t rss_free90 = bench_rss(), live_free90 = live;
	usleep((useconds_t)(o.wait * 1e6));
	size_t rss_wait1 = bench_rss();
	for (size_t i = nfree; i < n; i++) {
		free(ptr[i]);
		live -= sz[i];
	}
	size_t rss_freeall = bench_rss();
	usleep((useconds_t)(o.wait * 1e6));
	size_t rss_wait2 = bench_rss();

	printf("return: rss_start=%.1f rss_fill=%.1f live_fill=%.1f rss_free90=%.1f live_free90=%.1f "
	       "rss_wait1=%.1f rss_freeall=%.1f rss_wait2=%.1f blocks=%zu fill_secs=%.3f free_secs=%.3f\n",
	       bench_mib(rss0), bench_mib(rss_fill), bench_mib(live_fill), bench_mib(rss_free90),
	       bench_mib(live_free90), bench_mib(rss_wait1), bench_mib(rss_freeall),
	       bench_mib(rss_wait2), n, t_fill, t_free);
	free(ptr);
	free(sz);
	return 0;
}
