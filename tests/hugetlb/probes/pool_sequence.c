/*
 * pool_sequence.c - live-kernel probe of the hugetlb pool sequence (memsim issue 13, Part A).
 *
 * Runs, step by step on the 2 MiB hstate, the pool sequence summarised in
 * /work/shared/spec/kernel-6.18-observed.md ("hugetlb pool findings") and prints every
 * counter after each step. Must run as root. It CHANGES nr_hugepages and
 * nr_overcommit_hugepages; run it through pool_sequence.sh, which saves and restores them.
 * The program itself also puts nr_hugepages/nr_overcommit back to 0/0-or-saved on exit
 * and unmounts what it mounted; the driver then restores the exact saved values.
 *
 * Build: gcc -O0 -Wall -o pool_sequence pool_sequence.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HP (2UL << 20)
#define PROC_NR "/proc/sys/vm/nr_hugepages"
#define PROC_MP "/proc/sys/vm/nr_hugepages_mempolicy"
#define PROC_OC "/proc/sys/vm/nr_overcommit_hugepages"
#define SYS "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define NODE0 "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/"
#define SYS1G "/sys/kernel/mm/hugepages/hugepages-1048576kB/"
#define MNT1 "/tmp/probes13_hugetlbfs"
#define MNT2 "/tmp/probes13_hugetlbfs_min"

static int step_no;
static long prev_succ = -1, prev_fail = -1;

static void rd(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) { snprintf(buf, n, "<open:%s>", strerror(errno)); return; }
	ssize_t r = read(fd, buf, n - 1);
	int e = errno;
	close(fd);
	if (r < 0) { snprintf(buf, n, "<read:%s>", strerror(e)); return; }
	buf[r] = 0;
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' ')) buf[--r] = 0;
}

static long rdl(const char *path)
{
	char b[64];
	rd(path, b, sizeof b);
	return strtol(b, NULL, 10);
}

/* value of "key" in a "key value" file (vmstat) or "key: value" (meminfo) */
static long keyval(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (!f) return -1;
	while (fgets(line, sizeof line, f)) {
		char *p = line;
		if (!strncmp(p, "Node 0 ", 7)) p += 7;
		if (!strncmp(p, key, kl) && (p[kl] == ' ' || p[kl] == ':')) {
			p += kl + 1;
			v = strtol(p, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void dump(const char *title)
{
	char a[64], b[64], c[64], d[64], e[64], f[64], g[64], h[64], i[64], j[64], k[64], l[64];
	long succ = keyval("/proc/vmstat", "htlb_buddy_alloc_success");
	long fail = keyval("/proc/vmstat", "htlb_buddy_alloc_fail");

	rd(PROC_NR, a, 64); rd(PROC_MP, b, 64); rd(PROC_OC, c, 64);
	rd(SYS "nr_hugepages", d, 64); rd(SYS "nr_hugepages_mempolicy", e, 64);
	rd(SYS "free_hugepages", f, 64); rd(SYS "resv_hugepages", g, 64);
	rd(SYS "surplus_hugepages", h, 64); rd(SYS "nr_overcommit_hugepages", i, 64);
	rd(NODE0 "nr_hugepages", j, 64); rd(NODE0 "free_hugepages", k, 64);
	rd(NODE0 "surplus_hugepages", l, 64);

	printf("  [%s]\n", title);
	printf("    proc: nr_hugepages=%s nr_hugepages_mempolicy=%s nr_overcommit_hugepages=%s\n", a, b, c);
	printf("    sysfs: nr_hugepages=%s nr_hugepages_mempolicy=%s free=%s resv=%s surplus=%s nr_overcommit=%s\n",
	       d, e, f, g, h, i);
	printf("    node0: nr_hugepages=%s free=%s surplus=%s | node0 meminfo Total=%ld Free=%ld Surp=%ld\n",
	       j, k, l,
	       keyval("/sys/devices/system/node/node0/meminfo", "HugePages_Total"),
	       keyval("/sys/devices/system/node/node0/meminfo", "HugePages_Free"),
	       keyval("/sys/devices/system/node/node0/meminfo", "HugePages_Surp"));
	printf("    meminfo: HugePages_Total=%ld HugePages_Free=%ld HugePages_Rsvd=%ld HugePages_Surp=%ld Hugepagesize=%ld kB Hugetlb=%ld kB\n",
	       keyval("/proc/meminfo", "HugePages_Total"), keyval("/proc/meminfo", "HugePages_Free"),
	       keyval("/proc/meminfo", "HugePages_Rsvd"), keyval("/proc/meminfo", "HugePages_Surp"),
	       keyval("/proc/meminfo", "Hugepagesize"), keyval("/proc/meminfo", "Hugetlb"));
	printf("    vmstat: htlb_buddy_alloc_success=%ld (+%ld) htlb_buddy_alloc_fail=%ld (+%ld) nr_hugetlb=%ld\n",
	       succ, prev_succ < 0 ? 0 : succ - prev_succ, fail, prev_fail < 0 ? 0 : fail - prev_fail,
	       keyval("/proc/vmstat", "nr_hugetlb"));
	prev_succ = succ; prev_fail = fail;
	fflush(stdout);
}

static void step(const char *fmt, ...)
{
	va_list ap;
	printf("\nSTEP %d: ", ++step_no);
	va_start(ap, fmt); vprintf(fmt, ap); va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* write(2) a string to a file at offset 0; print return value and errno */
static int wr(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	char shown[64];
	size_t n = strlen(val), o = 0;
	for (size_t x = 0; x < n && o < sizeof shown - 3; x++) {
		if (val[x] == '\n') { shown[o++] = '\\'; shown[o++] = 'n'; }
		else shown[o++] = val[x];
	}
	shown[o] = 0;
	if (fd < 0) {
		printf("  write \"%s\" > %s: open failed errno=%d (%s)\n", shown, path, errno, strerror(errno));
		return -errno;
	}
	errno = 0;
	ssize_t r = write(fd, val, n);
	int e = errno;
	close(fd);
	if (r < 0)
		printf("  write \"%s\" > %s: ret=-1 errno=%d (%s)\n", shown, path, e, strerror(e));
	else
		printf("  write \"%s\" > %s: ret=%zd (of %zu) OK\n", shown, path, r, n);
	fflush(stdout);
	return r < 0 ? -e : 0;
}

static void *map(const char *what, size_t npages, int prot, int flags, int fd)
{
	void *p = mmap(NULL, npages * HP, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		printf("  mmap %s %zu pages: FAILED errno=%d (%s)\n", what, npages, errno, strerror(errno));
	else
		printf("  mmap %s %zu pages: OK\n", what, npages);
	fflush(stdout);
	return p == MAP_FAILED ? NULL : p;
}

static void touch(void *p, size_t from, size_t n)
{
	for (size_t x = from; x < from + n; x++)
		((volatile char *)p)[x * HP] = 1;
	printf("  touched pages %zu..%zu\n", from, from + n - 1);
	fflush(stdout);
}

static void cleanup(void)
{
	umount2(MNT1, MNT_DETACH);
	umount2(MNT2, MNT_DETACH);
	rmdir(MNT1);
	rmdir(MNT2);
}

int main(void)
{
	char buf[128];
	int fd, st;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	cleanup();

	step("baseline (nothing written yet)");
	dump("baseline");

	step("bad input: \"abc\" and \"-1\" to nr_hugepages (proc and sysfs), and to nr_overcommit_hugepages (proc)");
	wr(PROC_NR, "abc");
	wr(PROC_NR, "-1");
	wr(SYS "nr_hugepages", "abc");
	wr(SYS "nr_hugepages", "-1");
	wr(NODE0 "nr_hugepages", "abc");
	wr(NODE0 "nr_hugepages", "-1");
	wr(PROC_OC, "abc");
	wr(PROC_OC, "-1");
	wr(SYS "nr_overcommit_hugepages", "abc");
	wr(SYS "nr_overcommit_hugepages", "-1");
	dump("after bad input (values must be unchanged)");

	step("read nr_hugepages_mempolicy (proc and sysfs) on the empty pool");
	rd(PROC_MP, buf, sizeof buf); printf("  %s = \"%s\"\n", PROC_MP, buf);
	rd(SYS "nr_hugepages_mempolicy", buf, sizeof buf); printf("  %snr_hugepages_mempolicy = \"%s\"\n", SYS, buf);

	step("grow: write 8 to /proc/sys/vm/nr_hugepages");
	wr(PROC_NR, "8");
	dump("pool of 8");

	step("mount hugetlbfs, create a file, mmap MAP_SHARED 4 pages (expect Rsvd +4, Free unchanged)");
	mkdir(MNT1, 0700);
	if (mount("none", MNT1, "hugetlbfs", 0, "pagesize=2M"))
		printf("  mount hugetlbfs: errno=%d (%s)\n", errno, strerror(errno));
	fd = open(MNT1 "/f", O_CREAT | O_RDWR, 0600);
	if (fd < 0) { perror("open hugetlbfs file"); return 1; }
	char *fmap = map("MAP_SHARED hugetlbfs file", 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	dump("file mapped, nothing touched");

	step("touch 2 of the 4 file pages (expect Free -2, Rsvd -2)");
	touch(fmap, 0, 2);
	dump("2 faulted");

	step("shrink below use: write 2 to /proc/sys/vm/nr_hugepages (2 used + 2 reserved)");
	wr(PROC_NR, "2");
	dump("after shrink 8->2 (spec: Total 4, Free 2, Rsvd 2, Surp 2; proc 2, sysfs 4)");

	step("munmap the file mapping (file kept: pages stay, reservations stay)");
	munmap(fmap, 4 * HP);
	dump("after munmap, file still exists");

	step("close and unlink the hugetlbfs file (pages and reservations released; surplus back to buddy)");
	close(fd);
	unlink(MNT1 "/f");
	dump("after unlink");

	step("grow again: write 8 via sysfs hugepages-2048kB/nr_hugepages");
	wr(SYS "nr_hugepages", "8");
	dump("pool of 8 (sysfs write)");

	step("MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB 8 pages, touch all 8, hold the mapping");
	char *amap = map("MAP_PRIVATE|MAP_HUGETLB anon", 8, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (!amap) return 1;
	dump("mapped 8, not touched");
	touch(amap, 0, 8);
	dump("8 in use");

	step("shrink to 0 while 8 are in use: write 0 to /proc/sys/vm/nr_hugepages");
	wr(PROC_NR, "0");
	dump("after shrink 8->0 with 8 used (spec: Surp 8)");

	step("munmap 3 of the 8 in-use surplus pages (freed surplus goes back to buddy)");
	munmap(amap + 5 * HP, 3 * HP);
	dump("5 in use, all surplus");

	step("overcommit 3 (< surplus 5): mmap 1 page MAP_PRIVATE|MAP_HUGETLB and MAP_SHARED|MAP_HUGETLB");
	wr(PROC_OC, "3");
	void *t = map("MAP_PRIVATE|MAP_HUGETLB anon (surplus 5 >= overcommit 3)", 1, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (t) munmap(t, HP);
	t = map("MAP_SHARED|MAP_HUGETLB anon (surplus 5 >= overcommit 3)", 1, PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (t) munmap(t, HP);
	dump("overcommit 3, surplus 5");

	step("overcommit 8 via sysfs; mmap MAP_SHARED|MAP_HUGETLB 2 pages beyond the pool (surplus at mmap time)");
	wr(SYS "nr_overcommit_hugepages", "8");
	char *smap = map("MAP_SHARED|MAP_HUGETLB anon", 2, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	dump("after mmap of 2 reserved pages (spec: Total, Free, Rsvd, Surp all up)");

	step("mmap past the overcommit limit: 2 more pages (only 1 surplus left), shared and private");
	t = map("MAP_SHARED|MAP_HUGETLB anon", 2, PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (t) munmap(t, 2 * HP);
	t = map("MAP_PRIVATE|MAP_HUGETLB anon", 2, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (t) munmap(t, 2 * HP);
	dump("after the refused mmaps (counters unchanged)");

	step("MAP_NORESERVE|MAP_PRIVATE|MAP_HUGETLB 2 pages in a child; touch both (1 surplus left -> SIGBUS on the 2nd)");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *n = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
		if (n == MAP_FAILED) { printf("  child: mmap NORESERVE errno=%d (%s)\n", errno, strerror(errno)); _exit(2); }
		printf("  child: mmap MAP_NORESERVE 2 pages OK\n");
		for (int x = 0; x < 2; x++) {
			printf("  child: touching page %d\n", x);
			fflush(stdout);
			n[x * HP] = 1;
			printf("  child: page %d OK\n", x);
			if (x == 0) dump("child: 1st NORESERVE page faulted");
		}
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("  child killed by signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		printf("  child exited %d\n", WEXITSTATUS(st));
	dump("after the child is gone");

	step("grow while surplus is in use: write 8 to /proc/sys/vm/nr_hugepages (5 used + 2 reserved, all surplus)");
	wr(PROC_NR, "8");
	dump("after grow 0->8 (spec-like: Surp ->0, Total 8)");

	step("munmap everything held (5 private in use, 2 shared reserved)");
	munmap(amap, 5 * HP);
	munmap(smap, 2 * HP);
	dump("all unmapped");

	step("hugetlbfs file: mmap shared 2, touch 2, munmap -> pages kept until unlink");
	fd = open(MNT1 "/g", O_CREAT | O_RDWR, 0600);
	fmap = map("MAP_SHARED hugetlbfs file", 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	touch(fmap, 0, 2);
	munmap(fmap, 2 * HP);
	close(fd);
	struct stat sb;
	stat(MNT1 "/g", &sb);
	printf("  file size after munmap+close: %lld\n", (long long)sb.st_size);
	dump("munmapped and closed, not unlinked");
	unlink(MNT1 "/g");
	dump("after unlink");

	step("memfd MFD_HUGETLB: ftruncate 3 pages, mmap 3 shared, fault 2; munmap; close");
	fd = memfd_create("probes13", MFD_HUGETLB);
	if (fd < 0) printf("  memfd_create: errno=%d (%s)\n", errno, strerror(errno));
	if (ftruncate(fd, 3 * HP)) printf("  ftruncate: errno=%d\n", errno);
	fmap = map("MAP_SHARED memfd", 3, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	dump("memfd mapped, 0 faulted");
	touch(fmap, 0, 2);
	dump("memfd 2 faulted (spec: Rsvd 1)");
	munmap(fmap, 3 * HP);
	dump("memfd munmapped, fd still open");
	close(fd);
	dump("memfd closed");

	step("mount hugetlbfs min_size=4M (2 pages reserved at mount), then umount");
	mkdir(MNT2, 0700);
	if (mount("none", MNT2, "hugetlbfs", 0, "pagesize=2M,min_size=4M"))
		printf("  mount min_size=4M: errno=%d (%s)\n", errno, strerror(errno));
	dump("mounted min_size=4M (spec: Rsvd +2)");
	umount(MNT2);
	dump("unmounted");

	step("per-node file: write 4 then 6 to node0 nr_hugepages");
	wr(NODE0 "nr_hugepages", "4");
	dump("node0 := 4");
	wr(NODE0 "nr_hugepages", "6");
	dump("node0 := 6");

	step("nr_hugepages_mempolicy writes (default mempolicy -> all nodes): proc 3, sysfs 5");
	wr(PROC_MP, "3");
	dump("proc nr_hugepages_mempolicy := 3");
	wr(SYS "nr_hugepages_mempolicy", "5");
	dump("sysfs nr_hugepages_mempolicy := 5");

	step("Hugetlb: kB vs Total x 2048");
	printf("  HugePages_Total=%ld x 2048 = %ld ; Hugetlb=%ld kB\n",
	       keyval("/proc/meminfo", "HugePages_Total"), keyval("/proc/meminfo", "HugePages_Total") * 2048,
	       keyval("/proc/meminfo", "Hugetlb"));

	step("1 GiB hstate: read-only record of its files (no writes, no allocation)");
	{
		const char *files[] = { "nr_hugepages", "nr_hugepages_mempolicy", "free_hugepages",
					"resv_hugepages", "surplus_hugepages", "nr_overcommit_hugepages",
					"demote_size", "demote", NULL };
		struct stat s1;
		if (stat(SYS1G, &s1)) {
			printf("  %s absent\n", SYS1G);
		} else {
			for (int x = 0; files[x]; x++) {
				char p[256];
				struct stat s2;
				snprintf(p, sizeof p, "%s%s", SYS1G, files[x]);
				if (stat(p, &s2)) { printf("  %s: absent\n", files[x]); continue; }
				rd(p, buf, sizeof buf);
				printf("  %s (mode %04o): \"%s\"\n", files[x], s2.st_mode & 07777, buf);
			}
			const char *nf[] = { "nr_hugepages", "free_hugepages", "surplus_hugepages", NULL };
			for (int x = 0; nf[x]; x++) {
				char p[256];
				snprintf(p, sizeof p, "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/%s", nf[x]);
				rd(p, buf, sizeof buf);
				printf("  node0/hugepages-1048576kB/%s: \"%s\"\n", nf[x], buf);
			}
		}
	}

	step("probe's own reset: overcommit 0, nr_hugepages 0 (the driver restores the saved values after)");
	wr(PROC_OC, "0");
	wr(PROC_NR, "0");
	dump("final");
	cleanup();
	(void)rdl;
	return 0;
}
