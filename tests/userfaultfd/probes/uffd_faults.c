/*
 * uffd_faults.c - the fault path and wake-ups (spec userfaultfd.md §3.3, §3.6, §4.4, §5.2-5.4;
 * scenarios 15, 16, 32-34, 36, 38, 39). Faults are raised by second threads.
 * Message hexdumps: the 32 bytes of struct uffd_msg, with the 8 address bytes (offset 16)
 * rewritten as the offset from the mapping start so the fixture is stable ("hexrel").
 * Run through ./run.sh uffd_faults.
 */
#include "uffd_common.h"

static const char *mt;

static const char *hexrel(const struct uffd_msg *m, void *base)
{
	static char b[80];
	struct uffd_msg c = *m;
	if (c.event == UFFD_EVENT_PAGEFAULT) c.arg.pagefault.address -= (uintptr_t)base;
	const unsigned char *p = (const unsigned char *)&c;
	for (int i = 0; i < 32; i++) sprintf(b + 2 * i, "%02x", p[i]);
	return b;
}

static char *anon(int n)
{
	return mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* a raw fault message at base+off of a fresh registration; returns after resolving by close() */
static void one_msg(const char *item, enum mtype t, uint64_t features, uint64_t mode, size_t off, int write,
		    int cache_page)
{
	struct mem m;
	struct toucher th;
	struct uffd_msg msg;
	mem_new(&m, t, 2);
	if (cache_page >= 0) mem_cache(&m, cache_page, 0x42);
	int fd = uffd_new(features);
	reg(fd, m.a, m.len, mode, NULL);
	touch_start(&th, m.a + off, write);
	int r = get_msg(fd, 500, &msg);
	if (r == 1)
		out(item, mt_name[t], "event\t%s\tptid=%u\tptid_is_gettid=%d\thexrel=%s", msgdesc(&msg, m.a),
		    msg.arg.pagefault.feat.ptid, (pid_t)msg.arg.pagefault.feat.ptid == th.tid, hexrel(&msg, m.a));
	else
		out(item, mt_name[t], "no event");
	close(fd);
	touch_wait(&th, 1000);
	mem_free(&m);
}

/* thread doing a syscall that makes the kernel touch user memory */
struct ksys { int kind; char *buf; int pfd[2]; volatile int done; volatile int ret, err; volatile pid_t tid; };
static void *ksys_fn(void *p)
{
	struct ksys *k = p;
	k->tid = gettid();
	if (k->kind == 0) k->ret = read(k->pfd[0], k->buf, 16);  /* kernel writes into buf */
	else k->ret = write(k->pfd[1], k->buf, 16);              /* kernel reads from buf */
	k->err = errno;
	k->done = 1;
	return NULL;
}
static void kernel_access(int umo, int kind)
{
	char item[128];
	char *p = anon(2);
	int fd = uffd_raw(O_CLOEXEC | O_NONBLOCK | (umo ? UFFD_USER_MODE_ONLY : 0));
	uffd_api(fd, 0);
	reg(fd, p, 2 * PG, MODE_M, NULL);
	struct ksys k = { .kind = kind, .buf = p + 0x10 };
	pipe(k.pfd);
	if (kind == 0) write(k.pfd[1], "0123456789abcdef", 16);
	pthread_t th;
	pthread_create(&th, NULL, ksys_fn, &k);
	struct uffd_msg msg;
	int r = get_msg(fd, 300, &msg);
	snprintf(item, sizeof item, "kernel access %s(2) %s registered missing page, %s", kind ? "write" : "read",
		 kind ? "from" : "into", umo ? "UFFD_USER_MODE_ONLY" : "no UMO");
	if (r == 1) {
		out(item, "anon_private", "event\t%s", msgdesc(&msg, p));
		copy(fd, p, srcbuf, PG, 0, NULL);
	} else
		out(item, "anon_private", "no event");
	for (int i = 0; i < 500 && !k.done; i++) usleep(1000);
	snprintf(item, sizeof item, "kernel access %s(2) result, %s", kind ? "write" : "read", umo ? "UFFD_USER_MODE_ONLY" : "no UMO");
	if (k.done) out(item, "anon_private", "%s\tret=%d", k.ret >= 0 ? "OK" : en(k.err), k.ret);
	else out(item, "anon_private", "blocked");
	close(fd);
	pthread_join(th, NULL);
	close(k.pfd[0]);
	close(k.pfd[1]);
	munmap(p, 2 * PG);
}

/* UNREGISTER while a thread sleeps on a fault of the given mode (spec §4.4, scenario 33) */
static void unreg_wakes(enum mtype t, uint64_t mode, const char *what, int read_first)
{
	char item[128];
	struct mem m;
	struct toucher th;
	struct uffd_msg msg;
	mem_new(&m, t, 2);
	int write = 0;
	if (mode == MODE_N) mem_cache(&m, 0, 0x42);
	if (mode == MODE_W) { m.a[0] = 0x42; write = 1; }
	int fd = uffd_new(0);
	reg(fd, m.a, m.len, mode, NULL);
	if (mode == MODE_W) wprot(fd, m.a, PG, UFFDIO_WRITEPROTECT_MODE_WP);
	touch_start(&th, m.a + 8, write);
	usleep(100000);
	int r = read_first ? get_msg(fd, 500, &msg) : 1;
	int rc = unreg(fd, m.a, m.len);
	snprintf(item, sizeof item, "s33 UNREGISTER with a thread asleep on %s fault (%s)", what,
		 read_first ? "message read" : "message unread");
	out(item, mt_name[t], "%s\tmsg=%s\t%s", RES(rc), read_first ? (r == 1 ? "read" : "none") : "not_read",
	    tstate(&th, 300));
	if (!th.done) {
		rc = wake(fd, m.a, PG);
		snprintf(item, sizeof item, "s33 then WAKE (%s)", what);
		const char *ts = tstate(&th, 300);
		out(item, mt_name[t], "%s\t%s\tpagemap=%s", RES(rc), ts, pmdesc(m.a));
		r = get_msg(fd, 100, &msg);
		snprintf(item, sizeof item, "s33 after WAKE: new message (%s)", what);
		out(item, mt_name[t], "%s", r == 1 ? "event" : "no event");
	} else {
		r = get_msg(fd, 100, &msg);
		snprintf(item, sizeof item, "s33 after UNREGISTER: message left to read (%s)", what);
		out(item, mt_name[t], "%s", r == 1 ? "event" : "no event");
	}
	close(fd);
	touch_wait(&th, 1000);
	mem_free(&m);
}

/* fault-around: 16 cached pages, read one page through the registered view, count PTEs */
static void fault_around(uint64_t mode, const char *what, int idx)
{
	char item[128];
	int fd = uffd_new(0);
	int mfd = memfd_create("uffdprobe", MFD_CLOEXEC);
	ftruncate(mfd, 1024 * PG);
	char *b = mmap(NULL, 1024 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	memset(b, 0x42, 1024 * PG);
	/* a 2 MiB aligned view so that page i has PTE index i % 512 */
	char *raw = mmap(NULL, 1024 * PG + HPG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a = (char *)(((uintptr_t)raw + HPG - 1) & ~(HPG - 1));
	a = mmap(a, 1024 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0);
	if (mode) reg(fd, a, 1024 * PG, mode, NULL);
	struct toucher th;
	touch_start(&th, a + idx * PG, 0);
	struct uffd_msg msg;
	int r = get_msg(fd, 200, &msg);
	if (r == 1) cont(fd, a + idx * PG, PG, 0, NULL);
	touch_wait(&th, 500);
	int n = 0, lo = -1, hi = -1;
	for (int i = 0; i < 1024; i++)
		if (PM_PRESENT(pagemap(a + i * PG))) {
			n++;
			if (lo < 0) lo = i;
			hi = i;
		}
	snprintf(item, sizeof item, "fault-around read of page %d (PTE index %d), %s", idx, idx % 512, what);
	out(item, "shmem_memfd_shared", "%s\tpresent_ptes=%d\tfirst=%d\tlast=%d", r == 1 ? "event" : "no event", n, lo, hi);
	close(fd);
	munmap(raw, 1024 * PG + HPG);
	munmap(b, 1024 * PG);
	close(mfd);
}

int main(void)
{
	header("uffd_faults");
	install_handlers();
	struct toucher t1, t2;
	struct uffd_msg msg, msgs[2];
	char *p;
	int fd, r, rc;

	/* scenario 15/16: message bytes (anon MISSING read and write, with and without THREAD_ID) */
	one_msg("s15 msg anon MISSING read at +0x123", ANON_PRIVATE, 0, MODE_M, 0x123, 0, -1);
	one_msg("s15 msg anon MISSING write at +0x1008", ANON_PRIVATE, 0, MODE_M, 0x1008, 1, -1);
	one_msg("s16 msg anon MISSING write THREAD_ID", ANON_PRIVATE, UFFD_FEATURE_THREAD_ID, MODE_M, 0x1008, 1, -1);
	one_msg("msg anon MISSING read EXACT_ADDRESS at +0x123", ANON_PRIVATE, UFFD_FEATURE_EXACT_ADDRESS, MODE_M, 0x123, 0, -1);
	one_msg("msg anon MISSING write EXACT_ADDRESS|THREAD_ID at +0x1ff9", ANON_PRIVATE,
		UFFD_FEATURE_EXACT_ADDRESS | UFFD_FEATURE_THREAD_ID, MODE_M, 0x1ff9, 1, -1);
	one_msg("msg hugetlb MISSING read at +0x212345", HUGETLB_SHARED, 0, MODE_M, 0x212345, 0, -1);
	one_msg("msg hugetlb MISSING read EXACT_ADDRESS at +0x212345", HUGETLB_SHARED, UFFD_FEATURE_EXACT_ADDRESS, MODE_M,
		0x212345, 0, -1);
	one_msg("msg hugetlb MINOR write EXACT_ADDRESS at +0x1234", HUGETLB_SHARED, UFFD_FEATURE_EXACT_ADDRESS, MODE_N,
		0x1234, 1, 0);
	one_msg("msg shmem MINOR read at +0x1abc", SHMEM_SHARED, 0, MODE_N, 0x1abc, 0, 1);
	one_msg("msg shmem MINOR read EXACT_ADDRESS at +0x1abc", SHMEM_SHARED, UFFD_FEATURE_EXACT_ADDRESS, MODE_N, 0x1abc, 0, 1);
	one_msg("msg anon_shared MISSING write THREAD_ID at +0x10", ANON_SHARED, UFFD_FEATURE_THREAD_ID, MODE_M, 0x10, 1, -1);

	/* two faults, one read() with a 64-byte buffer: how many bytes, which order */
	mt = "anon_private";
	p = anon(4);
	fd = uffd_new(0);
	reg(fd, p, 4 * PG, MODE_M, NULL);
	touch_start(&t1, p + 2 * PG, 0);
	usleep(50000);
	touch_start(&t2, p + 0 * PG, 1);
	usleep(50000);
	{
		ssize_t n = read(fd, msgs, 64);
		out("two faults (page2 read first, then page0 write), read(64)", mt, "bytes=%zd\tfirst: %s", n, msgdesc(&msgs[0], p));
		if (n == 64) out("two faults, read(64) second message", mt, "%s", msgdesc(&msgs[1], p));
	}
	/* resolve both with one COPY over 3 pages (page 1 is a hole too: nobody waits there) */
	{
		int64_t o;
		rc = copy(fd, p, srcbuf, 3 * PG, 0, &o);
		out("COPY 3 pages wakes both", mt, "%s\tcopy=%s\tt1:%s", RES(rc), ofs(o), tstate(&t1, 300));
		out("COPY 3 pages wakes both", mt, "t2:%s", tstate(&t2, 300));
	}
	close(fd);
	munmap(p, 4 * PG);

	/* a fault resolved and woken before the manager read it (spec §5.2 consequences) */
	p = anon(4);
	fd = uffd_new(0);
	reg(fd, p, 4 * PG, MODE_M, NULL);
	touch_start(&t1, p, 0);
	usleep(100000);
	rc = copy(fd, p, srcbuf, PG, 0, NULL);
	{
		const char *ts = tstate(&t1, 300);
		ssize_t n = read(fd, &msg, sizeof msg);
		out("fault resolved+woken before read, then read()", mt, "%s\tCOPY=%s\t%s", n >= 0 ? "OK" : en(errno), RES(rc), ts);
	}
	/* resolved with DONTWAKE before read: message still there? */
	touch_start(&t1, p + PG, 0);
	usleep(100000);
	rc = copy(fd, p + PG, srcbuf, PG, UFFDIO_COPY_MODE_DONTWAKE, NULL);
	{
		const char *ts = tstate(&t1, 200);
		r = get_msg(fd, 100, &msg);
		out("fault resolved with COPY DONTWAKE before read, then read()", mt, "%s\tCOPY=%s\t%s", r == 1 ? "event" : "EAGAIN", RES(rc), ts);
		rc = wake(fd, p + PG, PG);
		out("then WAKE", mt, "%s\t%s", RES(rc), tstate(&t1, 300));
	}
	/* scenario 32: WAKE without resolving -> identical second message */
	touch_start(&t1, p + 2 * PG + 0x40, 1);
	r = get_msg(fd, 500, &msgs[0]);
	rc = wake(fd, p + 2 * PG, PG);
	r += get_msg(fd, 500, &msgs[1]);
	out("s32 WAKE without resolving", mt, "%s\tmessages=%d\tidentical=%d\tsecond: %s", RES(rc), r,
	    !memcmp(&msgs[0], &msgs[1], 32), msgdesc(&msgs[1], p));
	/* WAKE unaligned / len 0 */
	rc = wake(fd, p + 1, PG);
	out("WAKE unaligned start", mt, "%s", RES(rc));
	rc = wake(fd, p, 0);
	out("WAKE len 0", mt, "%s", RES(rc));
	rc = wake(fd, p + 3 * PG, PG);
	out("WAKE range with no waiter", mt, "%s", RES(rc));
	rc = wake(fd, (void *)(1UL << 46), PG);
	out("WAKE range with no VMA", mt, "%s", RES(rc));
	zeropage(fd, p + 2 * PG, PG, 0, NULL);
	touch_wait(&t1, 500);
	close(fd);
	munmap(p, 4 * PG);

	/* scenario 34: close(uffd) with two sleeping faulters */
	p = anon(4);
	fd = uffd_new(0);
	reg(fd, p, 4 * PG, MODE_M, NULL);
	touch_start(&t1, p, 0);
	touch_start(&t2, p + PG, 1);
	get_msg(fd, 300, &msg); /* one read, one unread */
	usleep(50000);
	close(fd);
	{
		const char *ts = tstate(&t1, 500);
		out("s34 close(uffd) with two sleepers: t1 (read, msg read)", mt, "%s\tpagemap=%s", ts, pmdesc(p));
		ts = tstate(&t2, 500);
		out("s34 close(uffd) with two sleepers: t2 (write, msg unread)", mt, "%s\tpagemap=%s", ts, pmdesc(p + PG));
	}
	touch_start(&t1, p + 2 * PG, 0);
	out("s34 after close: new fault on formerly registered page", mt, "%s", tstate(&t1, 300));
	munmap(p, 4 * PG);

	/* scenario 36: SIGBUS feature */
	{
		struct mem m;
		mem_new(&m, SHMEM_SHARED, 2);
		mem_cache(&m, 0, 0x42);
		fd = uffd_new(UFFD_FEATURE_SIGBUS);
		reg(fd, m.a, m.len, MODE_N | MODE_M, NULL);
		touch_start(&t1, m.a, 0);
		r = get_msg(fd, 200, &msg);
		out("s36 SIGBUS feature, MINOR fault (shmem cached page)", "shmem_memfd_shared", "%s\t%s", r == 1 ? "event" : "no event", tstate(&t1, 300));
		touch_start(&t1, m.a + PG, 1);
		r = get_msg(fd, 200, &msg);
		out("s36 SIGBUS feature, MISSING write fault (shmem hole)", "shmem_memfd_shared", "%s\t%s", r == 1 ? "event" : "no event", tstate(&t1, 300));
		close(fd);
		mem_free(&m);
		p = anon(2);
		p[PG] = 1;
		fd = uffd_new(UFFD_FEATURE_SIGBUS);
		reg(fd, p, 2 * PG, MODE_M | MODE_W, NULL);
		touch_start(&t1, p, 0);
		r = get_msg(fd, 200, &msg);
		out("s36 SIGBUS feature, MISSING read fault", "anon_private", "%s\t%s", r == 1 ? "event" : "no event", tstate(&t1, 300));
		wprot(fd, p + PG, PG, UFFDIO_WRITEPROTECT_MODE_WP);
		touch_start(&t1, p + PG, 1);
		r = get_msg(fd, 200, &msg);
		out("s36 SIGBUS feature, WP write fault", "anon_private", "%s\t%s", r == 1 ? "event" : "no event", tstate(&t1, 300));
		close(fd);
		munmap(p, 2 * PG);
	}

	/* UFFD_USER_MODE_ONLY: kernel access to a registered missing page (spec §5.2 step 4) */
	kernel_access(1, 0);
	kernel_access(1, 1);
	kernel_access(0, 0);
	kernel_access(0, 1);

	/* scenario 33: UNREGISTER while a thread sleeps */
	unreg_wakes(SHMEM_SHARED, MODE_N, "MINOR", 1);
	unreg_wakes(SHMEM_SHARED, MODE_N, "MINOR", 0);
	unreg_wakes(HUGETLB_SHARED, MODE_N, "MINOR", 1);
	unreg_wakes(ANON_PRIVATE, MODE_W, "WP", 1);
	unreg_wakes(SHMEM_SHARED, MODE_W, "WP", 1);
	unreg_wakes(ANON_PRIVATE, MODE_M, "MISSING", 1);
	unreg_wakes(ANON_PRIVATE, MODE_M, "MISSING", 0);

	/* scenarios 38/39: another uffd of the same mm */
	mt = "anon_private";
	p = anon(4);
	fd = uffd_new(0);
	int fd2 = uffd_new(0);
	reg(fd, p, 4 * PG, MODE_M, NULL);
	touch_start(&t1, p, 0);
	get_msg(fd, 300, &msg);
	rc = unreg(fd2, p, 4 * PG);
	out("s38 UNREGISTER of another uffd's range", mt, "%s\t%s", RES(rc), tstate(&t1, 200));
	touch_start(&t2, p + PG, 0);
	r = get_msg(fd, 300, &msg);
	out("s38 range still registered to uffd1 (new fault -> uffd1 message)", mt, "%s", r == 1 ? "event" : "no event");
	{
		int64_t o;
		rc = copy(fd2, p, srcbuf, PG, 0, &o);
		out("s39 COPY through another uffd into uffd1's range", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		out("s39 uffd1's sleeper on that page after uffd2's COPY", mt, "%s", tstate(&t1, 300));
		rc = wake(fd2, p, 2 * PG);
		out("s39 WAKE through uffd2", mt, "%s\tt1 %s", RES(rc), tstate(&t1, 300));
		rc = wake(fd, p, PG);
		out("s39 WAKE through uffd1", mt, "%s\tt1 %s", RES(rc), tstate(&t1, 300));
		rc = zeropage(fd2, p + PG, PG, 0, &o);
		out("s39 ZEROPAGE through uffd2 (t2 waits on uffd1)", mt, "%s\tzeropage=%s\tt2 %s", RES(rc), ofs(o), tstate(&t2, 300));
	}
	close(fd2);
	close(fd);
	touch_wait(&t1, 500);
	touch_wait(&t2, 500);
	munmap(p, 4 * PG);

	/* fault-around: MINOR-registered vs MISSING-only vs unregistered */
	fault_around(0, "unregistered", 3);
	fault_around(MODE_M, "MISSING-only", 3);
	fault_around(MODE_N, "MINOR-only", 3);
	fault_around(MODE_M | MODE_N, "MISSING|MINOR", 3);
	fault_around(MODE_W, "WP-only", 3);
	fault_around(0, "unregistered", 505);
	fault_around(MODE_M, "MISSING-only", 505);
	printf("# done\n");
	return 0;
}
