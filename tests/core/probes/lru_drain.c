/* The live-kernel probe behind tests/core/test_lru.py's PROBE_LRU_DRAIN (run as root on the
 * 6.18 VM, 2 CPUs): gcc -O1 -o lru_drain lru_drain.c && sh (the script below) e   (or m)
 *
 * Recorded (6.18, 2026-12-04), exit ("e"): the probe (pid 10122) exited at 22052.631299 having
 * faulted 8 pages on CPU 1; none of its pages was freed by it.  120 ms later another task on
 * CPU 1 (python3-9736) filled the batch: mm_lru_insertion of all 8 PFNs (flags " a bd", no
 * PG_mapped any more), each followed by mm_page_free from that task.  munmap ("m"): the same,
 * after "munmapped" the 8 PFNs are inserted and freed by another task (python3-9739).
 * So neither unmap_region nor exit_mmap calls lru_add_drain() on 6.18 (Rik van Riel's
 * "mm: remove unnecessary calls to lru_add_drain"); 5.14 calls it in both.
 *
 * The script (run.sh MODE):
 *   #!/bin/sh
 *   # run.sh MODE: trace lru_drain MODE in a tracefs instance; print the probe output and the events
 *   T=/sys/kernel/tracing/instances/lrudrain
 *   mkdir $T
 *   echo 1 > $T/events/kmem/mm_page_free/enable
 *   echo 1 > $T/events/pagemap/mm_lru_insertion/enable
 *   echo 1 > $T/events/sched/sched_process_exit/enable
 *   echo 1 > $T/tracing_on
 *   ./lru_drain $1 > out.txt
 *   sleep 1
 *   echo 0 > $T/tracing_on
 *   cat $T/trace > trace.txt
 *   rmdir $T
 *   cat out.txt
 *   for pfn in $(grep pfn= out.txt | cut -d= -f2); do grep -m3 "pfn=$pfn " trace.txt; done
 *   grep sched_process_exit trace.txt | grep lru_drain
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
int main(int argc, char **argv) {
    cpu_set_t set; CPU_ZERO(&set); CPU_SET(1, &set); sched_setaffinity(0, sizeof(set), &set);
    long n = 8, ps = 4096;
    char *p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < n; i++) p[i * ps] = 1;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    for (long i = 0; i < n; i++) {
        uint64_t e; pread(fd, &e, 8, ((uintptr_t)p / ps + i) * 8);
        printf("pfn=0x%llx\n", (unsigned long long)(e & ((1ULL << 55) - 1)));
    }
    fflush(stdout);
    printf("pid=%d\n", getpid()); fflush(stdout);
    if (argv[1][0] == 'm') { munmap(p, n * ps); printf("munmapped\n"); fflush(stdout); usleep(200000); }
    return 0;
}
