/*
 * uffd_wp.c - write-protect mode on 6.18 (spec userfaultfd.md §1.5, §5.1, §6.8; scenarios 29-30):
 * the anon flow, WRITEPROTECT argument checks and partial side effects, unpopulated PTEs with and
 * without WP_UNPOPULATED, PTE markers on shmem/hugetlb cache pages, and fork of a protected page.
 * pagemap bit 57 = uffd-wp. Run through ./run.sh uffd_wp.
 */
#include "uffd_common.h"

static const char *mt = "anon_private";
static char *anon(int n)
{
	return mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
static const char *wpmap(char *p, int n, size_t ps)
{
	static char b[2][64];
	static int k;
	k ^= 1;
	for (int i = 0; i < n; i++) {
		uint64_t e = pagemap(p + i * ps);
		b[k][i] = PM_UFFD_WP(e) ? (PM_PRESENT(e) ? 'W' : 'm') : (PM_PRESENT(e) ? 'P' : '-');
	}
	b[k][n] = 0;
	return b[k];
}
/* fault at p (write or read); report message; resolve by un-protecting and, if still blocked, close */
static void wp_fault(const char *item, const char *mtn, int fd, char *base, char *p, int write, size_t ps)
{
	struct toucher th;
	struct uffd_msg msg;
	touch_start(&th, p, write);
	int r = get_msg(fd, 300, &msg);
	if (r == 1) {
		out(item, mtn, "event\t%s", msgdesc(&msg, base));
		char *pg = (char *)((uintptr_t)p & ~(ps - 1));
		int rc = wprot(fd, pg, ps, 0);
		const char *ts = tstate(&th, 300);
		if (!th.done && !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
			/* a MISSING/MINOR fault: resolve with ZEROPAGE or CONTINUE */
			int64_t o;
			int rz = zeropage(fd, pg, ps, 0, &o);
			if (rz) rz = cont(fd, pg, ps, 0, &o);
			ts = tstate(&th, 300);
		}
		out(item, mtn, "resolve: un-protect=%s\t%s", RES(rc), ts);
	} else
		out(item, mtn, "no event\t%s", tstate(&th, 300));
	touch_wait(&th, 500);
}

struct forker { int fd_pipe[2]; volatile int done; pid_t child; char *p; };
static void *fork_fn(void *a)
{
	struct forker *f = a;
	pid_t c = fork();
	if (c == 0) {
		char msg[128];
		/* the child's own pagemap: pagemap() keeps the fd it opened first, which in a
		 * forked child is the parent's /proc/self/pagemap */
		uint64_t e = 0;
		int pfd = open("/proc/self/pagemap", O_RDONLY);
		pread(pfd, &e, 8, ((uintptr_t)f->p / PG) * 8);
		close(pfd);
		snprintf(msg, sizeof msg, "child pagemap present=%d uffd_wp=%d", (int)PM_PRESENT(e), (int)PM_UFFD_WP(e));
		write(f->fd_pipe[1], msg, strlen(msg) + 1);
		f->p[0] = 9; /* write in the child: if still protected + registered, this would block */
		write(f->fd_pipe[1], "child write done", 17); /* includes the NUL */
		_exit(0);
	}
	f->child = c;
	f->done = 1;
	return NULL;
}

int main(void)
{
	header("uffd_wp");
	install_handlers();
	int fd, rc;
	char *p;

	/* s30 anon WP flow + argument checks */
	fd = uffd_new(0);
	p = anon(4);
	memset(p, 1, 4 * PG);
	reg(fd, p, 4 * PG, MODE_M | MODE_W, NULL);
	rc = wprot(fd, p, 2 * PG, UFFDIO_WRITEPROTECT_MODE_WP);
	out("s30 WRITEPROTECT(WP) 2 pages", mt, "%s\twp=%s", RES(rc), wpmap(p, 4, PG));
	wp_fault("s30 write to protected page", mt, fd, p, p + 0x10, 1, PG);
	wp_fault("s30 read of protected page", mt, fd, p, p + PG, 0, PG);
	rc = wprot(fd, p, PG, UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	out("s30 WRITEPROTECT(WP|DONTWAKE)", mt, "%s", RES(rc));
	rc = wprot(fd, p, PG, 1ULL << 2);
	out("WRITEPROTECT mode bit2", mt, "%s", RES(rc));
	rc = wprot(fd, p + 1, PG, UFFDIO_WRITEPROTECT_MODE_WP);
	out("WRITEPROTECT start+1", mt, "%s", RES(rc));
	rc = wprot(fd, p, 0, UFFDIO_WRITEPROTECT_MODE_WP);
	out("WRITEPROTECT len 0", mt, "%s", RES(rc));
	/* un-protect with DONTWAKE leaves the writer asleep until WAKE */
	{
		struct toucher th;
		struct uffd_msg msg;
		rc = wprot(fd, p + 3 * PG, PG, UFFDIO_WRITEPROTECT_MODE_WP);
		touch_start(&th, p + 3 * PG, 1);
		get_msg(fd, 300, &msg);
		rc = wprot(fd, p + 3 * PG, PG, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
		const char *ts = tstate(&th, 200);
		out("un-protect with DONTWAKE", mt, "%s\t%s\twp=%s", RES(rc), ts, wpmap(p + 3 * PG, 1, PG));
		rc = wake(fd, p + 3 * PG, PG);
		out("then WAKE", mt, "%s\t%s", RES(rc), tstate(&th, 300));
	}
	/* WRITEPROTECT over a hole page (registered, PTE none) and over the whole range */
	close(fd);
	munmap(p, 4 * PG);

	/* WRITEPROTECT crossing into an unregistered VMA: which part got protected */
	fd = uffd_new(0);
	p = anon(4);
	memset(p, 1, 4 * PG);
	reg(fd, p, 2 * PG, MODE_W, NULL);
	rc = wprot(fd, p, 4 * PG, UFFDIO_WRITEPROTECT_MODE_WP);
	out("WRITEPROTECT [registered 2, unregistered 2]", mt, "%s\twp=%s", RES(rc), wpmap(p, 4, PG));
	rc = wprot(fd, p + 2 * PG, 2 * PG, UFFDIO_WRITEPROTECT_MODE_WP);
	out("WRITEPROTECT unregistered VMA only", mt, "%s", RES(rc));
	{
		char *h = anon(2);
		munmap(h, 2 * PG);
		rc = wprot(fd, h, PG, UFFDIO_WRITEPROTECT_MODE_WP);
		out("WRITEPROTECT hole (no VMA)", mt, "%s", RES(rc));
	}
	rc = wprot(fd, p, 4 * PG, 0);
	out("un-protect [registered 2, unregistered 2]", mt, "%s\twp=%s", RES(rc), wpmap(p, 4, PG));
	close(fd);
	munmap(p, 4 * PG);
	/* two registered VMAs (split by mprotect) */
	fd = uffd_new(0);
	p = anon(4);
	memset(p, 1, 4 * PG);
	mprotect(p + 2 * PG, 2 * PG, PROT_READ);
	reg(fd, p, 4 * PG, MODE_W, NULL);
	rc = wprot(fd, p, 4 * PG, UFFDIO_WRITEPROTECT_MODE_WP);
	out("WRITEPROTECT over two registered VMAs (RW + RO)", mt, "%s\twp=%s", RES(rc), wpmap(p, 4, PG));
	close(fd);
	munmap(p, 4 * PG);

	/* unpopulated anon: without / with WP_UNPOPULATED */
	for (int unpop = 0; unpop < 2; unpop++) {
		const char *f = unpop ? "WP_UNPOPULATED" : "features=0";
		char item[128];
		for (int mode = 0; mode < 2; mode++) {
			fd = uffd_new(unpop ? UFFD_FEATURE_WP_UNPOPULATED : 0);
			p = anon(4);
			reg(fd, p, 4 * PG, mode ? MODE_M | MODE_W : MODE_W, NULL);
			rc = wprot(fd, p, 4 * PG, UFFDIO_WRITEPROTECT_MODE_WP);
			snprintf(item, sizeof item, "unpopulated anon WRITEPROTECT (%s, %s)", f, mode ? "MISSING|WP" : "WP");
			out(item, mt, "%s\twp=%s", RES(rc), wpmap(p, 4, PG));
			snprintf(item, sizeof item, "unpopulated anon first write (%s, %s)", f, mode ? "MISSING|WP" : "WP");
			wp_fault(item, mt, fd, p, p, 1, PG);
			snprintf(item, sizeof item, "unpopulated anon first read (%s, %s)", f, mode ? "MISSING|WP" : "WP");
			wp_fault(item, mt, fd, p, p + PG, 0, PG);
			snprintf(item, sizeof item, "  pagemap after read (%s, %s)", f, mode ? "MISSING|WP" : "WP");
			out(item, mt, "wp=%s", wpmap(p, 4, PG));
			snprintf(item, sizeof item, "unpopulated anon write after read (%s, %s)", f, mode ? "MISSING|WP" : "WP");
			wp_fault(item, mt, fd, p, p + PG, 1, PG);
			close(fd);
			munmap(p, 4 * PG);
		}
	}

	/* shmem / hugetlb: WP on a cached page with no PTE -> marker; then read and write faults */
	static const enum mtype ts[] = { SHMEM_SHARED, SHMEM_PRIVATE, ANON_SHARED, HUGETLB_SHARED };
	for (unsigned i = 0; i < 4; i++) {
		struct mem m;
		const char *mtn = mt_name[ts[i]];
		for (int unpop = 0; unpop < 2; unpop++) {
			char item[128];
			const char *f = unpop ? "WP_UNPOPULATED" : "features=0";
			mem_new(&m, ts[i], 3);
			mem_cache(&m, 0, 0x42);
			mem_cache(&m, 1, 0x43);
			fd = uffd_new(unpop ? UFFD_FEATURE_WP_UNPOPULATED : 0);
			reg(fd, m.a, m.len, MODE_W, NULL);
			rc = wprot(fd, m.a, m.len, UFFDIO_WRITEPROTECT_MODE_WP);
			snprintf(item, sizeof item, "WRITEPROTECT [cached,cached,hole] no PTEs (%s)", f);
			out(item, mtn, "%s\twp=%s", RES(rc), wpmap(m.a, 3, m.ps));
			snprintf(item, sizeof item, "read fault on marker, cached page (%s)", f);
			wp_fault(item, mtn, fd, m.a, m.a, 0, m.ps);
			snprintf(item, sizeof item, "  pagemap after read (%s)", f);
			out(item, mtn, "wp=%s", wpmap(m.a, 3, m.ps));
			snprintf(item, sizeof item, "write fault on marker, cached page (%s)", f);
			wp_fault(item, mtn, fd, m.a, m.a + m.ps, 1, m.ps);
			snprintf(item, sizeof item, "write fault, hole page after WRITEPROTECT (%s)", f);
			wp_fault(item, mtn, fd, m.a, m.a + 2 * m.ps, 1, m.ps);
			snprintf(item, sizeof item, "  pagemap at end (%s)", f);
			out(item, mtn, "wp=%s", wpmap(m.a, 3, m.ps));
			close(fd);
			mem_free(&m);
		}
	}

	/* fork of a WP-protected anon page, without and with EVENT_FORK */
	for (int ev = 0; ev < 2; ev++) {
		const char *f = ev ? "EVENT_FORK" : "no EVENT_FORK";
		char item[128];
		fd = uffd_new(ev ? UFFD_FEATURE_EVENT_FORK : 0);
		p = anon(2);
		memset(p, 1, 2 * PG);
		reg(fd, p, 2 * PG, MODE_W, NULL);
		wprot(fd, p, PG, UFFDIO_WRITEPROTECT_MODE_WP);
		struct forker fk = { .p = p };
		pipe2(fk.fd_pipe, O_NONBLOCK);
		pthread_t th;
		fflush(stdout);
		pthread_create(&th, NULL, fork_fn, &fk);
		usleep(200000);
		snprintf(item, sizeof item, "fork of protected page (%s): fork() returned before event read", f);
		out(item, mt, "%s", fk.done ? "yes" : "no");
		struct uffd_msg msg;
		int cfd = -1;
		if (get_msg(fd, 300, &msg) == 1) {
			cfd = msg.arg.fork.ufd;
			snprintf(item, sizeof item, "fork of protected page (%s): message", f);
			out(item, mt, "event=0x%x\tufd_is_new_fd=%d", msg.event, cfd > fd);
		}
		pthread_join(th, NULL);
		char buf[256] = { 0 };
		struct pollfd pf = { fk.fd_pipe[0], POLLIN, 0 };
		poll(&pf, 1, 500);
		int n0 = read(fk.fd_pipe[0], buf, sizeof buf - 1);
		snprintf(item, sizeof item, "fork of protected page (%s): child", f);
		out(item, mt, "%s", n0 > 0 ? buf : "nothing");
		int early = n0 > 0 && (int)strlen(buf) + 1 < n0; /* the write report came in the same read */
		/* the child's write: with EVENT_FORK it raises a WP fault on the child's uffd */
		if (cfd >= 0) {
			int r = get_msg(cfd, 300, &msg);
			snprintf(item, sizeof item, "fork (%s): child's write on child uffd", f);
			out(item, mt, "%s\t%s", r == 1 ? "event" : "no event", r == 1 ? msgdesc(&msg, p) : "");
			if (r == 1) wprot(cfd, p, PG, 0);
		}
		memset(buf, 0, sizeof buf);
		pf.revents = 0;
		poll(&pf, 1, 500);
		int n = early ? 1 : read(fk.fd_pipe[0], buf, sizeof buf - 1);
		snprintf(item, sizeof item, "fork (%s): child write", f);
		out(item, mt, "%s", n > 0 ? "child write done" : "blocked or none");
		if (cfd >= 0) close(cfd);
		waitpid(fk.child, NULL, 0);
		out(item, mt, "parent pagemap after fork: wp=%s", wpmap(p, 2, PG));
		close(fk.fd_pipe[0]);
		close(fk.fd_pipe[1]);
		close(fd);
		munmap(p, 2 * PG);
	}
	printf("# done\n");
	return 0;
}
