/*
 * uffd_api.c - the userfaultfd(2) syscall, /dev/userfaultfd, the UFFDIO_API handshake, the state
 * machine before API, read()/poll() edges and fdinfo (spec userfaultfd.md §1.3, §2.3, §3.1-3.5;
 * scenarios 1-6, 35, 37). Run through ./run.sh uffd_api (root; it toggles
 * vm.unprivileged_userfaultfd, which run.sh saves and restores).
 */
#include "uffd_common.h"
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void set_unpriv(int v)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "w");
	fprintf(f, "%d\n", v);
	fclose(f);
}

static void api_line(const char *item, int rc, int e, struct uffdio_api *a)
{
	out(item, "-", "%s\tapi=0x%llx\tfeatures=0x%llx\tioctls=0x%llx", rc ? en(e) : "OK", (unsigned long long)a->api,
	    (unsigned long long)a->features, (unsigned long long)a->ioctls);
}

/* print /proc/self/fdinfo/fd verbatim, one out() line per fdinfo line */
static void fdinfo(const char *item, int fd)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		for (char *p = line; *p; p++)
			if (*p == '\t') *p = ' '; /* keep our TAB columns: kernel TAB shown as "\t" */
		out(item, "-", "%s", line);
	}
	if (f) fclose(f);
}
/* same but keep the exact bytes as a C-escaped string */
static void fdinfo_raw(const char *item, int fd)
{
	char path[64], buf[1024], esc[2048];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY);
	int n = read(f, buf, sizeof buf - 1);
	close(f);
	int j = 0;
	for (int i = 0; i < n; i++) {
		if (buf[i] == '\t') { esc[j++] = '\\'; esc[j++] = 't'; }
		else if (buf[i] == '\n') { esc[j++] = '\\'; esc[j++] = 'n'; }
		else esc[j++] = buf[i];
	}
	esc[j] = 0;
	out(item, "-", "OK\traw=\"%s\"", esc);
}

/* run fn in a child as uid/gid 65534 (no capabilities) */
static void as_nobody(void (*fn)(void))
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_KEEPCAPS, 0);
		if (setgid(65534) || setuid(65534)) { perror("setuid"); _exit(1); }
		fn();
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, NULL, 0);
}

static void unpriv_sysctl0(void)
{
	/* scenario 6: sysctl 0, unprivileged caller */
	int fd = uffd_raw(0);
	out("s6 nobody sysctl=0 userfaultfd(0)", "-", "%s", fd >= 0 ? "OK" : en(errno));
	fd = uffd_raw(UFFD_USER_MODE_ONLY);
	out("s6 nobody sysctl=0 userfaultfd(UFFD_USER_MODE_ONLY)", "-", "%s", fd >= 0 ? "OK" : en(errno));
	if (fd >= 0) {
		int rc = uffd_api(fd, 0);
		out("s6 nobody UMO fd: UFFDIO_API(0)", "-", "%s", RES(rc));
		close(fd);
	}
	fd = uffd_raw(0x2 | UFFD_USER_MODE_ONLY);
	out("s6 nobody sysctl=0 userfaultfd(0x2|UFFD_USER_MODE_ONLY)", "-", "%s", fd >= 0 ? "OK" : en(errno));
	fd = uffd_raw(0x2);
	out("s6 nobody sysctl=0 userfaultfd(0x2) (bad flag, no UMO)", "-", "%s", fd >= 0 ? "OK" : en(errno));
	fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	out("nobody open /dev/userfaultfd", "-", "%s", fd >= 0 ? "OK" : en(errno));
}
static int devfd_inherited = -1;
static void unpriv_devfd(void)
{
	/* a /dev/userfaultfd fd opened by root, used by nobody with sysctl 0 */
	int fd = ioctl(devfd_inherited, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	out("nobody sysctl=0 USERFAULTFD_IOC_NEW(0) on root-opened /dev/userfaultfd", "-", "%s", fd >= 0 ? "OK" : en(errno));
	if (fd >= 0) {
		int rc = uffd_api(fd, UFFD_FEATURE_EVENT_FORK);
		out("nobody IOC_NEW fd: UFFDIO_API(EVENT_FORK)", "-", "%s", RES(rc));
		rc = uffd_api(fd, 0);
		out("nobody IOC_NEW fd: UFFDIO_API(0)", "-", "%s", RES(rc));
	}
}
static void unpriv_sysctl1(void)
{
	int fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	out("nobody sysctl=1 userfaultfd(0)", "-", "%s", fd >= 0 ? "OK" : en(errno));
	/* scenario 4: features requested without privilege, one bit at a time */
	for (int b = 0; b <= 16; b++) {
		int f2 = uffd_raw(O_CLOEXEC | O_NONBLOCK);
		struct uffdio_api a = { .api = UFFD_API, .features = 1ULL << b, .ioctls = 0x1111 };
		int rc = ioctl(f2, UFFDIO_API, &a);
		char item[64];
		snprintf(item, sizeof item, "s4 nobody sysctl=1 API features=1<<%d", b);
		api_line(item, rc, errno, &a);
		close(f2);
	}
	close(fd);
}

int main(void)
{
	header("uffd_api");
	struct uffdio_api a;
	int fd, rc;
	struct stat st;

	/* /dev/userfaultfd mode (the device file) */
	if (stat("/dev/userfaultfd", &st) == 0)
		out("dev ls", "-", "mode=0%o\tuid=%d\tgid=%d\tchar=%d:%d", st.st_mode & 07777, st.st_uid, st.st_gid,
		    major(st.st_rdev), minor(st.st_rdev));

	/* scenario 1: API reply, then a second API on a struct filled with a pattern */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	a = (struct uffdio_api){ UFFD_API, 0, 0 };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s1 API(features=0)", rc, errno, &a);
	a = (struct uffdio_api){ UFFD_API, 0, 0x1234567812345678ULL };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s1 second API(features=0) (ioctls prefilled 0x1234567812345678)", rc, errno, &a);
	a = (struct uffdio_api){ 0xAB, 0x77, 0x1234567812345678ULL };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s1 second API(api=0xAB,features=0x77) (after a good API)", rc, errno, &a);
	close(fd);
	/* reply when some features are requested: the whole supported set or only the request? */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	a = (struct uffdio_api){ UFFD_API, UFFD_FEATURE_THREAD_ID, 0 };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s1 API(features=THREAD_ID)", rc, errno, &a);
	close(fd);

	/* scenario 2: bad api value, struct zeroed? then a good API on the same fd */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	a = (struct uffdio_api){ 0xAB, 0x5, 0x1234567812345678ULL };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s2 API(api=0xAB,features=0x5) (ioctls prefilled)", rc, errno, &a);
	a = (struct uffdio_api){ UFFD_API, 0, 0 };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("s2 then API(0xAA) on the same fd", rc, errno, &a);
	close(fd);

	/* scenario 3: feature bits 17, 11, 63 */
	static const int bits[] = { 17, 11, 63 };
	for (int i = 0; i < 3; i++) {
		char item[64];
		fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
		a = (struct uffdio_api){ UFFD_API, 1ULL << bits[i], 0x1234567812345678ULL };
		rc = ioctl(fd, UFFDIO_API, &a);
		snprintf(item, sizeof item, "s3 API(features=1<<%d)", bits[i]);
		api_line(item, rc, errno, &a);
		close(fd);
	}
	/* each feature alone (root) */
	for (int b = 0; b <= 16; b++) {
		char item[64];
		fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
		a = (struct uffdio_api){ UFFD_API, 1ULL << b, 0 };
		rc = ioctl(fd, UFFDIO_API, &a);
		snprintf(item, sizeof item, "root API(features=1<<%d)", b);
		out(item, "-", "%s", rc ? en(errno) : "OK");
		close(fd);
	}
	/* everything at once */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	a = (struct uffdio_api){ UFFD_API, 0x1ffff, 0 };
	rc = ioctl(fd, UFFDIO_API, &a);
	api_line("root API(features=0x1ffff)", rc, errno, &a);
	close(fd);

	/* syscall flag checks as root (spec §3.1 step 2) */
	static const struct { int f; const char *n; } fl[] = {
		{ 0, "0" }, { 0x2, "0x2" }, { O_RDWR, "O_RDWR" }, { 0x10, "0x10" },
		{ O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, "O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY" },
		{ O_CLOEXEC, "O_CLOEXEC" }, { O_NONBLOCK, "O_NONBLOCK" }, { UFFD_USER_MODE_ONLY, "UFFD_USER_MODE_ONLY" },
	};
	for (unsigned i = 0; i < sizeof fl / sizeof fl[0]; i++) {
		char item[96];
		fd = uffd_raw(fl[i].f);
		snprintf(item, sizeof item, "root userfaultfd(%s)", fl[i].n);
		if (fd >= 0) {
			int ff = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
			out(item, "-", "OK\tF_GETFL=0x%x\tFD_CLOEXEC=%d", ff, fdf & FD_CLOEXEC);
			close(fd);
		} else
			out(item, "-", "%s", en(errno));
	}

	/* /dev/userfaultfd as root */
	int dfd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	out("root open /dev/userfaultfd O_RDWR", "-", "%s", dfd >= 0 ? "OK" : en(errno));
	{
		int r2 = open("/dev/userfaultfd", O_RDONLY);
		out("root open /dev/userfaultfd O_RDONLY", "-", "%s", r2 >= 0 ? "OK" : en(errno));
		if (r2 >= 0) {
			int n = ioctl(r2, USERFAULTFD_IOC_NEW, 0);
			out("root IOC_NEW(0) on O_RDONLY dev fd", "-", "%s", n >= 0 ? "OK" : en(errno));
			if (n >= 0) close(n);
			close(r2);
		}
	}
	static const struct { long f; const char *n; } dfl[] = {
		{ O_CLOEXEC | O_NONBLOCK, "O_CLOEXEC|O_NONBLOCK" }, { 0, "0" }, { UFFD_USER_MODE_ONLY, "UFFD_USER_MODE_ONLY" },
		{ 0x2, "0x2" }, { O_RDWR, "O_RDWR" },
	};
	for (unsigned i = 0; i < sizeof dfl / sizeof dfl[0]; i++) {
		char item[96];
		int n = ioctl(dfd, USERFAULTFD_IOC_NEW, dfl[i].f);
		snprintf(item, sizeof item, "root USERFAULTFD_IOC_NEW(%s)", dfl[i].n);
		if (n >= 0) {
			a = (struct uffdio_api){ UFFD_API, 0, 0 };
			rc = ioctl(n, UFFDIO_API, &a);
			out(item, "-", "OK\tF_GETFL=0x%x\tFD_CLOEXEC=%d\tAPI=%s\tfeatures=0x%llx", fcntl(n, F_GETFL),
			    fcntl(n, F_GETFD) & FD_CLOEXEC, rc ? en(errno) : "OK", (unsigned long long)a.features);
			close(n);
		} else
			out(item, "-", "%s", en(errno));
	}
	rc = ioctl(dfd, UFFDIO_API, &a);
	out("root UFFDIO_API on the /dev/userfaultfd fd itself", "-", "%s", RES(rc));
	rc = ioctl(dfd, _IO(0xAA, 0x01), 0);
	out("root ioctl _IO(0xAA,1) on /dev/userfaultfd fd", "-", "%s", RES(rc));

	/* unprivileged (scenario 4, 6): sysctl 0 then 1 */
	set_unpriv(0);
	as_nobody(unpriv_sysctl0);
	devfd_inherited = dfd;
	as_nobody(unpriv_devfd);
	set_unpriv(1);
	as_nobody(unpriv_sysctl1);
	set_unpriv(0);
	close(dfd);

	/* scenario 5: everything before API */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	{
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t io = 0x1234;
		int64_t o;
		rc = reg(fd, p, 4 * PG, MODE_M, &io);
		out("s5 before API: REGISTER", "-", "%s\tioctls=0x%llx", RES(rc), (unsigned long long)io);
		rc = unreg(fd, p, 4 * PG);
		out("s5 before API: UNREGISTER", "-", "%s", RES(rc));
		rc = wake(fd, p, 4 * PG);
		out("s5 before API: WAKE", "-", "%s", RES(rc));
		rc = copy(fd, p, srcbuf, PG, 0, &o);
		out("s5 before API: COPY", "-", "%s\tcopy=%s", RES(rc), ofs(o));
		rc = zeropage(fd, p, PG, 0, &o);
		out("s5 before API: ZEROPAGE", "-", "%s\tzeropage=%s", RES(rc), ofs(o));
		rc = cont(fd, p, PG, 0, &o);
		out("s5 before API: CONTINUE", "-", "%s\tmapped=%s", RES(rc), ofs(o));
		rc = wprot(fd, p, PG, 0);
		out("s5 before API: WRITEPROTECT", "-", "%s", RES(rc));
		rc = ioctl(fd, _IOWR(0xAA, 0x09, struct uffdio_range), &(struct uffdio_range){ 0, 0 });
		out("s5 before API: unknown ioctl _IOWR(0xAA,0x09,16)", "-", "%s", RES(rc));
		char buf[64];
		ssize_t n = read(fd, buf, 32);
		out("s5 before API: read(32)", "-", "%s", n >= 0 ? "OK" : en(errno));
		struct pollfd pf = { fd, POLLIN, 0 };
		int pr = poll(&pf, 1, 0);
		out("s5 before API: poll (O_NONBLOCK fd)", "-", "ret=%d\trevents=0x%x", pr, pf.revents);
		munmap(p, 4 * PG);
	}
	close(fd);
	fd = uffd_raw(O_CLOEXEC);
	{
		struct pollfd pf = { fd, POLLIN, 0 };
		int pr = poll(&pf, 1, 0);
		out("s5 before API: poll (blocking fd)", "-", "ret=%d\trevents=0x%x", pr, pf.revents);
		uffd_api(fd, 0);
		/* scenario 35: poll on a blocking fd after API */
		pf.revents = 0;
		pr = poll(&pf, 1, 0);
		out("s35 after API: poll (blocking fd, empty)", "-", "ret=%d\trevents=0x%x", pr, pf.revents);
		/* with a pending fault */
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		reg(fd, p, 4 * PG, MODE_M, NULL);
		struct toucher th;
		touch_start(&th, p, 0);
		usleep(100000);
		pf.revents = 0;
		pr = poll(&pf, 1, 0);
		out("s35 after API: poll (blocking fd, one fault pending)", "-", "ret=%d\trevents=0x%x", pr, pf.revents);
		struct uffd_msg m;
		ssize_t n = read(fd, &m, sizeof m);
		out("s35 blocking fd: read with a fault pending", "-", "%s\tbytes=%zd", n >= 0 ? "OK" : en(errno), n);
		close(fd);
		touch_wait(&th, 1000);
		munmap(p, 4 * PG);
	}

	/* unknown ioctls after API; read buffer sizes */
	fd = uffd_new(0);
	rc = ioctl(fd, _IOWR(0xAA, 0x09, struct uffdio_range), &(struct uffdio_range){ 0, 0 });
	out("after API: unknown ioctl _IOWR(0xAA,0x09,16)", "-", "%s", RES(rc));
	rc = ioctl(fd, _IOWR(0xAB, 0x00, struct uffdio_register), &(struct uffdio_register){ 0 });
	out("after API: ioctl type 0xAB nr 0", "-", "%s", RES(rc));
	{
		int v;
		rc = ioctl(fd, FIONREAD, &v);
		out("after API: FIONREAD", "-", "%s", RES(rc));
		char buf[64];
		ssize_t n = read(fd, buf, 16);
		out("after API: read(16), queue empty", "-", "%s\tbytes=%zd", n >= 0 ? "OK" : en(errno), n);
		n = read(fd, buf, 32);
		out("after API: read(32), queue empty, O_NONBLOCK", "-", "%s\tbytes=%zd", n >= 0 ? "OK" : en(errno), n);
		n = write(fd, buf, 32);
		out("after API: write(32)", "-", "%s", n >= 0 ? "OK" : en(errno));
		/* read(16) with a message queued */
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		reg(fd, p, 4 * PG, MODE_M, NULL);
		struct toucher th;
		touch_start(&th, p, 0);
		usleep(100000);
		n = read(fd, buf, 16);
		out("after API: read(16), one fault queued", "-", "%s\tbytes=%zd", n >= 0 ? "OK" : en(errno), n);
		n = read(fd, buf, 40);
		out("after API: read(40), one fault queued", "-", "%s\tbytes=%zd", n >= 0 ? "OK" : en(errno), n);
		close(fd);
		touch_wait(&th, 1000);
		munmap(p, 4 * PG);
	}

	/* scenario 37: fdinfo */
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	fdinfo_raw("s37 fdinfo before API", fd);
	uffd_api(fd, UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_EVENT_REMAP);
	fdinfo_raw("s37 fdinfo after API(THREAD_ID|EVENT_REMAP=0x104)", fd);
	{
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		reg(fd, p, 4 * PG, MODE_M, NULL);
		struct toucher t1, t2;
		struct uffd_msg m;
		touch_start(&t1, p, 0);
		get_msg(fd, 500, &m); /* t1's fault: read, not woken */
		touch_start(&t2, p + PG, 1);
		usleep(100000); /* t2's fault: unread */
		fdinfo_raw("s37 fdinfo one unread + one read-unwoken fault", fd);
		fdinfo("s37 fdinfo lines", fd);
		close(fd);
		touch_wait(&t1, 1000);
		touch_wait(&t2, 1000);
		munmap(p, 4 * PG);
	}
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	uffd_api(fd, UFFD_FEATURE_WP_ASYNC);
	fdinfo_raw("fdinfo after API(WP_ASYNC=0x8000)", fd);
	close(fd);
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK);
	uffd_api(fd, 0x1ffff);
	fdinfo_raw("fdinfo after API(0x1ffff)", fd);
	close(fd);
	fd = uffd_raw(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	uffd_api(fd, 0);
	fdinfo_raw("fdinfo UFFD_USER_MODE_ONLY fd after API(0)", fd);
	close(fd);
	{
		char lnk[256] = { 0 }, path[64];
		fd = uffd_new(0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		readlink(path, lnk, sizeof lnk - 1);
		out("fd link", "-", "%s", lnk);
		close(fd);
	}
	printf("# done\n");
	return 0;
}
