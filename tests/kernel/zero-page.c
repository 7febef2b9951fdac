/* Zero page then write: map 16 pages at 0x7f0000000000, read each (the shared zero page is
 * mapped, nothing is allocated), then write each (a write-protect fault copies the zero page
 * into a new page), unmap and exit.  memsim twin: zero-page.yaml. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include "memsim_kdiff.h"

#define ADDR ((void *)0x7f0000000000UL)
#define LEN (16UL * 4096)

int main(void)
{
	kdiff_begin();
	volatile char *p = mmap(ADDR, LEN, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != ADDR)
		return 1;
	char sum = 0;
	for (unsigned long i = 0; i < LEN; i += 4096)
		sum += p[i];
	for (unsigned long i = 0; i < LEN; i += 4096)
		p[i] = 1;
	munmap((void *)p, LEN);
	kdiff_end();
	return sum;
}
