/* mprotect: map 16 pages at 0x7f0000000000 and write them, make pages 4-7 read-only (the VMA
 * splits in three), make them writable again (the VMAs merge back), write every page again
 * (no new page), unmap and exit.  memsim twin: mprotect.yaml. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "memsim_kdiff.h"

#define ADDR ((void *)0x7f0000000000UL)
#define LEN (16UL * 4096)

int main(void)
{
	kdiff_begin();
	char *p = mmap(ADDR, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != ADDR)
		return 1;
	for (unsigned long i = 0; i < LEN; i += 4096)
		p[i] = 1;
	if (mprotect(p + 4 * 4096, 4 * 4096, PROT_READ))
		return 1;
	if (mprotect(p + 4 * 4096, 4 * 4096, PROT_READ | PROT_WRITE))
		return 1;
	for (unsigned long i = 0; i < LEN; i += 4096)
		p[i] = 2;
	munmap(p, LEN);
	kdiff_end();
	return 0;
}
