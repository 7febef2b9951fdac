/* The live-kernel probe behind tests/pagecache/test_shmem.py's PROBE_* records (run as root on
 * the 6.18 VM): gcc -O0 -o memfd_seals memfd_seals.c && ./memfd_seals > memfd_seals.txt
 * memfd_create flags and names, fcntl(F_ADD_SEALS) and what each seal refuses (write,
 * ftruncate, fallocate, mmap, mprotect), the memfd's stat, and a tmpfs mount (size=, nr_inodes=,
 * an unknown option) inside unshare(CLONE_NEWNS); one "name -> result" line per call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#define MFD_NOEXEC_SEAL 0x8U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif
static void r(const char *what, long ret) {
  if (ret < 0) printf("%s -> %s\n", what, strerrorname_np(errno));
  else printf("%s -> %ld\n", what, ret);
}
static void rp(const char *what, void *p) {
  if (p == MAP_FAILED) printf("%s -> %s\n", what, strerrorname_np(errno));
  else printf("%s -> ok\n", what);
}
int main(void) {
  char name[300], path[64];
  struct stat st;
  memset(name, 'a', sizeof name);
  name[249] = 0; r("memfd_create(249 bytes)", memfd_create(name, 0));
  name[249] = 'a'; name[250] = 0; r("memfd_create(250 bytes)", memfd_create(name, 0));
  r("memfd_create(flags 0x100)", memfd_create("x", 0x100));
  r("memfd_create(MFD_EXEC|MFD_NOEXEC_SEAL)", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL));
  int nos = memfd_create("nos", 0);
  r("add_seals(no MFD_ALLOW_SEALING, F_SEAL_WRITE)", fcntl(nos, F_ADD_SEALS, F_SEAL_WRITE));
  r("get_seals(no MFD_ALLOW_SEALING)", fcntl(nos, F_GET_SEALS));
  fstat(nos, &st);
  printf("stat: mode %o nlink %lu dev %u:%u size %ld\n", st.st_mode, (unsigned long)st.st_nlink,
         major(st.st_dev), minor(st.st_dev), (long)st.st_size);
  int fd = memfd_create("s", MFD_ALLOW_SEALING);
  r("get_seals(MFD_ALLOW_SEALING)", fcntl(fd, F_GET_SEALS));
  r("add_seals(0x400)", fcntl(fd, F_ADD_SEALS, 0x400));
  r("ftruncate(64k)", ftruncate(fd, 65536));
  void *w = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  rp("mmap(shared rw)", w);
  r("add_seals(F_SEAL_WRITE) with a shared rw mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
  munmap(w, 65536);
  void *ro = mmap(0, 65536, PROT_READ, MAP_SHARED, fd, 0);
  rp("mmap(shared r)", ro);
  r("add_seals(F_SEAL_WRITE) with a shared r mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
  munmap(ro, 65536);
  r("add_seals(F_SEAL_WRITE)", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
  r("get_seals", fcntl(fd, F_GET_SEALS));
  r("write(1) sealed write", write(fd, "x", 1));
  r("pwrite(1 at 0) sealed write", pwrite(fd, "x", 1, 0));
  rp("mmap(shared rw) sealed write", mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ro = mmap(0, 65536, PROT_READ, MAP_SHARED, fd, 0);
  rp("mmap(shared r) sealed write", ro);
  if (ro != MAP_FAILED) r("mprotect(rw) of it", mprotect(ro, 65536, PROT_READ | PROT_WRITE));
  rp("mmap(private rw) sealed write", mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
  r("fallocate(PUNCH_HOLE|KEEP_SIZE) sealed write", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
  r("fallocate(0, 0, 128k) sealed write", fallocate(fd, 0, 0, 131072));
  r("ftruncate(128k) sealed write (grows it)", ftruncate(fd, 131072));
  r("add_seals(F_SEAL_SHRINK|F_SEAL_GROW)", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
  r("ftruncate(4k) sealed shrink", ftruncate(fd, 4096));
  r("ftruncate(128k) sealed grow, the size already", ftruncate(fd, 131072));
  r("ftruncate(64k) sealed shrink", ftruncate(fd, 65536));
  r("add_seals(F_SEAL_SEAL)", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
  r("add_seals(F_SEAL_SHRINK) after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
  r("add_seals(0x400) after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, 0x400));
  int g = memfd_create("g", MFD_ALLOW_SEALING);
  r("ftruncate(8k)", ftruncate(g, 8192));
  r("add_seals(F_SEAL_GROW)", fcntl(g, F_ADD_SEALS, F_SEAL_GROW));
  r("pwrite(2 at 8191) sealed grow", pwrite(g, "xy", 2, 8191));
  r("pwrite(1 at 8191) sealed grow", pwrite(g, "x", 1, 8191));
  r("fallocate(0, 0, 16k) sealed grow", fallocate(g, 0, 0, 16384));
  r("fallocate(KEEP_SIZE, 0, 8k) sealed grow", fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 8192));
  r("fallocate(ZERO_RANGE)", fallocate(g, FALLOC_FL_ZERO_RANGE, 0, 4096));
  r("fallocate(PUNCH_HOLE)", fallocate(g, FALLOC_FL_PUNCH_HOLE, 0, 4096));
  snprintf(path, sizeof path, "/proc/self/fd/%d", g);
  int rdonly = open(path, O_RDONLY);
  r("add_seals(F_SEAL_SHRINK) on an O_RDONLY open", fcntl(rdonly, F_ADD_SEALS, F_SEAL_SHRINK));
  int reg = open("/tmp", O_TMPFILE | O_RDWR, 0600);
  r("add_seals(F_SEAL_SHRINK) on a /tmp O_TMPFILE", fcntl(reg, F_ADD_SEALS, F_SEAL_SHRINK));
  r("get_seals on a /tmp O_TMPFILE", fcntl(reg, F_GET_SEALS));
  /* tmpfs */
  if (unshare(CLONE_NEWNS) || mount(0, "/", 0, MS_REC | MS_PRIVATE, 0)) { perror("unshare"); return 1; }
  mkdir("/mnt/p", 0755);
  r("mount tmpfs foo=1", mount("none", "/mnt/p", "tmpfs", 0, "foo=1"));
  r("mount tmpfs size=abc", mount("none", "/mnt/p", "tmpfs", 0, "size=abc"));
  r("mount tmpfs size=", mount("none", "/mnt/p", "tmpfs", 0, "size="));
  r("mount tmpfs size", mount("none", "/mnt/p", "tmpfs", 0, "size"));
  r("mount tmpfs size=16k,nr_inodes=3", mount("none", "/mnt/p", "tmpfs", 0, "size=16k,nr_inodes=3"));
  fstat(open("/mnt/p", O_RDONLY), &st);
  printf("tmpfs root: mode %o nlink %lu ino %lu\n", st.st_mode, (unsigned long)st.st_nlink, (unsigned long)st.st_ino);
  int a = open("/mnt/p/a", O_CREAT | O_RDWR, 0644);
  r("open a", a);
  r("open b", open("/mnt/p/b", O_CREAT | O_RDWR, 0644));
  r("open c (nr_inodes=3)", open("/mnt/p/c", O_CREAT | O_RDWR, 0644));
  fstat(a, &st);
  printf("tmpfs file a: ino %lu nlink %lu\n", (unsigned long)st.st_ino, (unsigned long)st.st_nlink);
  char *buf = calloc(1, 65536);
  r("write 64k to a (size=16k)", write(a, buf, 65536));
  r("write 1 more", write(a, buf, 1));
  r("fallocate(0, 0, 64k) of a (size=16k)", fallocate(a, 0, 0, 65536));
  r("ftruncate(a, 1m)", ftruncate(a, 1 << 20));
  void *m = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
  rp("mmap 1m of a", m);
  r("fallocate(PUNCH_HOLE|KEEP_SIZE, 0, 16k) of a", fallocate(a, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 16384));
  r("madvise(MADV_REMOVE) of it", madvise(m, 16384, MADV_REMOVE));
  r("umount", umount("/mnt/p"));
  return 0;
}
