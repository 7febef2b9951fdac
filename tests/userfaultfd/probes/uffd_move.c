/*
 * uffd_move.c - UFFDIO_MOVE (6.18 only; not in the v5.14 spec, listed in userfaultfd.md §12):
 * struct uffdio_move {dst, src, len, mode, move}, _IOWR(0xAA, 0x05). Private anon moves,
 * error cases, partial progress, THP, the zero page, a page shared with a forked child.
 * The `move` output field is prefilled with 0x5a.. ("untouched"). Present map: P present, - none.
 * Run through ./run.sh uffd_move.
 */
#include "uffd_common.h"

static const char *mt = "anon_private";
static char *anon(int n)
{
	return mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
static int mv(int fd, void *dst, void *src, size_t len, uint64_t mode, int64_t *o)
{
	struct uffdio_move m = { (uintptr_t)dst, (uintptr_t)src, len, mode, PATTERN };
	int r = ioctl(fd, UFFDIO_MOVE, &m);
	*o = m.move;
	return r;
}
static const char *pms(char *p, int n)
{
	static char b[2][80];
	static int k;
	k ^= 1;
	for (int i = 0; i < n; i++) b[k][i] = PM_PRESENT(pagemap(p + i * PG)) ? 'P' : '-';
	b[k][n] = 0;
	return b[k];
}
/* fresh src (n pages, populated per mask with bytes 0x10+i) and dst (n pages), dst registered MISSING */
struct pair { char *s, *d; };
static struct pair pair_new(int fd, int n, unsigned smask, unsigned dmask, int reg_src)
{
	struct pair p = { anon(n), anon(n) };
	for (int i = 0; i < n; i++) {
		if (smask & (1u << i)) p.s[i * PG] = 0x10 + i;
		if (dmask & (1u << i)) p.d[i * PG] = 0x70 + i;
	}
	reg(fd, p.d, n * PG, MODE_M, NULL);
	if (reg_src) reg(fd, p.s, n * PG, MODE_M, NULL);
	return p;
}
static void pair_free(struct pair *p, int n)
{
	munmap(p->s, n * PG);
	munmap(p->d, n * PG);
}
#define LINE(item, rc, o, p, n) \
	out(item, mt, "%s\tmove=%s\tsrc=%s\tdst=%s", RES(rc), ofs(o), pms((p).s, n), pms((p).d, n))

int main(void)
{
	header("uffd_move");
	install_handlers();
	int rc;
	int64_t o;
	struct pair p;
	uint64_t io;

	/* feature bit and register ioctls bit 5 */
	{
		struct uffdio_api a = { UFFD_API, 0, 0 };
		int f = uffd_raw(O_CLOEXEC | O_NONBLOCK);
		ioctl(f, UFFDIO_API, &a);
		out("API reply has MOVE (bit 16)", "-", "%s\tfeatures=0x%llx", (a.features >> 16) & 1 ? "yes" : "no",
		    (unsigned long long)a.features);
		close(f);
		static const enum mtype ts[] = { ANON_PRIVATE, ANON_SHARED, SHMEM_SHARED, SHMEM_PRIVATE, HUGETLB_SHARED };
		for (int i = 0; i < 5; i++) {
			struct mem m;
			mem_new(&m, ts[i], 2);
			f = uffd_new(0);
			rc = reg(f, m.a, m.len, MODE_M, &io);
			out("REGISTER MISSING: MOVE bit 5 in ioctls", mt_name[ts[i]], "%s\tioctls=0x%llx\tmove_bit=%d", RES(rc),
			    (unsigned long long)io, (int)(io >> 5) & 1);
			close(f);
			mem_free(&m);
		}
	}

	/* MOVE with features=0 (feature not requested) vs features=MOVE */
	for (int feat = 0; feat < 2; feat++) {
		int f = uffd_new(feat ? UFFD_FEATURE_MOVE : 0);
		p = pair_new(f, 2, 3, 0, 0);
		rc = mv(f, p.d, p.s, 2 * PG, 0, &o);
		char it[96];
		snprintf(it, sizeof it, "MOVE 2 pages, src unregistered, %s", feat ? "features=MOVE" : "features=0");
		LINE(it, rc, o, p, 2);
		if (rc == 0) out(it, mt, "data_at_dst=0x%02x,0x%02x", (unsigned char)p.d[0], (unsigned char)p.d[PG]);
		pair_free(&p, 2);
		close(f);
	}
	int fd = uffd_new(UFFD_FEATURE_MOVE);

	/* both registered */
	p = pair_new(fd, 2, 3, 0, 1);
	rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
	LINE("MOVE 2 pages, src registered too", rc, o, p, 2);
	{
		/* a read of the now-empty src raises a MISSING fault (src registered) */
		struct toucher th;
		struct uffd_msg m;
		touch_start(&th, p.s, 0);
		int r = get_msg(fd, 200, &m);
		out("read of moved-out src page (src registered MISSING)", mt, "%s\t%s", r == 1 ? "event" : "no event", r == 1 ? msgdesc(&m, p.s) : "");
		zeropage(fd, p.s, PG, 0, NULL);
		touch_wait(&th, 300);
	}
	pair_free(&p, 2);

	/* dst already populated */
	p = pair_new(fd, 2, 3, 1, 0);
	rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
	LINE("MOVE, dst page 0 populated", rc, o, p, 2);
	pair_free(&p, 2);
	p = pair_new(fd, 2, 3, 2, 0);
	rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
	LINE("MOVE, dst page 1 populated (partial)", rc, o, p, 2);
	pair_free(&p, 2);

	/* src holes */
	p = pair_new(fd, 3, 5, 0, 0);
	rc = mv(fd, p.d, p.s, 3 * PG, 0, &o);
	LINE("MOVE [P,hole,P] without ALLOW_SRC_HOLES", rc, o, p, 3);
	pair_free(&p, 3);
	p = pair_new(fd, 3, 5, 0, 0);
	rc = mv(fd, p.d, p.s, 3 * PG, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &o);
	LINE("MOVE [P,hole,P] with ALLOW_SRC_HOLES", rc, o, p, 3);
	pair_free(&p, 3);
	p = pair_new(fd, 2, 0, 0, 0);
	rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
	LINE("MOVE src all holes without ALLOW_SRC_HOLES", rc, o, p, 2);
	rc = mv(fd, p.d, p.s, 2 * PG, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &o);
	LINE("MOVE src all holes with ALLOW_SRC_HOLES", rc, o, p, 2);
	pair_free(&p, 2);

	/* modes and alignment */
	p = pair_new(fd, 2, 3, 0, 0);
	rc = mv(fd, p.d, p.s, PG, UFFDIO_MOVE_MODE_DONTWAKE, &o);
	LINE("MOVE mode DONTWAKE", rc, o, p, 2);
	rc = mv(fd, p.d + PG, p.s + PG, PG, 1ULL << 2, &o);
	LINE("MOVE mode bit2", rc, o, p, 2);
	rc = mv(fd, p.d + PG, p.s + PG, PG, 1ULL << 63, &o);
	LINE("MOVE mode bit63", rc, o, p, 2);
	rc = mv(fd, p.d + PG + 1, p.s + PG, PG, 0, &o);
	LINE("MOVE dst+1", rc, o, p, 2);
	rc = mv(fd, p.d + PG, p.s + PG + 1, PG, 0, &o);
	LINE("MOVE src+1", rc, o, p, 2);
	rc = mv(fd, p.d + PG, p.s + PG, PG + 1, 0, &o);
	LINE("MOVE len+1", rc, o, p, 2);
	rc = mv(fd, p.d + PG, p.s + PG, 0, 0, &o);
	LINE("MOVE len 0", rc, o, p, 2);
	rc = mv(fd, p.d + PG, (void *)(1UL << 47), PG, 0, &o);
	LINE("MOVE src=2^47", rc, o, p, 2);
	pair_free(&p, 2);

	/* overlapping src/dst in the same registered VMA */
	{
		char *r = anon(4);
		r[0] = 1, r[PG] = 2;
		reg(fd, r, 4 * PG, MODE_M, NULL);
		rc = mv(fd, r + PG, r, 2 * PG, 0, &o);
		out("MOVE overlapping (dst=src+1 page, len 2 pages)", mt, "%s\tmove=%s\tmap=%s", RES(rc), ofs(o), pms(r, 4));
		rc = mv(fd, r + 2 * PG, r, 2 * PG, 0, &o);
		out("MOVE adjacent in one VMA (dst=src+2 pages)", mt, "%s\tmove=%s\tmap=%s", RES(rc), ofs(o), pms(r, 4));
		munmap(r, 4 * PG);
		/* overlap where every dst page is a hole: src=[1,3) (page 1 populated, 2 hole), dst=[2,4) */
		r = anon(4);
		r[PG] = 1;
		reg(fd, r, 4 * PG, MODE_M, NULL);
		rc = mv(fd, r + 2 * PG, r + PG, 2 * PG, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &o);
		out("MOVE overlapping, dst pages all holes (src=[1,3) dst=[2,4), ALLOW_SRC_HOLES)", mt, "%s\tmove=%s\tmap=%s", RES(rc), ofs(o), pms(r, 4));
		munmap(r, 4 * PG);
	}

	/* dst not registered; src in shmem; dst in shmem */
	{
		char *s = anon(1), *d = anon(1);
		s[0] = 1;
		rc = mv(fd, d, s, PG, 0, &o);
		out("MOVE dst not registered", mt, "%s\tmove=%s", RES(rc), ofs(o));
		munmap(s, PG);
		munmap(d, PG);
		struct mem m;
		mem_new(&m, SHMEM_SHARED, 1);
		m.a[0] = 1;
		d = anon(1);
		reg(fd, d, PG, MODE_M, NULL);
		rc = mv(fd, d, m.a, PG, 0, &o);
		out("MOVE src in shmem (MAP_SHARED memfd), dst anon registered", "shmem_memfd_shared", "%s\tmove=%s", RES(rc), ofs(o));
		munmap(d, PG);
		mem_free(&m);
		mem_new(&m, SHMEM_PRIVATE, 1);
		m.a[0] = 1; /* private COW copy: an anon page in a shmem VMA */
		d = anon(1);
		reg(fd, d, PG, MODE_M, NULL);
		rc = mv(fd, d, m.a, PG, 0, &o);
		out("MOVE src in MAP_PRIVATE memfd (anon COW page), dst anon registered", "shmem_memfd_private", "%s\tmove=%s", RES(rc), ofs(o));
		munmap(d, PG);
		mem_free(&m);
		mem_new(&m, SHMEM_SHARED, 1);
		reg(fd, m.a, PG, MODE_M, NULL);
		s = anon(1);
		s[0] = 1;
		rc = mv(fd, m.a, s, PG, 0, &o);
		out("MOVE dst in shmem registered, src anon", "shmem_memfd_shared", "%s\tmove=%s", RES(rc), ofs(o));
		munmap(s, PG);
		mem_free(&m);
		mem_new(&m, ANON_SHARED, 1);
		m.a[0] = 1;
		d = anon(1);
		reg(fd, d, PG, MODE_M, NULL);
		rc = mv(fd, d, m.a, PG, 0, &o);
		out("MOVE src in shared anon, dst anon registered", "anon_shared", "%s\tmove=%s", RES(rc), ofs(o));
		munmap(d, PG);
		mem_free(&m);
	}
	/* a page shared with a forked child */
	{
		p = pair_new(fd, 2, 3, 0, 0);
		fflush(stdout);
		pid_t c = fork();
		if (c == 0) { pause(); _exit(0); }
		usleep(50000);
		rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
		LINE("MOVE src pages shared (COW) with a forked child", rc, o, p, 2);
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		rc = mv(fd, p.d, p.s, 2 * PG, 0, &o);
		LINE("MOVE again after the child exited", rc, o, p, 2);
		pair_free(&p, 2);
	}
	/* the zero page (read-faulted src) */
	{
		p = pair_new(fd, 2, 0, 0, 0);
		volatile char x = p.s[0];
		(void)x;
		rc = mv(fd, p.d, p.s, PG, 0, &o);
		LINE("MOVE zero page (read-faulted src page 0)", rc, o, p, 2);
		out("MOVE zero page: dst reads", mt, "0x%02x\tRssAnon_kB=%ld", (unsigned char)p.d[0], status_kb("RssAnon"));
		pair_free(&p, 2);
	}
	/* MOVE wakes a thread waiting on dst */
	{
		struct toucher th;
		struct uffd_msg m;
		p = pair_new(fd, 1, 1, 0, 0);
		touch_start(&th, p.d, 0);
		get_msg(fd, 300, &m);
		rc = mv(fd, p.d, p.s, PG, 0, &o);
		out("MOVE resolves a MISSING fault on dst", mt, "%s\tmove=%s\t%s", RES(rc), ofs(o), tstate(&th, 300));
		pair_free(&p, 1);
	}
	/* THP: 2 MiB aligned, MADV_HUGEPAGE source */
	{
		char *raws = mmap(NULL, 3 * HPG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *rawd = mmap(NULL, 3 * HPG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *s = (char *)(((uintptr_t)raws + HPG - 1) & ~(HPG - 1));
		char *d = (char *)(((uintptr_t)rawd + HPG - 1) & ~(HPG - 1));
		madvise(s, HPG, MADV_HUGEPAGE);
		madvise(d, HPG, MADV_HUGEPAGE);
		memset(s, 0x33, HPG);
		FILE *f = fopen("/proc/self/smaps_rollup", "r");
		char line[256];
		long ah = -1;
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "AnonHugePages:", 14)) ah = strtol(line + 14, NULL, 10);
		if (f) fclose(f);
		reg(fd, d, HPG, MODE_M, NULL);
		rc = mv(fd, d, s, HPG, 0, &o);
		f = fopen("/proc/self/smaps_rollup", "r");
		long ah2 = -1;
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "AnonHugePages:", 14)) ah2 = strtol(line + 14, NULL, 10);
		if (f) fclose(f);
		int ok = 1;
		for (size_t i = 0; i < HPG; i += PG) ok &= d[i] == 0x33;
		out("MOVE 2 MiB THP-backed aligned", mt, "%s\tmove=%s\tAnonHugePages_kB_before=%ld\tafter=%ld\tdata_ok=%d\tsrc_page0=%s",
		    RES(rc), ofs(o), ah, ah2, ok, pms(s, 1));
		/* THP source moved to a 4K-offset destination */
		memset(s, 0x44, HPG);
		munmap(d, 2 * HPG);
		d = mmap(d, 2 * HPG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		reg(fd, d, 2 * HPG, MODE_M, NULL);
		rc = mv(fd, d + PG, s, HPG, 0, &o);
		out("MOVE 2 MiB THP source to a 4K-offset destination", mt, "%s\tmove=%s", RES(rc), ofs(o));
		if (o > 0 && o < (int64_t)HPG) {
			rc = mv(fd, d + PG + o, s + o, HPG - o, 0, &o);
			out("  retry of the remainder", mt, "%s\tmove=%s", RES(rc), ofs(o));
		}
		int ok2 = 1;
		for (size_t i = 0; i < HPG; i += PG) ok2 &= d[PG + i] == 0x44;
		out("  data after 4K-offset move", mt, "data_ok=%d", ok2);
		munmap(raws, 3 * HPG);
		munmap(rawd, 3 * HPG);
	}
	close(fd);
	printf("# done\n");
	return 0;
}
