/* ra_probe FILE [K] OP...: drop FILE from the page cache (unless K: keep it), then for each OP
   read 4 KiB at that page index with pread, or R / S / W: posix_fadvise RANDOM, SEQUENTIAL or
   WILLNEED of the whole file, or B / b: one 2 MiB / 128 KiB pread at offset 0; after each, the number of its
   pages mincore() sees uptodate.  The readahead windows are seen with the readahead trace
   events (tests/pagecache/test_readahead.py: run on an ext4 mounted data=journal, which has no
   large folios, on a loop device with read_ahead_kb 128 and max_sectors_kb 1280).  */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	char buf[4096];
	fstat(fd, &st);
	size_t pages = (st.st_size + 4095) / 4096;
	unsigned char *vec = malloc(pages);
	void *map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int i = 2;
	if (argc > 2 && argv[2][0] == 'K')	/* K: keep what is cached */
		i = 3;
	else
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (; i < argc; i++) {
		if (argv[i][0] == 'R') { posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM); continue; }
		if (argv[i][0] == 'S') { posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); continue; }
		if (argv[i][0] == 'W') { posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED); goto count; }
		if (argv[i][0] == 'B') { static char big[2 << 20]; pread(fd, big, sizeof big, 0); goto count; }
		if (argv[i][0] == 'b') { static char small[32 << 12]; pread(fd, small, sizeof small, 0); goto count; }
		pread(fd, buf, 4096, atol(argv[i]) * 4096L);
count:
		mincore(map, st.st_size, vec);
		size_t n = 0;
		for (size_t j = 0; j < pages; j++)
			n += vec[j] & 1;
		printf("%s %zu\n", argv[i], n);
	}
	return 0;
}
