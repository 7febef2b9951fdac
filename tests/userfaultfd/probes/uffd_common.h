/*
 * uffd_common.h - helpers shared by the userfaultfd probes (memsim issue 14 fixtures).
 *
 * Output convention: one result per line, TAB separated:
 *     item <TAB> memtype <TAB> result [<TAB> field=value ...]
 * result is OK, an errno NAME (EINVAL), or a word such as "event"/"no event".
 * Addresses are printed relative to the start of the mapping under test (addr=+0x1000).
 *
 * The system header <linux/userfaultfd.h> on this machine (Debian 12 libc headers) predates
 * UFFDIO_MOVE, UFFDIO_POISON and feature bits 13-16; they are defined here with the values of
 * the 6.18 kernel's include/uapi/linux/userfaultfd.h.
 */
#ifndef UFFD_COMMON_H
#define UFFD_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- constants missing from the installed header (values of 6.18 uapi) ---- */
#ifndef UFFD_FEATURE_EXACT_ADDRESS
#define UFFD_FEATURE_EXACT_ADDRESS (1 << 11)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 updated;
};
#define _UFFDIO_POISON (0x08)
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

#define PG 4096UL
#define HPG (2UL << 20)
#define MODE_M UFFDIO_REGISTER_MODE_MISSING
#define MODE_W UFFDIO_REGISTER_MODE_WP
#define MODE_N UFFDIO_REGISTER_MODE_MINOR

static inline const char *en(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";
	return n ? n : "E?";
}
/* result of an ioctl/syscall return value: "OK" or errno name */
#define RES(r) ((r) == 0 ? "OK" : en(errno))

static inline void out(const char *item, const char *mt, const char *fmt, ...)
{
	va_list ap;
	printf("%s\t%s\t", item, mt);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int uffd_raw(int flags) { return syscall(SYS_userfaultfd, flags); }

static inline int uffd_api(int fd, uint64_t features)
{
	struct uffdio_api a = { .api = UFFD_API, .features = features };
	return ioctl(fd, UFFDIO_API, &a);
}

/* new nonblocking uffd with API done; exits on failure */
static inline int uffd_new(uint64_t features)
{
	int fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || uffd_api(fd, features)) {
		perror("uffd_new");
		exit(2);
	}
	return fd;
}

static inline int reg(int fd, void *a, size_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register r = { .range = { (uintptr_t)a, len }, .mode = mode };
	int ret = ioctl(fd, UFFDIO_REGISTER, &r);
	if (ioctls) *ioctls = r.ioctls;
	return ret;
}
static inline int unreg(int fd, void *a, size_t len)
{
	struct uffdio_range r = { (uintptr_t)a, len };
	return ioctl(fd, UFFDIO_UNREGISTER, &r);
}
static inline int wake(int fd, void *a, size_t len)
{
	struct uffdio_range r = { (uintptr_t)a, len };
	return ioctl(fd, UFFDIO_WAKE, &r);
}
/* the fill ioctls: *out gets the output field (pre-filled with a pattern to see if written) */
#define PATTERN ((int64_t)0x5a5a5a5a5a5a5a5aLL)
static inline int copy(int fd, void *dst, const void *src, size_t len, uint64_t mode, int64_t *o)
{
	struct uffdio_copy c = { (uintptr_t)dst, (uintptr_t)src, len, mode, PATTERN };
	int r = ioctl(fd, UFFDIO_COPY, &c);
	if (o) *o = c.copy;
	return r;
}
static inline int zeropage(int fd, void *dst, size_t len, uint64_t mode, int64_t *o)
{
	struct uffdio_zeropage z = { { (uintptr_t)dst, len }, mode, PATTERN };
	int r = ioctl(fd, UFFDIO_ZEROPAGE, &z);
	if (o) *o = z.zeropage;
	return r;
}
static inline int cont(int fd, void *dst, size_t len, uint64_t mode, int64_t *o)
{
	struct uffdio_continue c = { { (uintptr_t)dst, len }, mode, PATTERN };
	int r = ioctl(fd, UFFDIO_CONTINUE, &c);
	if (o) *o = c.mapped;
	return r;
}
static inline int wprot(int fd, void *a, size_t len, uint64_t mode)
{
	struct uffdio_writeprotect w = { { (uintptr_t)a, len }, mode };
	return ioctl(fd, UFFDIO_WRITEPROTECT, &w);
}
/* output field as text: "PATTERN" when the kernel did not write it */
static inline const char *ofs(int64_t v)
{
	static char b[4][32];
	static int i;
	i = (i + 1) & 3;
	if (v == PATTERN) return "untouched";
	snprintf(b[i], sizeof b[i], "%" PRId64, v);
	return b[i];
}

/* ---- waiting for a message ---- */
/* returns 1 and fills *m if a message arrived within ms, 0 if none, -errno on read error */
static inline int get_msg(int fd, int ms, struct uffd_msg *m)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r = poll(&p, 1, ms);
	if (r <= 0) return 0;
	ssize_t n = read(fd, m, sizeof *m);
	if (n == sizeof *m) return 1;
	return n < 0 ? -errno : -1000 - (int)n;
}

static inline const char *fflags(uint64_t f)
{
	static char b[64];
	b[0] = 0;
	if (f & UFFD_PAGEFAULT_FLAG_WRITE) strcat(b, "WRITE|");
	if (f & UFFD_PAGEFAULT_FLAG_WP) strcat(b, "WP|");
	if (f & UFFD_PAGEFAULT_FLAG_MINOR) strcat(b, "MINOR|");
	if (!b[0]) strcpy(b, "MISSING|");
	b[strlen(b) - 1] = 0;
	return b;
}

/* describe the pagefault message: "event flags=0x1(WRITE) addr=+0x1000" */
static inline const char *msgdesc(const struct uffd_msg *m, void *base)
{
	static char b[160];
	if (m->event != UFFD_EVENT_PAGEFAULT) {
		snprintf(b, sizeof b, "event=0x%x", m->event);
		return b;
	}
	long long off = (long long)(m->arg.pagefault.address - (uintptr_t)base);
	snprintf(b, sizeof b, "flags=0x%llx(%s)\taddr=%s0x%llx", (unsigned long long)m->arg.pagefault.flags,
		 fflags(m->arg.pagefault.flags), off < 0 ? "-" : "+", off < 0 ? -off : off);
	return b;
}

/* ---- fault-raising thread ---- */
struct toucher {
	pthread_t th;
	volatile char *addr;
	int write;
	volatile int done;
	volatile int sig, si_code;
	volatile pid_t tid;
	volatile char val;
};
static __thread sigjmp_buf t_jb;
static __thread struct toucher *t_self;
static inline void t_sighandler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (t_self) {
		t_self->sig = sig;
		t_self->si_code = si->si_code;
		siglongjmp(t_jb, 1);
	}
	_exit(99);
}
static inline void install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = t_sighandler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}
static inline void *t_fn(void *p)
{
	struct toucher *t = p;
	t_self = t;
	t->tid = gettid();
	if (!sigsetjmp(t_jb, 1)) {
		if (t->write)
			*t->addr = 0x77;
		else
			t->val = *t->addr;
	}
	t->done = 1;
	return NULL;
}
static inline void touch_start(struct toucher *t, void *addr, int write)
{
	memset(t, 0, sizeof *t);
	t->addr = addr;
	t->write = write;
	install_handlers();
	pthread_create(&t->th, NULL, t_fn, t);
	while (!t->tid) usleep(100);
}
/* wait up to ms for the thread to finish; 1 if finished */
static inline int touch_wait(struct toucher *t, int ms)
{
	for (int i = 0; i < ms && !t->done; i++) usleep(1000);
	if (t->done) {
		pthread_join(t->th, NULL);
		return 1;
	}
	return 0;
}
static inline const char *tstate(struct toucher *t, int ms)
{
	static char b[64];
	int e = errno; /* callers print RES(rc) in the same statement */
	int fin = touch_wait(t, ms);
	errno = e;
	if (!fin) return "thread=blocked";
	if (t->sig) snprintf(b, sizeof b, "thread=%s/si_code=%d", sigabbrev_np(t->sig), t->si_code);
	else snprintf(b, sizeof b, "thread=done/val=0x%02x", (unsigned char)t->val);
	return b;
}

/* ---- pagemap ---- */
static inline uint64_t pagemap(void *a)
{
	static int fd = -1;
	uint64_t e = 0;
	if (fd < 0) fd = open("/proc/self/pagemap", O_RDONLY);
	pread(fd, &e, 8, ((uintptr_t)a / PG) * 8);
	return e;
}
#define PM_PRESENT(e) (((e) >> 63) & 1)
#define PM_SWAP(e) (((e) >> 62) & 1)
#define PM_FILE(e) (((e) >> 61) & 1)
#define PM_UFFD_WP(e) (((e) >> 57) & 1)
static inline const char *pmdesc(void *a)
{
	static char b[4][48];
	static int i;
	i = (i + 1) & 3;
	uint64_t e = pagemap(a);
	snprintf(b[i], sizeof b[i], "present=%d,uffd_wp=%d,file=%d", (int)PM_PRESENT(e), (int)PM_UFFD_WP(e),
		 (int)PM_FILE(e));
	return b[i];
}

/* value of "Key:" in /proc/self/status in kB */
static inline long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':') v = strtol(line + kl + 1, NULL, 10);
	if (f) fclose(f);
	return v;
}

/* ---- the five memory types of kernel-6.18-observed.md ---- */
enum mtype { HUGETLB_SHARED, SHMEM_SHARED, SHMEM_PRIVATE, ANON_SHARED, ANON_PRIVATE, NMT };
static const char *mt_name[NMT] __attribute__((unused)) = { "hugetlb_memfd_shared", "shmem_memfd_shared", "shmem_memfd_private",
				    "anon_shared", "anon_private" };
struct mem {
	enum mtype t;
	char *a;    /* registered view */
	char *b;    /* second, unregistered MAP_SHARED view (NULL for anon_private) */
	size_t len; /* bytes */
	size_t ps;  /* page size of the type */
	int fd;
};
/* npages pages of the type's page size; a = the view to register, b = writer view */
static inline int mem_new(struct mem *m, enum mtype t, int npages)
{
	memset(m, 0, sizeof *m);
	m->t = t;
	m->fd = -1;
	m->ps = t == HUGETLB_SHARED ? HPG : PG;
	m->len = npages * m->ps;
	if (t == ANON_PRIVATE || t == ANON_SHARED) {
		int sh = t == ANON_SHARED ? MAP_SHARED : MAP_PRIVATE;
		m->a = mmap(NULL, m->len, PROT_READ | PROT_WRITE, sh | MAP_ANONYMOUS, -1, 0);
		if (m->a == MAP_FAILED) return -1;
		if (t == ANON_SHARED) /* a second view of the same shared-anon object */
			m->b = mremap(m->a, 0, m->len, MREMAP_MAYMOVE);
		return 0;
	}
	m->fd = memfd_create("uffdprobe", MFD_CLOEXEC | (t == HUGETLB_SHARED ? MFD_HUGETLB : 0));
	if (m->fd < 0 || ftruncate(m->fd, m->len)) return -1;
	m->a = mmap(NULL, m->len, PROT_READ | PROT_WRITE, t == SHMEM_PRIVATE ? MAP_PRIVATE : MAP_SHARED, m->fd, 0);
	m->b = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	return m->a == MAP_FAILED || m->b == MAP_FAILED ? -1 : 0;
}
static inline void mem_free(struct mem *m)
{
	if (m->a && m->a != MAP_FAILED) munmap(m->a, m->len);
	if (m->b && m->b != MAP_FAILED) munmap(m->b, m->len);
	if (m->fd >= 0) close(m->fd);
	memset(m, 0, sizeof *m);
}
/* make page i "cached" (minor): write through the second view */
static inline void mem_cache(struct mem *m, int i, char v)
{
	if (m->b) memset(m->b + i * m->ps, v, m->ps);
	else memset(m->a + i * m->ps, v, m->ps); /* anon_private: the PTE becomes present */
}

/* an aligned, page-multiple static source buffer */
static char srcbuf[HPG * 2] __attribute__((aligned(HPG), unused));

static inline void header(const char *name)
{
	printf("# %s: columns = item<TAB>memtype<TAB>result<TAB>fields; result OK or errno name\n", name);
	fflush(stdout);
}
#endif
