/*
 * memcg_batch.c - charge batch size (MEMCG_CHARGE_BATCH) and the per-CPU charge stock, cgroup v1.
 *
 * memcg.md §4.1/§4.2 and scenarios 1-2 (5.14: batch 32 pages, usage 131072 after one page, the 33rd
 * fault charges another batch). The worker runs on CPU 0; the probe (outside the test cgroups, CPU 1) reads
 * memory.usage_in_bytes, memory.kmem.usage_in_bytes and memory.memsw.usage_in_bytes after each
 * single-page anonymous fault.
 *
 * pte_present: the worker faulted page 0 of the region before it was moved, so the PTE
 *              table exists; it then faults pages 1, 2, ... in the fresh memcg.
 * pte_absent:  a fresh 2 MiB-aligned region with no PTE table: the first fault also allocates a
 *              page-table page (GFP_PGTABLE_USER has __GFP_ACCOUNT, a kmem charge).
 * Items: batch.<variant>.fault  one line per fault; batch.<variant>.jump  each change of usage;
 *        batch.<variant>.exit   usage after the worker exited (what the per-CPU stock still holds).
 */
#include "memcg_common.h"

#define NFAULT 140

static void run(const char *variant, const char *cg, int pte_present)
{
	char *r = region_new(4UL << 20);
	char *base = pte_present ? r : r + (2UL << 20); /* pte_absent: second 2 MiB half, never touched */
	long long tu = cg_read_ll("", "memory.usage_in_bytes"), tk = cg_read_ll("", "memory.kmem.usage_in_bytes");
	int e = cg_mkdir(cg);
	/* mem_cgroup_css_alloc charges the new memcg's own structures (percpu stats) to the parent */
	out("batch.%s.mkdir\t%s\tcg=%s\ttop_usage_before=%lld\ttop_kmem_before=%lld\ttop_usage_after=%lld\ttop_kmem_after=%lld",
	    variant, errname(e), cg, tu, tk, cg_read_ll("", "memory.usage_in_bytes"), cg_read_ll("", "memory.kmem.usage_in_bytes"));
	if (e) return;
	pid_t w = worker_start(0);
	if (pte_present)
		worker_touch(w, r); /* before the move: page 0 and the PTE table are not charged to cg */
	e = cg_move(cg, w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	long long u0 = cg_read_ll(cg, "memory.usage_in_bytes"), k0 = cg_read_ll(cg, "memory.kmem.usage_in_bytes");
	out("batch.%s.start\t%s\tcg=%s\tusage=%lld\tkmem=%lld\tmemsw=%lld\tworker_cpu=%d\tprobe_cpu=%d",
	    variant, errname(e), cg, u0, k0, cg_read_ll(cg, "memory.memsw.usage_in_bytes"), sh->worker_cpu, sched_getcpu());
	long long prev = u0;
	int njump = 0;
	for (int i = 1; i <= NFAULT; i++) {
		char *a = base + (size_t)(pte_present ? i : i - 1) * PAGE;
		if (worker_touch(w, a)) { out("batch.%s.fault\tWORKER_DIED\tfault=%d", variant, i); return; }
		long long u = cg_read_ll(cg, "memory.usage_in_bytes");
		long long k = cg_read_ll(cg, "memory.kmem.usage_in_bytes");
		long long m = cg_read_ll(cg, "memory.memsw.usage_in_bytes");
		out("batch.%s.fault\t%d\tusage=%lld\tkmem=%lld\tmemsw=%lld\tusage_pages=%lld\tworker_cpu=%d",
		    variant, i, u, k, m, u / 4096, sh->worker_cpu);
		if (u != prev) {
			njump++;
			out("batch.%s.jump\t%d\tafter_fault=%d\tfrom=%lld\tto=%lld\tdelta_pages=%lld", variant, njump, i, prev, u, (u - prev) / 4096);
			prev = u;
		}
	}
	char *st = read_file(cg_path(cg, "memory.stat"));
	out("batch.%s.stat\tOK\trss=%lld\tpgpgin=%lld\tpgfault=%lld\t(read at once; may be stale, see memcg_stale)", variant,
	    kv_get(st, "rss"), kv_get(st, "pgpgin"), kv_get(st, "pgfault"));
	out("batch.%s.max_usage\t%lld\tfailcnt=%lld", variant, cg_read_ll(cg, "memory.max_usage_in_bytes"), cg_read_ll(cg, "memory.failcnt"));
	worker_stop(w);
	msleep(100);
	out("batch.%s.exit\tOK\tusage=%lld\tkmem=%lld\tmemsw=%lld\t(worker exited: its anon pages are uncharged, the stock is not drained)",
	    variant, cg_read_ll(cg, "memory.usage_in_bytes"), cg_read_ll(cg, "memory.kmem.usage_in_bytes"),
	    cg_read_ll(cg, "memory.memsw.usage_in_bytes"));
}

int main(void)
{
	header("memcg_batch", "charge batch and per-CPU stock (memcg.md 4.1, 4.2, scenarios 1-2)");
	pin_cpu(1);
	shared_init();
	run("pte_present", "A", 1);
	run("pte_absent", "B", 0);
	/* a third memcg on the same CPU: does the stock of A/B get drained when another memcg charges? */
	out("batch.after_B\tOK\tA_usage=%lld\tB_usage=%lld", cg_read_ll("A", "memory.usage_in_bytes"), cg_read_ll("B", "memory.usage_in_bytes"));
	run("pte_present_again", "C", 1);
	out("batch.after_C\tOK\tA_usage=%lld\tB_usage=%lld\tC_usage=%lld", cg_read_ll("A", "memory.usage_in_bytes"),
	    cg_read_ll("B", "memory.usage_in_bytes"), cg_read_ll("C", "memory.usage_in_bytes"));
	out("batch.parent\tOK\ttop_usage=%lld\ttop_kmem=%lld\t(the parent memsim_probe_memcg_batch: A + B + C + the kmem of their memcg structures)",
	    cg_read_ll("", "memory.usage_in_bytes"), cg_read_ll("", "memory.kmem.usage_in_bytes"));
	/* rmdir drains the dying memcg's stock (mem_cgroup_css_offline -> drain_all_stock) */
	for (const char *c = "A"; c; c = (c[0] == 'A' ? "B" : c[0] == 'B' ? "C" : NULL)) {
		int e = cg_rmdir(c);
		msleep(200);
		out("batch.rmdir\t%s\tcg=%s\ttop_usage_after=%lld\ttop_kmem_after=%lld", errname(e), c,
		    cg_read_ll("", "memory.usage_in_bytes"), cg_read_ll("", "memory.kmem.usage_in_bytes"));
	}
	return 0;
}
