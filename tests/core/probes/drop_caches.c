/* The live-kernel probe behind tests/core/test_drop_caches.py's PROBE_* values (run as root on
 * the 6.18 VM): gcc -O0 -o drop_caches drop_caches.c && ./drop_caches
 * It stats /proc/sys/vm/drop_caches, opens it for reading, writes values to it (each on a fresh
 * open), prints the result of every call (bytes taken or the errno name) and the drop_pagecache /
 * drop_slab / slabs_scanned lines of /proc/vmstat between them; dmesg shows the messages.
 * Recorded (6.18.44-fc): mode 200; open O_RDONLY and O_RDWR -> EACCES (root too);
 * "1" -> 1 (drop_pagecache +1), "2\n" -> 2 (drop_slab +1, slabs_scanned +1011370), "3" -> 1
 * (both +1), "4" -> 1 (neither); "0", "-1", "abc", "3abc" -> EINVAL; "" -> 0 (and the handler
 * runs again with the previous value: drop_pagecache +1 after a "1"); " 3 \n" -> 4;
 * "0x3" -> 3; "3 4" -> 2 and "1 x" -> 2 (one int is taken); "5", "7" -> 1 -- this vendor kernel
 * takes 1..63 (64 and up: EINVAL) where upstream 5.14 and 6.18 have extra2 = SYSCTL_FOUR (4).
 * dmesg: "drop_caches (PID): drop_caches: 1", then ": 2", ": 3", ": 4", then nothing more
 * (bit 4 silences the writes after it). */
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
