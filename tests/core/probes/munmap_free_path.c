/* munmap_free_path.c: what the live kernel does when it frees an anonymous mapping (munmap or
 * exit): mmu_gather batch sizes, the order of mm_page_free / mm_page_free_batched, rss_stat per
 * page table, and the page tables freed through RCU.  The recorded traces and what they show are
 * in tests/core/data/munmap_free_path.txt; tests/core/test_mmu_gather.py pins memsim's v6.18
 * profile to them.
 *
 *   gcc -O1 -o munmap_free_path munmap_free_path.c
 *   ./munmap_free_path NPAGES ADDR MODE PFNFILE      (MODE m: munmap then exit; e: exit only)
 *
 * It re-executes itself with address randomisation off (personality(ADDR_NO_RANDOMIZE)), pins
 * itself to CPU 1, maps NPAGES anonymous pages at the fixed ADDR (MAP_FIXED_NOREPLACE), writes
 * one byte to each, writes their PFNs (from /proc/self/pagemap) to PFNFILE, then marks the
 * munmap or the exit with lines in the tracefs instance's trace_marker (env TRACE_MARKER).
 * Run it as root under a throw-away tracefs instance: see run_munmap_free_path.sh next to it.
 *
 * Recorded (6.18.44, 2026-12-05; the normalised traces are in the data file):
 * - mmu_gather: the first batch page comes after 7 pages, the next after 7 + 509; a munmap of
 *   262,144 pages flushes first after 7 + 19 x 509 = 9,678 pages, 28 flushes in all, the 19
 *   batch pages allocated once and freed last (mm_page_free, "....."), after the last flush.
 * - Batch pages: mm_page_alloc gfp_flags=GFP_NOWAIT (6.18's GFP_NOWAIT includes __GFP_NOWARN),
 *   order 0, migratetype 0; "...1." for the gather's (zap_pte_range holds the PTE lock),
 *   "....." for the page-table batch (free_pgtables holds no spinlock).
 * - Release: per gather batch, runs of 31 folios: the run's mm_page_free records ("....."),
 *   then its mm_page_free_batched records ("...2.": the pcp lock), in the order queued; a batch of
 *   509 is 16 x 31 + 13.  Pages still in the lru_add batch keep their slot but are not freed
 *   (another task frees them later).
 * - rss_stat: one per page table the range crosses (1000 pages at 0x7f0000100000: three), one
 *   more where a flush cuts a table.
 * - Page tables: none is freed by the munmap; 1 to 16 ms later the RCU callback frees them in
 *   softirq on CPU 1 on the idle task ("<idle>-0 ..s1."; a busy task shows "..s.."): the PTE
 *   tables in address order, then the PMD and PUD tables, then the batch page; 516 tables went
 *   in two batches, 509 and 7.  Exit: the same, after the task is gone.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/personality.h>

static int marker = -1;

static void mark(const char *what)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "probe %s\n", what);
    if (marker >= 0)
        write(marker, buf, n);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s NPAGES ADDR m|e PFNFILE\n", argv[0]);
        return 2;
    }
    int pers = personality(0xffffffff);
    if (!(pers & ADDR_NO_RANDOMIZE)) {
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len <= 0)
            return 1;
        self[len] = 0;
        personality(pers | ADDR_NO_RANDOMIZE);
        execv(self, argv);              /* by its path: the comm stays munmap_free_pat */
        perror("execv");
        return 1;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    sched_setaffinity(0, sizeof(set), &set);
    long n = atol(argv[1]), ps = 4096;
    uintptr_t addr = strtoull(argv[2], NULL, 0);
    const char *tm = getenv("TRACE_MARKER");
    if (tm)
        marker = open(tm, O_WRONLY);
    char *p = mmap((void *)addr, n * ps, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || (uintptr_t)p != addr) {
        perror("mmap");
        return 1;
    }
    mark("touch");
    for (long i = 0; i < n; i++)
        p[i * ps] = 1;
    mark("touched");
    FILE *out = fopen(argv[4], "w");
    int fd = open("/proc/self/pagemap", O_RDONLY);
    for (long i = 0; i < n; i++) {
        uint64_t e;
        pread(fd, &e, 8, ((uintptr_t)p / ps + i) * 8);
        fprintf(out, "0x%llx\n", (unsigned long long)(e & ((1ULL << 55) - 1)));
    }
    close(fd);
    fclose(out);
    printf("pid=%d\n", getpid());
    fflush(stdout);
    if (argv[3][0] == 'm') {
        mark("munmap");
        munmap(p, n * ps);
        mark("munmapped");
        usleep(100000);
    }
    mark("exit");
    return 0;
}
