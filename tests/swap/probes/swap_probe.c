/* swap_probe: what the live kernel does around swap, for tests/swap/test_probe.py.
 * Run by tests/swap/probes/run_probe.sh with /dev/zram0 (64 MiB) as the only swap area, as
 * root; prints "key value" lines:
 *   free0 ... free_after_1 ...  SwapFree (kB) before and after MADV_PAGEOUT of 1 page, then 64
 *   pswpout_256 / pswpin_256    /proc/vmstat deltas of MADV_PAGEOUT of 256 pages and reading
 *                               them back
 *   cached_after_read           SwapCached (kB) after that read-back (zram: the cache skipped)
 *   cached_after_fork_read      SwapCached after a child forked with the 256 pages swapped out
 *                               reads them (count 2: through the swap cache)
 *   swap_ra_fork / majfault_*   the readahead and major-fault counts of that read
 *   swapents_after_pageout      VmSwap of /proc/self/status (kB) after the pageout
 *   pmd_offset                  where the 1 MiB mapping starts in its 2 MiB PMD (the VMA
 *                               readahead window never crosses a PMD)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

static long vmstat(const char *key)
{
	char name[128];
	long v, out = -1;
	FILE *f = fopen("/proc/vmstat", "r");
	while (f && fscanf(f, "%127s %ld", name, &v) == 2)
		if (!strcmp(name, key))
			out = v;
	if (f)
		fclose(f);
	return out;
}

static long status(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

static void touch(char *p, size_t pages, int write)
{
	volatile unsigned long sum = 0;
	for (size_t i = 0; i < pages; i++) {
		if (write)
			*(unsigned long *)(p + i * 4096) = i + 1;
		else
			sum += *(volatile unsigned long *)(p + i * 4096);
	}
}

int main(void)
{
	char *p = mmap(NULL, 256 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long a, b, c, d;

	touch(p, 256, 1);
	printf("pmd_offset %lu\n", (unsigned long)p & ((1UL << 21) - 1));
	printf("free0 %ld\n", meminfo("SwapFree"));
	madvise(p, 4096, MADV_PAGEOUT);
	printf("free_after_1 %ld\n", meminfo("SwapFree"));
	madvise(p + 4096, 63 * 4096, MADV_PAGEOUT);
	printf("free_after_64 %ld\n", meminfo("SwapFree"));
	touch(p, 256, 0);
	a = vmstat("pswpout");
	b = vmstat("pswpin");
	madvise(p, 256 * 4096, MADV_PAGEOUT);
	printf("swapents_after_pageout %ld\n", status("VmSwap:"));
	c = vmstat("pswpout");
	touch(p, 256, 0);
	d = vmstat("pswpin");
	printf("pswpout_256 %ld\npswpin_256 %ld\n", c - a, d - b);
	printf("cached_after_read %ld\n", meminfo("SwapCached"));
	madvise(p, 256 * 4096, MADV_PAGEOUT);
	fflush(stdout);
	if (fork() == 0) {
		long ra = vmstat("swap_ra"), maj = vmstat("pgmajfault"), in = vmstat("pswpin");
		touch(p, 256, 0);
		printf("cached_after_fork_read %ld\n", meminfo("SwapCached"));
		printf("swap_ra_fork %ld\npswpin_fork %ld\nmajfault_fork %ld\n",
		       vmstat("swap_ra") - ra, vmstat("pswpin") - in, vmstat("pgmajfault") - maj);
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);
	return 0;
}
