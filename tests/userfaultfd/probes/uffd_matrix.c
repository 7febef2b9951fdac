/*
 * uffd_matrix.c - the "userfaultfd findings" table of kernel-6.18-observed.md (items b-j, five memory
 * types), reproduced cell by cell, plus registration edges (spec userfaultfd.md §4.1-4.3, scenarios
 * 10-14). Every cell uses a fresh mapping and a fresh uffd; faults are raised by a second thread.
 * Run through ./run.sh uffd_matrix (needs root and a 2 MiB hugetlb pool).
 */
#include "uffd_common.h"

static const char *mt;  /* current memtype name */
static char item[128];

/* one fresh setup: mapping of n pages of type t + uffd registered with mode (0 = none) */
struct cell {
	struct mem m;
	int fd;
	int rr;
	uint64_t ioctls;
};
/* pages in bitmask `cached` are written (cached / PTE present for anon_private) BEFORE registering */
static void cell_new_c(struct cell *c, enum mtype t, int n, uint64_t mode, uint64_t features, unsigned cached)
{
	if (mem_new(&c->m, t, n)) { perror("mem_new"); exit(2); }
	for (int i = 0; i < n; i++)
		if (cached & (1u << i)) mem_cache(&c->m, i, 0x42);
	c->fd = uffd_new(features);
	c->rr = mode ? reg(c->fd, c->m.a, c->m.len, mode, &c->ioctls) : 0;
}
static void cell_new(struct cell *c, enum mtype t, int n, uint64_t mode, uint64_t features)
{
	cell_new_c(c, t, n, mode, features, 0);
}
static void cell_free(struct cell *c)
{
	close(c->fd);
	mem_free(&c->m);
}

/* raise a fault through the registered view, report the message, resolve with CONTINUE */
static void fault_continue(enum mtype t, int write)
{
	struct cell c;
	struct toucher th;
	struct uffd_msg msg;
	cell_new(&c, t, 4, MODE_N, 0);
	mem_cache(&c.m, 1, 0x42);
	touch_start(&th, c.m.a + c.m.ps + 0x10, write);
	int r = get_msg(c.fd, 500, &msg);
	snprintf(item, sizeof item, "c minor %s fault", write ? "write" : "read");
	if (r == 1) {
		out(item, mt, "event\t%s", msgdesc(&msg, c.m.a));
		int64_t o;
		int rc = cont(c.fd, c.m.a + c.m.ps, c.m.ps, 0, &o);
		const char *ts = tstate(&th, 500);
		snprintf(item, sizeof item, "c CONTINUE resolves (%s)", write ? "write" : "read");
		out(item, mt, "%s\tmapped=%s\t%s\tdata_seen=%s", RES(rc), ofs(o), ts,
		    write ? (c.m.b[c.m.ps + 0x10] == 0x77 ? "write_visible_in_b" : "write_NOT_visible_in_b")
			  : (th.val == 0x42 ? "True" : "False"));
	} else {
		out(item, mt, "no event (r=%d)\t%s", r, tstate(&th, 500));
	}
	close(c.fd);
	touch_wait(&th, 1000);
	mem_free(&c.m);
}

static void per_type(enum mtype t)
{
	struct cell c;
	int64_t o;
	int rc;
	mt = mt_name[t];
	int anonp = t == ANON_PRIVATE;
	size_t ps = t == HUGETLB_SHARED ? HPG : PG;

	/* b: registration modes -> result + ioctls (6.18 table item b; spec §4.2, §4.3 step 11) */
	static const struct { uint64_t mode; const char *n; } modes[] = {
		{ MODE_N, "MINOR" }, { MODE_M | MODE_N, "MISSING|MINOR" }, { MODE_M, "MISSING" },
		{ MODE_W, "WP" }, { MODE_M | MODE_W, "MISSING|WP" }, { MODE_W | MODE_N, "WP|MINOR" },
		{ MODE_M | MODE_W | MODE_N, "MISSING|WP|MINOR" },
	};
	for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		cell_new(&c, t, 4, modes[i].mode, 0);
		snprintf(item, sizeof item, "b REGISTER %s", modes[i].n);
		if (c.rr == 0) out(item, mt, "OK\tioctls=0x%llx", (unsigned long long)c.ioctls);
		else out(item, mt, "%s", en(errno));
		cell_free(&c);
	}
	/* mode 0 / bit 3 / bit 63 (spec §4.3 step 2) */
	static const uint64_t badm[] = { 0, 1ULL << 3, 1ULL << 63 };
	static const char *badn[] = { "0", "bit3", "bit63" };
	for (int i = 0; i < 3; i++) {
		cell_new(&c, t, 4, 0, 0);
		rc = reg(c.fd, c.m.a, c.m.len, badm[i], NULL);
		snprintf(item, sizeof item, "b REGISTER mode %s", badn[i]);
		out(item, mt, "%s", RES(rc));
		cell_free(&c);
	}

	/* c: minor read / write fault flags, CONTINUE resolves, data seen (scenario 21, 26) */
	if (!anonp) {
		fault_continue(t, 0);
		fault_continue(t, 1);
	}

	/* d: CONTINUE on a page not in the cache (hole) (spec §7 row CONTINUE; scenarios 22, 27) */
	cell_new(&c, t, 4, anonp ? MODE_M : MODE_M | MODE_N, 0);
	rc = cont(c.fd, c.m.a, ps, 0, &o);
	out("d CONTINUE, page not in cache", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	cell_free(&c);

	/* e: COPY when the page is in the cache (minor) / anon_private: PTE present (scenarios 24, 28) */
	cell_new_c(&c, t, 4, anonp ? MODE_M : MODE_M | MODE_N, 0, 1);
	rc = copy(c.fd, c.m.a, srcbuf, ps, 0, &o);
	out("e COPY, page in cache (no PTE in registered view)", mt, "%s\tcopy=%s\tpagemap_a0=%s", RES(rc), ofs(o),
	    pmdesc(c.m.a));
	/* f (as recorded in the 6.18 page): ZEROPAGE on the same page after e */
	rc = zeropage(c.fd, c.m.a, ps, 0, &o);
	out("f ZEROPAGE, page in cache, after e", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
	cell_free(&c);

	/* f: ZEROPAGE on a cached page with no PTE in the registered view (fresh mapping; §6.4) */
	cell_new_c(&c, t, 4, anonp ? MODE_M : MODE_M | MODE_N, 0, 1);
	rc = zeropage(c.fd, c.m.a, ps, 0, &o);
	out("f ZEROPAGE, page in cache, fresh (no PTE)", mt, "%s\tzeropage=%s\tpagemap_a0=%s", RES(rc), ofs(o),
	    pmdesc(c.m.a));
	if (rc == 0 && t == SHMEM_PRIVATE)
		out("f ZEROPAGE fresh: reads", mt, "a0=0x%02x\tb0=0x%02x", (unsigned char)c.m.a[0],
		    (unsigned char)c.m.b[0]);
	/* f: ZEROPAGE into a hole */
	rc = zeropage(c.fd, c.m.a + ps, ps, 0, &o);
	out("f ZEROPAGE into hole", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
	cell_free(&c);

	/* g: WRITEPROTECT without / with WP registration; write to WP page (scenarios 29, 30) */
	cell_new_c(&c, t, 4, anonp ? MODE_M : MODE_N, 0, 1);
	rc = wprot(c.fd, c.m.a, ps, UFFDIO_WRITEPROTECT_MODE_WP);
	out("g WRITEPROTECT, no WP mode", mt, "%s", RES(rc));
	cell_free(&c);
	cell_new_c(&c, t, 4, MODE_W, 0, 1);
	{ volatile char x = c.m.a[0]; (void)x; } /* map it in the registered view (WP-only: no event) */
	rc = wprot(c.fd, c.m.a, ps, UFFDIO_WRITEPROTECT_MODE_WP);
	out("g WRITEPROTECT, WP mode", mt, "%s\tpagemap_a0=%s", RES(rc), pmdesc(c.m.a));
	{
		struct toucher th;
		struct uffd_msg msg;
		touch_start(&th, c.m.a + 8, 1);
		int r = get_msg(c.fd, 500, &msg);
		if (r == 1) out("g write to WP page", mt, "event\t%s", msgdesc(&msg, c.m.a));
		else out("g write to WP page", mt, "no event\t%s", tstate(&th, 200));
		rc = wprot(c.fd, c.m.a, ps, 0);
		out("g un-protect wakes writer", mt, "%s\t%s", RES(rc), tstate(&th, 500));
		close(c.fd);
		touch_wait(&th, 1000);
		mem_free(&c.m);
	}

	if (anonp) {
		/* h/i for anon_private: CONTINUE on a MISSING-registered anon range with PTE present */
		cell_new_c(&c, t, 4, MODE_M, 0, 1);
		rc = cont(c.fd, c.m.a, ps, 0, &o);
		out("i CONTINUE, PTE present", mt, "%s\tmapped=%s", RES(rc), ofs(o));
		cell_free(&c);
		return;
	}

	/* h: CONTINUE argument checks (spec §4.1, §6.1 steps 3-5) */
	cell_new(&c, t, 4, MODE_N, 0);
	mem_cache(&c.m, 0, 0x42);
	mem_cache(&c.m, 1, 0x43);
	rc = cont(c.fd, c.m.a + 1, ps, 0, &o);
	out("h CONTINUE start+1", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.a, ps + 1, 0, &o);
	out("h CONTINUE len+1", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.a, 0, 0, &o);
	out("h CONTINUE len 0", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	if (t == HUGETLB_SHARED) {
		rc = cont(c.fd, c.m.a + PG, ps, 0, &o);
		out("h CONTINUE start 4K-aligned (a+4K, 2M)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
		rc = cont(c.fd, c.m.a, PG, 0, &o);
		out("h CONTINUE len 4K (a, 4K)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	}
	rc = cont(c.fd, (void *)0, ps, 0, &o);
	out("h CONTINUE start=0", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, (void *)(1UL << 47), ps, 0, &o);
	out("h CONTINUE start=2^47", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, (void *)((1UL << 47) - ps), 2 * ps, 0, &o);
	out("h CONTINUE start=2^47-ps len=2ps (past TASK_SIZE)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.a, ps, 1ULL << 2, &o);
	out("h CONTINUE mode bit2", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.a, ps, UFFDIO_CONTINUE_MODE_WP, &o);
	out("h CONTINUE MODE_WP without WP registration", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.b, ps, 0, &o);
	out("h CONTINUE unregistered vma", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	{
		char *hole = mmap(NULL, 4 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *h = (char *)(((uintptr_t)hole + ps - 1) & ~(ps - 1));
		munmap(hole, 4 * ps);
		rc = cont(c.fd, h, ps, 0, &o);
		out("h CONTINUE hole (no vma)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	}
	cell_free(&c);
	/* crosses the registered end: register pages 0-1 only, CONTINUE pages 1-2 */
	cell_new(&c, t, 4, 0, 0);
	reg(c.fd, c.m.a, 2 * ps, MODE_N, NULL);
	mem_cache(&c.m, 1, 0x42);
	mem_cache(&c.m, 2, 0x42);
	rc = cont(c.fd, c.m.a + ps, 2 * ps, 0, &o);
	out("h CONTINUE crosses registered end", mt, "%s\tmapped=%s\tpagemap_a1=%s", RES(rc), ofs(o),
	    pmdesc(c.m.a + ps));
	/* after UNREGISTER */
	unreg(c.fd, c.m.a, 2 * ps);
	rc = cont(c.fd, c.m.a + ps, ps, 0, &o);
	out("h CONTINUE after UNREGISTER", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	cell_free(&c);

	/* i: CONTINUE when the PTE is already present (scenario 21 second CONTINUE) */
	cell_new(&c, t, 4, MODE_N, 0);
	mem_cache(&c.m, 0, 0x42);
	rc = cont(c.fd, c.m.a, ps, 0, &o);
	out("i CONTINUE first (cached, no PTE)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	rc = cont(c.fd, c.m.a, ps, 0, &o);
	out("i CONTINUE, PTE present", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	cell_free(&c);

	/* j: partial CONTINUE [cached, hole] and [hole, cached] (spec §6.1 step 8, §6.9) */
	cell_new(&c, t, 4, MODE_N, 0);
	mem_cache(&c.m, 0, 0x42);
	mem_cache(&c.m, 3, 0x42);
	rc = cont(c.fd, c.m.a, 2 * ps, 0, &o);
	out("j CONTINUE [cached,hole]", mt, "%s\tmapped=%s\tpagemap_a0=%s", RES(rc), ofs(o), pmdesc(c.m.a));
	rc = cont(c.fd, c.m.a + 2 * ps, 2 * ps, 0, &o);
	out("j CONTINUE [hole,cached]", mt, "%s\tmapped=%s\tpagemap_a3=%s", RES(rc), ofs(o),
	    pmdesc(c.m.a + 3 * ps));
	cell_free(&c);

	/* j: read a hole in a MINOR-only range -> no event (scenario 25) */
	{
		struct toucher th;
		struct uffd_msg msg;
		cell_new(&c, t, 4, MODE_N, 0);
		touch_start(&th, c.m.a + ps, 0);
		int r = get_msg(c.fd, 200, &msg);
		const char *ts = tstate(&th, 500);
		out("j read hole, MINOR-only", mt, "%s\t%s\tb1=0x%02x", r == 1 ? "event" : "no event", ts,
		    (unsigned char)c.m.b[ps]);
		close(c.fd);
		touch_wait(&th, 1000);
		mem_free(&c.m);
		/* read a cached page in a MISSING-only range -> no event */
		cell_new(&c, t, 4, MODE_M, 0);
		mem_cache(&c.m, 1, 0x42);
		touch_start(&th, c.m.a + ps, 0);
		r = get_msg(c.fd, 200, &msg);
		out("j read cached, MISSING-only", mt, "%s\t%s", r == 1 ? "event" : "no event", tstate(&th, 500));
		close(c.fd);
		touch_wait(&th, 1000);
		mem_free(&c.m);
		/* MISSING|MINOR: hole read -> MISSING, cached read -> MINOR */
		cell_new(&c, t, 4, MODE_M | MODE_N, 0);
		mem_cache(&c.m, 1, 0x42);
		touch_start(&th, c.m.a + 2 * ps, 0);
		r = get_msg(c.fd, 300, &msg);
		out("j MISSING|MINOR read hole", mt, "%s\t%s", r == 1 ? "event" : "no event", r == 1 ? msgdesc(&msg, c.m.a) : "");
		rc = copy(c.fd, c.m.a + 2 * ps, srcbuf, ps, 0, &o);
		out("j MISSING|MINOR resolve hole with COPY", mt, "%s\tcopy=%s\t%s", RES(rc), ofs(o), tstate(&th, 500));
		touch_start(&th, c.m.a + ps, 0);
		r = get_msg(c.fd, 300, &msg);
		out("j MISSING|MINOR read cached", mt, "%s\t%s", r == 1 ? "event" : "no event", r == 1 ? msgdesc(&msg, c.m.a) : "");
		close(c.fd);
		touch_wait(&th, 1000);
		mem_free(&c.m);
	}
	/* j: CONTINUE in a MISSING-only range; via a non-owner uffd (spec §9, scenario 39 analogue) */
	cell_new(&c, t, 4, MODE_M, 0);
	mem_cache(&c.m, 0, 0x42);
	mem_cache(&c.m, 1, 0x42);
	rc = cont(c.fd, c.m.a, ps, 0, &o);
	out("j CONTINUE in MISSING-only range", mt, "%s\tmapped=%s", RES(rc), ofs(o));
	{
		int fd2 = uffd_new(0);
		rc = cont(fd2, c.m.a + ps, ps, 0, &o);
		out("j CONTINUE via non-owner uffd", mt, "%s\tmapped=%s", RES(rc), ofs(o));
		close(fd2);
	}
	cell_free(&c);
	/* j: CONTINUE beyond EOF: file of 1 page mapped 2 pages (spec §6.5, scenario 22) */
	if (t != ANON_SHARED) {
		struct mem m = { 0 };
		int fd = uffd_new(0);
		m.fd = memfd_create("uffdprobe", MFD_CLOEXEC | (t == HUGETLB_SHARED ? MFD_HUGETLB : 0));
		ftruncate(m.fd, ps);
		m.a = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, t == SHMEM_PRIVATE ? MAP_PRIVATE : MAP_SHARED, m.fd, 0);
		struct stat st;
		fstat(m.fd, &st);
		rc = reg(fd, m.a, 2 * ps, MODE_M | MODE_N, NULL);
		int64_t oz, oc;
		rc = cont(fd, m.a + ps, ps, 0, &o);
		out("j CONTINUE beyond EOF", mt, "%s\tmapped=%s\ti_size_after_mmap=%lld", RES(rc), ofs(o), (long long)st.st_size);
		int rz = zeropage(fd, m.a + ps, ps, 0, &oz);
		int ez = errno;
		int rcp = copy(fd, m.a + ps, srcbuf, ps, 0, &oc);
		int ec = errno;
		out("j ZEROPAGE beyond EOF", mt, "%s\tzeropage=%s", rz ? en(ez) : "OK", ofs(oz));
		out("j COPY beyond EOF", mt, "%s\tcopy=%s", rcp ? en(ec) : "OK", ofs(oc));
		close(fd);
		munmap(m.a, 2 * ps);
		close(m.fd);
	}
}

/* registration edges (spec §4.1-4.3; scenarios 10-14) */
static void edges(void)
{
	struct cell c;
	int rc;
	uint64_t io;
	int64_t o;
	/* scenario 12: hugetlb alignment */
	mt = mt_name[HUGETLB_SHARED];
	cell_new(&c, HUGETLB_SHARED, 2, 0, 0);
	rc = reg(c.fd, c.m.a + PG, HPG, MODE_M, NULL);
	out("s12 REGISTER hugetlb start+4K len 2M", mt, "%s", RES(rc));
	rc = reg(c.fd, c.m.a, 3 << 20, MODE_M, NULL);
	out("s12 REGISTER hugetlb len 3M", mt, "%s", RES(rc));
	rc = reg(c.fd, c.m.a, 4 << 20, MODE_N, &io);
	out("s12 REGISTER hugetlb len 4M MINOR", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
	rc = unreg(c.fd, c.m.a + PG, HPG);
	out("s12 UNREGISTER hugetlb start+4K", mt, "%s", RES(rc));
	rc = unreg(c.fd, c.m.a, 3 << 20);
	out("s12 UNREGISTER hugetlb len 3M", mt, "%s", RES(rc));
	cell_free(&c);

	mt = mt_name[ANON_PRIVATE];
	/* scenario 13: range wholly in a hole with a VMA above */
	{
		int fd = uffd_new(0);
		char *p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(p, 8 * PG);
		rc = reg(fd, p, 8 * PG, MODE_M, NULL);
		out("s13 REGISTER hole, VMA above", mt, "%s", RES(rc));
		rc = unreg(fd, p, 8 * PG);
		out("s13 UNREGISTER hole, VMA above", mt, "%s", RES(rc));
		/* hole between two VMAs inside the range */
		munmap(p + 8 * PG, 8 * PG);
		p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(p + PG, PG);
		rc = reg(fd, p, 3 * PG, MODE_M, &io);
		out("s13b REGISTER [vma,hole,vma]", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		rc = copy(fd, p, srcbuf, 3 * PG, 0, &o);
		out("s13b COPY over [vma,hole,vma]", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		rc = unreg(fd, p, 3 * PG);
		out("s13b UNREGISTER [vma,hole,vma]", mt, "%s", RES(rc));
		munmap(p, 3 * PG);
		/* range starting in a hole and ending inside a VMA */
		p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(p, 2 * PG);
		rc = reg(fd, p, 4 * PG, MODE_M, &io);
		out("s13c REGISTER [hole,vma]", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		munmap(p + 2 * PG, 2 * PG);
		/* nothing at all above: find the highest VMA end below TASK_SIZE */
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		unsigned long hi = 0, s, e;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "%lx-%lx", &s, &e) == 2 && e <= (1UL << 47) && e > hi) hi = e;
		fclose(f);
		unsigned long q = (1UL << 47) - 16 * PG;
		if (hi < q) {
			rc = reg(fd, (void *)q, 8 * PG, MODE_M, NULL);
			out("s13 REGISTER hole, nothing above", mt, "%s\tstart=TASK_SIZE-16pages", RES(rc));
			rc = unreg(fd, (void *)q, 8 * PG);
			out("s13 UNREGISTER hole, nothing above", mt, "%s", RES(rc));
		} else
			out("s13 REGISTER hole, nothing above", mt, "not run (highest vma end 0x%lx)", hi);
		rc = reg(fd, (void *)(1UL << 47), PG, MODE_M, NULL);
		out("s13 REGISTER start=2^47", mt, "%s", RES(rc));
		rc = reg(fd, (void *)0, PG, MODE_M, NULL);
		out("s13 REGISTER start=0", mt, "%s", RES(rc));
		rc = reg(fd, (void *)PG, PG, MODE_M, NULL);
		out("s13 REGISTER start=4096 (no vma there)", mt, "%s", RES(rc));
		close(fd);
	}
	/* scenario 14: mode replacement MISSING -> WP on anon */
	{
		struct toucher th;
		struct uffd_msg msg;
		cell_new(&c, ANON_PRIVATE, 4, MODE_M, 0);
		out("s14 REGISTER MISSING", mt, "%s\tioctls=0x%llx", c.rr ? en(errno) : "OK", (unsigned long long)c.ioctls);
		rc = reg(c.fd, c.m.a, c.m.len, MODE_W, &io);
		out("s14 re-REGISTER WP", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		touch_start(&th, c.m.a, 0);
		int r = get_msg(c.fd, 200, &msg);
		out("s14 read empty page after re-register", mt, "%s\t%s", r == 1 ? "event" : "no event", tstate(&th, 500));
		rc = reg(c.fd, c.m.a, c.m.len, MODE_M | MODE_W, &io);
		out("s14 re-REGISTER MISSING|WP", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		rc = reg(c.fd, c.m.a, c.m.len, MODE_M, &io);
		out("s14 re-REGISTER MISSING (subset of MISSING|WP)", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		touch_start(&th, c.m.a + PG, 1);
		r = get_msg(c.fd, 200, &msg);
		out("s14 write empty page after subset re-register", mt, "%s\t%s", r == 1 ? "event" : "no event",
		    r == 1 ? msgdesc(&msg, c.m.a) : "");
		close(c.fd);
		touch_wait(&th, 1000);
		/* to see whether WP was kept: WRITEPROTECT through a fresh uffd is impossible (other ctx); use a new cell */
		mem_free(&c.m);
		cell_new_c(&c, ANON_PRIVATE, 4, MODE_M | MODE_W, 0, 1);
		reg(c.fd, c.m.a, c.m.len, MODE_M, &io);
		rc = wprot(c.fd, c.m.a, PG, UFFDIO_WRITEPROTECT_MODE_WP);
		out("s14 WRITEPROTECT after MISSING|WP then MISSING re-register", mt, "%s", RES(rc));
		cell_free(&c);
	}
	/* scenario 11: EBUSY with two uffds */
	cell_new(&c, ANON_PRIVATE, 4, MODE_M, 0);
	{
		int fd2 = uffd_new(0);
		rc = reg(fd2, c.m.a, c.m.len, MODE_M, NULL);
		out("s11 REGISTER by second uffd", mt, "%s", RES(rc));
		rc = reg(fd2, c.m.a + c.m.len - PG, PG, MODE_M, NULL);
		out("s11 REGISTER last page by second uffd", mt, "%s", RES(rc));
		close(fd2);
	}
	cell_free(&c);
	/* scenario 10: MAP_SHARED of an O_RDONLY memfd opened via /proc/self/fd */
	{
		mt = "shmem_memfd_rdonly";
		int mfd = memfd_create("uffdprobe", MFD_CLOEXEC);
		ftruncate(mfd, 4 * PG);
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
		int ro = open(path, O_RDONLY);
		int fd = uffd_new(0);
		char *p = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, ro, 0);
		rc = reg(fd, p, 4 * PG, MODE_M, NULL);
		out("s10 REGISTER MISSING, MAP_SHARED of O_RDONLY fd", mt, "%s", RES(rc));
		rc = reg(fd, p, 4 * PG, MODE_N, NULL);
		out("s10 REGISTER MINOR, MAP_SHARED of O_RDONLY fd", mt, "%s", RES(rc));
		rc = reg(fd, p, 4 * PG, MODE_W, NULL);
		out("s10 REGISTER WP, MAP_SHARED of O_RDONLY fd", mt, "%s", RES(rc));
		munmap(p, 4 * PG);
		p = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, ro, 0);
		rc = reg(fd, p, 4 * PG, MODE_M, &io);
		out("s10 REGISTER MISSING, MAP_PRIVATE of O_RDONLY fd", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		munmap(p, 4 * PG);
		/* writable fd, PROT_READ MAP_SHARED: VM_MAYWRITE kept */
		p = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, mfd, 0);
		rc = reg(fd, p, 4 * PG, MODE_M, &io);
		out("s10 REGISTER MISSING, PROT_READ MAP_SHARED of O_RDWR fd", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		munmap(p, 4 * PG);
		close(fd);
		close(ro);
		close(mfd);
	}
	/* ext4 (regular file in /tmp): MISSING / MINOR / WP, shared and private, with and without WP_ASYNC */
	{
		mt = "ext4_file";
		const char *path = "/tmp/uffdprobe_ext4file";
		int ffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		ftruncate(ffd, 4 * PG);
		write(ffd, "x", 1);
		static const struct { uint64_t mode; const char *n; } em[] = {
			{ MODE_M, "MISSING" }, { MODE_N, "MINOR" }, { MODE_W, "WP" }, { MODE_M | MODE_W, "MISSING|WP" },
		};
		for (int async = 0; async < 2; async++)
			for (int sh = 0; sh < 2; sh++)
				for (unsigned i = 0; i < 4; i++) {
					int fd = uffd_new(async ? UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
					char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, sh ? MAP_SHARED : MAP_PRIVATE, ffd, 0);
					io = 0;
					rc = reg(fd, p, 4 * PG, em[i].mode, &io);
					snprintf(item, sizeof item, "ext4 REGISTER %s %s%s", em[i].n, sh ? "MAP_SHARED" : "MAP_PRIVATE",
						 async ? " features=WP_ASYNC|WP_HUGETLBFS_SHMEM" : "");
					if (rc == 0) out(item, mt, "OK\tioctls=0x%llx", (unsigned long long)io);
					else out(item, mt, "%s", en(errno));
					munmap(p, 4 * PG);
					close(fd);
				}
		/* WP_ASYNC alone (without WP_HUGETLBFS_SHMEM) */
		int fd = uffd_new(UFFD_FEATURE_WP_ASYNC);
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
		rc = reg(fd, p, 4 * PG, MODE_W, &io);
		out("ext4 REGISTER WP MAP_SHARED features=WP_ASYNC only", mt, "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		munmap(p, 4 * PG);
		close(fd);
		close(ffd);
		unlink(path);
	}
}

int main(void)
{
	header("uffd_matrix");
	for (int t = 0; t < NMT; t++) per_type(t);
	edges();
	printf("# done\n");
	return 0;
}
