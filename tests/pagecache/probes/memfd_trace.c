/* The live-kernel probe behind tests/pagecache/test_shmem.py's memfd_create slab records (run as
 * root on the 6.18 VM, with an instance probe_d tracing kmem:kmalloc, kfree, kmem_cache_alloc and
 * kmem_cache_free): gcc -o mf memfd_trace.c && ./mf, then the instance's trace between the
 * "begin" and "end" markers is memfd_trace.txt.  memfd_create("hello", 0) kmallocs the name
 * (256 bytes: NAME_MAX + 1 on 6.18), takes the inode from shmem_inode_cache (744 bytes, 752 a
 * slot, GFP_KERNEL, accounted), a dentry and a file, and kfrees the name; closing it frees the
 * dentry and the file at once, the inode later through RCU (outside the window). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
  int fd = open("/sys/kernel/tracing/instances/probe_d/trace_marker", O_WRONLY);
  write(fd, "begin", 5);
  int m = memfd_create("hello", 0);
  write(fd, "mid", 3);
  close(m);
  write(fd, "end", 3);
  return 0;
}
