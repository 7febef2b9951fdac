/*
 * nr_hugetlb_check.c - follow-up to pool_sequence.c step 16: is /proc/vmstat nr_hugetlb left
 * below the truth (negative, clamped to 0 on read) after gather_surplus_pages failed?
 * Faults 1, 2 and 3 pages of a MAP_PRIVATE|MAP_HUGETLB mapping from a pool of 3 and reads
 * nr_hugetlb each time. A correct counter reads 512 x in-use. Run via ./pool_sequence.sh nr_hugetlb_check
 * (saves/restores nr_hugepages). It adds no new drift (no failing reservation).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#define HP (2UL << 20)
static long vm(const char *key)
{
	FILE *f = fopen("/proc/vmstat", "r"); char l[128]; long v = -1; size_t n = strlen(key);
	while (fgets(l, sizeof l, f)) if (!strncmp(l, key, n) && l[n] == ' ') { v = atol(l + n + 1); break; }
	fclose(f); return v;
}
static long mi(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r"); char l[128]; long v = -1; size_t n = strlen(key);
	while (fgets(l, sizeof l, f)) if (!strncmp(l, key, n) && l[n] == ':') { v = atol(l + n + 1); break; }
	fclose(f); return v;
}
static void w(const char *p, const char *v) { int fd = open(p, O_WRONLY); if (write(fd, v, strlen(v)) < 0) perror(p); close(fd); }
static void show(const char *t, int inuse)
{
	printf("  %-28s in_use=%d  nr_hugetlb=%ld (a correct counter: %d)  Total=%ld Free=%ld Rsvd=%ld Surp=%ld\n",
	       t, inuse, vm("nr_hugetlb"), inuse * 512, mi("HugePages_Total"), mi("HugePages_Free"),
	       mi("HugePages_Rsvd"), mi("HugePages_Surp"));
}
int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	show("start", 0);
	w("/proc/sys/vm/nr_hugepages", "3");
	char *p = mmap(NULL, 3 * HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) { perror("mmap"); return 1; }
	for (int i = 0; i < 3; i++) {
		p[i * HP] = 1;
		char t[32]; snprintf(t, sizeof t, "faulted %d", i + 1);
		show(t, i + 1);
	}
	munmap(p, 3 * HP);
	show("munmapped", 0);
	w("/proc/sys/vm/nr_hugepages", "0");
	show("pool 0", 0);
	return 0;
}
