/*
 * uffd_events.c - non-cooperative events FORK / REMAP / REMOVE / UNMAP (spec userfaultfd.md §1.6,
 * §3.7): message contents (addresses relative to the registered mapping), whether registration
 * survives without the feature, and whether the raising thread blocks until the event is read.
 * Each event is raised by a second thread; the main thread waits 200 ms, records whether the raiser
 * returned, then reads. Run through ./run.sh uffd_events.
 */
#include "uffd_common.h"


enum op { OP_FORK, OP_MREMAP, OP_DONTNEED, OP_REMOVE, OP_MUNMAP, OP_MUNMAP_PART, OP_FREE, OP_MREMAP_SHRINK };
struct raiser { enum op op; char *p, *q; size_t len; volatile int done; long ret; int err; pid_t child; int pfd[2]; };
static void *raise_fn(void *a)
{
	struct raiser *r = a;
	switch (r->op) {
	case OP_FORK: {
		pid_t c = fork();
		if (c == 0) {
			/* child: is the range still registered? a read of a missing page blocks if it is */
			char msg[64];
			volatile char x = r->p[2 * PG];
			(void)x;
			snprintf(msg, sizeof msg, "child read of missing page returned");
			write(r->pfd[1], msg, strlen(msg) + 1);
			_exit(0);
		}
		r->child = c;
		r->ret = c > 0 ? 0 : -1;
		break;
	}
	case OP_MREMAP: r->ret = (long)mremap(r->p, r->len, r->len, MREMAP_MAYMOVE | MREMAP_FIXED, r->q); break;
	case OP_MREMAP_SHRINK: r->ret = (long)mremap(r->p, r->len, r->len / 2, 0); break;
	case OP_DONTNEED: r->ret = madvise(r->p + PG, 2 * PG, MADV_DONTNEED); break;
	case OP_FREE: r->ret = madvise(r->p + PG, 2 * PG, MADV_FREE); break;
	case OP_REMOVE: r->ret = madvise(r->p + PG, 2 * PG, MADV_REMOVE); break;
	case OP_MUNMAP: r->ret = munmap(r->p, r->len); break;
	case OP_MUNMAP_PART: r->ret = munmap(r->p + PG, 2 * PG); break;
	}
	r->err = errno;
	r->done = 1;
	return NULL;
}

static char *remap_to; /* expected REMAP destination */
static const char *ev(const struct uffd_msg *m, char *base)
{
	static char b[160];
	long long s, e;
	switch (m->event) {
	case UFFD_EVENT_FORK: snprintf(b, sizeof b, "FORK(0x13)\tufd_is_new_fd=%d", m->arg.fork.ufd > 2); break;
	case UFFD_EVENT_REMAP:
		snprintf(b, sizeof b, "REMAP(0x14)\tfrom=+0x%llx\tto_is_q=%d\tlen=0x%llx",
			 (long long)(m->arg.remap.from - (uintptr_t)base), m->arg.remap.to == (uintptr_t)remap_to, (unsigned long long)m->arg.remap.len);
		break;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		s = m->arg.remove.start - (uintptr_t)base, e = m->arg.remove.end - (uintptr_t)base;
		snprintf(b, sizeof b, "%s(0x%x)\tstart=+0x%llx\tend=+0x%llx", m->event == UFFD_EVENT_REMOVE ? "REMOVE" : "UNMAP",
			 m->event, s, e);
		break;
	default: snprintf(b, sizeof b, "%s", msgdesc(m, base));
	}
	return b;
}

/* one event case: features, memory type, operation */
static void one(const char *name, uint64_t features, enum mtype t, enum op op)
{
	struct mem m;
	mem_new(&m, t, 4);
	if (t == ANON_PRIVATE) memset(m.a, 1, 2 * PG); /* pages 0,1 populated, 2,3 missing */
	else mem_cache(&m, 0, 1), mem_cache(&m, 1, 1);
	int fd = uffd_new(features);
	reg(fd, m.a, m.len, MODE_M, NULL);
	struct raiser r = { .op = op, .p = m.a, .len = m.len };
	pipe2(r.pfd, O_NONBLOCK);
	if (op == OP_MREMAP) r.q = remap_to = mmap(NULL, m.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th;
	fflush(stdout);
	pthread_create(&th, NULL, raise_fn, &r);
	usleep(200000);
	int before = r.done;
	struct uffd_msg msg;
	int got = get_msg(fd, 300, &msg);
	usleep(50000);
	char it[160];
	snprintf(it, sizeof it, "%s", name);
	out(it, mt_name[t], "%s\t%s\traiser_returned_before_read=%s\tret=%s", got == 1 ? "event" : "no event",
	    got == 1 ? ev(&msg, m.a) : "-", before ? "yes" : "no", r.ret == -1 ? en(r.err) : "OK");
	/* anything else queued? */
	struct uffd_msg msg2;
	int more = get_msg(fd, 100, &msg2);
	if (more == 1) out(it, mt_name[t], "second message\t%s", ev(&msg2, m.a));
	pthread_join(th, NULL);
	if (op == OP_FORK) {
		int cfd = got == 1 && msg.event == UFFD_EVENT_FORK ? (int)msg.arg.fork.ufd : -1;
		/* the child's registration: it reads page 2 (missing) */
		struct uffd_msg cm;
		int cg = cfd >= 0 ? get_msg(cfd, 300, &cm) : 0;
		char buf[128] = { 0 };
		usleep(cg == 1 ? 0 : 200000);
		int n = read(r.pfd[0], buf, sizeof buf - 1);
		snprintf(it, sizeof it, "%s: child read of missing page 2", name);
		out(it, mt_name[t], "%s\t%s", cg == 1 ? "event on child uffd" : "no event on child uffd",
		    n > 0 ? buf : "child blocked");
		if (cg == 1) {
			out(it, mt_name[t], "child msg\t%s", msgdesc(&cm, m.a));
			char path[64], info[512] = { 0 };
			snprintf(path, sizeof path, "/proc/self/fdinfo/%d", cfd);
			int f = open(path, O_RDONLY);
			read(f, info, sizeof info - 1);
			close(f);
			char *api = strstr(info, "API:");
			if (api) api[strcspn(api, "\n")] = 0;
			out(it, mt_name[t], "child uffd fdinfo %s", api ? api : "?");
			zeropage(cfd, m.a + 2 * PG, PG, 0, NULL); /* resolves in the child's mm */
		}
		if (cfd >= 0) close(cfd);
		waitpid(r.child, NULL, 0);
	}
	if (op == OP_MREMAP) {
		/* is the moved VMA still registered? a thread reads a missing page at q+2 pages */
		struct toucher t1;
		touch_start(&t1, r.q + 2 * PG, 0);
		int g = get_msg(fd, 200, &msg);
		snprintf(it, sizeof it, "%s: read missing page in moved VMA", name);
		out(it, mt_name[t], "%s\t%s", g == 1 ? "event" : "no event", g == 1 ? msgdesc(&msg, r.q) : "");
		close(fd);
		fd = -1;
		touch_wait(&t1, 500);
		munmap(r.q, m.len);
		m.a = NULL; /* moved */
	}
	if (op == OP_DONTNEED || op == OP_REMOVE || op == OP_FREE) {
		/* still registered after REMOVE: touch page 1 again */
		struct toucher t1;
		touch_start(&t1, m.a + PG, 0);
		int g = get_msg(fd, 200, &msg);
		snprintf(it, sizeof it, "%s: read of the removed page 1 afterwards", name);
		out(it, mt_name[t], "%s\t%s", g == 1 ? "event" : "no event", g == 1 ? msgdesc(&msg, m.a) : "");
		close(fd);
		fd = -1;
		touch_wait(&t1, 500);
	}
	if (fd >= 0) close(fd); /* before our own munmaps: with EVENT_UNMAP they would block on an unread event */
	fd = -1;
	if (op == OP_MUNMAP) m.a = NULL;
	if (op == OP_MUNMAP_PART) {
		munmap(m.a, PG);
		munmap(m.a + 3 * PG, PG);
		m.a = NULL;
	}
	if (op == OP_MREMAP_SHRINK) {
		munmap(m.a, m.len / 2);
		m.a = NULL;
	}
	if (fd >= 0) close(fd);
	close(r.pfd[0]);
	close(r.pfd[1]);
	mem_free(&m);
}

int main(void)
{
	header("uffd_events");
	install_handlers();
	one("EVENT_FORK: fork()", UFFD_FEATURE_EVENT_FORK, ANON_PRIVATE, OP_FORK);
	one("no EVENT_FORK: fork()", 0, ANON_PRIVATE, OP_FORK);
	one("EVENT_FORK: fork() (shmem shared)", UFFD_FEATURE_EVENT_FORK, SHMEM_SHARED, OP_FORK);
	one("EVENT_REMAP: mremap move 4 pages", UFFD_FEATURE_EVENT_REMAP, ANON_PRIVATE, OP_MREMAP);
	one("no EVENT_REMAP: mremap move 4 pages", 0, ANON_PRIVATE, OP_MREMAP);
	one("EVENT_REMAP: mremap shrink 4->2 pages in place", UFFD_FEATURE_EVENT_REMAP, ANON_PRIVATE, OP_MREMAP_SHRINK);
	one("EVENT_REMAP|EVENT_UNMAP: mremap shrink 4->2 pages", UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_UNMAP,
	    ANON_PRIVATE, OP_MREMAP_SHRINK);
	one("EVENT_REMOVE: MADV_DONTNEED pages 1-2", UFFD_FEATURE_EVENT_REMOVE, ANON_PRIVATE, OP_DONTNEED);
	one("no EVENT_REMOVE: MADV_DONTNEED pages 1-2", 0, ANON_PRIVATE, OP_DONTNEED);
	one("EVENT_REMOVE: MADV_FREE pages 1-2", UFFD_FEATURE_EVENT_REMOVE, ANON_PRIVATE, OP_FREE);
	one("EVENT_REMOVE: MADV_REMOVE pages 1-2", UFFD_FEATURE_EVENT_REMOVE, SHMEM_SHARED, OP_REMOVE);
	one("EVENT_REMOVE: MADV_DONTNEED pages 1-2", UFFD_FEATURE_EVENT_REMOVE, SHMEM_SHARED, OP_DONTNEED);
	one("EVENT_UNMAP: munmap all 4 pages", UFFD_FEATURE_EVENT_UNMAP, ANON_PRIVATE, OP_MUNMAP);
	one("EVENT_UNMAP: munmap pages 1-2", UFFD_FEATURE_EVENT_UNMAP, ANON_PRIVATE, OP_MUNMAP_PART);
	one("no EVENT_UNMAP: munmap all 4 pages", 0, ANON_PRIVATE, OP_MUNMAP);
	printf("# done\n");
	return 0;
}
