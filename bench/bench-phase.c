/* bench-phase: phase changes with idle gaps, the case a decay delay is a bet on.
 *
 * R rounds: allocate 256 MiB (x scale) in 16 KiB - 256 KiB blocks and write every page, free them
 * all, then idle for -w W seconds (default 0.1). An allocator that releases freed memory during the
 * gap pays page faults in the next round; one that keeps it pays RSS while idle. Prints the time
 * spent allocating and touching, the minor page faults (getrusage), and the RSS at the end of the
 * last gap.   -n R rounds (default 8), -w W gap seconds, -s scale
 */
#include "bench_common.h"
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0, .wait = 0.1 };
	bench_parse(argc, argv, &o, "allocate, free, idle: refaults against idle RSS", " [-n rounds] [-w gap_secs]");
	long rounds = o.n > 0 ? o.n : 8;
	size_t target = (size_t)((double)(256u << 20) * o.scale);
	size_t cap = target / (16 << 10) + 1, n;
	void **p = bench_xmalloc(cap * sizeof *p);
	uint64_t s = bench_seed(o.seed, 0);
	double busy = 0;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	for (long k = 0; k < rounds; k++) {
		double t0 = bench_now();
		size_t total = 0;
		for (n = 0; n < cap && total < target; n++) {
			size_t len = bench_range(&s, 16 << 10, 256 << 10);
			p[n] = bench_xmalloc(len);
			for (size_t off = 0; off < len; off += BENCH_PAGE)
				((char *)p[n])[off] = (char)k;
			total += len;
		}
		for (size_t i = 0; i < n; i++)
			free(p[i]);
		busy += bench_now() - t0;
		struct timespec ts = { (time_t)o.wait, (long)((o.wait - (double)(time_t)o.wait) * 1e9) };
		nanosleep(&ts, NULL);
	}
	getrusage(RUSAGE_SELF, &r1);
	printf("phase: busy_secs=%.3f minflt=%ld rss_idle=%.1f rounds=%ld\n", busy, r1.ru_minflt - r0.ru_minflt,
	       (double)bench_rss() / (1024.0 * 1024.0), rounds);
	free(p);
	return 0;
}
