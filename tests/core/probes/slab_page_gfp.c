/* The live-kernel probe behind tests/core/test_slab_layout.py (slab page gfp) and the recorded
 * answer tests/core/probes/slab_page_gfp.txt (run as root on the 6.18 VM, 2 CPUs):
 *   gcc -O1 -o slab_page_gfp slab_page_gfp.c && sh (the script below)
 * The script:
 *   T=/sys/kernel/tracing/instances/slabgfp
 *   mkdir $T
 *   echo 1 > $T/events/kmem/mm_page_alloc/enable
 *   echo 'stacktrace if gfp_flags & 0x10000' > $T/events/kmem/mm_page_alloc/trigger  # __GFP_NORETRY
 *   echo 40000 > $T/buffer_size_kb; echo 1 > $T/tracing_on
 *   ./slab_page_gfp $T/trace_marker
 *   echo 0 > $T/tracing_on; cat $T/trace > trace.txt
 *   echo '!stacktrace if gfp_flags & 0x10000' > $T/events/kmem/mm_page_alloc/trigger; rmdir $T
 * then, for each mm_page_alloc of the probe with a stack through allocate_slab, the first caller
 * outside the slab allocator, the order and the gfp_flags, counted (slab_page_gfp.txt).
 */
/* slab_page_gfp: the gfp and order of the slab pages the live kernel allocates for the caches
 * memsim models: vm_area_struct slabs (2000 VMAs that cannot merge), anon_vma / anon_vma_chain
 * slabs (one anon_vma per VMA, by writing to each), shmem_inode_cache slabs (200 memfds) and
 * mm_struct slabs (40 forked children that wait, each copying the 2000 VMAs). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int marker = open(argv[1], O_WRONLY);
    dprintf(marker, "case=vmas\n");
    for (long i = 0; i < 2000; i++) {
        char *p = mmap((void *)(0x100000000UL + i * 0x2000), 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        p[0] = 1;
    }
    dprintf(marker, "case=memfds\n");
    for (int i = 0; i < 200; i++) memfd_create("slab_page_gfp", 0);
    dprintf(marker, "case=forks\n");
    int pipefd[2]; pipe(pipefd);
    pid_t kids[40];
    for (int i = 0; i < 40; i++) {
        kids[i] = fork();
        if (kids[i] == 0) { char c; close(pipefd[1]); read(pipefd[0], &c, 1); _exit(0); }
    }
    close(pipefd[1]);
    for (int i = 0; i < 40; i++) waitpid(kids[i], NULL, 0);
    dprintf(marker, "case=end\n");
    return 0;
}
