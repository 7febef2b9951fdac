/*
 * memcg_kmem_fork.c - kernel memory in v1 (memory.kmem.*, memcg.md §3.3, §4.4, §4.5) and fork
 * inheritance (memcg.md §3.1: a task's memcg decides; cgroup v1 migration moves one process).
 *
 * kmem:  the worker (in K) creates 100 empty files in a tmpfs directory (dentries + inodes: slab),
 *        then deletes them; creates a pipe, raises it to 1 MiB with F_SETPIPE_SZ (the pipe_buffer
 *        array, 256 x 40 bytes, is a kmalloc > 8 KiB: the large-kmalloc / kmem-page path) and writes
 *        64 KiB into it (pipe pages are __GFP_ACCOUNT); then closes it. After each step:
 *        memory.kmem.usage_in_bytes, memory.usage_in_bytes, memory.stat (kernel memory is not in v1
 *        memory.stat), and memory.kmem.slabinfo.
 * fork:  the worker (in F1) forks a child; /proc/<pid>/cgroup of both; the worker is moved to F2;
 *        where is the child? Then the child is moved and the worker stays.
 */
#include "memcg_common.h"

static char dir[256];
static int pfd[2] = { -1, -1 };
static char pbuf[65536];
static volatile pid_t grandchild;

static long do_files(long n)
{
	char p[300];
	if (mkdir(dir, 0755)) return -errno;
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%ld", dir, i);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0) return -errno;
		close(fd);
	}
	return 0;
}
static long do_unlink(long n)
{
	char p[300];
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%ld", dir, i);
		if (unlink(p)) return -errno;
	}
	return rmdir(dir) ? -errno : 0;
}
static long do_pipe(long n)
{
	if (pipe(pfd)) return -errno;
	return 0;
}
static long do_pipe_size(long n)
{
	return fcntl(pfd[1], F_SETPIPE_SZ, (int)n) < 0 ? -errno : 0;
}
static long do_pipe_write(long n)
{
	return write(pfd[1], pbuf, n) == n ? 0 : -errno;
}
static long do_pipe_close(long n)
{
	close(pfd[0]);
	close(pfd[1]);
	return 0;
}
static long do_fork(long n)
{
	pid_t p = fork();
	if (p < 0) return -errno;
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	grandchild = p;
	return p;
}
static long do_reap(long n)
{
	kill(grandchild, SIGKILL);
	waitpid(grandchild, NULL, 0);
	return 0;
}

static void snapk(const char *step, long r)
{
	char *si = read_file(cg_path("K", "memory.kmem.slabinfo"));
	int lines = 0;
	for (char *p = si; p && *p; p++)
		lines += *p == '\n';
	char *st = read_file(cg_path("K", "memory.stat"));
	out("kmem.%s\t%s\tkmem=%lld\tusage=%lld\tmemsw=%lld\tkmem_max_usage=%lld\tkmem_failcnt=%lld\tstat_rss=%lld\tstat_cache=%lld"
	    "\tslabinfo_bytes=%zu\tslabinfo_lines=%d",
	    step, r < 0 ? errname((int)-r) : "OK", cg_read_ll("K", "memory.kmem.usage_in_bytes"), cg_read_ll("K", "memory.usage_in_bytes"),
	    cg_read_ll("K", "memory.memsw.usage_in_bytes"), cg_read_ll("K", "memory.kmem.max_usage_in_bytes"),
	    cg_read_ll("K", "memory.kmem.failcnt"), kv_get(st, "rss"), kv_get(st, "cache"), si ? strlen(si) : 0, lines);
}

static void kmem(void)
{
	snprintf(dir, sizeof dir, "%s/kmem_dir", tmpfs_dir());
	cg_mkdir("K");
	pid_t w = worker_start(0);
	int e = cg_move("K", w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	out("kmem.move\t%s\tworker_cpu=%d", errname(e), sh->worker_cpu);
	snapk("start", 0);
	snapk("files100", worker_call(w, do_files, 100));
	msleep(500);
	snapk("files100_500ms", 0);
	snapk("unlink100", worker_call(w, do_unlink, 100));
	msleep(1000);
	snapk("unlink100_1s", 0);
	snapk("pipe", worker_call(w, do_pipe, 0));
	snapk("pipe_size_1M", worker_call(w, do_pipe_size, 1 << 20));
	snapk("pipe_write_64K", worker_call(w, do_pipe_write, 65536));
	snapk("pipe_close", worker_call(w, do_pipe_close, 0));
	msleep(500);
	snapk("pipe_close_500ms", 0);
	worker_stop(w);
	msleep(200);
	snapk("worker_exited", 0);
	cg_rmdir("K");
}

static void forks(void)
{
	cg_mkdir("F1");
	cg_mkdir("F2");
	pid_t w = worker_start(0);
	cg_move("F1", w);
	worker_cmd(w, CMD_NONE, NULL, NULL, 0);
	long k0 = cg_read_ll("F1", "memory.kmem.usage_in_bytes"), u0 = cg_read_ll("F1", "memory.usage_in_bytes");
	long gc = worker_call(w, do_fork, 0);
	msleep(50);
	/* fork by a task in F1: the child's kernel stack, mm, page tables, task_struct... are charged to F1 */
	out("fork.child_of_task_in_F1\t%s\tparent=%s\tchild=%s\tF1_kmem_before=%lld\tF1_kmem_after=%lld\tF1_usage_before=%lld\tF1_usage_after=%lld",
	    gc > 0 ? "OK" : errname((int)-gc), proc_memcg(w), proc_memcg((pid_t)gc), k0, cg_read_ll("F1", "memory.kmem.usage_in_bytes"),
	    u0, cg_read_ll("F1", "memory.usage_in_bytes"));
	int e = cg_move("F2", w);
	char f1[64], f2[64];
	snprintf(f1, sizeof f1, "%s", cg_read_str("F1", "cgroup.procs"));
	snprintf(f2, sizeof f2, "%s", cg_read_str("F2", "cgroup.procs"));
	out("fork.move_parent_to_F2\t%s\tparent=%s\tchild=%s\tF1_procs=%s\tF2_procs=%s\tF1_kmem=%lld\tF2_kmem=%lld\t(no charge moves with a task in v1)",
	    errname(e), proc_memcg(w), proc_memcg((pid_t)gc), atoi(f1) == gc ? "child" : f1, atoi(f2) == w ? "parent" : f2,
	    cg_read_ll("F1", "memory.kmem.usage_in_bytes"), cg_read_ll("F2", "memory.kmem.usage_in_bytes"));
	e = cg_move("F2", (pid_t)gc);
	out("fork.move_child_to_F2\t%s\tparent=%s\tchild=%s", errname(e), proc_memcg(w), proc_memcg((pid_t)gc));
	e = cg_move("F1", w);
	out("fork.move_parent_back_to_F1\t%s\tparent=%s\tchild=%s", errname(e), proc_memcg(w), proc_memcg((pid_t)gc));
	worker_call(w, do_reap, 0);
	worker_stop(w);
	cg_rmdir("F1");
	cg_rmdir("F2");
}

int main(void)
{
	header("memcg_kmem_fork", "v1 kmem counter and fork inheritance (memcg.md 3.1, 3.3, 4.4, 4.5)");
	pin_cpu(1);
	shared_init();
	memset(pbuf, 'p', sizeof pbuf);
	kmem();
	forks();
	return 0;
}
