/* bench-stressmalloc: a loop in the manner of stress-ng's malloc stressor, with a fixed seed.
 *
 * stress-ng's own runs draw different sizes every time, so their instruction counts move by
 * several per cent between runs of the same build; this program repeats one sequence, for
 * callgrind. It follows the stressor's mix, not its exact sequence or occupancy. 65536 slots; sizes uniform in [8, B) (stress-ng: --malloc-bytes divided by the
 * instances; default here 64 KiB, one instance). An occupied slot is freed or realloc'd to a new
 * size (50/50); an empty one is allocated half of the time: 1/32 each calloc, posix_memalign(64),
 * aligned_alloc(64), memalign(8..1024), memalign(page), the rest malloc. Every page of a block is
 * written. Prints ops/s, and the live and usable bytes and RSS at the end.
 *   -n B  largest size + 1 (default 65536)   -s scale (1.0 = 1 000 000 ops)
 */
#include "bench_common.h"
#include <malloc.h>

#define SLOTS 65536

static void *slot[SLOTS];
static size_t len[SLOTS];

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "a stress-ng-like malloc/realloc/calloc/memalign mix, with a fixed seed", " [-n max_bytes]");
	size_t max = o.n > 8 ? (size_t)o.n : 65536;
	long ops = bench_scaled(1000000, o.scale);
	uint64_t s = bench_seed(o.seed, 0);
	double t0 = bench_now();
	for (long op = 0; op < ops; op++) {
		unsigned i = (unsigned)(bench_rand(&s) % SLOTS);
		size_t n = 8 + (size_t)(bench_rand(&s) % (max - 8));
		uint64_t x = bench_rand(&s);
		if (slot[i]) {
			if (x & 1) {
				free(slot[i]);
				slot[i] = NULL;
				len[i] = 0;
			} else {
				void *q = realloc(slot[i], n);
				if (q) {
					slot[i] = q;
					len[i] = n;
					bench_touch(q, n);
				}
			}
			continue;
		}
		if (x & 2)
			continue;
		void *p = NULL;
		switch ((x >> 8) % 32) {
		case 0: p = calloc(1, n); break;
		case 1: if (posix_memalign(&p, 64, n)) p = NULL; break;
		case 2: p = aligned_alloc(64, (n + 63) & ~(size_t)63); break;
		case 3: p = memalign((size_t)8 << ((x >> 16) % 8), n); break;
		case 4: p = memalign(BENCH_PAGE, n); break;
		default: p = malloc(n); break;
		}
		if (p) {
			slot[i] = p;
			len[i] = n;
			bench_touch(p, n);
		}
	}
	double el = bench_now() - t0;
	size_t live = 0, usable = 0;
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i]) {
			live += len[i];
			usable += malloc_usable_size(slot[i]);
		}
	printf("stressmalloc: mops=%.3f ops=%ld secs=%.3f live_mib=%.1f usable_mib=%.1f rss_mib=%.1f\n",
	       (double)ops / el / 1e6, ops, el, bench_mib(live), bench_mib(usable), bench_mib(bench_rss()));
	for (unsigned i = 0; i < SLOTS; i++)
		free(slot[i]);
	return 0;
}
