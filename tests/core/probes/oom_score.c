/* The live-kernel probe behind tests/core/test_oom.py's PROBE_* values (run as root on the 6.18
 * VM, no swap): gcc -O0 -o oom_score oom_score.c && ./oom_score 256
 * It writes N MiB of malloc()ed memory, prints MemTotal/SwapTotal, its VmRSS/RssAnon/RssFile/
 * VmPTE/VmSwap and /proc/self/oom_score, then writes oom_score_adj values and reads them back.
 * Recorded (6.18.44): MemTotal 24683792 kB, VmRSS 263516 kB, VmPTE 560 kB, oom_score 673;
 * adj 500 -> 1006; " 7\n" -> 7 (write returns 3); "0x10" -> 16; "1001", "12abc" -> EINVAL;
 * -500 and -1000 -> EACCES there (the sandbox lacks CAP_SYS_RESOURCE; memsim's tasks have it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
static void show(const char *path, const char *keys[]) {
  char buf[8192]; FILE *f = fopen(path, "r"); 
  while (fgets(buf, sizeof buf, f)) for (int i = 0; keys[i]; i++) if (!strncmp(buf, keys[i], strlen(keys[i]))) fputs(buf, stdout);
  fclose(f);
}
static void cat(const char *path) { char b[64]; FILE *f = fopen(path, "r"); if (fgets(b, sizeof b, f)) printf("%s: %s", path, b); fclose(f); }
static void put(const char *path, const char *v) { int fd = open(path, O_WRONLY); int r = write(fd, v, strlen(v)); printf("write %s %s -> %d\n", path, v, r < 0 ? -1 : r); close(fd); }
int main(int argc, char **argv) {
  size_t mb = atoi(argv[1]);
  char *p = malloc(mb << 20); memset(p, 1, mb << 20);
  const char *st[] = {"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmPTE", "VmSwap", NULL};
  const char *mi[] = {"MemTotal", "SwapTotal", NULL};
  show("/proc/meminfo", mi); show("/proc/self/status", st);
  cat("/proc/self/oom_score"); 
  put("/proc/self/oom_score_adj", "500"); cat("/proc/self/oom_score");
  put("/proc/self/oom_score_adj", "-500"); cat("/proc/self/oom_score");
  put("/proc/self/oom_score_adj", "-1000"); cat("/proc/self/oom_score");
  put("/proc/self/oom_score_adj", "1001"); put("/proc/self/oom_score_adj", " 7\n"); cat("/proc/self/oom_score_adj");
  put("/proc/self/oom_score_adj", "0x10"); cat("/proc/self/oom_score_adj");
  put("/proc/self/oom_score_adj", "12abc");
  show("/proc/self/status", st);
  return 0;
}
