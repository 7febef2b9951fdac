/* The live-kernel probe behind tests/core/test_drop_caches.py's PROBE_* values (run as root on
 * the 6.18 VM): gcc -O0 -o drop_caches drop_caches.c && ./drop_caches
 * It opens /proc/sys/vm/drop_caches for reading, reads it, writes values to it (each on a fresh
 * open), prints the result of every call (bytes or -errno name) and the drop_pagecache /
 * drop_slab / slabs_scanned lines of /proc/vmstat before and after. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static const char *P = "/proc/sys/vm/drop_caches";
static void vmstat(void) {
  char b[256]; FILE *f = fopen("/proc/vmstat", "r");
  while (fgets(b, sizeof b, f))
    if (!strncmp(b, "drop_", 5) || !strncmp(b, "slabs_scanned", 13)) fputs(b, stdout);
  fclose(f);
}
static void put(const char *v, size_t n) {
  int fd = open(P, O_WRONLY);
  if (fd < 0) { printf("open(O_WRONLY) -> %s\n", strerrorname_np(errno)); return; }
  ssize_t r = write(fd, v, n);
  printf("write \"");
  for (size_t i = 0; i < n; i++) { if (v[i] == '\n') printf("\\n"); else putchar(v[i]); }
  if (r < 0) printf("\" -> %s\n", strerrorname_np(errno)); else printf("\" -> %zd\n", r);
  close(fd);
}
int main(void) {
  struct stat st; stat(P, &st); printf("mode %o\n", st.st_mode & 07777);
  int fd = open(P, O_RDONLY);
  if (fd < 0) printf("open(O_RDONLY) -> %s\n", strerrorname_np(errno));
  else { char b[32]; ssize_t r = read(fd, b, sizeof b); printf("read -> %zd\n", r < 0 ? -errno : r); close(fd); }
  fd = open(P, O_RDWR); printf("open(O_RDWR) -> %s\n", fd < 0 ? strerrorname_np(errno) : "ok"); if (fd >= 0) close(fd);
  vmstat();
  put("1", 1); vmstat();
  put("2\n", 2); vmstat();
  put("3", 1); vmstat();
  put("4", 1); vmstat();
  put("5", 1); put("0", 1); put("-1", 2); put("abc", 3); put("", 0); put(" 3 \n", 4); put("0x3", 3);
  put("3 4", 3); put("3abc", 4); put("7", 1); put("1 x", 3);
  vmstat();
  return 0;
}
