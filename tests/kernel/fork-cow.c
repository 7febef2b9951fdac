/* fork + COW: the parent maps 16 pages at 0x7f0000000000 and writes them, forks; the child
 * writes the first 4 (copy-on-write copies), unmaps its copy of the mapping and exits; the
 * parent waits, unmaps and exits.  memsim twin: fork-cow.yaml. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>
#include "memsim_kdiff.h"

#define ADDR ((void *)0x7f0000000000UL)
#define LEN (16UL * 4096)
#define CHILD_LEN (4UL * 4096)

int main(void)
{
	kdiff_begin();
	char *p = mmap(ADDR, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != ADDR)
		return 1;
	for (unsigned long i = 0; i < LEN; i += 4096)
		p[i] = 1;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		for (unsigned long i = 0; i < CHILD_LEN; i += 4096)
			p[i] = 2;
		munmap(p, LEN);
		kdiff_end();
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	munmap(p, LEN);
	kdiff_end();
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
