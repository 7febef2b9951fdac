/*
 * memcg_dying.c - dying (offline, not yet freed) memcgs: what pins them on 6.18 (memcg.md §5,
 * scenario 14: "LRU pages still pin a dying memcg" in 5.13-5.15).
 *
 * /proc/cgroups num_cgroups (memory) counts online and dying memcgs. Variants, each in P/<child>:
 *   tmpfs: the worker writes 5 pages to a tmpfs file (kept), exits; rmdir the child; then the file is
 *          deleted; then caches are dropped.
 *   ext4:  the same with an ext4 file under /tmp (fsync()ed, kept); then caches are dropped (the clean
 *          pages are freed with the file still there); then the file is deleted.
 *   kmem:  the worker creates 100 empty tmpfs files (slab only: dentries, inodes), exits; rmdir.
 *   anon:  the worker faults 5 anonymous pages and exits (pages freed); rmdir.
 * num_cgroups is polled for up to 3 s after each event (release is asynchronous: RCU + work).
 * P's memory.stat is read after 2.5 s (past the periodic rstat flush).
 */
#include "memcg_common.h"

static char wbuf[5 * 4096];
static char path_tmpfs[256], path_ext4[256], kdir[256];

static long do_tmpfs(long n)
{
	int fd = open(path_tmpfs, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) return -errno;
	long r = write(fd, wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	close(fd);
	return r;
}
static long do_ext4(long n)
{
	int fd = open(path_ext4, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) return -errno;
	long r = write(fd, wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	fsync(fd);
	close(fd);
	return r;
}
static long do_kmem(long n)
{
	char p[300];
	if (mkdir(kdir, 0755)) return -errno;
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%ld", kdir, i);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0) return -errno;
		close(fd);
	}
	return 0;
}

/* poll num_cgroups until it differs from 'from' or 3 s pass */
static int poll_ncg(int from, double *secs)
{
	double t0 = now_s();
	int n;
	do {
		n = memory_num_cgroups();
		if (n != from) break;
		msleep(20);
	} while (now_s() - t0 < 3);
	*secs = now_s() - t0;
	return n;
}

static void pstat(const char *v, const char *when)
{
	char *st = read_file(cg_path("P", "memory.stat"));
	out("dying.%s.P_%s\tOK\tP_usage=%lld\tP_kmem=%lld\tcache=%lld\tshmem=%lld\trss=%lld\ttotal_cache=%lld\ttotal_shmem=%lld"
	    "\ttotal_rss=%lld\ttotal_inactive_file=%lld\ttotal_inactive_anon=%lld\tnum_cgroups=%d",
	    v, when, cg_read_ll("P", "memory.usage_in_bytes"), cg_read_ll("P", "memory.kmem.usage_in_bytes"), kv_get(st, "cache"),
	    kv_get(st, "shmem"), kv_get(st, "rss"), kv_get(st, "total_cache"), kv_get(st, "total_shmem"), kv_get(st, "total_rss"),
	    kv_get(st, "total_inactive_file"), kv_get(st, "total_inactive_anon"), memory_num_cgroups());
}

static void variant(const char *v, long (*fn)(long), long arg, char *region)
{
	char cg[32];
	snprintf(cg, sizeof cg, "P/%s", v);
	int n0 = memory_num_cgroups();
	int e = cg_mkdir(cg);
	out("dying.%s.mkdir\t%s\tnum_cgroups_before=%d\tafter=%d", v, errname(e), n0, memory_num_cgroups());
	pid_t w = worker_start(0);
	if (region)
		worker_touch(w, region);
	cg_move(cg, w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	long r = 0;
	if (fn)
		r = worker_call(w, fn, arg);
	else
		for (int i = 1; i <= arg; i++)
			worker_touch(w, region + (size_t)i * PAGE);
	out("dying.%s.work\t%s\tchild_usage=%lld\tchild_kmem=%lld", v, r < 0 ? errname((int)-r) : "OK", cg_read_ll(cg, "memory.usage_in_bytes"),
	    cg_read_ll(cg, "memory.kmem.usage_in_bytes"));
	worker_stop(w);
	msleep(2500);
	char *st = read_file(cg_path(cg, "memory.stat"));
	out("dying.%s.exited\tOK\tchild_usage=%lld\tchild_kmem=%lld\tchild_cache=%lld\tchild_rss=%lld\tchild_procs=\"%s\"", v,
	    cg_read_ll(cg, "memory.usage_in_bytes"), cg_read_ll(cg, "memory.kmem.usage_in_bytes"), kv_get(st, "cache"), kv_get(st, "rss"),
	    cg_read_str(cg, "cgroup.procs"));
	pstat(v, "before_rmdir");
	int nb = memory_num_cgroups();
	e = cg_rmdir(cg);
	double s;
	int na = poll_ncg(nb, &s);
	out("dying.%s.rmdir\t%s\tnum_cgroups_before=%d\tafter=%d\tpolled_s=%.2f\tchild_dir_exists=%s", v, errname(e), nb, na, s,
	    access(cg_path(cg, NULL), F_OK) ? "no" : "yes");
	msleep(2500);
	pstat(v, "after_rmdir_2500ms");
}

int main(void)
{
	header("memcg_dying", "dying memcgs and what pins them (memcg.md 5, scenario 14)");
	pin_cpu(1);
	shared_init();
	memset(wbuf, 'd', sizeof wbuf);
	snprintf(path_tmpfs, sizeof path_tmpfs, "%s/dying_tmpfs_file", tmpfs_dir());
	snprintf(kdir, sizeof kdir, "%s/dying_kmem_dir", tmpfs_dir());
	snprintf(path_ext4, sizeof path_ext4, "/tmp/memcgprobe_dying_ext4_file");
	char *r = region_new(2UL << 20);
	int e = cg_mkdir("P");
	out("dying.start\t%s\tnum_cgroups=%d", errname(e), memory_num_cgroups());
	double s;
	int n;

	/* tmpfs: pages stay in the page cache after the task exits */
	variant("tmpfs", do_tmpfs, 5, NULL);
	n = memory_num_cgroups();
	e = unlink(path_tmpfs) ? errno : 0;
	int na = poll_ncg(n, &s);
	out("dying.tmpfs.unlink\t%s\tnum_cgroups_before=%d\tafter=%d\tpolled_s=%.2f", errname(e), n, na, s);
	msleep(2500);
	pstat("tmpfs", "after_unlink_2500ms");

	/* ext4: clean page cache, freed by drop_caches with the file still there */
	variant("ext4", do_ext4, 5, NULL);
	n = memory_num_cgroups();
	drop_caches();
	na = poll_ncg(n, &s);
	out("dying.ext4.drop_caches\tOK\tnum_cgroups_before=%d\tafter=%d\tpolled_s=%.2f\t(file kept)", n, na, s);
	msleep(2500);
	pstat("ext4", "after_drop_caches_2500ms");
	unlink(path_ext4);

	/* kmem only */
	variant("kmem", do_kmem, 100, NULL);
	n = memory_num_cgroups();
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", kdir);
	e = system(cmd);
	na = poll_ncg(n, &s);
	out("dying.kmem.rm_files\t%s\tnum_cgroups_before=%d\tafter=%d\tpolled_s=%.2f", e ? "FAILED" : "OK", n, na, s);
	msleep(2500);
	pstat("kmem", "after_rm_files_2500ms");

	/* anon: nothing survives the exit */
	variant("anon", NULL, 5, r);

	n = memory_num_cgroups();
	e = cg_rmdir("P");
	na = poll_ncg(n, &s);
	out("dying.rmdir_P\t%s\tnum_cgroups_before=%d\tafter=%d\tpolled_s=%.2f", errname(e), n, na, s);
	return 0;
}
