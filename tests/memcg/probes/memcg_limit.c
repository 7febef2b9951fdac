/*
 * memcg_limit.c - charging at and over memory.limit_in_bytes, cgroup v1 (memcg.md §4.1, §7.2,
 * scenario 3; no swap on this machine, so anonymous memory cannot be reclaimed).
 *
 * exact:   limit 10 pages; 10 single-page anon faults (usage, failcnt, max_usage, memsw after each);
 *          then an 11th fault (the worker is a forked child: an OOM kill does not hit the probe).
 * nooom:   the same with memory.oom_control oom_kill_disable=1: the 11th fault waits under OOM; then
 *          the limit is raised to 11 pages and the wait ends.
 * shrink:  20 pages used (64 charged: the stock), then limit writes of 30 pages (only the stock is
 *          above), 20 pages (= used) and 1 page (nothing reclaimable): errno, time, usage after.
 */
#include "memcg_common.h"

static void counters(const char *item, const char *cg, const char *res)
{
	out("%s\t%s\tusage=%lld\tfailcnt=%lld\tmax_usage=%lld\tmemsw=%lld\tmemsw_failcnt=%lld\tkmem=%lld\tlimit=%lld", item, res,
	    cg_read_ll(cg, "memory.usage_in_bytes"), cg_read_ll(cg, "memory.failcnt"), cg_read_ll(cg, "memory.max_usage_in_bytes"),
	    cg_read_ll(cg, "memory.memsw.usage_in_bytes"), cg_read_ll(cg, "memory.memsw.failcnt"),
	    cg_read_ll(cg, "memory.kmem.usage_in_bytes"), cg_read_ll(cg, "memory.limit_in_bytes"));
}

static const char *wstatus(int st)
{
	static char b[64];
	if (WIFSIGNALED(st))
		snprintf(b, sizeof b, "signal=%s", strsignal(WTERMSIG(st)));
	else if (WIFEXITED(st))
		snprintf(b, sizeof b, "exit=%d", WEXITSTATUS(st));
	else
		snprintf(b, sizeof b, "status=0x%x", st);
	return b;
}

/* a worker in a fresh memcg with the PTE table of its region already there; returns its pid */
static pid_t setup(const char *cg, char **region, const char *limit)
{
	*region = region_new(2UL << 20);
	int e = cg_mkdir(cg);
	if (e) { out("limit.%s.mkdir\t%s", cg, errname(e)); exit(1); }
	if (limit) {
		e = cg_write(cg, "memory.limit_in_bytes", limit);
		out("limit.%s.set_limit\t%s\twrote=%s\tread=%lld", cg, errname(e), limit, cg_read_ll(cg, "memory.limit_in_bytes"));
	}
	pid_t w = worker_start(0);
	worker_touch(w, *region); /* before the move: not charged to cg */
	e = cg_move(cg, w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	out("limit.%s.move\t%s\tworker_cpu=%d", cg, errname(e), sh->worker_cpu);
	return w;
}

static void exact(void)
{
	char *r, item[64];
	pid_t w = setup("exact", &r, "40960");
	counters("limit.exact.start", "exact", "OK");
	for (int i = 1; i <= 10; i++) {
		int e = worker_touch(w, r + (size_t)i * PAGE);
		snprintf(item, sizeof item, "limit.exact.fault%d", i);
		counters(item, "exact", e ? "WORKER_DIED" : "OK");
	}
	out("limit.exact.oom_control\tOK\t%s", cg_read_str("exact", "memory.oom_control"));
	double t0 = now_s();
	int died = worker_touch(w, r + 11 * PAGE);
	double dt = now_s() - t0;
	if (died)
		out("limit.exact.fault11\tWORKER_DIED\t%s\tseconds=%.3f", wstatus((int)sh->result), dt);
	else
		out("limit.exact.fault11\tOK\tseconds=%.3f\t(no OOM kill: the page was charged)", dt);
	msleep(200);
	counters("limit.exact.after11", "exact", "OK");
	msleep(2300);
	counters("limit.exact.after11_2500ms", "exact", "OK");
	out("limit.exact.oom_control_after\tOK\t%s", cg_read_str("exact", "memory.oom_control"));
	char *st = read_file(cg_path("exact", "memory.stat"));
	out("limit.exact.stat_after\tOK\trss=%lld\tpgpgin=%lld\tpgpgout=%lld\t(read at once)", kv_get(st, "rss"), kv_get(st, "pgpgin"), kv_get(st, "pgpgout"));
	msleep(2500);
	st = read_file(cg_path("exact", "memory.stat"));
	out("limit.exact.stat_after_2500ms\tOK\trss=%lld\tpgpgin=%lld\tpgpgout=%lld", kv_get(st, "rss"), kv_get(st, "pgpgin"), kv_get(st, "pgpgout"));
	if (!died)
		worker_stop(w);
}

static void nooom(void)
{
	char *r, item[64];
	pid_t w = setup("nooom", &r, "40960");
	int e = cg_write("nooom", "memory.oom_control", "1");
	out("limit.nooom.oom_kill_disable\t%s\twrote=1\tread=%s", errname(e), cg_read_str("nooom", "memory.oom_control"));
	for (int i = 1; i <= 10; i++)
		worker_touch(w, r + (size_t)i * PAGE);
	counters("limit.nooom.after10", "nooom", "OK");
	/* post the 11th fault without waiting */
	sh->cmd = CMD_TOUCH;
	sh->addr = r + 11 * PAGE;
	long s = sh->seq + 1;
	__sync_synchronize();
	sh->seq = s;
	msleep(1000);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)w);
	char *ps = read_file(path), state = '?';
	if (ps && strrchr(ps, ')'))
		state = strrchr(ps, ')')[2];
	snprintf(item, sizeof item, "limit.nooom.fault11_1s");
	out("%s\t%s\tworker_state=%c\toom_control=%s", item, sh->ack == s ? "DONE" : "WAITING", state, cg_read_str("nooom", "memory.oom_control"));
	counters("limit.nooom.waiting", "nooom", "OK");
	e = cg_write("nooom", "memory.limit_in_bytes", "45056");
	double t0 = now_s();
	while (sh->ack != s && now_s() - t0 < 3)
		msleep(1);
	out("limit.nooom.raise_limit\t%s\twrote=45056\tfault11=%s\tafter_seconds=%.3f\toom_control=%s", errname(e),
	    sh->ack == s ? "DONE" : "STILL_WAITING", now_s() - t0, cg_read_str("nooom", "memory.oom_control"));
	counters("limit.nooom.after11", "nooom", "OK");
	if (sh->ack != s) {
		kill(w, SIGKILL);
		waitpid(w, NULL, 0);
	} else
		worker_stop(w);
}

/* writer_cpu 1: the probe writes the limit from CPU 1 while the stock sits on CPU 0 (drain_all_stock
 * only schedules the drain work there); writer_cpu 0: from the stock's own CPU (drained at once) */
static void shrink(const char *cg, int writer_cpu)
{
	char *r;
	pid_t w = setup(cg, &r, NULL);
	for (int i = 1; i <= 20; i++)
		worker_touch(w, r + (size_t)i * PAGE);
	char item[96];
	snprintf(item, sizeof item, "limit.%s.used20", cg);
	counters(item, cg, "OK");
	pin_cpu(writer_cpu);
	static const char *vals[] = { "122880", "81920", "4096" };
	static const char *what[] = { "30_pages", "20_pages", "1_page" };
	for (int i = 0; i < 3; i++) {
		double t0 = now_s();
		int e = cg_write(cg, "memory.limit_in_bytes", vals[i]);
		double dt = now_s() - t0;
		snprintf(item, sizeof item, "limit.%s.%s", cg, what[i]);
		out("%s\t%s\twrote=%s\tseconds=%.3f\twriter_cpu=%d", item, errname(e), vals[i], dt, sched_getcpu());
		msleep(100);
		counters(item, cg, errname(e));
	}
	pin_cpu(1);
	msleep(2500);
	char *st = read_file(cg_path(cg, "memory.stat"));
	out("limit.%s.stat_2500ms\tOK\trss=%lld\tinactive_anon=%lld\tactive_anon=%lld\tpgpgin=%lld\tpgpgout=%lld", cg, kv_get(st, "rss"),
	    kv_get(st, "inactive_anon"), kv_get(st, "active_anon"), kv_get(st, "pgpgin"), kv_get(st, "pgpgout"));
	worker_stop(w);
}

int main(void)
{
	header("memcg_limit", "charges at and over memory.limit_in_bytes (memcg.md 4.1, 7.2, scenario 3)");
	pin_cpu(1);
	shared_init();
	exact();
	nooom();
	shrink("shrink", 1);
	shrink("shrink_samecpu", 0);
	return 0;
}
