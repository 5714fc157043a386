/* bench-larson: Larson-style server simulation.
 *
 * T chains run concurrently.  Each chain owns an array of S live blocks
 * (sizes 16-1024 B).  A thread of the chain replaces R random slots
 * (free + malloc + write), then hands the whole array to a freshly created
 * thread (the next "generation") and exits, so most blocks are freed by a
 * thread other than the one that allocated them, and thread-exit paths get
 * exercised.  The amount of work is fixed (-s scales it), so both wall time
 * and ops/s are meaningful.  One op = one free + one malloc.
 *   -t T chains (threads), -n S slots per chain (default 1000)
 */
#include "bench_common.h"
#include <semaphore.h>

#define MIN_SZ 16
#define MAX_SZ 1024

struct chain {
	void **slot;
	long nslot;
	long rounds_left;
	long ops_per_round;
	uint64_t rng;
	long generations;
	sem_t *done;
};

static void *gen_thread(void *arg)
{
	struct chain *c = arg;
	void **slot = c->slot;
	long ns = c->nslot;
	uint64_t s = c->rng;
	for (long i = 0; i < c->ops_per_round; i++) {
		uint64_t x = bench_rand(&s);
		long j = (long)(x % (uint64_t)ns);
		size_t n = MIN_SZ + (size_t)((x >> 32) % (MAX_SZ - MIN_SZ + 1));
		free(slot[j]);
		char *p = malloc(n);
		if (!p) { fprintf(stderr, "malloc failed\n"); exit(3); }
		p[0] = 1;
		p[n - 1] = 2;
		slot[j] = p;
	}
	c->rng = s;
	c->generations++;
	if (--c->rounds_left > 0) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, gen_thread, c) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(3);
		}
		pthread_attr_destroy(&a);
	} else {
		sem_post(c->done);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 2, .scale = 1.0 };
	bench_parse(argc, argv, &o, "larson server simulation (cross-thread free)", " [-n slots]");
	long nslot = o.n > 0 ? o.n : 1000;
	long total_ops = bench_scaled(30000000, o.scale);
	long per_round = 5 * nslot;
	long rounds = total_ops / o.threads / per_round;
	if (rounds < 1) { rounds = 1; per_round = total_ops / o.threads; if (per_round < 1) per_round = 1; }
	sem_t done;
	sem_init(&done, 0, 0);
	struct chain *ch = bench_xmalloc(o.threads * sizeof *ch);

	/* the main thread allocates the initial arrays: the first generation frees them */
	for (int t = 0; t < o.threads; t++) {
		ch[t].nslot = nslot;
		ch[t].slot = bench_xmalloc(nslot * sizeof(void *));
		ch[t].rng = bench_seed(o.seed, t);
		ch[t].rounds_left = rounds;
		ch[t].ops_per_round = per_round;
		ch[t].generations = 0;
		ch[t].done = &done;
		for (long i = 0; i < nslot; i++) {
			size_t n = bench_range(&ch[t].rng, MIN_SZ, MAX_SZ);
			ch[t].slot[i] = bench_xmalloc(n);
			memset(ch[t].slot[i], 0, n);
		}
	}
	double t0 = bench_now();
	for (int t = 0; t < o.threads; t++) {
		pthread_t th;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &a, gen_thread, &ch[t]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 3;
		}
		pthread_attr_destroy(&a);
	}
	for (int t = 0; t < o.threads; t++)
		sem_wait(&done);
	double el = bench_now() - t0;
	long ops = 0, gens = 0;
	for (int t = 0; t < o.threads; t++) {
		ops += ch[t].ops_per_round * rounds;
		gens += ch[t].generations;
		for (long i = 0; i < nslot; i++)
			free(ch[t].slot[i]);
		free(ch[t].slot);
	}
	free(ch);
	printf("larson: mops=%.3f threads=%d generations=%ld secs=%.3f\n",
	       (double)ops / el / 1e6, o.threads, gens, el);
	return 0;
}
