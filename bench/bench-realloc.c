/* bench-realloc: realloc growth.
 *
 * K strings (default 4) are grown in turns by small random increments
 * (1-64 B, the appended bytes are written) from empty up to 1 MiB, then
 * freed; this repeats R times.  Growing several strings in turns keeps any
 * one of them from always being at the top of the heap, so an allocator has
 * to grow in place, or move cheaply (mremap), or copy.  Fixed work (-s);
 * reports realloc calls per second and secs.   -n K strings
 */
#include "bench_common.h"

#define LIMIT (1u << 20)

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "grow strings by small increments with realloc", " [-n strings]");
	int k = o.n > 0 ? (int)o.n : 4;
	long rounds = bench_scaled(150, o.scale);
	uint64_t s = bench_seed(o.seed, 0);
	char **str = bench_xmalloc(k * sizeof *str);
	size_t *len = bench_xmalloc(k * sizeof *len);
	long calls = 0;
	unsigned long check = 0;
	double t0 = bench_now();
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < k; i++) { str[i] = NULL; len[i] = 0; }
		int active = k;
		while (active) {
			for (int i = 0; i < k; i++) {
				if (len[i] >= LIMIT)
					continue;
				size_t inc = 1 + (size_t)(bench_rand(&s) % 64);
				char *p = realloc(str[i], len[i] + inc + 1);
				if (!p) { fprintf(stderr, "realloc failed\n"); return 3; }
				memset(p + len[i], 'a' + (int)(inc % 26), inc);
				len[i] += inc;
				p[len[i]] = 0;
				str[i] = p;
				calls++;
				if (len[i] >= LIMIT)
					active--;
			}
		}
		for (int i = 0; i < k; i++) {
			check += (unsigned char)str[i][len[i] / 2];
			free(str[i]);
		}
	}
	double el = bench_now() - t0;
	printf("realloc: mops=%.3f calls=%ld secs=%.3f check=%lu\n", (double)calls / el / 1e6,
	       calls, el, check % 1000);
	free(str);
	free(len);
	return 0;
}
