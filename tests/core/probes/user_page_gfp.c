/* The live-kernel probe behind tests/core/test_user_page_gfp.py and its recorded answer
 * tests/core/probes/user_page_gfp.txt (run as root on the 6.18 VM; DIR on ext4):
 *   gcc -O1 -o user_page_gfp user_page_gfp.c && sh (the script below)
 * The script:
 *   T=/sys/kernel/tracing/instances/userpagegfp
 *   mkdir $T
 *   echo 1 > $T/events/kmem/mm_page_alloc/enable; echo 1 > $T/tracing_on
 *   ./user_page_gfp $T/trace_marker /tmp > out.txt
 *   echo 0 > $T/tracing_on; cat $T/trace > trace.txt; rmdir $T
 *   grep -E 'tracing_mark|mm_page_alloc' trace.txt | grep user_page_gfp-
 * and, after each "case=NAME" marker, the mm_page_alloc of the pfn out.txt gives for NAME.
 */
/* user_page_gfp: which gfp the live kernel's mm_page_alloc shows for each kind of user page.
 * Usage: user_page_gfp MARKER_FILE DIR  (MARKER_FILE: the tracefs instance's trace_marker; DIR: an
 * ext4 directory for the file cases).  Each case writes "case=NAME" to the marker, makes one page,
 * and prints "NAME pfn=0x..." (from /proc/self/pagemap). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>

static int marker;
static void mark(const char *what) { dprintf(marker, "case=%s\n", what); }
static unsigned long long pfn_of(void *va) {
    uint64_t e = 0; int fd = open("/proc/self/pagemap", O_RDONLY);
    pread(fd, &e, 8, ((uintptr_t)va / 4096) * 8); close(fd);
    return e & ((1ULL << 55) - 1);
}
static void show(const char *name, void *va) { printf("%s pfn=0x%llx\n", name, pfn_of(va)); fflush(stdout); }

int main(int argc, char **argv) {
    char path[4096];
    marker = open(argv[1], O_WRONLY);
    volatile char *p;
    /* anonymous write fault: do_anonymous_page */
    mark("anon");
    p = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p[0] = 1; show("anon", (void *)p);
    /* read fault maps the zero page, then a write replaces it: wp_page_copy of the zero page */
    mark("zero");
    p = mmap((void *)0x10100000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    (void)p[0]; p[0] = 1; show("zero", (void *)p);
    /* COW after fork: the child's write copies: wp_page_copy */
    p = mmap((void *)0x10200000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p[0] = 1;
    pid_t c = fork();
    if (c == 0) { mark("cow"); p[0] = 2; show("cow", (void *)p); _exit(0); }
    waitpid(c, NULL, 0);
    /* a file page read in by a read fault (ext4, not cached): filemap_fault + readahead */
    snprintf(path, sizeof path, "%s/user_page_gfp.dat", argv[2]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[4096]; memset(buf, 7, sizeof buf); write(fd, buf, sizeof buf); fsync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    mark("file_read");
    p = mmap((void *)0x10300000, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    (void)p[0]; show("file_read", (void *)p);
    munmap((void *)p, 4096);
    /* a private file mapping written first: do_cow_fault (the file page, then the copy) */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    mark("file_cow");
    p = mmap((void *)0x10400000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
    p[0] = 1; show("file_cow", (void *)p);
    close(fd);
    /* write(2) to a new file: generic_perform_write -> write_begin */
    snprintf(path, sizeof path, "%s/user_page_gfp2.dat", argv[2]);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    mark("file_write");
    write(fd, buf, sizeof buf);
    p = mmap((void *)0x10500000, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    (void)p[0]; show("file_write", (void *)p);
    close(fd);
    /* shmem (memfd) write fault: shmem_fault -> shmem_alloc_folio */
    fd = memfd_create("user_page_gfp", 0); ftruncate(fd, 4096);
    mark("shmem");
    p = mmap((void *)0x10600000, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    p[0] = 1; show("shmem", (void *)p);
    /* a shared anonymous mapping is shmem too (shmem_zero_setup) */
    mark("shared_anon");
    p = mmap((void *)0x10700000, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p[0] = 1; show("shared_anon", (void *)p);
    mark("end");
    unlink(path);
    snprintf(path, sizeof path, "%s/user_page_gfp.dat", argv[2]); unlink(path);
    return 0;
}
