/* bench-xmalloc: xmalloc-test style many-thread churn.
 *
 * T threads arranged in a ring.  Each thread repeatedly allocates a batch of
 * B blocks (16-256 B, written) and pushes the batch onto the queue of the
 * next thread; it frees every batch found on its own queue.  So every block
 * is freed by a different thread than the one that allocated it (for T=1 the
 * thread frees its own batches).  A queue holds at most 4 batches, which
 * bounds memory.  Fixed amount of work (-s); one op = one malloc+free.
 *   -t T threads, -n B batch size (default 200)
 */
#include "bench_common.h"
#include <sched.h>

#define MIN_SZ 16
#define MAX_SZ 256
#define QMAX 4

struct batch { struct batch *next; long n; void *p[]; };

struct tq {
	pthread_mutex_t lock;
	struct batch *head, *tail;
	int len;
	long batches_to_come; /* batches the predecessor will still push */
	char pad[64];
};

static struct tq *qs;
static int nthreads;
static long batches_per_thread, batch_size;
static uint64_t base_seed;

static struct batch *pop(struct tq *q)
{
	pthread_mutex_lock(&q->lock);
	struct batch *b = q->head;
	if (b) {
		q->head = b->next;
		if (!q->head) q->tail = NULL;
		q->len--;
		q->batches_to_come--;
	}
	pthread_mutex_unlock(&q->lock);
	return b;
}

static int try_push(struct tq *q, struct batch *b)
{
	int ok = 0;
	pthread_mutex_lock(&q->lock);
	if (q->len < QMAX) {
		b->next = NULL;
		if (q->tail) q->tail->next = b; else q->head = b;
		q->tail = b;
		q->len++;
		ok = 1;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static long remaining(struct tq *q)
{
	pthread_mutex_lock(&q->lock);
	long r = q->batches_to_come;
	pthread_mutex_unlock(&q->lock);
	return r;
}

static void free_batch(struct batch *b)
{
	for (long i = 0; i < b->n; i++)
		free(b->p[i]);
	free(b);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	struct tq *mine = &qs[id], *next = &qs[(id + 1) % nthreads];
	uint64_t s = bench_seed(base_seed, (uint64_t)id);
	struct batch *pending = NULL;
	long made = 0;
	for (;;) {
		struct batch *b;
		int did = 0;
		while ((b = pop(mine)) != NULL) {
			free_batch(b);
			did = 1;
		}
		if (!pending && made < batches_per_thread) {
			pending = malloc(sizeof *pending + batch_size * sizeof(void *));
			if (!pending) exit(3);
			pending->n = batch_size;
			for (long i = 0; i < batch_size; i++) {
				size_t n = MIN_SZ + (size_t)(bench_rand(&s) % (MAX_SZ - MIN_SZ + 1));
				char *p = malloc(n);
				if (!p) { fprintf(stderr, "malloc failed\n"); exit(3); }
				p[0] = 1;
				p[n - 1] = 2;
				pending->p[i] = p;
			}
			made++;
			did = 1;
		}
		if (pending && try_push(next, pending)) {
			pending = NULL;
			did = 1;
		}
		if (!pending && made == batches_per_thread && remaining(mine) == 0)
			break;
		if (!did)
			sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 2, .scale = 1.0 };
	bench_parse(argc, argv, &o, "xmalloc-style ring of threads freeing each other's batches",
		    " [-n batch]");
	nthreads = o.threads;
	base_seed = o.seed;
	batch_size = o.n > 0 ? o.n : 200;
	long total = bench_scaled(12000000, o.scale);
	batches_per_thread = total / nthreads / batch_size;
	if (batches_per_thread < 1) batches_per_thread = 1;
	qs = aligned_alloc(64, sizeof(struct tq) * nthreads);
	if (!qs) return 3;
	for (int i = 0; i < nthreads; i++) {
		pthread_mutex_init(&qs[i].lock, NULL);
		qs[i].head = qs[i].tail = NULL;
		qs[i].len = 0;
		qs[i].batches_to_come = batches_per_thread;
	}
	pthread_t *th = bench_xmalloc(nthreads * sizeof *th);
	double t0 = bench_now();
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i)) {
			fprintf(stderr, "pthread_create failed\n");
			return 3;
		}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	double el = bench_now() - t0;
	long ops = batches_per_thread * batch_size * nthreads;
	printf("xmalloc: mops=%.3f threads=%d secs=%.3f\n", (double)ops / el / 1e6, nthreads, el);
	free(th);
	free(qs);
	return 0;
}
