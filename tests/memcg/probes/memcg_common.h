/*
 * memcg_common.h - helpers shared by the memcg probes (memsim issue 15 fixtures, cgroup v1).
 *
 * Output convention: one result per line, TAB separated:
 *     item <TAB> result [<TAB> field=value ...]
 * result is OK, an errno NAME (EINVAL), or a value/word. Sizes are bytes as the kernel prints them.
 *
 * Layout: run.sh creates MEMCG_TOP=/sys/fs/cgroup/memory/memsim_probe_<probe> and mounts a tmpfs at
 * MEMCG_TMPFS (/tmp/memcgprobe_tmpfs); every cgroup a probe makes is below MEMCG_TOP.
 *
 * The probe process itself stays in the memcg it was started in (on this VM the session's own
 * /process_api/<id>, never a memsim_probe_* one), so nothing it does (reading cgroup files, forking)
 * is charged to a cgroup under test. The memory that is measured is made by a *worker*: a child
 * forked from the probe, pinned to CPU 0, that first writes
 * one byte into every page of each of its private writable mappings (so no copy-on-write fault of its
 * stack, heap or libc data is left to be charged later), is then moved into the cgroup under test by
 * the probe, and afterwards executes commands that the probe posts in a MAP_SHARED page (no pipe
 * writes, no allocations in the wait loop). The probe reads the cgroup files between commands.
 */
#ifndef MEMCG_COMMON_H
#define MEMCG_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#pragma GCC diagnostic ignored "-Wunused-function" /* each probe uses a subset of the helpers */

static const char *errname(int e)
{
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENODEV: return "ENODEV";
	default: { static char b[32]; snprintf(b, sizeof b, "errno%d", e); return b; }
	}
}

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	printf("FATAL\t%s\t%s\n", what, errname(errno));
	fflush(stdout);
	exit(2);
}

/* ---- cgroup paths ---- */
#define CGROOT "/sys/fs/cgroup/memory"
static const char *cg_top(void)
{
	const char *t = getenv("MEMCG_TOP");
	if (!t || strncmp(t, CGROOT "/memsim_probe_", strlen(CGROOT "/memsim_probe_"))) {
		fprintf(stderr, "MEMCG_TOP must be " CGROOT "/memsim_probe_*; run through run.sh\n");
		exit(2);
	}
	return t;
}
static const char *tmpfs_dir(void)
{
	const char *t = getenv("MEMCG_TMPFS");
	if (!t || strncmp(t, "/tmp/memcgprobe", 15)) {
		fprintf(stderr, "MEMCG_TMPFS must be /tmp/memcgprobe*; run through run.sh\n");
		exit(2);
	}
	return t;
}

/* "" = MEMCG_TOP itself, "A/B" = below it, "/" = the root memcg */
static char *cg_path(const char *sub, const char *file)
{
	static char b[4][512];
	static int i;
	char *p = b[i++ & 3];
	const char *base = strcmp(sub, "/") == 0 ? CGROOT : cg_top();
	if (strcmp(sub, "/") == 0 || !*sub)
		snprintf(p, 512, "%s%s%s", base, file ? "/" : "", file ? file : "");
	else
		snprintf(p, 512, "%s/%s%s%s", base, sub, file ? "/" : "", file ? file : "");
	return p;
}

static int cg_mkdir(const char *sub)
{
	return mkdir(cg_path(sub, NULL), 0755) ? errno : 0;
}
static int cg_rmdir(const char *sub)
{
	return rmdir(cg_path(sub, NULL)) ? errno : 0;
}

/* write s (no newline) in one write(2); returns 0 or errno (of open or write) */
static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t r = write(fd, s, strlen(s));
	int e = r < 0 ? errno : 0;
	close(fd);
	return e;
}
static int cg_write(const char *sub, const char *file, const char *s)
{
	return write_file(cg_path(sub, file), s);
}

/* read a whole file into a static buffer; returns NULL and sets errno on failure */
static char *read_file(const char *path)
{
	static char buf[4][16384];
	static int i;
	char *b = buf[i++ & 3];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = 0, r;
	while ((r = read(fd, b + n, sizeof buf[0] - 1 - n)) > 0)
		n += r;
	int e = errno;
	close(fd);
	if (r < 0) { errno = e; return NULL; }
	b[n] = 0;
	return b;
}
static long long cg_read_ll(const char *sub, const char *file)
{
	char *s = read_file(cg_path(sub, file));
	return s ? strtoll(s, NULL, 10) : -1;
}
static char *cg_read_str(const char *sub, const char *file)
{
	char *s = read_file(cg_path(sub, file));
	if (!s)
		return (char *)errname(errno);
	size_t n = strlen(s);
	while (n && s[n - 1] == '\n')
		s[--n] = 0;
	for (char *p = s; *p; p++)
		if (*p == '\n') *p = ' ';
	return s;
}
/* value of a key in a "key value" file (memory.stat, memory.oom_control); -1 if absent */
static long long kv_get(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; ) {
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p) p++;
	}
	return -1;
}
static long long cg_stat(const char *sub, const char *key)
{
	char *s = read_file(cg_path(sub, "memory.stat"));
	return s ? kv_get(s, key) : -1;
}

/* /proc/cgroups num_cgroups of the memory controller */
static int memory_num_cgroups(void)
{
	char *s = read_file("/proc/cgroups");
	char *p = s ? strstr(s, "\nmemory\t") : NULL;
	int h, n;
	if (p && sscanf(p + 8, "%d %d", &h, &n) == 2)
		return n;
	return -1;
}

static void pin_cpu(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof s, &s))
		die("sched_setaffinity");
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void msleep(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

static void drop_caches(void)
{
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
}

/* ---- test regions: private anonymous, no THP, not touched by the worker's pre-warm ---- */
#define MAX_REGIONS 8
static struct { char *start; size_t len; } regions[MAX_REGIONS];
static int nregions;

/* an anonymous private region of len bytes aligned to 2 MiB (its PTE tables do not exist yet) */
static char *region_new(size_t len)
{
	size_t al = 2UL << 20;
	char *p = mmap(NULL, len + al, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap region");
	char *a = (char *)(((uintptr_t)p + al - 1) & ~(al - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, (p + len + al) - (a + len));
	madvise(a, len, MADV_NOHUGEPAGE);
	regions[nregions].start = a;
	regions[nregions].len = len;
	nregions++;
	return a;
}

/* ---- the worker ---- */
enum { CMD_NONE, CMD_TOUCH, CMD_CALL, CMD_EXIT };
struct shared {
	volatile long seq, ack;
	volatile int cmd;
	volatile long arg;
	char *volatile addr;
	long (*volatile fn)(long);
	volatile long result;
	volatile int worker_ready;
	volatile int worker_cpu;
	char text[8192]; /* free-form result text of a CMD_CALL */
};
static struct shared *sh;

static void shared_init(void)
{
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap shared");
	memset(sh, 0, sizeof *sh); /* the probe faults the shmem pages in: not charged to a cgroup under test */
}

static int in_region(uintptr_t a)
{
	for (int i = 0; i < nregions; i++)
		if (a >= (uintptr_t)regions[i].start && a < (uintptr_t)regions[i].start + regions[i].len)
			return 1;
	return 0;
}

static void __attribute__((noinline)) grow_stack(void)
{
	volatile char big[512 * 1024];
	for (size_t i = 0; i < sizeof big; i += PAGE)
		big[i] = 1;
}

/* write one byte (its own value) into every page of every private writable mapping, except the
 * test regions, so that later copy-on-write faults do not charge the memcg under test */
static void prewarm(void)
{
	grow_stack();
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uintptr_t lo[256], hi[256];
	int n = 0;
	while (f && n < 256 && fgets(line, sizeof line, f)) {
		uintptr_t a, b;
		char perm[8];
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) != 3)
			continue;
		if (perm[0] != 'r' || perm[1] != 'w' || perm[3] != 'p' || strstr(line, "[vvar") || strstr(line, "[vsyscall"))
			continue;
		lo[n] = a; hi[n] = b; n++;
	}
	if (f)
		fclose(f);
	for (int i = 0; i < n; i++)
		for (uintptr_t a = lo[i]; a < hi[i]; a += PAGE)
			if (!in_region(a)) {
				volatile char *c = (volatile char *)a;
				*c = *c;
			}
	/* once more for anything fclose/stdio touched */
	grow_stack();
}

static pid_t worker_start(int cpu)
{
	fflush(stdout);
	sh->seq = sh->ack = 0;
	sh->worker_ready = 0;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin_cpu(cpu);
		prewarm();
		msleep(1);
		sh->worker_cpu = sched_getcpu();
		sh->worker_ready = 1;
		long last = 0;
		for (;;) {
			while (sh->seq == last) {
				struct timespec t = { 0, 50000 };
				nanosleep(&t, NULL);
			}
			last = sh->seq;
			switch (sh->cmd) {
			case CMD_TOUCH:
				*(volatile char *)sh->addr = 1;
				break;
			case CMD_CALL:
				sh->result = sh->fn(sh->arg);
				break;
			case CMD_EXIT:
				sh->ack = last;
				_exit(0);
			default:
				break;
			}
			sh->worker_cpu = sched_getcpu();
			sh->ack = last;
		}
	}
	while (!sh->worker_ready)
		msleep(1);
	return pid;
}

/* post a command and wait for the worker to finish it; returns 0, or -1 if the worker died */
static int worker_cmd(pid_t pid, int cmd, char *addr, long (*fn)(long), long arg)
{
	sh->cmd = cmd;
	sh->addr = addr;
	sh->fn = fn;
	sh->arg = arg;
	long s = sh->seq + 1;
	__sync_synchronize();
	sh->seq = s;
	while (sh->ack != s) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			errno = 0;
			sh->result = st; /* wait status */
			return -1;
		}
		struct timespec t = { 0, 50000 };
		nanosleep(&t, NULL);
	}
	return 0;
}
static int worker_touch(pid_t pid, char *addr) { return worker_cmd(pid, CMD_TOUCH, addr, NULL, 0); }
static long worker_call(pid_t pid, long (*fn)(long), long arg)
{
	return worker_cmd(pid, CMD_CALL, NULL, fn, arg) ? -1000000 : sh->result;
}
static void worker_stop(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, WNOHANG) == 0) {
		worker_cmd(pid, CMD_EXIT, NULL, NULL, 0);
		waitpid(pid, &st, 0);
	}
}

/* move a task into a cgroup (sub as for cg_path); returns 0 or errno */
static int cg_move(const char *sub, pid_t pid)
{
	char b[32];
	snprintf(b, sizeof b, "%d", (int)pid);
	return cg_write(sub, "cgroup.procs", b);
}

/* the memory line of /proc/PID/cgroup, e.g. "/memsim_probe_x/C" */
static char *proc_memcg(pid_t pid)
{
	static char r[2][256];
	static int i;
	char path[64], *o = r[i++ & 1];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	char *s = read_file(path);
	char *p = s ? strstr(s, ":memory:") : NULL;
	if (!p) { strcpy(o, "?"); return o; }
	p += 8;
	size_t n = strcspn(p, "\n");
	snprintf(o, 256, "%.*s", (int)n, p);
	return o;
}

static void header(const char *name, const char *what)
{
	out("# %s: %s", name, what);
	out("# columns: item<TAB>result<TAB>fields; sizes in bytes; result OK or errno name or value");
	out("# MEMCG_TOP=%s MEMCG_TMPFS=%s online_cpus=%ld", cg_top(), tmpfs_dir(), sysconf(_SC_NPROCESSORS_ONLN));
}

#endif
