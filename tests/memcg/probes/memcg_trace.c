/*
 * memcg_trace.c - the memcg trace events of 6.18 (include/trace/events/memcg.h): which item numbers
 * the kernel prints for which statistic, in which order, and what memcg_id is (memsim issue 15).
 *
 * 1. The enums the item field indexes, read from the kernel's own BTF (/sys/kernel/btf/vmlinux):
 *    every enumerator of node_stat_item, memcg_stat_item and vm_event_item, as "enum" lines.
 * 2. A fresh cgroup T below MEMCG_TOP; its directory's inode number (the kernfs id, cgroup_id()).
 * 3. A tracefs instance (instances/memsim_probe_memcg_trace) with the four memcg events enabled,
 *    filtered to memcg_id == T's inode number (memcg_flush_stats: T's or the root's, id 1).  Each
 *    phase clears the instance's buffer, runs, and prints every event it recorded, in order, as
 *        trace <TAB> phase <TAB> who <TAB> event <TAB> payload
 *    (who: worker, probe, or comm-pid of another task).  The worker (memcg_common.h) is in T on CPU 0:
 *      anon_first   one write fault in a fresh 2 MiB-aligned anonymous region (no PTE table yet)
 *      anon_next    40 more write faults, one per page (the lru_add batch of 31 moves once)
 *      tmpfs_write  a new file on the tmpfs, 4 pages written with one write(2)
 *      tmpfs_read   the 4 pages read back
 *      pipe         a pipe, 16 pages written into it (pipe buffers are GFP_KERNEL_ACCOUNT pages)
 *      munmap       the 41 anonymous pages unmapped
 *      stat_T       the probe reads T's memory.stat (mem_cgroup_flush_stats(T))
 *      stat_root    the probe reads the root's memory.stat (mem_cgroup_flush_stats(root))
 * 4. The instance is emptied, its events disabled and its filters cleared, and it is removed; the
 *    top-level tracing settings are never touched.
 */
#include "memcg_common.h"

#define TRACEFS "/sys/kernel/tracing"
#define INSTANCE TRACEFS "/instances/memsim_probe_memcg_trace"
static const char *events[] = { "memcg_flush_stats", "count_memcg_events",
				"mod_memcg_lruvec_state", "mod_memcg_state" };

/* ---- the enums, from BTF ---- */
static void print_btf_enums(void)
{
	int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY);
	if (fd < 0) { out("enum\tunavailable\t%s", errname(errno)); return; }
	size_t cap = 1 << 24, n = 0;
	unsigned char *d = malloc(cap);
	ssize_t r;
	while (d && (r = read(fd, d + n, cap - n)) > 0) {
		n += r;
		if (n == cap) d = realloc(d, cap *= 2);
	}
	close(fd);
	uint32_t hdr_len, type_off, type_len, str_off;
	memcpy(&hdr_len, d + 4, 4); memcpy(&type_off, d + 8, 4); memcpy(&type_len, d + 12, 4);
	memcpy(&str_off, d + 16, 4);
	const char *strs = (const char *)d + hdr_len + str_off;
	const char *want[] = { "node_stat_item", "memcg_stat_item", "vm_event_item" };
	for (int w = 0; w < 3; w++) {
		unsigned char *p = d + hdr_len + type_off, *end = p + type_len;
		while (p < end) {
			uint32_t name_off, info;
			memcpy(&name_off, p, 4); memcpy(&info, p + 4, 4);
			p += 12;
			int kind = (info >> 24) & 0x1f, vlen = info & 0xffff, extra = 0;
			switch (kind) {
			case 1: case 14: case 17: extra = 4; break;			/* INT, VAR, DECL_TAG */
			case 3: extra = 12; break;					/* ARRAY */
			case 4: case 5: case 15: case 19: extra = 12 * vlen; break;	/* STRUCT, UNION, DATASEC, ENUM64 */
			case 6: case 13: extra = 8 * vlen; break;			/* ENUM, FUNC_PROTO */
			}
			if (kind == 6 && !strcmp(strs + name_off, want[w]))
				for (int i = 0; i < vlen; i++) {
					uint32_t en; int32_t v;
					memcpy(&en, p + 8 * i, 4); memcpy(&v, p + 8 * i + 4, 4);
					out("enum\t%s\t%s\t%d", want[w], strs + en, v);
				}
			p += extra;
		}
	}
	free(d);
}

/* ---- tracefs ---- */
static int ev_write(const char *ev, const char *file, const char *s)
{
	char p[256];
	snprintf(p, sizeof p, INSTANCE "/events/memcg/%s/%s", ev, file);
	return write_file(p, s);
}

static void instance_remove(void)
{
	if (access(INSTANCE, F_OK))
		return;
	write_file(INSTANCE "/tracing_on", "0");
	for (int i = 0; i < 4; i++) {
		ev_write(events[i], "enable", "0");
		ev_write(events[i], "filter", "0");
	}
	int fd = open(INSTANCE "/trace", O_WRONLY | O_TRUNC);
	if (fd >= 0) close(fd);
	if (rmdir(INSTANCE))
		out("instance\trmdir\t%s", errname(errno));
}

static void on_signal(int sig) { instance_remove(); _exit(128 + sig); }

static pid_t worker_pid;

/* print the instance's records of a phase, then empty the buffer */
static void dump(const char *phase)
{
	int fd = open(INSTANCE "/trace", O_RDONLY);
	static char buf[1 << 22];
	ssize_t n = 0, r;
	while (fd >= 0 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	if (fd >= 0) close(fd);
	buf[n] = 0;
	int count = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		/* "           comm-pid     [cpu] flags   ts: event: payload" */
		char *s = line;
		while (*s == ' ') s++;
		char *cpu = strstr(s, " [");
		char *ev = strstr(s, ": ");
		if (!cpu || !ev) { out("trace\t%s\tunparsed\t%s", phase, line); continue; }
		char who[64];
		char *dash = cpu;
		while (dash > s && *dash != '-') dash--;
		int pid = atoi(dash + 1);
		if (pid == worker_pid) strcpy(who, "worker");
		else if (pid == getpid()) strcpy(who, "probe");
		else snprintf(who, sizeof who, "%.*s", (int)(cpu - s), s);
		ev += 2;
		char *colon = strstr(ev, ": ");
		if (!colon) { out("trace\t%s\tunparsed\t%s", phase, line); continue; }
		*colon = 0;
		out("trace\t%s\t%s\t%s\t%s", phase, who, ev, colon + 2);
		count++;
	}
	out("phase\t%s\tevents=%d", phase, count);
	fd = open(INSTANCE "/trace", O_WRONLY | O_TRUNC);
	if (fd >= 0) close(fd);
}

/* ---- what the worker does ---- */
static char *region;
static char tmpfs_file[256];
static char wbuf[16 * 4096];

static long do_tmpfs_write(long n)
{
	int fd = open(tmpfs_file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) return -errno;
	long r = write(fd, wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	close(fd);
	return r;
}
static long do_tmpfs_read(long n)
{
	int fd = open(tmpfs_file, O_RDONLY);
	if (fd < 0) return -errno;
	long r = read(fd, wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	close(fd);
	return r;
}
static long do_pipe(long n)
{
	int p[2];
	if (pipe(p)) return -errno;
	fcntl(p[1], F_SETPIPE_SZ, (int)(n * 4096));
	long r = write(p[1], wbuf, n * 4096) == n * 4096 ? 0 : -errno;
	close(p[0]); close(p[1]);
	return r;
}
static long do_munmap(long n) { return munmap(region, n * 4096) ? -errno : 0; }

int main(void)
{
	header("memcg_trace", "the memcg trace events of 6.18: enums, memcg_id, events per action");
	print_btf_enums();
	if (!access(INSTANCE, F_OK)) { out("FATAL\tinstance exists"); return 2; }
	snprintf(tmpfs_file, sizeof tmpfs_file, "%s/f", tmpfs_dir());
	memset(wbuf, 'x', sizeof wbuf);
	int e = cg_mkdir("T");
	struct stat st;
	if (e || stat(cg_path("T", NULL), &st)) die("mkdir T");
	out("cgroup\tT\tino=%llu", (unsigned long long)st.st_ino);
	struct stat rst;
	stat(CGROOT, &rst);
	out("cgroup\troot\tino=%llu", (unsigned long long)rst.st_ino);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (mkdir(INSTANCE, 0755)) die("mkdir instance");
	char f[64];
	snprintf(f, sizeof f, "id == %llu", (unsigned long long)st.st_ino);
	char ff[96];
	snprintf(ff, sizeof ff, "id == %llu || id == 1", (unsigned long long)st.st_ino);
	for (int i = 0; i < 4; i++) {
		int r1 = ev_write(events[i], "filter", i == 0 ? ff : f);
		int r2 = ev_write(events[i], "enable", "1");
		out("instance\t%s\tfilter=%s\tenable=%s", events[i], errname(r1), errname(r2));
	}

	shared_init();
	region = region_new(2UL << 20);
	worker_pid = worker_start(0);
	int fd = open(INSTANCE "/trace", O_WRONLY | O_TRUNC);
	if (fd >= 0) close(fd);
	e = cg_move("T", worker_pid);
	out("move\tT\t%s\tcpu=%d", errname(e), sh->worker_cpu);
	dump("move");

	worker_touch(worker_pid, region);
	dump("anon_first");
	for (int i = 1; i <= 40; i++)
		worker_touch(worker_pid, region + i * PAGE);
	dump("anon_next");
	out("call\ttmpfs_write\t%ld", worker_call(worker_pid, do_tmpfs_write, 4));
	dump("tmpfs_write");
	out("call\ttmpfs_read\t%ld", worker_call(worker_pid, do_tmpfs_read, 4));
	dump("tmpfs_read");
	out("call\tpipe\t%ld", worker_call(worker_pid, do_pipe, 16));
	dump("pipe");
	out("call\tmunmap\t%ld", worker_call(worker_pid, do_munmap, 41));
	dump("munmap");
	read_file(cg_path("T", "memory.stat"));
	dump("stat_T");
	read_file(CGROOT "/memory.stat");
	dump("stat_root");

	worker_stop(worker_pid);
	instance_remove();
	out("instance\tremoved\t%s", access(INSTANCE, F_OK) ? "OK" : "STILL_THERE");
	unlink(tmpfs_file);
	return 0;
}
