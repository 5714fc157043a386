/* bench-fastpath: the malloc/free fast path, for instruction counting.
 *
 * Keeps 1000 other 32-byte blocks live, then runs N pairs of malloc(32) +
 * free.  N is the first argument (default 1000000).  Meant to be run under
 * callgrind twice (N and 2N): (Ir(2N) - Ir(N)) / N is the number of
 * instructions per pair, with start-up and the loop's own overhead (a few
 * instructions) included in the latter.  See bench/fastpath.sh.
 */
#include "bench_common.h"

#define LIVE 1000

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	static void *live[LIVE];
	for (int i = 0; i < LIVE; i++)
		live[i] = bench_xmalloc(32);
	double t0 = bench_now();
	for (long i = 0; i < n; i++) {
		void *p = malloc(32);
		bench_sink = p;
		free(p);
	}
	double el = bench_now() - t0;
	for (int i = 0; i < LIVE; i++)
		free(live[i]);
	printf("fastpath: pairs=%ld ns_per_pair=%.2f\n", n, el * 1e9 / (double)n);
	return 0;
}
