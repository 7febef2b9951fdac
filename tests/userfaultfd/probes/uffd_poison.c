/*
 * uffd_poison.c - UFFDIO_POISON (6.18 only; userfaultfd.md §12): struct uffdio_poison
 * {range, mode, updated}, _IOWR(0xAA, 0x08). Poison on holes / present PTEs / cached pages for
 * anon, shmem and hugetlb; the signal a later access gets; later COPY / CONTINUE / ZEROPAGE over the
 * marker. `updated` is prefilled with 0x5a.. ("untouched"). Run through ./run.sh uffd_poison.
 */
#include "uffd_common.h"

static int poison(int fd, void *a, size_t len, uint64_t mode, int64_t *o)
{
	struct uffdio_poison p = { { (uintptr_t)a, len }, mode, PATTERN };
	int r = ioctl(fd, UFFDIO_POISON, &p);
	*o = p.updated;
	return r;
}
static const char *pm(void *a)
{
	static char b[2][64];
	static int k;
	k ^= 1;
	uint64_t e = pagemap(a);
	snprintf(b[k], sizeof b[k], "present=%d,swap=%d,raw_hi=0x%03llx", (int)PM_PRESENT(e), (int)PM_SWAP(e),
		 (unsigned long long)(e >> 52));
	return b[k];
}

int main(void)
{
	header("uffd_poison");
	install_handlers();
	int rc;
	int64_t o;
	static const enum mtype ts[] = { ANON_PRIVATE, ANON_SHARED, SHMEM_SHARED, SHMEM_PRIVATE, HUGETLB_SHARED };
	for (unsigned i = 0; i < 5; i++) {
		enum mtype t = ts[i];
		const char *mt = mt_name[t];
		struct mem m;
		mem_new(&m, t, 6);
		size_t ps = m.ps;
		/* page 1 present (anon_private: before registering); page 2 cached without PTE */
		m.a[ps] = 0x11;
		if (t != ANON_PRIVATE) mem_cache(&m, 2, 0x22);
		if (t != ANON_PRIVATE) mem_cache(&m, 4, 0x44);
		int fd = uffd_new(UFFD_FEATURE_POISON);
		uint64_t io;
		reg(fd, m.a, m.len, t == ANON_PRIVATE ? MODE_M : MODE_M | MODE_N, &io);
		out("REGISTER: POISON bit 8 in ioctls", mt, "ioctls=0x%llx\tpoison_bit=%d", (unsigned long long)io, (int)(io >> 8) & 1);

		rc = poison(fd, m.a, ps, 0, &o);
		out("POISON hole (page 0)", mt, "%s\tupdated=%s\tpagemap=%s", RES(rc), ofs(o), pm(m.a));
		{
			struct toucher th;
			struct uffd_msg msg;
			touch_start(&th, m.a + 8, 0);
			int r = get_msg(fd, 200, &msg);
			const char *ts_ = tstate(&th, 300);
			out("read of poisoned page 0", mt, "%s\t%s", r == 1 ? "event" : "no event", ts_);
			touch_start(&th, m.a + 8, 1);
			r = get_msg(fd, 200, &msg);
			ts_ = tstate(&th, 300);
			out("write to poisoned page 0", mt, "%s\t%s", r == 1 ? "event" : "no event", ts_);
		}
		rc = poison(fd, m.a + ps, ps, 0, &o);
		out("POISON present PTE (page 1)", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		if (t != ANON_PRIVATE) {
			rc = poison(fd, m.a + 2 * ps, ps, 0, &o);
			out("POISON cached page, no PTE (page 2)", mt, "%s\tupdated=%s\tpagemap=%s", RES(rc), ofs(o), pm(m.a + 2 * ps));
			rc = cont(fd, m.a + 2 * ps, ps, 0, &o);
			out("CONTINUE over poison marker (page 2)", mt, "%s\tmapped=%s\tpagemap=%s", RES(rc), ofs(o), pm(m.a + 2 * ps));
			if (rc == 0) out("  read after CONTINUE", mt, "value=0x%02x", (unsigned char)m.a[2 * ps]);
		}
		rc = poison(fd, m.a, ps, 0, &o);
		out("POISON again on poisoned page 0", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		rc = copy(fd, m.a, srcbuf, ps, 0, &o);
		out("COPY over poison marker (page 0)", mt, "%s\tcopy=%s", RES(rc), ofs(o));
		rc = zeropage(fd, m.a, ps, 0, &o);
		out("ZEROPAGE on page 0 after that COPY", mt, "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = poison(fd, m.a + 5 * ps, ps, 0, &o);
		rc = zeropage(fd, m.a + 5 * ps, ps, 0, &o);
		out("ZEROPAGE over poison marker (page 5)", mt, "%s\tzeropage=%s\tpagemap=%s", RES(rc), ofs(o), pm(m.a + 5 * ps));
		rc = cont(fd, m.a + 5 * ps, ps, 0, &o);
		out("CONTINUE over poison marker on a hole (page 5)", mt, "%s\tmapped=%s", RES(rc), ofs(o));
		/* partial: [hole(3), cached-or-present..] */
		rc = poison(fd, m.a + 3 * ps, 2 * ps, 0, &o);
		out("POISON [hole 3, page 4] (4 cached for non-anon, hole for anon_private)", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		rc = poison(fd, m.a + 3 * ps, ps, UFFDIO_POISON_MODE_DONTWAKE, &o);
		out("POISON mode DONTWAKE", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		rc = poison(fd, m.a + 3 * ps, ps, 1ULL << 1, &o);
		out("POISON mode bit1", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		rc = poison(fd, m.a + 1, ps, 0, &o);
		out("POISON start+1", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		if (t == HUGETLB_SHARED) {
			rc = poison(fd, m.a + 5 * ps, PG, 0, &o);
			out("POISON hugetlb 4K len", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		}
		close(fd);
		/* POISON without the POISON feature, and in an unregistered range */
		fd = uffd_new(0);
		rc = poison(fd, m.b ? m.b : m.a, ps, 0, &o);
		out("POISON unregistered VMA", mt, "%s\tupdated=%s", RES(rc), ofs(o));
		close(fd);
		mem_free(&m);
	}
	/* POISON when the POISON feature was not requested */
	{
		struct mem m;
		mem_new(&m, ANON_PRIVATE, 2);
		int fd = uffd_new(0);
		reg(fd, m.a, m.len, MODE_M, NULL);
		rc = poison(fd, m.a, PG, 0, &o);
		out("POISON hole, features=0 (POISON not requested)", "anon_private", "%s\tupdated=%s", RES(rc), ofs(o));
		close(fd);
		mem_free(&m);
	}
	printf("# done\n");
	return 0;
}
