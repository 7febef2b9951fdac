/* The live kernel's side of benchmarks/swap_bench.py: N anonymous pages written, pushed out to
 * swap with one madvise(MADV_PAGEOUT), then read back (one swap-in fault each); prints
 * "pageout <seconds> swapin <seconds> pages <N> verified <pages whose word came back>".
 * Run it with a swap area on (the benchmark sets up /dev/zram0 and puts it back).
 * With "touch" as a second argument it only writes the pages twice over and reads them back (the
 * overcommit run inside a memory cgroup).  */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 1 << 20, i, ok = 0;
	int touch_only = argc > 2 && !strcmp(argv[2], "touch");
	volatile unsigned long sum = 0;
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t0, t1, t2;

	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < pages; i++)
		*(unsigned long *)(p + i * 4096) = i + 1;
	t0 = now();
	if (!touch_only && madvise(p, pages * 4096, MADV_PAGEOUT)) {
		perror("madvise(MADV_PAGEOUT)");
		return 1;
	}
	t1 = now();
	for (i = 0; i < pages; i++) {
		unsigned long v = *(volatile unsigned long *)(p + i * 4096);
		sum += v;
		ok += v == i + 1;
	}
	t2 = now();
	printf("pageout %.6f swapin %.6f pages %zu verified %zu\n", t1 - t0, t2 - t1, pages, ok);
	return ok == pages ? 0 : 2;
}
