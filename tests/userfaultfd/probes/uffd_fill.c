/*
 * uffd_fill.c - the fill ioctls COPY / ZEROPAGE / CONTINUE: argument checks, partial progress,
 * output fields, mmap_changing and RSS accounting (spec userfaultfd.md §6.1-6.6, §6.9;
 * scenarios 17-20, 31). Output fields are prefilled with 0x5a5a.. and shown as "untouched" when the
 * kernel did not write them. Run through ./run.sh uffd_fill.
 */
#include "uffd_common.h"

static const char *mt = "anon_private";

static char *anon(int n)
{
	return mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
/* fresh anon range of n pages registered with mode; pages in mask populated before registering */
static char *areg(int fd, int n, uint64_t mode, unsigned mask)
{
	char *p = anon(n);
	for (int i = 0; i < n; i++)
		if (mask & (1u << i)) p[i * PG] = 0x11;
	reg(fd, p, n * PG, mode, NULL);
	return p;
}
static const char *pms(char *p, int n)
{
	static char b[64];
	for (int i = 0; i < n; i++) b[i] = PM_PRESENT(pagemap(p + i * PG)) ? 'P' : '-';
	b[n] = 0;
	return b;
}

struct remapper { char *from, *to; size_t len; volatile int done; void *ret; };
static void *remap_fn(void *a)
{
	struct remapper *r = a;
	r->ret = mremap(r->from, r->len, r->len, MREMAP_MAYMOVE | MREMAP_FIXED, r->to);
	r->done = 1;
	return NULL;
}

static void rss(const char *item, const char *mtn, long a0, long s0, long h0)
{
	out(item, mtn, "RssAnon_kB=%+ld\tRssShmem_kB=%+ld\tHugetlbPages_kB=%+ld", status_kb("RssAnon") - a0,
	    status_kb("RssShmem") - s0, status_kb("HugetlbPages") - h0);
}

int main(void)
{
	header("uffd_fill");
	install_handlers();
	int fd = uffd_new(0), rc;
	int64_t o;
	char *p, *q;
	memset(srcbuf, 0xab, sizeof srcbuf);

	/* s17 partial COPY: page 2 populated */
	p = areg(fd, 4, MODE_M, 1u << 2);
	rc = copy(fd, p, srcbuf, 4 * PG, 0, &o);
	out("s17 COPY 4 pages, page 2 populated", mt, "%s\tcopy=%s\tpresent=%s", RES(rc), ofs(o), pms(p, 4));
	/* s18 populated first page */
	rc = copy(fd, p + 2 * PG, srcbuf, 2 * PG, 0, &o);
	out("s18 COPY on populated first page", mt, "%s\tcopy=%s\tpresent=%s", RES(rc), ofs(o), pms(p, 4));
	munmap(p, 4 * PG);

	/* s19 argument checks (copy field must stay untouched) */
	p = areg(fd, 4, MODE_M, 0);
	rc = copy(fd, p + 1, srcbuf, PG, 0, &o);
	out("s19 COPY dst+1", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, p, srcbuf, PG + 1, 0, &o);
	out("COPY len+1", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, p, srcbuf, 0, 0, &o);
	out("COPY len 0", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, p, srcbuf, PG, 1ULL << 2, &o);
	out("COPY mode bit2", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, p, (void *)(-2 * PG), 4 * PG, 0, &o);
	out("COPY src+len wraps (src=-8192,len=16384)", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, p, (void *)(1UL << 47), PG, 0, &o);
	out("COPY src=2^47 (unmapped, no wrap)", mt, "%s\tcopy=%s\tpresent=%s", RES(rc), ofs(o), pms(p, 1));
	{
		char *hole = anon(1);
		munmap(hole, PG);
		rc = copy(fd, p, hole, PG, 0, &o);
		out("COPY src unmapped user address", mt, "%s\tcopy=%s\tpresent=%s", RES(rc), ofs(o), pms(p, 1));
	}
	rc = copy(fd, p, srcbuf + 1, PG, 0, &o);
	out("COPY src unaligned (src+1)", mt, "%s\tcopy=%s\tdata_ok=%d", RES(rc), ofs(o), rc == 0 && (unsigned char)p[0] == 0xab);
	rc = copy(fd, p + PG, srcbuf, PG, UFFDIO_COPY_MODE_WP, &o);
	out("COPY MODE_WP without WP registration", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, (void *)0, srcbuf, PG, 0, &o);
	out("COPY dst=0", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = copy(fd, (void *)(1UL << 47), srcbuf, PG, 0, &o);
	out("COPY dst=2^47", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	munmap(p, 4 * PG);

	/* s20 COPY spanning two VMAs (both registered) / into an unregistered VMA */
	p = anon(4);
	mprotect(p + 2 * PG, 2 * PG, PROT_READ); /* split into two VMAs */
	reg(fd, p, 4 * PG, MODE_M, NULL);
	rc = copy(fd, p + PG, srcbuf, 2 * PG, 0, &o);
	out("s20 COPY spanning two registered VMAs", mt, "%s\tcopy=%s\tpresent=%s", RES(rc), ofs(o), pms(p, 4));
	rc = copy(fd, p + 2 * PG, srcbuf, PG, 0, &o);
	out("COPY into registered PROT_READ VMA", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	munmap(p, 4 * PG);
	p = anon(4);
	rc = copy(fd, p, srcbuf, PG, 0, &o);
	out("s20 COPY into unregistered VMA", mt, "%s\tcopy=%s", RES(rc), ofs(o));
	rc = zeropage(fd, p, PG, 0, &o);
	out("ZEROPAGE into unregistered VMA", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
	munmap(p, 4 * PG);

	/* COPY MODE_WP with WP registration, then a write raises WP|WRITE */
	{
		struct toucher th;
		struct uffd_msg msg;
		p = areg(fd, 2, MODE_M | MODE_W, 0);
		rc = copy(fd, p, srcbuf, PG, UFFDIO_COPY_MODE_WP, &o);
		out("COPY MODE_WP with MISSING|WP registration", mt, "%s\tcopy=%s\tpagemap=%s", RES(rc), ofs(o), pmdesc(p));
		touch_start(&th, p + 8, 1);
		int r = get_msg(fd, 300, &msg);
		out("write to page installed with COPY MODE_WP", mt, "%s\t%s", r == 1 ? "event" : "no event", r == 1 ? msgdesc(&msg, p) : "");
		wprot(fd, p, PG, 0);
		touch_wait(&th, 500);
		munmap(p, 2 * PG);
	}

	/* ZEROPAGE anon */
	{
		long a0 = status_kb("RssAnon"), s0 = status_kb("RssShmem"), h0 = status_kb("HugetlbPages");
		p = areg(fd, 4, MODE_M, 0);
		rc = zeropage(fd, p, 2 * PG, 0, &o);
		out("ZEROPAGE anon 2 pages", mt, "%s\tzeropage=%s\tpresent=%s\treads_zero=%d", RES(rc), ofs(o), pms(p, 4), p[0] == 0 && p[PG] == 0);
		rss("ZEROPAGE anon 2 pages: RSS delta", mt, a0, s0, h0);
		rc = zeropage(fd, p + 2 * PG, PG, 1ULL << 1, &o);
		out("ZEROPAGE mode bit1", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = zeropage(fd, p + 2 * PG, PG, UFFDIO_ZEROPAGE_MODE_DONTWAKE, &o);
		out("ZEROPAGE mode DONTWAKE", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = zeropage(fd, p + 1, PG, 0, &o);
		out("ZEROPAGE start+1", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = zeropage(fd, p + 2 * PG, 2 * PG, 0, &o);
		out("ZEROPAGE [present,hole]", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = zeropage(fd, p + 3 * PG, (size_t)-4096 & ~(PG - 1), 0, &o);
		out("ZEROPAGE len huge (start+len wraps)", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		p[0] = 5; /* write to the zero page: COW, no event */
		out("write after ZEROPAGE", mt, "OK\tvalue=%d", p[0]);
		munmap(p, 4 * PG);
	}

	/* RSS after COPY / ZEROPAGE / CONTINUE for anon, shmem, hugetlb */
	{
		static const enum mtype ts[] = { ANON_PRIVATE, ANON_SHARED, SHMEM_SHARED, SHMEM_PRIVATE, HUGETLB_SHARED };
		for (unsigned i = 0; i < 5; i++) {
			enum mtype t = ts[i];
			struct mem m;
			mem_new(&m, t, 4);
			int f = uffd_new(0);
			reg(f, m.a, m.len, t == ANON_PRIVATE ? MODE_M : MODE_M | MODE_N, NULL);
			long a0 = status_kb("RssAnon"), s0 = status_kb("RssShmem"), h0 = status_kb("HugetlbPages");
			rc = copy(f, m.a, srcbuf, m.ps, 0, &o);
			char it[64];
			snprintf(it, sizeof it, "RSS after COPY 1 page (%s)", RES(rc));
			rss(it, mt_name[t], a0, s0, h0);
			a0 = status_kb("RssAnon"), s0 = status_kb("RssShmem"), h0 = status_kb("HugetlbPages");
			rc = zeropage(f, m.a + m.ps, m.ps, 0, &o);
			snprintf(it, sizeof it, "RSS after ZEROPAGE 1 page (%s)", RES(rc));
			rss(it, mt_name[t], a0, s0, h0);
			if (t != ANON_PRIVATE) {
				mem_cache(&m, 2, 0x42);
				a0 = status_kb("RssAnon"), s0 = status_kb("RssShmem"), h0 = status_kb("HugetlbPages");
				rc = cont(f, m.a + 2 * m.ps, m.ps, 0, &o);
				snprintf(it, sizeof it, "RSS after CONTINUE 1 page (%s)", RES(rc));
				rss(it, mt_name[t], a0, s0, h0);
			}
			close(f);
			mem_free(&m);
		}
	}

	/* s31 mmap_changing: EVENT_REMAP, a thread mremaps the registered range and blocks */
	{
		int f = uffd_new(UFFD_FEATURE_EVENT_REMAP);
		p = areg(f, 4, MODE_M, 0);
		q = anon(4); /* destination */
		struct remapper r = { p, q, 4 * PG };
		pthread_t th;
		pthread_create(&th, NULL, remap_fn, &r);
		usleep(100000);
		out("s31 mremap thread before the event is read", mt, "%s", r.done ? "returned" : "blocked");
		rc = copy(f, q, srcbuf, PG, 0, &o);
		out("s31 COPY while mmap_changing", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		rc = zeropage(f, q, PG, 0, &o);
		out("s31 ZEROPAGE while mmap_changing", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = cont(f, q, PG, 0, &o);
		out("s31 CONTINUE while mmap_changing", mt, "%s\tmapped=%s", RES(rc), ofs(o));
		rc = wprot(f, q, PG, 0);
		out("s31 WRITEPROTECT while mmap_changing", mt, "%s", RES(rc));
		{
			struct uffdio_move mv = { (uintptr_t)q, (uintptr_t)q + PG, PG, 0, PATTERN };
			rc = ioctl(f, UFFDIO_MOVE, &mv);
			out("s31 MOVE while mmap_changing", mt, "%s\tmove=%s", RES(rc), ofs(mv.move));
			struct uffdio_poison pz = { { (uintptr_t)q, PG }, 0, PATTERN };
			rc = ioctl(f, UFFDIO_POISON, &pz);
			out("s31 POISON while mmap_changing", mt, "%s\tupdated=%s", RES(rc), ofs(pz.updated));
		}
		rc = wake(f, q, PG);
		out("s31 WAKE while mmap_changing", mt, "%s", RES(rc));
		uint64_t io;
		rc = reg(f, q, 4 * PG, MODE_M, &io);
		out("s31 REGISTER while mmap_changing", mt, "%s", RES(rc));
		rc = copy(fd, q, srcbuf, PG, 0, &o);
		out("s31 COPY through another uffd (no event pending there)", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		struct uffd_msg msg;
		int n = get_msg(f, 300, &msg);
		usleep(50000);
		out("s31 read REMAP event", mt, "%s\tevent=0x%x\tfrom=%s\tto=%s\tlen=%llu\tthread=%s", n == 1 ? "event" : "no event",
		    msg.event, msg.arg.remap.from == (uintptr_t)p ? "p" : "?", msg.arg.remap.to == (uintptr_t)q ? "q" : "?",
		    (unsigned long long)msg.arg.remap.len, r.done ? "returned" : "blocked");
		rc = copy(f, q + PG, srcbuf, PG, 0, &o);
		out("s31 COPY after the event is read", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		pthread_join(th, NULL);
		close(f);
		munmap(q, 4 * PG);
	}
	close(fd);
	printf("# done\n");
	return 0;
}
