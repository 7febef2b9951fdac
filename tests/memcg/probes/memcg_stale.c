/*
 * memcg_stale.c - staleness of v1 memory.stat on 6.18 (memcg.md §6.2 vs §6.5, scenario 20).
 *
 * For each N, in a fresh memcg (two trials each): the worker (CPU 0) faults N anonymous pages one
 * at a time (PTE tables made before the move), then the probe reads memory.stat once at once
 * ("now", ms after the last fault) and once after sleeping 2.5 s (the periodic rstat flush runs
 * every 2 s). memory.usage_in_bytes is a page counter and is always exact (it includes the per-CPU
 * stock); memory.stat comes from rstat, flushed on read only when enough updates accumulated.
 * fields: rss_now/total_rss_now, pgfault_now (events), the same at 2500ms, stale=yes if
 * rss_now != N*4096, ms_fault = how long the N faults took (a periodic flush may fall inside).
 */
#include "memcg_common.h"

static void trial(int n, int t, char *r)
{
	char cg[32];
	snprintf(cg, sizeof cg, "S%d_%d", n, t);
	cg_mkdir(cg);
	pid_t w = worker_start(0);
	/* PTE tables: pages 0, 512, 1024 are touched before the move and are not among the N */
	for (int k = 0; k < 3; k++)
		worker_touch(w, r + (size_t)k * 512 * PAGE);
	int e = cg_move(cg, w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	double t0 = now_s();
	int done = 0;
	for (size_t i = 1; done < n; i++) {
		if (i % 512 == 0)
			continue;
		worker_touch(w, r + i * PAGE);
		done++;
	}
	double t1 = now_s();
	char *st = read_file(cg_path(cg, "memory.stat"));
	double t2 = now_s();
	long long rss = kv_get(st, "rss"), trss = kv_get(st, "total_rss"), pf = kv_get(st, "pgfault"), pin = kv_get(st, "pgpgin");
	long long ia = kv_get(st, "inactive_anon");
	long long usage = cg_read_ll(cg, "memory.usage_in_bytes");
	long long top_trss = cg_stat("", "total_rss");
	msleep(2500);
	char *st2 = read_file(cg_path(cg, "memory.stat"));
	out("stale.N%d\ttrial%d\texpect_rss=%d\trss_now=%lld\ttotal_rss_now=%lld\tpgfault_now=%lld\tpgpgin_now=%lld\tinactive_anon_now=%lld"
	    "\tparent_total_rss_now=%lld\tusage_now=%lld\trss_2500ms=%lld\ttotal_rss_2500ms=%lld\tpgfault_2500ms=%lld\tinactive_anon_2500ms=%lld"
	    "\tstale=%s\tms_fault=%.1f\tms_read_after_fault=%.2f\tmove=%s\tworker_cpu=%d",
	    n, t, n * 4096, rss, trss, pf, pin, ia, top_trss, usage, kv_get(st2, "rss"), kv_get(st2, "total_rss"),
	    kv_get(st2, "pgfault"), kv_get(st2, "inactive_anon"), rss != n * 4096LL ? "yes" : "no", (t1 - t0) * 1e3,
	    (t2 - t1) * 1e3, errname(e), sh->worker_cpu);
	worker_stop(w);
	cg_rmdir(cg);
}

int main(void)
{
	header("memcg_stale", "memory.stat staleness on 6.18 (memcg.md 6.5, scenario 20)");
	pin_cpu(1);
	shared_init();
	char *r = region_new(8UL << 20);
	static const int ns[] = { 1, 10, 32, 40, 44, 48, 49, 50, 51, 52, 56, 60, 63, 64, 100, 128, 200, 300, 1000 };
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		for (int t = 1; t <= 2; t++) {
			/* a fresh region every trial would exhaust nothing; reuse it after zapping the pages */
			madvise(r, 8UL << 20, MADV_DONTNEED);
			trial(ns[i], t, r);
		}
	return 0;
}
