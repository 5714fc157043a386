/* bench-cache-scratch: passive false sharing test (Hoard's cache-scratch).
 *
 * The main thread allocates T small objects (8 B, so they likely share a
 * cache line) and hands one to each thread.  Each thread frees the object it
 * was given, then I times: mallocs its own 8-byte object, writes it R times,
 * frees it.  An allocator that gives a freed object back to a different
 * thread, or packs objects of different threads into one cache line, makes
 * the threads fight over the cache line.  Fixed work; report secs (lower is
 * better) and Mwrites/s.   -t T threads, -n object size (default 8)
 */
#include "bench_common.h"

static long iterations, repetitions;
static size_t objsize;

struct arg { char *obj; };

static void *worker(void *p)
{
	struct arg *a = p;
	free(a->obj);
	for (long i = 0; i < iterations; i++) {
		volatile char *o = malloc(objsize);
		if (!o) exit(3);
		for (long r = 0; r < repetitions; r++)
			for (size_t k = 0; k < objsize; k++) {
				o[k] = (char)k;
				char c = o[k];
				c++;
				o[k] = c;
			}
		free((void *)o);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 2, .scale = 1.0 };
	bench_parse(argc, argv, &o, "passive false sharing (cache-scratch)", " [-n objsize]");
	objsize = o.n > 0 ? (size_t)o.n : 8;
	iterations = 100;
	/* the same total amount of writes regardless of T */
	repetitions = bench_scaled(1000000, o.scale) / o.threads;
	if (repetitions < 1) repetitions = 1;
	struct arg *args = bench_xmalloc(o.threads * sizeof *args);
	pthread_t *th = bench_xmalloc(o.threads * sizeof *th);
	for (int i = 0; i < o.threads; i++)
		args[i].obj = bench_xmalloc(objsize);
	double t0 = bench_now();
	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&th[i], NULL, worker, &args[i])) {
			fprintf(stderr, "pthread_create failed\n");
			return 3;
		}
	for (int i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);
	double el = bench_now() - t0;
	double writes = (double)o.threads * iterations * repetitions * objsize;
	printf("cache-scratch: secs=%.3f mwrites=%.1f threads=%d\n", el, writes / el / 1e6, o.threads);
	free(th);
	free(args);
	return 0;
}
