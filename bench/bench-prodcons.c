/* bench-prodcons: producer/consumer cross-thread frees.
 *
 * T pairs.  In each pair the producer mallocs blocks of 16-512 B, writes
 * them and pushes the pointers through a bounded single-producer /
 * single-consumer ring (lock-free, 1024 entries) to its consumer, which
 * reads and frees them.  Every block is freed by a thread other than the one
 * that allocated it.  Fixed amount of work (-s); one op = one malloc+free.
 */
#include "bench_common.h"
#include <sched.h>
#include <stdatomic.h>

#define QCAP 1024
#define MIN_SZ 16
#define MAX_SZ 512

struct queue {
	_Alignas(64) _Atomic unsigned long head; /* written by consumer */
	_Alignas(64) _Atomic unsigned long tail; /* written by producer */
	_Alignas(64) void *slot[QCAP];
	long items;
	uint64_t seed;
	unsigned long checksum;
};

static void *producer(void *arg)
{
	struct queue *q = arg;
	uint64_t s = q->seed;
	unsigned long tail = 0;
	for (long i = 0; i < q->items; i++) {
		size_t n = MIN_SZ + (size_t)(bench_rand(&s) % (MAX_SZ - MIN_SZ + 1));
		unsigned char *p = malloc(n);
		if (!p) { fprintf(stderr, "malloc failed\n"); exit(3); }
		p[0] = (unsigned char)n;
		p[n - 1] = 7;
		int spins = 0;
		while (tail - atomic_load_explicit(&q->head, memory_order_acquire) >= QCAP)
			if (++spins > 64) { sched_yield(); spins = 0; }
		q->slot[tail % QCAP] = p;
		atomic_store_explicit(&q->tail, ++tail, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct queue *q = arg;
	unsigned long head = 0, sum = 0;
	while (head < (unsigned long)q->items) {
		unsigned long tail;
		int spins = 0;
		while ((tail = atomic_load_explicit(&q->tail, memory_order_acquire)) == head)
			if (++spins > 64) { sched_yield(); spins = 0; }
		/* drain everything available, then publish the new head once */
		while (head < tail) {
			unsigned char *p = q->slot[head % QCAP];
			sum += p[0];
			free(p);
			head++;
		}
		atomic_store_explicit(&q->head, head, memory_order_release);
	}
	q->checksum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "producer/consumer pairs; -t = number of pairs", NULL);
	long total = bench_scaled(10000000, o.scale);
	long per = total / o.threads;
	if (per < 1) per = 1;
	struct queue *q = aligned_alloc(64, o.threads * sizeof *q);
	if (!q) return 3;
	pthread_t *th = bench_xmalloc(2 * o.threads * sizeof *th);
	for (int i = 0; i < o.threads; i++) {
		memset(&q[i], 0, sizeof q[i]);
		q[i].items = per;
		q[i].seed = bench_seed(o.seed, i);
	}
	double t0 = bench_now();
	for (int i = 0; i < o.threads; i++) {
		if (pthread_create(&th[2 * i], NULL, consumer, &q[i]) ||
		    pthread_create(&th[2 * i + 1], NULL, producer, &q[i])) {
			fprintf(stderr, "pthread_create failed\n");
			return 3;
		}
	}
	for (int i = 0; i < 2 * o.threads; i++)
		pthread_join(th[i], NULL);
	double el = bench_now() - t0;
	printf("prodcons: mops=%.3f pairs=%d secs=%.3f\n", (double)per * o.threads / el / 1e6,
	       o.threads, el);
	free(th);
	free(q);
	return 0;
}
