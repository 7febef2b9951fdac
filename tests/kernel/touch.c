/* Anonymous touch: map PAGES pages of private anonymous memory at 0x7f0000000000, write one
 * byte in each, unmap them and exit.  memsim twin: touch-<PAGES>.yaml. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "memsim_kdiff.h"

#ifndef PAGES
#define PAGES 64
#endif
#define ADDR ((void *)0x7f0000000000UL)

int main(void)
{
	unsigned long len = (unsigned long)PAGES * 4096;
	kdiff_begin();
	char *p = mmap(ADDR, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != ADDR)
		return 1;
	for (unsigned long i = 0; i < len; i += 4096)
		p[i] = 1;
	munmap(p, len);
	kdiff_end();
	return 0;
}
