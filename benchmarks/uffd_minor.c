/* The live kernel's side of benchmarks/uffd_bench.py: a shmem (memfd) region of NPAGES pages
 * written through a second mapping, registered MINOR on the first; one thread reads every page
 * of the registered mapping, a monitor thread serves each MINOR fault with UFFDIO_CONTINUE (the
 * same work as the `uffd_serve` step).  Prints "<faults> <seconds>" for the touch loop.
 * Build: gcc -O2 -pthread -o uffd_minor uffd_minor.c ; run: ./uffd_minor NPAGES */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int uffd;
static long npages, served;

static void *monitor(void *arg)
{
	struct uffd_msg msg;
	(void)arg;
	while (served < npages) {
		struct pollfd p = { .fd = uffd, .events = POLLIN };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_continue c = { .range = { msg.arg.pagefault.address & ~4095UL, 4096 } };
		if (ioctl(uffd, UFFDIO_CONTINUE, &c) && c.mapped != -EEXIST) {
			perror("UFFDIO_CONTINUE");
			exit(1);
		}
		served++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	npages = argc > 1 ? atol(argv[1]) : 16384;
	size_t len = npages * 4096;
	int fd = memfd_create("guest", 0);
	if (fd < 0 || ftruncate(fd, len)) { perror("memfd"); return 1; }
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED) { perror("mmap"); return 1; }
	memset(b, 1, len);
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) { perror("userfaultfd"); return 1; }
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (unsigned long)a, len }, .mode = UFFDIO_REGISTER_MODE_MINOR };
	if (ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg)) { perror("uffd"); return 1; }
	pthread_t t;
	pthread_create(&t, NULL, monitor, NULL);
	struct timespec t0, t1;
	volatile char sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < npages; i++)
		sink += a[i * 4096];
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	printf("%ld %.6f\n", npages, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
