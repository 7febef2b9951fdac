/* thp_aligned_mmap: where the live kernel places anonymous mmaps without a hint, by length, with
 * address randomisation off (it re-executes itself under personality(ADDR_NO_RANDOMIZE)).
 * The recorded answer is tests/core/probes/thp_aligned_mmap.txt (6.18.44 VM, THP mode
 * "madvise"), pinned by tests/core/test_thp_aligned_mmap.py:
 *   gcc -O1 -o thp_aligned_mmap thp_aligned_mmap.c && ./thp_aligned_mmap > thp_aligned_mmap.txt
 * Output: "image START END" for each mapping of the process image in the mmap area (above
 * 0x7f0000000000, so memsim can map the same ranges first), then one line per case:
 * "KIND LENGTH HINT ADDR" (hex), each mapping unmapped before the next, so each sees the same
 * free gap below the image; then a sequence kept mapped, and an mremap that has to move.
 * Expected from mm/mmap.c __get_unmapped_area() of 6.18: a private anonymous mapping with no
 * hint and a length that is a multiple of 2 MiB goes through thp_get_unmapped_area_vmflags()
 * (compiled in with CONFIG_TRANSPARENT_HUGEPAGE, whatever the THP mode); shared anonymous ones
 * go to shmem_get_unmapped_area() (shmem THP "never" here: no alignment). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <unistd.h>

#define M (1UL << 20)
static void probe(const char *kind, int flags, size_t len, void *hint) {
    void *p = mmap(hint, len, PROT_READ | PROT_WRITE, flags, -1, 0);
    printf("%s %#zx %#lx %#lx\n", kind, len, (unsigned long)hint, (unsigned long)p);
    munmap(p, len);
}

int main(int argc, char **argv) {
    if (!(personality(0xffffffff) & ADDR_NO_RANDOMIZE)) {
        personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
        execv("/proc/self/exe", argv);
        return 1;
    }
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s >= 0x7f0000000000UL && e <= 0x7ffff7fff000UL)
            printf("image %#lx %#lx\n", s, e);
    }
    fclose(f);
    size_t lens[] = {4096, 2 * M, 4 * M, 3 * M, 1UL << 30, 2 * M + 4096, 6 * M, 1 * M};
    for (unsigned i = 0; i < sizeof lens / sizeof *lens; i++)
        probe("private", MAP_PRIVATE | MAP_ANONYMOUS, lens[i], NULL);
    for (unsigned i = 0; i < sizeof lens / sizeof *lens; i++)
        probe("shared", MAP_SHARED | MAP_ANONYMOUS, lens[i], NULL);
    probe("private-noreserve", MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, 2 * M, NULL);
    probe("private-hint", MAP_PRIVATE | MAP_ANONYMOUS, 2 * M, (void *)0x10001000);
    /* kept mapped: each one below the last */
    size_t seq[] = {4 * M, 4 * M, 3 * M, 2 * M};
    void *last = NULL;
    for (unsigned i = 0; i < sizeof seq / sizeof *seq; i++) {
        last = mmap(NULL, seq[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("sequence %#zx 0 %#lx\n", seq[i], (unsigned long)last);
    }
    /* 64 KiB right below the sequence (MAP_FIXED_NOREPLACE), so the free gap's top is not 2 MiB
     * aligned; then grow the last 2 MiB to 4 MiB: the 3 MiB mapping is right above it, so it
     * moves (mremap's get_unmapped_area takes the same THP path as mmap) */
    void *page = mmap((char *)last - 0x10000, 0x10000, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("fixed %#lx %#lx %#lx\n", 0x10000UL, (unsigned long)last - 0x10000, (unsigned long)page);
    void *moved = mremap(last, 2 * M, 4 * M, MREMAP_MAYMOVE);
    printf("mremap %#lx %#lx %#lx\n", 4 * M, (unsigned long)last, (unsigned long)moved);
    return 0;
}
