/*
 * memcg_stat.c - v1 memory.stat: key list and order, local vs total_ values in a parent P / child C
 * pair (memcg.md §7.2, scenario 18), and which keys count tmpfs, anon, mapped and ext4 page cache.
 *
 * The worker lives in P/C. P has limit 100M and memsw limit 200M (for hierarchical_*_limit).
 * Each step is read twice: at once (".now") and 2.5 s later (".2500ms"), because 6.18 memory.stat
 * is flushed on read only past a threshold (see memcg_stale); the 2.5 s read follows the 2 s worker.
 * steps: tmpfs  worker writes 10 pages (40960 bytes) to a new file on the tmpfs;
 *        anon   10 anonymous pages faulted;
 *        mapped the tmpfs file mmap()ed MAP_SHARED and its 10 pages read;
 *        ext4   10 pages written to a new file under /tmp (ext4), then fsync()ed.
 */
#include "memcg_common.h"

static char wbuf[10 * 4096];
static char *mapped;
static char tmpfs_file[256], ext4_file[256];

static long write_file_pages(const char *path, long n, int do_fsync)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	long r = write(fd, wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	if (do_fsync)
		fsync(fd);
	close(fd);
	return r;
}
static long do_tmpfs(long n) { return write_file_pages(tmpfs_file, n, 0); }
static long do_ext4(long n) { return write_file_pages(ext4_file, n, 0); }
static long do_fsync(long n)
{
	int fd = open(ext4_file, O_WRONLY);
	if (fd < 0)
		return -errno;
	long r = fsync(fd) ? -errno : 0;
	close(fd);
	return r;
}
static long do_map(long n)
{
	int fd = open(tmpfs_file, O_RDONLY);
	if (fd < 0)
		return -errno;
	mapped = mmap(NULL, n * 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (mapped == MAP_FAILED)
		return -errno;
	long s = 0;
	for (long i = 0; i < n; i++)
		s += ((volatile char *)mapped)[i * 4096];
	return s >= 0 ? 0 : 0;
}

static const char *keys[] = { "cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback", "swap", "pgpgin", "pgpgout",
			      "pgfault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable" };

static void snap(const char *step, const char *when)
{
	static const char *cgs[] = { "P", "P/C" };
	for (int c = 0; c < 2; c++) {
		char *st = read_file(cg_path(cgs[c], "memory.stat"));
		char line[2048];
		int n = 0;
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			n += snprintf(line + n, sizeof line - n, "\t%s=%lld", keys[i], kv_get(st, keys[i]));
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			char tk[64];
			snprintf(tk, sizeof tk, "total_%s", keys[i]);
			n += snprintf(line + n, sizeof line - n, "\t%s=%lld", tk, kv_get(st, tk));
		}
		out("stat.%s.%s.%s\tOK\tusage=%lld%s", step, c ? "C" : "P", when, cg_read_ll(cgs[c], "memory.usage_in_bytes"), line);
	}
}

static void step(pid_t w, const char *name, long (*fn)(long), long arg)
{
	long r = fn ? worker_call(w, fn, arg) : 0;
	out("stat.%s.do\t%s\targ=%ld", name, r < 0 ? errname((int)-r) : "OK", arg);
	snap(name, "now");
	msleep(2500);
	snap(name, "2500ms");
}

static void dump(const char *cg, const char *tag)
{
	char *st = read_file(cg_path(cg, "memory.stat"));
	for (char *p = st; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl) *nl = 0;
		char *sp = strchr(p, ' ');
		if (sp) { *sp = 0; out("stat.dump.%s\t%s\t%s", tag, p, sp + 1); }
		p = nl ? nl + 1 : NULL;
	}
}

int main(void)
{
	header("memcg_stat", "v1 memory.stat keys, local vs total_ (memcg.md 7.2, scenario 18)");
	pin_cpu(1);
	shared_init();
	memset(wbuf, 'x', sizeof wbuf);
	snprintf(tmpfs_file, sizeof tmpfs_file, "%s/stat_tmpfs_file", tmpfs_dir());
	snprintf(ext4_file, sizeof ext4_file, "/tmp/memcgprobe_stat_ext4_file");
	char *r = region_new(2UL << 20);
	cg_mkdir("P");
	cg_mkdir("P/C");
	int e1 = cg_write("P", "memory.limit_in_bytes", "100M"), e2 = cg_write("P", "memory.memsw.limit_in_bytes", "200M");
	out("stat.limits\t%s\tP_limit=%s\tP_memsw_limit=%s", errname(e1 ? e1 : e2), cg_read_str("P", "memory.limit_in_bytes"),
	    cg_read_str("P", "memory.memsw.limit_in_bytes"));

	/* the key list of a fresh child, in order */
	char *st = read_file(cg_path("P/C", "memory.stat"));
	char list[4096];
	int n = 0, cnt = 0;
	for (char *p = st; p && *p;) {
		size_t k = strcspn(p, " ");
		n += snprintf(list + n, sizeof list - n, "%s%.*s", cnt ? "," : "", (int)k, p);
		cnt++;
		p = strchr(p, '\n');
		if (p) p++;
	}
	out("stat.keys\t%d\t%s", cnt, list);
	dump("P/C", "fresh_C");

	pid_t w = worker_start(0);
	worker_touch(w, r); /* before the move: PTE table not charged to C */
	int e = cg_move("P/C", w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	out("stat.move\t%s\tworker_memcg=%s\tworker_cpu=%d", errname(e), proc_memcg(w), sh->worker_cpu);
	step(w, "start", NULL, 0);
	step(w, "tmpfs", do_tmpfs, 10);
	for (int i = 1; i <= 10; i++)
		worker_touch(w, r + (size_t)i * PAGE);
	step(w, "anon", NULL, 10);
	step(w, "mapped", do_map, 10);
	step(w, "ext4", do_ext4, 10);
	step(w, "ext4_fsync", do_fsync, 0);
	dump("P", "P");
	dump("P/C", "C");
	char *ns = read_file(cg_path("P/C", "memory.numa_stat"));
	for (char *p = ns; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl) *nl = 0;
		out("stat.numa_stat.C\tOK\t%s", p);
		p = nl ? nl + 1 : NULL;
	}
	worker_stop(w);
	unlink(tmpfs_file);
	unlink(ext4_file);
	return 0;
}
