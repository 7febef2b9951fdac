/*
 * memcg_errno.c - errnos of bad input to the v1 memory controller (memcg.md §2.1 set_max, §7.2,
 * scenario 19) and what is read back after each write.
 *
 * Every write is one write(2) of the quoted bytes without a newline, by the probe (outside the test cgroups, root
 * user). "read=" is the file read back right after.
 */
#include "memcg_common.h"

static void wr(const char *item, const char *cg, const char *file, const char *val)
{
	int e = cg_write(cg, file, val);
	out("%s\t%s\tfile=%s\twrote=\"%s\"\tread=%s", item, errname(e), file, val, cg_read_str(cg, file));
}

static pid_t sleeper(void)
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return p;
}

static void reap(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static void cgroup_dirs(void)
{
	int e = cg_mkdir("E");
	out("errno.mkdir_new\t%s\tpath=E", errname(e));
	e = cg_mkdir("E");
	out("errno.mkdir_existing\t%s\tpath=E", errname(e));
	e = cg_mkdir("nonexistent/b");
	out("errno.mkdir_parent_missing\t%s\tpath=nonexistent/b", errname(e));
	e = cg_rmdir("nonexistent");
	out("errno.rmdir_missing\t%s\tpath=nonexistent", errname(e));
	e = mkdir(CGROOT "/memory.stat/x", 0755) ? errno : 0;
	out("errno.mkdir_under_file\t%s\tpath=" CGROOT "/memory.stat/x", errname(e));

	/* rmdir with a task */
	e = cg_mkdir("T");
	pid_t p = sleeper();
	int m = cg_move("T", p);
	e = cg_rmdir("T");
	out("errno.rmdir_with_task\t%s\tmove=%s\tprocs=%s", errname(e), errname(m), cg_read_str("T", "cgroup.procs"));
	m = cg_move("/", p);
	e = cg_rmdir("T");
	out("errno.rmdir_after_task_left\t%s\tmove_back=%s", errname(e), errname(m));
	/* rmdir with a zombie task: the task exits but is not reaped */
	cg_mkdir("Z");
	p = sleeper();
	cg_move("Z", p);
	kill(p, SIGKILL);
	msleep(100);
	e = cg_rmdir("Z");
	out("errno.rmdir_with_zombie\t%s\tprocs=\"%s\"", errname(e), e ? cg_read_str("Z", "cgroup.procs") : "-");
	waitpid(p, NULL, 0);
	if (e) {
		e = cg_rmdir("Z");
		out("errno.rmdir_after_reap\t%s", errname(e));
	}
	/* rmdir with a child cgroup */
	cg_mkdir("P");
	cg_mkdir("P/C");
	e = cg_rmdir("P");
	out("errno.rmdir_with_child\t%s\tpath=P\tchild=P/C", errname(e));
	e = cg_rmdir("P/C");
	int e2 = cg_rmdir("P");
	out("errno.rmdir_child_then_parent\t%s\tparent=%s", errname(e), errname(e2));
	/* files in a cgroup directory */
	e = unlink(cg_path("E", "memory.stat")) ? errno : 0;
	out("errno.unlink_control_file\t%s\tfile=memory.stat", errname(e));
	e = open(cg_path("E", "newfile"), O_CREAT | O_WRONLY, 0644) < 0 ? errno : 0;
	out("errno.create_file_in_cgroup\t%s\tfile=newfile", errname(e));
}

static void procs(void)
{
	/* a pid that does not exist */
	char b[32];
	char *pm = read_file("/proc/sys/kernel/pid_max");
	int pid_max = pm ? atoi(pm) : 32768;
	int dead = pid_max - 1;
	while (dead > 300 && kill(dead, 0) == 0)
		dead--;
	snprintf(b, sizeof b, "%d", dead);
	wr("errno.procs_nonexistent_pid", "E", "cgroup.procs", b);
	wr("errno.procs_abc", "E", "cgroup.procs", "abc");
	wr("errno.procs_negative", "E", "cgroup.procs", "-1");
	wr("errno.procs_empty", "E", "cgroup.procs", "");
	wr("errno.procs_pid_newline", "E", "cgroup.procs", "1x");
	wr("errno.tasks_nonexistent_pid", "E", "tasks", b);
	/* "0" moves the writer: a forked child writes it and stays; the probe then reads its cgroup */
	fflush(stdout);
	volatile int *res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	res[0] = -1;
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		res[0] = cg_write("E", "cgroup.procs", "0");
		for (;;)
			pause();
	}
	while (res[0] == -1)
		msleep(1);
	out("errno.procs_zero\t%s\twriter_memcg_after=%s\tprobe_memcg=%s\tprocs_of_E=%s", errname(res[0]), proc_memcg(p),
	    proc_memcg(getpid()), cg_read_str("E", "cgroup.procs"));
	cg_move("/", p);
	reap(p);
	/* two pids in one write */
	pid_t p1 = sleeper(), p2 = sleeper();
	snprintf(b, sizeof b, "%d %d", (int)p1, (int)p2);
	int e = cg_write("E", "cgroup.procs", b);
	out("errno.procs_two_pids\t%s\twrote=\"<pid> <pid>\"\tfirst_in=%s\tsecond_in=%s", errname(e), proc_memcg(p1), proc_memcg(p2));
	cg_move("/", p1);
	cg_move("/", p2);
	reap(p1);
	reap(p2);
	/* a kernel thread (kthreadd, pid 2) */
	wr("errno.procs_kthreadd", "E", "cgroup.procs", "2");
}

static void limits(void)
{
	cg_mkdir("L");
	static const char *vals[] = { "-5M", "-1", "abc", "1k", "4097", "0", "8191", "1M", "1m", "1G", "max", "", " 4096",
				      "4096 ", "4096\n", "0x1000", "010", "1.5M", "99999999999999999999", "9223372036854775807",
				      "18446744073709551615", "-2", "-1" };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char item[64];
		snprintf(item, sizeof item, "errno.limit_write.%zu", i);
		wr(item, "L", "memory.limit_in_bytes", vals[i]);
	}
	/* the root memcg takes no limit */
	wr("errno.limit_root", "/", "memory.limit_in_bytes", "-1");
	/* memsw must stay >= limit (scenario 19) */
	cg_mkdir("I");
	wr("errno.s19.limit_100M", "I", "memory.limit_in_bytes", "100M");
	wr("errno.s19.memsw_200M", "I", "memory.memsw.limit_in_bytes", "200M");
	wr("errno.s19.limit_300M", "I", "memory.limit_in_bytes", "300M");
	wr("errno.s19.memsw_50M", "I", "memory.memsw.limit_in_bytes", "50M");
	out("errno.s19.after\tOK\tlimit=%lld\tmemsw_limit=%lld", cg_read_ll("I", "memory.limit_in_bytes"), cg_read_ll("I", "memory.memsw.limit_in_bytes"));
	wr("errno.s19.limit_200M_equal", "I", "memory.limit_in_bytes", "200M");
	wr("errno.s19.memsw_-1", "I", "memory.memsw.limit_in_bytes", "-1");
	wr("errno.s19.memsw_100M_below_limit200M", "I", "memory.memsw.limit_in_bytes", "100M");
	wr("errno.s19.limit_-1_with_memsw_limited", "I", "memory.limit_in_bytes", "-1");
	cg_mkdir("J");
	wr("errno.s19.fresh_memsw_50M_limit_unlimited", "J", "memory.memsw.limit_in_bytes", "50M");
	/* a parent limit below the child's */
	cg_mkdir("I/K");
	wr("errno.child_limit_above_parent", "I/K", "memory.limit_in_bytes", "500M");
	out("errno.child_limit_above_parent.stat\tOK\thierarchical_memory_limit=%lld\thierarchical_memsw_limit=%lld",
	    cg_stat("I/K", "hierarchical_memory_limit"), cg_stat("I/K", "hierarchical_memsw_limit"));
	/* soft limit, kmem, tcp */
	wr("errno.soft_limit_10M", "L", "memory.soft_limit_in_bytes", "10M");
	wr("errno.soft_limit_abc", "L", "memory.soft_limit_in_bytes", "abc");
	wr("errno.kmem_limit_10M", "L", "memory.kmem.limit_in_bytes", "10M");
	wr("errno.kmem_limit_-1", "L", "memory.kmem.limit_in_bytes", "-1");
	wr("errno.kmem_limit_abc", "L", "memory.kmem.limit_in_bytes", "abc");
	wr("errno.kmem_tcp_limit_10M", "L", "memory.kmem.tcp.limit_in_bytes", "10M");
	/* max_usage / failcnt reset: v1 accepts only "0"? */
	wr("errno.max_usage_reset_0", "L", "memory.max_usage_in_bytes", "0");
	wr("errno.max_usage_reset_5", "L", "memory.max_usage_in_bytes", "5");
	wr("errno.failcnt_reset_0", "L", "memory.failcnt", "0");
	wr("errno.failcnt_reset_7", "L", "memory.failcnt", "7");
	wr("errno.memsw_failcnt_reset_0", "L", "memory.memsw.failcnt", "0");
}

static void knobs(void)
{
	cg_mkdir("K");
	wr("errno.move_charge_1", "K", "memory.move_charge_at_immigrate", "1");
	wr("errno.move_charge_3", "K", "memory.move_charge_at_immigrate", "3");
	wr("errno.move_charge_0", "K", "memory.move_charge_at_immigrate", "0");
	wr("errno.move_charge_4", "K", "memory.move_charge_at_immigrate", "4");
	wr("errno.use_hierarchy_0", "K", "memory.use_hierarchy", "0");
	wr("errno.use_hierarchy_1", "K", "memory.use_hierarchy", "1");
	wr("errno.use_hierarchy_2", "K", "memory.use_hierarchy", "2");
	wr("errno.swappiness_30", "K", "memory.swappiness", "30");
	wr("errno.swappiness_101", "K", "memory.swappiness", "101");
	wr("errno.swappiness_201", "K", "memory.swappiness", "201");
	wr("errno.swappiness_abc", "K", "memory.swappiness", "abc");
	wr("errno.oom_control_1", "K", "memory.oom_control", "1");
	wr("errno.oom_control_0", "K", "memory.oom_control", "0");
	wr("errno.oom_control_2", "K", "memory.oom_control", "2");
	wr("errno.force_empty_0_empty", "K", "memory.force_empty", "0");
	wr("errno.force_empty_abc", "K", "memory.force_empty", "abc");
	wr("errno.pressure_level", "K", "memory.pressure_level", "low");
	wr("errno.event_control_garbage", "K", "cgroup.event_control", "1 2 3");
	/* read-only files: open(O_WRONLY) as root */
	static const char *ro[] = { "memory.usage_in_bytes", "memory.stat", "memory.numa_stat", "memory.memsw.usage_in_bytes",
				    "memory.kmem.usage_in_bytes", "memory.kmem.slabinfo" };
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
		char item[64];
		snprintf(item, sizeof item, "errno.write_readonly.%s", ro[i] + 7);
		int fd = open(cg_path("K", ro[i]), O_WRONLY);
		int e = fd < 0 ? errno : (write(fd, "0", 1) < 0 ? errno : 0);
		struct stat st;
		stat(cg_path("K", ro[i]), &st);
		out("%s\t%s\tfile=%s\tmode=%04o\tstep=%s\twrote=\"0\"", item, errname(e), ro[i], st.st_mode & 07777,
		    fd < 0 ? "open(O_WRONLY)" : "write");
		if (fd >= 0)
			close(fd);
	}
	/* reads of write-only / v2-only names */
	static const char *v2[] = { "memory.max", "memory.current", "memory.high", "memory.low", "memory.min", "memory.events",
				    "memory.events.local", "memory.swap.max", "memory.swap.current", "memory.peak",
				    "memory.reclaim", "memory.oom.group", "cgroup.controllers", "cgroup.subtree_control", "cgroup.stat",
				    "cgroup.type", "memory.kmem.tcp.usage_in_bytes", "memory.memsw.max_usage_in_bytes" };
	for (size_t i = 0; i < sizeof v2 / sizeof v2[0]; i++) {
		char item[80];
		snprintf(item, sizeof item, "errno.open_name.%s", v2[i]);
		int fd = open(cg_path("K", v2[i]), O_RDONLY);
		out("%s\t%s\tfile=%s", item, errname(fd < 0 ? errno : 0), v2[i]);
		if (fd >= 0)
			close(fd);
	}
	/* a file this kernel has in child memcgs only, not in upstream v1 */
	out("errno.shown_ram_in_bytes\tOK\tchild_read=%s\troot_read=%s\ttop_read=%s", cg_read_str("K", "memory.shown_ram_in_bytes"),
	    cg_read_str("/", "memory.shown_ram_in_bytes"), cg_read_str("", "memory.shown_ram_in_bytes"));
	wr("errno.shown_ram_in_bytes_write_1M", "K", "memory.shown_ram_in_bytes", "1M");
	wr("errno.shown_ram_in_bytes_write_abc", "K", "memory.shown_ram_in_bytes", "abc");
	/* the read side of force_empty (write-only, mode 0200) */
	int fd = open(cg_path("K", "memory.force_empty"), O_RDONLY);
	char c;
	int e = fd < 0 ? errno : (read(fd, &c, 1) < 0 ? errno : 0);
	out("errno.read_force_empty\t%s\tstep=%s", errname(e), fd < 0 ? "open" : "read");
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	header("memcg_errno", "errnos of bad input, read-back values (memcg.md 2.1, 7.2, scenario 19)");
	shared_init();
	cgroup_dirs();
	procs();
	limits();
	knobs();
	/* a full listing of a v1 child's directory (the files memsim must offer) */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls -l %s | tail -n +2 | awk '{print $1, $NF}'", cg_path("K", NULL));
	fflush(stdout);
	FILE *f = popen(cmd, "r");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		out("errno.ls_child\tOK\t%s", line);
	}
	if (f)
		pclose(f);
	return 0;
}
