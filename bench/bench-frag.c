/* bench-frag: Redpanda-style fragmentation test.
 *
 * Fill ~1 GiB (x scale) with 32 KiB blocks (every page written), free a
 * random 96.8 % of them, then ask for large blocks of size S (1, 2, 4, 8 MiB),
 * one after the other, writing every page of each.
 *
 * Definition used ("how many S-blocks can be had"):
 *   RSS here is anonymous resident memory (bench_rss_anon: the heap, not the
 *            program's code pages, which a forked child maps lazily, 300-400 KiB
 *            of them during the free loop alone, under every allocator).
 *   budget = RSS right after the fill (the peak footprint of the program)
 *            plus S/2 of tolerance for the program's own bookkeeping.
 *   fit_S  = number of S-blocks allocated before RSS first exceeds the
 *            budget.  Memory the allocator kept resident and can reuse counts,
 *            and so does memory it returned to the OS (then RSS dropped and
 *            there is room again); memory it kept resident but cannot
 *            reuse (fragmented) does not.  ideal_S = freed bytes / S, the
 *            count for a perfect allocator; pct_S = 100 * fit_S / ideal_S.
 *   reuse_S = of those attempts, how many were served from already resident
 *            memory, i.e. RSS grew by less than S/2 while allocating and
 *            touching the block.
 * Every allocator is asked for the same: ideal_S blocks (the freed bytes' worth), every page
 * written, whether or not they fit; the count stops at the first block that takes RSS over
 * the budget. So the run's time and peak RSS compare like with like: an allocator that cannot
 * reuse the freed memory takes new pages for the rest (peak up to fill + freed), one that can
 * stays near the fill. (Until session 15 the attempts stopped at the budget, so the run's
 * time grew with fit_S: the allocator that found the most blocks ran longest.)
 * fit_us_per_mib is the time of the large-block phase per MiB asked for.  Each size runs
 * in its own forked child (fresh heap), so the sizes do not influence each
 * other.  Prints counts for every size.   -s scale
 */
#include "bench_common.h"
#include <sys/wait.h>

#define BLK (32u << 10)

struct res { long fit, reuse, ideal; double rss_fill, rss_freed, fit_secs; };

static void run_one(size_t S, double scale, uint64_t seed, struct res *r)
{
	size_t target = (size_t)((double)(1ull << 30) * scale);
	long n = (long)(target / BLK);
	uint64_t s = bench_seed(seed, S);
	void **p = bench_xmalloc(n * sizeof *p);
	long *idx = bench_xmalloc(n * sizeof *idx);
	long nfree = (long)((double)n * 0.968);
	r->ideal = (long)((size_t)nfree * BLK / S);
	void **big = bench_xmalloc((r->ideal + 1) * sizeof *big);   /* + 1: never malloc(0) */
	memset(idx, 0, n * sizeof *idx);
	memset(big, 0, (r->ideal + 1) * sizeof *big);
	for (long i = 0; i < n; i++) {
		p[i] = bench_xmalloc(BLK);
		bench_touch(p[i], BLK);
	}
	size_t rss_fill = bench_rss_anon();
	/* small tolerance for the program's own bookkeeping */
	size_t budget = rss_fill + S / 2;
	/* free 96.8 % at random: shuffle the order, free the first part */
	for (long i = 0; i < n; i++) idx[i] = i;
	for (long i = n - 1; i > 0; i--) {
		long j = (long)(bench_rand(&s) % (uint64_t)(i + 1));
		long t = idx[i]; idx[i] = idx[j]; idx[j] = t;
	}
	for (long i = 0; i < nfree; i++) {
		free(p[idx[i]]);
		p[idx[i]] = NULL;
	}
	size_t freed_rss = bench_rss_anon();
	r->fit = r->reuse = 0;
	bool within = true;                     /* no block has taken RSS over the budget yet */
	double t_fit = bench_now();
	for (long nb = 0; nb < r->ideal; nb++) {
		size_t before = bench_rss_anon();
		void *b = bench_xmalloc(S);
		bench_touch(b, S);
		big[nb] = b;
		size_t after = bench_rss_anon();
		if (after > budget)
			within = false;
		if (!within)
			continue;
		r->fit++;
		if (after < before + S / 2)
			r->reuse++;
	}
	r->fit_secs = bench_now() - t_fit;
	r->rss_fill = bench_mib(rss_fill);
	r->rss_freed = bench_mib(freed_rss);
	/* no cleanup needed: the child exits */
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .threads = 1, .scale = 1.0 };
	bench_parse(argc, argv, &o, "fragmentation: large blocks after freeing 96.8% of 32 KiB blocks", NULL);
	static const size_t sizes[] = { 1u << 20, 2u << 20, 4u << 20, 8u << 20 };
	struct res r[4];
	double t0 = bench_now();
	fflush(stdout);
	for (int k = 0; k < 4; k++) {
		int fd[2];
		if (pipe(fd)) return 3;
		pid_t pid = fork();
		if (pid < 0) return 3;
		if (pid == 0) {
			close(fd[0]);
			struct res x;
			run_one(sizes[k], o.scale, o.seed, &x);
			if (write(fd[1], &x, sizeof x) != (ssize_t)sizeof x) _exit(4);
			_exit(0);
		}
		close(fd[1]);
		ssize_t got = read(fd[0], &r[k], sizeof r[k]);
		close(fd[0]);
		int st;
		waitpid(pid, &st, 0);
		if (got != (ssize_t)sizeof r[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "frag: child for %zu MiB failed (status 0x%x)\n", sizes[k] >> 20, st);
			return 4;
		}
	}
	double el = bench_now() - t0;
	double pct_sum = 0, fit_secs = 0, fit_mib = 0;
	printf("frag:");
	for (int k = 0; k < 4; k++) {
		double pct = r[k].ideal ? 100.0 * (double)r[k].fit / (double)r[k].ideal : 0;
		if (pct > 100) pct = 100;
		pct_sum += pct;
		fit_secs += r[k].fit_secs;
		fit_mib += (double)(r[k].ideal * (long)(sizes[k] >> 20));       /* every block asked for */
		printf(" fit_%zum=%ld reuse_%zum=%ld ideal_%zum=%ld pct_%zum=%.1f", sizes[k] >> 20, r[k].fit,
		       sizes[k] >> 20, r[k].reuse, sizes[k] >> 20, r[k].ideal, sizes[k] >> 20, pct);
	}
	/* the time of the large-block phase per MiB asked for */
	printf(" pct_avg=%.1f rss_fill=%.1f rss_freed=%.1f fit_us_per_mib=%.1f secs=%.3f\n", pct_sum / 4,
	       r[0].rss_fill, r[0].rss_freed, fit_mib > 0 ? 1e6 * fit_secs / fit_mib : 0, el);
	return 0;
}
