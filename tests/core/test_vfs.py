"""The file namespace (memsim.vfs, memsim.pseudofs): path walk, directories, mounts, open files,
procfs/sysfs and sysctls, each failure with the kernel's errno.

The expected errnos were probed as root on the live 6.18.44 kernel of this project's VM
(``/tmp/vfsprobe/probe*.py``: os.mkdir/os.rmdir/os.open/os.write on /proc and /sys, and the
mount(2)/umount2(2) calls on tmpfs, proc and sysfs inside ``unshare -m``); each table row below
names the probe it repeats.  Where the probe used tmpfs (not modelled yet), rootfs stands in: both
are the kernel's simple_* directory operations.
"""
import pytest

from memsim.errors import PluginError
from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.pseudofs import KernfsSyscallOps, PseudoFs, proc_dointvec_minmax
from memsim.registry import MeminfoLine, ProcFile
from memsim.testing import run_text
from memsim.vfs import (
    FileSystemType, FilesStruct, MntNamespace, SuperBlock, VfsError, mode_string, O_CREAT,
    O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
)

MiB = 1 << 20


@pytest.fixture
def m():
    return Machine(MachineSpec(nodes=(64 * MiB,)))


def errno_of(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except VfsError as e:
        return e.errno
    return "ok"


def write(m, path, data, flags=O_WRONLY):
    file = m.vfs.do_filp_open(path, flags)
    try:
        from memsim.vfs import vfs_write
        return vfs_write(file, data)
    finally:
        from memsim.vfs import fput
        fput(file)


# -- the tree at boot ---------------------------------------------------------------------------

def test_boot_mounts_rootfs_proc_and_sysfs_with_the_kernels_modes(m):
    modes = {path: mode_string(inode.i_mode) for path, inode in m.vfs.iterate("/")}
    assert modes["/"] == "drwxr-xr-x"
    assert modes["/proc"] == "dr-xr-xr-x"          # stat /proc on 6.18: 555
    assert modes["/sys"] == "dr-xr-xr-x"           # 555
    assert modes["/tmp"] == "drwxrwxrwt"
    assert modes["/proc/meminfo"] == "-r--r--r--"
    assert modes["/proc/sys/vm"] == "dr-xr-xr-x"
    assert modes["/proc/sys/vm/min_free_kbytes"] == "-rw-r--r--"
    assert modes["/proc/sys/vm/stat_refresh"] == "-rw-------"
    assert modes["/sys/devices/system/node/node0"] == "drwxr-xr-x"
    assert modes["/sys/devices/system/node/node0/meminfo"] == "-r--r--r--"
    assert modes["/sys/kernel/debug"] == "drwx------"  # debugfs's root: 700
    assert m.vfs.read_file("/proc/mounts") == (b"rootfs / rootfs rw,relatime 0 0\n"
                                                b"proc /proc proc rw,relatime 0 0\n"
                                                b"sysfs /sys sysfs rw,relatime 0 0\n"
                                                b"debugfs /sys/kernel/debug debugfs rw,relatime 0 0\n")
    assert m.vfs.read_file("/proc/filesystems") == (b"nodev\trootfs\nnodev\tproc\nnodev\tsysfs\n"
                                                    b"nodev\tdebugfs\n")


# -- path walk ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, resolved", [
    ("/", "/"), ("//proc///sys/", "/proc/sys"), ("/proc/./sys/vm/..", "/proc/sys"),
    ("/proc/..", "/"), ("/..", "/"), ("/../../proc", "/proc"), ("/sys/../proc/sys/vm", "/proc/sys/vm"),
    ("proc/sys", "/proc/sys"),                      # relative to the working directory, /
])
def test_path_walk_resolves_dot_dotdot_and_crosses_mounts(m, path, resolved):
    assert m.vfs.d_path(m.vfs.path_lookup(path)) == resolved


@pytest.mark.parametrize("path, errno", [
    ("", "ENOENT"),                                         # probe2: open ''
    ("/proc/nonexist", "ENOENT"),                           # probe: open /proc/nonexist
    ("/proc/meminfo/x", "ENOTDIR"),                         # probe: open /proc/meminfo/x
    ("/proc/meminfo/", "ENOTDIR"),                          # probe2: open file/
    ("/" + "x" * 256, "ENAMETOOLONG"),                      # probe2: open long name
    ("/" + "x/" * 2100, "ENAMETOOLONG"),                    # probe2: open long path
    ("/nonexist/../proc", "ENOENT"),
])
def test_path_walk_errors(m, path, errno):
    assert errno_of(m.vfs.do_filp_open, path) == errno


# -- directories ----------------------------------------------------------------------------------

def test_mkdir_applies_the_umask_and_rmdir_removes(m):
    m.vfs.do_mkdirat("/mnt/a", 0o777)
    m.vfs.do_mkdirat("/mnt/a/b/", 0o700)                    # probe2: mkdir trailing slash ok
    assert mode_string(m.vfs.path_lookup("/mnt/a").dentry.d_inode.i_mode) == "drwxr-xr-x"
    assert mode_string(m.vfs.path_lookup("/mnt/a/b").dentry.d_inode.i_mode) == "drwx------"  # probe2: 0o40700
    assert errno_of(m.vfs.do_rmdir, "/mnt/a") == "ENOTEMPTY"        # probe2: rmdir nonempty
    m.vfs.do_rmdir("/mnt/a/b")
    m.vfs.do_rmdir("/mnt/a")
    assert not m.vfs.exists("/mnt/a")


@pytest.mark.parametrize("call, path, errno", [
    ("mkdir", "/proc/x", "ENOENT"),                 # probe: mkdir /proc/x (proc_lookup fails)
    ("mkdir", "/proc/sys/vm/x", "ENOENT"),          # probe: mkdir /proc/sys/vm/x
    ("mkdir", "/sys/x", "EPERM"),                   # probe: mkdir /sys/x
    ("mkdir", "/sys/devices/system/node/x", "EPERM"),
    ("mkdir", "/proc", "EEXIST"),                   # probe: mkdir /proc (exists)
    ("mkdir", "/proc/meminfo", "EEXIST"),           # probe: mkdir /proc/meminfo (exists file)
    ("mkdir", "/proc/nonexist/x", "ENOENT"),        # probe: mkdir /proc/nonexist/x
    ("mkdir", "/proc/meminfo/x", "ENOTDIR"),        # probe: mkdir /proc/meminfo/x
    ("mkdir", "/", "EEXIST"),                       # probe2: mkdir /
    ("mkdir", "/mnt/..", "EEXIST"),
    ("rmdir", "/proc/sys", "EPERM"),                # probe: rmdir /proc/sys
    ("rmdir", "/proc/sys/vm", "EACCES"),            # probe: rmdir /proc/sys/vm (sysctl_perm)
    ("rmdir", "/proc/meminfo", "ENOTDIR"),          # probe: rmdir /proc/meminfo
    ("rmdir", "/proc/nonexist", "ENOENT"),          # probe: rmdir /proc/nonexist
    ("rmdir", "/sys/devices/system/node/node0", "EPERM"),   # probe
    ("rmdir", "/sys/kernel", "EPERM"),              # probe
    ("rmdir", "/proc", "EBUSY"),                    # probe: rmdir /proc (a mount point)
    ("rmdir", "/sys", "EBUSY"),                     # probe
    ("rmdir", "/", "EBUSY"),                        # probe2: rmdir /
    ("rmdir", "/mnt/.", "EINVAL"),                  # probe2: rmdir .
    ("rmdir", "/mnt/..", "ENOTEMPTY"),              # probe2: rmdir ..
    ("unlink", "/proc/meminfo", "EPERM"),           # probe: unlink /proc/meminfo
    ("unlink", "/proc/sys/vm/min_free_kbytes", "EACCES"),   # probe3
    ("unlink", "/sys/devices/system/node/online", "EPERM"),  # probe3
    ("unlink", "/sys/kernel/mm", "EISDIR"),         # probe3
])
def test_directory_calls_fail_as_the_kernel_does(m, call, path, errno):
    fn = {"mkdir": m.vfs.do_mkdirat, "rmdir": m.vfs.do_rmdir, "unlink": m.vfs.do_unlinkat}[call]
    assert errno_of(fn, path) == errno


def test_rmdir_of_a_file_in_rootfs_space_and_under_a_file(m):
    assert errno_of(m.vfs.do_mkdirat, "/proc/meminfo/x") == "ENOTDIR"
    assert errno_of(m.vfs.do_rmdir, "/proc/meminfo/") == "ENOTDIR"   # probe2: rmdir f/


# -- open, read, write ----------------------------------------------------------------------------

@pytest.mark.parametrize("path, flags, errno", [
    ("/proc", O_WRONLY, "EISDIR"),                                  # probe: open /proc O_WRONLY
    ("/proc/sys", O_RDWR, "EISDIR"),                                # probe
    ("/proc/x", O_WRONLY | O_CREAT | O_TRUNC, "ENOENT"),            # probe3: creat /proc/x
    ("/proc/sys/vm/x", O_WRONLY | O_CREAT | O_TRUNC, "ENOENT"),     # probe3
    ("/sys/x", O_WRONLY | O_CREAT | O_TRUNC, "EACCES"),             # probe3: creat /sys/x
    ("/sys/kernel/mm/x", O_WRONLY | O_CREAT | O_TRUNC, "EACCES"),   # probe3
    ("/proc/meminfo", O_WRONLY | O_CREAT | O_EXCL, "EEXIST"),       # probe3: O_EXCL
    ("/proc/meminfo", O_RDONLY | O_DIRECTORY, "ENOTDIR"),           # probe3: O_DIRECTORY
    ("/sys/devices/system/node/online", O_RDWR, "EACCES"),          # probe3: kernfs open
    ("/sys/devices/system/node/node0/meminfo", O_WRONLY, "EACCES"),  # probe: open:EACCES
    ("/proc/sys", O_WRONLY | O_CREAT | O_TRUNC, "EISDIR"),          # probe3: creat on dir
    ("/sys/kernel", O_WRONLY | O_CREAT | O_TRUNC, "EISDIR"),        # probe3
    ("/mnt/x", O_WRONLY | O_CREAT, "EACCES"),       # rootfs holds directories only
])
def test_open_fails_as_the_kernel_does(m, path, flags, errno):
    assert errno_of(m.vfs.do_filp_open, path, flags) == errno


def test_proc_files_without_a_write_open_and_then_fail_with_eio(m):
    # probe: write /proc/meminfo -> write:EIO (the open succeeds, even with O_CREAT|O_TRUNC)
    assert errno_of(write, m, "/proc/meminfo", b"1") == "EIO"
    assert errno_of(write, m, "/proc/vmstat", b"1", O_WRONLY | O_CREAT | O_TRUNC) == "EIO"


def test_read_of_a_directory_is_eisdir_and_bad_fds_are_ebadf(m):
    files = FilesStruct()
    fd = m.vfs.open(files, "/proc/sys")
    assert errno_of(files.read, fd, 10) == "EISDIR"                  # probe: read dir fd
    files.close_fd(fd)
    fd = m.vfs.open(files, "/proc/sys/vm/min_free_kbytes", O_RDONLY)
    assert errno_of(files.write, fd, b"1") == "EBADF"                # probe3
    files.close_fd(fd)
    fd = m.vfs.open(files, "/proc/sys/vm/stat_refresh", O_WRONLY)
    assert errno_of(files.read, fd, 10) == "EBADF"                   # probe3
    files.close_fd(fd)
    assert errno_of(files.close_fd, 12345) == "EBADF"               # probe3: close bad fd


def test_fds_start_after_the_standard_streams_and_reuse_the_lowest(m):
    files = FilesStruct()
    a = m.vfs.open(files, "/proc/meminfo")
    b = m.vfs.open(files, "/proc/vmstat")
    assert (a, b) == (3, 4)
    files.close_fd(a)
    assert m.vfs.open(files, "/proc/mounts") == 3


def test_sysctl_reads_only_from_position_zero(m):
    # probe3: reading min_free_kbytes 2 bytes at a time gives one chunk, then end of file
    files = FilesStruct()
    fd = m.vfs.open(files, "/proc/sys/vm/min_free_kbytes")
    assert files.read(fd, 2) == str(m.physmem.min_free_kbytes).encode()[:2]
    assert files.read(fd, 2) == b""
    files.close_fd(fd)


def test_seq_files_read_in_chunks_give_the_whole_text(m):
    files = FilesStruct()
    fd = m.vfs.open(files, "/proc/vmstat")
    chunks = []
    while True:
        data = files.read(fd, 7)
        if not data:
            break
        chunks.append(data)
    files.close_fd(fd)
    assert b"".join(chunks) == m.vfs.read_file("/proc/vmstat")


def test_sysctl_permissions_hold_for_root(m):
    # probe: read /proc/sys/vm/drop_caches (0200, the core's: memsim.drop_caches) -> EACCES;
    # stat_refresh (0600) reads empty
    assert errno_of(m.vfs.read_file, "/proc/sys/vm/drop_caches") == "EACCES"
    assert m.vfs.read_file("/proc/sys/vm/stat_refresh") == b""
    m.procfs.create_file("sys/vm/ro_knob", show=lambda p: "1\n")
    assert errno_of(m.vfs.write_file, "/proc/sys/vm/ro_knob", b"2") == "EACCES"


# -- sysctl parsing ---------------------------------------------------------------------------------

MIN_FREE_PROBES = [       # probe.py: writes to /proc/sys/vm/min_free_kbytes on 6.18 (value 67584)
    (b"garbage", "EINVAL"), (b"\n", "EINVAL"), (b"-1", "EINVAL"), (b"12abc", "EINVAL"),
    (b"1.5", "EINVAL"), (b" ", "EINVAL"), (b"99999999999999999999", "EINVAL"),
    (b"2147483648", "EINVAL"), (b"+67584", "EINVAL"), (b"67584x", "EINVAL"), (b"067584", "EINVAL"),
    (b"0o17", "EINVAL"), (b"0x10800", 7), (b" 67584", 6), (b"67584 ", 6), (b"67584\n", 6),
    (b"67584\n\n", 7), (b"67584 5", 6), (b"67584\t", 6), (b"\t67584", 6),
]


@pytest.mark.parametrize("data, result", MIN_FREE_PROBES)
def test_min_free_kbytes_parses_as_proc_dointvec_minmax(data, result):
    try:
        value, took = proc_dointvec_minmax(data, minimum=0)
    except VfsError as e:
        assert e.errno == result
        return
    assert (value, took) == (67584, result)


def test_an_empty_write_changes_nothing(m):
    before = m.physmem.min_free_kbytes
    assert m.vfs.write_file("/proc/sys/vm/min_free_kbytes", b"") == 0     # probe: '' -> ok 0
    assert m.physmem.min_free_kbytes == before


def test_writing_min_free_kbytes_recomputes_the_watermarks(m):
    zones = {z["zone"]: z for z in m.physmem.zones_info()}
    before = (zones["DMA32"]["min"], zones["DMA32"]["low"], zones["DMA32"]["high"])
    old = m.physmem.min_free_kbytes
    assert errno_of(m.vfs.write_file, "/proc/sys/vm/min_free_kbytes", b"lots") == "EINVAL"
    assert m.physmem.min_free_kbytes == old
    m.vfs.write_file("/proc/sys/vm/min_free_kbytes", b"%d\n" % (old * 4))
    assert m.vfs.read_file("/proc/sys/vm/min_free_kbytes") == b"%d\n" % (old * 4)
    zones = {z["zone"]: z for z in m.physmem.zones_info()}
    after = (zones["DMA32"]["min"], zones["DMA32"]["low"], zones["DMA32"]["high"])
    assert after[0] > before[0] and after[1] > before[1] and after[2] > before[2]
    # __setup_per_zone_wmarks(): the zones share min_free_kbytes / 4 pages by size
    total = sum(z["managed"] for z in zones.values())
    assert after[0] == (old * 4 >> 2) * zones["DMA32"]["managed"] // total


# -- mount, umount ------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, fstype, options, errno", [
    ("/mnt", "nosuchfs", "", "ENODEV"),             # probe2: mount nosuchfs
    ("/mnt", "", "", "EINVAL"),                     # probe2: mount empty type
    ("/mnt/missing", "rootfs", "", "ENOENT"),       # probe2: mount on missing dir
    ("/mnt/missing/x", "rootfs", "", "ENOENT"),     # probe2
    ("/proc/meminfo", "rootfs", "", "ENOTDIR"),     # probe2: mount tmpfs on file
    ("/mnt", "rootfs", "foo=1", "EINVAL"),          # probe2: mount tmpfs foo=1
    ("/mnt", "proc", "bogus", "EINVAL"),            # probe2: mount proc bogus opt
    ("/mnt", "sysfs", "bogus", "EINVAL"),           # probe2: mount sysfs bogus opt
])
def test_mount_fails_as_the_kernel_does(m, target, fstype, options, errno):
    assert errno_of(m.vfs.do_mount, "none", target, fstype, options) == errno


def test_unknown_filesystem_type_suggests_the_closest(m):
    with pytest.raises(VfsError) as e:
        m.vfs.do_mount("none", "/mnt", "sysf")
    assert e.value.errno == "ENODEV" and "did you mean 'sysfs'" in e.value.detail


def test_every_proc_mount_shows_the_same_tree_and_mounts_stack(m):
    m.vfs.do_mkdirat("/mnt/p")
    m.vfs.do_mount("proc", "/mnt/p", "proc")                        # probe2: mount proc
    m.vfs.do_mount("proc", "/mnt/p", "proc", "hidepid=2")           # probe2: again, same place
    assert m.vfs.read_file("/mnt/p/sys/vm/min_free_kbytes") == m.vfs.read_file("/proc/sys/vm/min_free_kbytes")
    assert m.vfs.d_path(m.vfs.path_lookup("/mnt/p/sys/..")) == "/mnt/p"
    assert b"proc /mnt/p proc rw,relatime,hidepid=2 0 0\n" in m.vfs.read_file("/proc/mounts")
    assert errno_of(m.vfs.do_rmdir, "/mnt/p") == "EBUSY"            # probe2: rmdir mountpoint
    m.vfs.do_umount("/mnt/p")                                       # probe2: umount top
    m.vfs.do_umount("/mnt/p")                                       # probe2: umount again
    assert errno_of(m.vfs.do_umount, "/mnt/p") == "EINVAL"          # probe2: not mounted
    m.vfs.do_rmdir("/mnt/p")


@pytest.mark.parametrize("path, errno", [
    ("/mnt/missing", "ENOENT"),                     # probe2: umount missing
    ("/proc/meminfo", "EINVAL"),                    # probe2: umount file
    ("/proc/sys", "EINVAL"),                        # not the root of a mount
    ("/", "EBUSY"),
])
def test_umount_errors(m, path, errno):
    assert errno_of(m.vfs.do_umount, path) == errno


def test_umount_is_busy_while_a_file_is_open_or_something_is_mounted_below(m):
    m.vfs.do_mkdirat("/mnt/s")
    m.vfs.do_mount("sysfs", "/mnt/s", "sysfs")
    files = FilesStruct()
    fd = m.vfs.open(files, "/mnt/s/kernel")                         # probe2: open dir fd
    assert errno_of(m.vfs.do_umount, "/mnt/s") == "EBUSY"
    files.close_fd(fd)
    m.vfs.do_umount("/mnt/s")                                       # probe2: after close
    m.vfs.do_mount("none", "/mnt/s", "rootfs")
    m.vfs.do_mkdirat("/mnt/s/sub")
    m.vfs.do_mount("none", "/mnt/s/sub", "rootfs")
    assert errno_of(m.vfs.do_umount, "/mnt/s") == "EBUSY"           # probe2: parent with submount
    m.vfs.do_umount("/mnt/s/sub")
    m.vfs.do_umount("/mnt/s")


def test_a_read_only_mount_refuses_changes_with_erofs(m):
    m.vfs.do_mount("none", "/mnt", "rootfs", "ro")
    assert errno_of(m.vfs.do_mkdirat, "/mnt/x") == "EROFS"
    m.vfs.do_umount("/mnt")
    m.vfs.do_mount("proc", "/mnt", "proc", "ro")
    assert errno_of(m.vfs.write_file, "/mnt/sys/vm/min_free_kbytes", b"1") == "EROFS"
    assert m.vfs.read_file("/mnt/sys/vm/min_free_kbytes")


def test_rootfs_mounts_are_separate_trees(m):
    m.vfs.do_mkdirat("/mnt/a")
    m.vfs.do_mount("none", "/mnt/a", "rootfs", "mode=0700")
    m.vfs.do_mkdirat("/mnt/a/inside")
    assert mode_string(m.vfs.path_lookup("/mnt/a").dentry.d_inode.i_mode) == "drwx------"
    m.vfs.do_umount("/mnt/a")
    assert not m.vfs.exists("/mnt/a/inside")


def test_kern_mount_stays_outside_the_tree(m):
    mnt = m.vfs.kern_mount("rootfs")
    assert mnt not in m.vfs.mounts() and mnt.mnt_parent is None


# -- fd tables and tasks ------------------------------------------------------------------------------

def test_fork_copies_the_fd_table_and_the_last_close_releases(m):
    parent = m.spawn("p")
    fd = m.vfs.open(parent.files, "/proc/meminfo")
    file = parent.files.fget(fd)
    child = m.fork(parent, "c")
    assert child.files is not parent.files and child.files.fget(fd) is file
    assert file.f_count == 2
    mnt = file.f_path.mnt
    assert mnt.mnt_count == 1
    m.exit_task(parent)
    assert parent.files is None and file.f_count == 1 and mnt.mnt_count == 1
    m.exit_task(child)
    assert file.f_count == 0 and mnt.mnt_count == 0


def test_threads_share_the_table_until_the_last_put(m):
    t = m.spawn("t")
    thread = m.clone_thread(t, "w")          # CLONE_FILES: one table, count 2
    assert thread.files is t.files and t.files.count == 2
    fd = m.vfs.open(thread.files, "/proc/vmstat")
    file = t.files.fget(fd)                  # the process sees the thread's fd
    m.exit_task(thread)
    assert thread.files is None and t.files.count == 1 and file.f_count == 1
    shared = t.files
    m.exit_task(t)
    assert len(shared) == 0 and file.f_count == 0


# -- generated files that come and go -----------------------------------------------------------------

def test_a_removed_file_fails_its_open_descriptions(m):
    m.sysfs.create_file("kernel/mm/knob", show=lambda p: "1\n")
    m.procfs.create_file("knob", show=lambda p: "1\n")
    files = FilesStruct()
    kfd = m.vfs.open(files, "/sys/kernel/mm/knob")
    pfd = m.vfs.open(files, "/proc/knob")
    m.sysfs.remove("kernel/mm/knob")
    m.procfs.remove("knob")
    assert errno_of(files.read, kfd, 10) == "ENODEV"        # kernfs_fop_read_iter: no active ref
    assert errno_of(files.read, pfd, 10) == "EIO"           # proc_reg_read: use_pde fails
    assert not m.vfs.exists("/sys/kernel/mm/knob")
    assert errno_of(m.sysfs.remove, "kernel/mm/knob") == "ENOENT"


def test_create_file_refuses_a_name_that_exists(m):
    assert errno_of(m.procfs.create_file, "meminfo", show=lambda p: "") == "EEXIST"
    with pytest.raises(ValueError):
        m.procfs.create_file("nothing")


def cgroupish(m):
    """A kernfs tree whose mkdir makes a directory with a file, and whose rmdir refuses a
    directory with children (as cgroupfs does)."""
    fs_type = FileSystemType("testcg", "a test tree", lambda fc: tree.sb, plugin="test")

    def mkdir(parent, name, mode):
        path = (parent.relpath() + "/" + name).lstrip("/")
        tree.mkdir(path, mode)
        tree.create_file(path + "/cgroup.procs", show=lambda p: "", store=lambda p, d: None)

    def rmdir(dentry):
        if any(c.d_inode.is_dir for c in dentry.d_subdirs.values()):
            raise VfsError("EBUSY", "has children")
        tree.remove(dentry.relpath())

    tree = PseudoFs(fs_type, "kernfs", 0o755, KernfsSyscallOps(mkdir=mkdir, rmdir=rmdir))
    m.vfs.register_filesystem(fs_type)
    return tree


def test_a_plugin_tree_handles_mkdir_and_rmdir(m):
    cgroupish(m)
    m.vfs.do_mount("cgroup", "/mnt", "testcg")
    m.vfs.do_mkdirat("/mnt/a", 0o755)
    m.vfs.do_mkdirat("/mnt/a/b", 0o755)
    assert m.vfs.exists("/mnt/a/b/cgroup.procs")
    assert errno_of(m.vfs.do_rmdir, "/mnt/a") == "EBUSY"
    m.vfs.do_rmdir("/mnt/a/b")
    m.vfs.do_rmdir("/mnt/a")
    assert errno_of(m.vfs.do_unlinkat, "/mnt/x") == "ENOENT"


def test_register_filesystem_refuses_a_second_type_of_a_name():
    vfs = MntNamespace()
    with pytest.raises(VfsError) as e:
        vfs.register_filesystem(FileSystemType("rootfs", "again", lambda fc: None))
    assert e.value.errno == "EBUSY"


def test_mount_refuses_a_filesystem_that_returns_no_superblock(m):
    m.vfs.register_filesystem(FileSystemType("broken", "returns nothing", lambda fc: None))
    with pytest.raises(TypeError):
        m.vfs.do_mount("none", "/mnt", "broken")


# -- plugins ------------------------------------------------------------------------------------------

class FilesPlugin:
    """A plugin with a static file (with a write), a file per node created at run time, a
    filesystem type and a /proc/meminfo line."""

    __name__ = "filesplugin"

    def __init__(self):
        self.knob = 7

    @hookimpl
    def memsim_register_files(self, files):
        files.add(ProcFile("/sys/kernel/mm/test/knob", "a test knob", lambda m: f"{self.knob}\n",
                           plugin="filesplugin", write=self.store))
        files.add(ProcFile("/sys/devices/system/node/node{N}/test", "per node", plugin="filesplugin"))

    def store(self, machine, data):
        value, took = proc_dointvec_minmax(data, 0, 100)
        self.knob = value
        return took

    @hookimpl
    def memsim_register_filesystems(self, filesystems):
        filesystems.add(FileSystemType("testfs", "a test filesystem",
                                       lambda fc: SuperBlock(fc.fs_type, 0o755), plugin="filesplugin"))

    @hookimpl
    def memsim_register_meminfo(self, meminfo, profile):
        meminfo.add(MeminfoLine("HugePages_Total", "test pool", lambda m: 5, plugin="filesplugin",
                                node_value=lambda m, nid: 5))

    @hookimpl
    def memsim_machine_created(self, machine, config):
        for nid in range(machine.physmem.nr_nodes):
            machine.sysfs.create_file(f"devices/system/node/node{nid}/test", show=lambda n, i=nid: f"{i}\n",
                                      private=machine)


WL = """\
machine: {nodes: [{memory: 64 MiB}, {memory: 64 MiB}]}
tasks:
  - name: t
    steps:
      - read_file: {path: /sys/kernel/mm/test/knob, expect: "7\\n"}
      - write_file: {path: /sys/kernel/mm/test/knob, data: "101"}
      - expect: {errno: EINVAL}
      - write_file: {path: /sys/kernel/mm/test/knob, data: "42\\n"}
      - read_file: {path: /sys/kernel/mm/test/knob, expect: "42\\n"}
      - read_file: {path: /sys/devices/system/node/node1/test, expect: "1\\n"}
      - mount: {type: testfs, path: /mnt}
      - expect: {meminfo: {HugePages_Total: 5}}
      - expect: {file: {path: /sys/devices/system/node/node1/meminfo, fields: {HugePages_Total: 5}}}
"""


def test_a_plugin_adds_files_a_filesystem_and_a_meminfo_line():
    run = run_text(WL, plugins=(FilesPlugin(),), disabled=("hugetlb",))     # it owns HugePages_*
    assert run.error is None, run.error
    assert "HugePages_Total:       5\n" in run.machine.meminfo_text()


def test_a_plugin_cannot_provide_a_line_the_core_computes():
    class Bad:
        __name__ = "badline"

        @hookimpl
        def memsim_register_meminfo(self, meminfo):
            meminfo.add(MeminfoLine("MemFree", "mine", lambda m: 0, plugin="badline"))
    with pytest.raises(PluginError) as e:
        run_text(WL.replace("HugePages_Total: 5", "MemTotal: 128 MiB"), plugins=(Bad(),))
    assert "plugin 'badline'" in str(e.value) and "MemFree is computed by the core" in str(e.value)


def test_a_plugin_line_must_exist_in_the_profile():
    class Bad:
        __name__ = "badline"

        @hookimpl
        def memsim_register_meminfo(self, meminfo):
            meminfo.add(MeminfoLine("Zswap", "zswap", lambda m: 0, plugin="badline"))
    with pytest.raises(PluginError) as e:      # Zswap arrived after v5.14
        run_text("machine: {kernel: v5.14}\ntasks: [{name: t, steps: [exit: {}]}]\n", plugins=(Bad(),))
    assert "/proc/meminfo of v5.14 has no line 'Zswap'" in str(e.value)
    assert run_text("machine: {kernel: v6.18}\ntasks: [{name: t, steps: [exit: {}]}]\n",
                    plugins=(Bad(),)).error is None


def test_a_plugin_cannot_reuse_a_built_in_filesystem_name():
    class Bad:
        __name__ = "badfs"

        @hookimpl
        def memsim_register_filesystems(self, filesystems):
            filesystems.add(FileSystemType("proc", "mine", lambda fc: None, plugin="badfs"))
    with pytest.raises(PluginError) as e:
        run_text("tasks: [{name: t, steps: [exit: {}]}]\n", plugins=(Bad(),))
    assert "filesystem type 'proc' is built in" in str(e.value)


def test_proc_file_declarations_are_checked():
    with pytest.raises(ValueError, match="must start with /proc/ or /sys/"):
        ProcFile("/etc/x", "no", lambda m: "")
    with pytest.raises(ValueError, match="give render, write or both"):
        ProcFile("/proc/x", "no")
    with pytest.raises(ValueError, match="has no render or write"):
        ProcFile("/proc/x{N}", "no", lambda m: "")


# -- regular files: references, eviction, positional I/O, truncate, fsync, fallocate, fadvise ----
# The errnos were probed as root on the live 6.18 kernel of this project's VM (ext4 /tmp, Python's
# os.ftruncate/os.pread/os.posix_fadvise/mmap.mmap and libc fallocate(); 2026-12-05):
#   ftruncate(O_RDONLY fd, 10) EINVAL; ftruncate(fd, -1) EINVAL; ftruncate(999, -1) EINVAL;
#   ftruncate(999, 1) EBADF; ftruncate(dir fd) EINVAL; pread(pos -1) EINVAL; read(O_WRONLY) EBADF;
#   read(dir) EISDIR; fsync(O_RDONLY fd) ok; fallocate(PUNCH_HOLE) EOPNOTSUPP;
#   fallocate(PUNCH_HOLE|KEEP_SIZE) ok; fallocate(len 0) EINVAL; fallocate(O_RDONLY, PUNCH|KEEP)
#   EBADF; fallocate(mode 0x1000) EOPNOTSUPP; fallocate(dir O_RDONLY fd) EBADF;
#   posix_fadvise(advice 99) EINVAL; posix_fadvise(len -1) EINVAL.

from memsim.testing import RamFilesPlugin, build_machine  # noqa: E402
from memsim.vfs import (  # noqa: E402
    FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FileOperations, Inode,
    POSIX_FADV_DONTNEED, SuperOperations, vfs_fsync, vfs_read, vfs_write,
)


@pytest.fixture
def rm():
    m = build_machine(plugins=(RamFilesPlugin(),))
    m.vfs.do_mount("none", "/mnt", "ramfiles")
    return m


def inode_of(m, path):
    return m.vfs.path_lookup(path).dentry.d_inode


def test_a_new_file_has_one_reference_from_its_dentry_and_one_name(rm):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    inode = inode_of(rm, "/mnt/f")
    assert (inode.i_count, inode.i_nlink) == (2, 1)          # the dentry's and the open file's
    assert files.fget(fd).f_mapping is inode.i_mapping and inode.i_mapping.host is inode
    files.close_fd(fd)
    assert inode.i_count == 1
    sb = inode.i_sb
    assert sb.inodes()[0] is inode and sb.s_dev == 60          # newest first; 0:60


def test_unlink_keeps_an_open_inode_until_the_last_close(rm):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    assert files.write(fd, b"hello") == 5
    inode = inode_of(rm, "/mnt/f")
    dup = files.dup_fd()                                      # fork: one more reference to the file
    rm.vfs.do_unlinkat("/mnt/f")
    assert not rm.vfs.exists("/mnt/f") and inode.i_nlink == 0
    assert files.pread(fd, 5, 0) == b"hello"                   # still readable through the fd
    evicted = inode.i_sb.s_fs_info["evicted"]
    files.close_fd(fd)
    assert evicted == []                                      # the child still has it open
    dup.put()
    assert evicted == [inode.i_ino] and id(inode) not in inode.i_sb.s_inodes


def test_unlink_of_a_closed_file_evicts_at_once_and_a_kept_inode_stays_cached(rm):
    rm.vfs.write_file("/mnt/f", b"x")
    inode = inode_of(rm, "/mnt/f")
    rm.vfs.do_unlinkat("/mnt/f")
    assert inode.i_sb.s_fs_info["evicted"] == [inode.i_ino]


def test_super_operations_allocate_evict_and_free_in_the_kernels_order():
    calls = []

    class MyInode(Inode):
        __slots__ = ("extra",)

    def alloc(sb):
        calls.append("alloc")
        inode = MyInode(sb)
        inode.extra = 1
        return inode
    sop = SuperOperations(alloc_inode=alloc, evict_inode=lambda i: calls.append(("evict", i.i_ino)),
                          destroy_inode=lambda i: calls.append("destroy"),
                          free_inode=lambda i: calls.append("free"),
                          drop_inode=lambda i: True)             # generic_delete_inode()
    sb = SuperBlock(FileSystemType("x", "x", None), 0o755, s_op=sop)
    inode = sb.new_inode(0o100644)
    assert isinstance(inode, MyInode) and inode.i_ino == 2 and inode.i_count == 1
    from memsim.vfs import iput
    iput(inode)                                               # still linked, but drop_inode says go
    assert calls == ["alloc", "alloc", ("evict", 2), "destroy", "free"]


def test_read_and_write_advance_f_pos_and_pread_pwrite_do_not(rm):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    file = files.fget(fd)
    assert files.write(fd, b"abcdef") == 6 and file.f_pos == 6
    assert files.pwrite(fd, b"XY", 1) == 2 and file.f_pos == 6
    file.f_pos = 0
    assert files.read(fd, 4) == b"aXYd" and file.f_pos == 4
    assert files.pread(fd, 100, 2) == b"Ydef" and file.f_pos == 4
    assert inode_of(rm, "/mnt/f").i_size == 6 == file.f_mapping.i_size


@pytest.mark.parametrize("call, errno", [
    (lambda f, fd, ro, d: f.ftruncate(ro, 10), "EINVAL"),         # read-only fd
    (lambda f, fd, ro, d: f.ftruncate(fd, -1), "EINVAL"),
    (lambda f, fd, ro, d: f.ftruncate(999, -1), "EINVAL"),        # the length is checked first
    (lambda f, fd, ro, d: f.ftruncate(999, 1), "EBADF"),
    (lambda f, fd, ro, d: f.ftruncate(d, 0), "EINVAL"),           # a directory
    (lambda f, fd, ro, d: f.pread(fd, 1, -1), "EINVAL"),
    (lambda f, fd, ro, d: f.pread(999, 1, -1), "EINVAL"),
    (lambda f, fd, ro, d: f.pwrite(ro, b"x", 0), "EBADF"),
    (lambda f, fd, ro, d: f.read(d, 1), "EISDIR"),
    (lambda f, fd, ro, d: f.fsync(ro), "ok"),
    (lambda f, fd, ro, d: f.fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), "EOPNOTSUPP"),
    (lambda f, fd, ro, d: f.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), "ok"),
    (lambda f, fd, ro, d: f.fallocate(fd, 0, 0, 0), "EINVAL"),
    (lambda f, fd, ro, d: f.fallocate(ro, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1), "EBADF"),
    (lambda f, fd, ro, d: f.fallocate(fd, 0x1000, 0, 4096), "EOPNOTSUPP"),
    (lambda f, fd, ro, d: f.fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, 1),
     "EOPNOTSUPP"),
    (lambda f, fd, ro, d: f.fallocate(d, 0, 0, 4096), "EBADF"),
])
def test_file_calls_fail_with_the_kernels_errno(rm, call, errno):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    ro = rm.vfs.open(files, "/mnt/f", O_RDONLY)
    d = rm.vfs.open(files, "/mnt", O_RDONLY)
    assert errno_of(call, files, fd, ro, d) == errno


@pytest.mark.parametrize("offset, length, advice, errno", [
    (0, 0, 99, "EINVAL"), (0, -1, POSIX_FADV_DONTNEED, "EINVAL"), (0, 0, POSIX_FADV_DONTNEED, "ok"),
])
def test_fadvise_checks_the_advice_and_the_length(rm, offset, length, advice, errno):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    assert errno_of(rm.vfs.fadvise, files, fd, offset, length, advice) == errno
    assert errno_of(rm.vfs.fadvise, files, 999, offset, length, advice) == "EBADF"


def test_fadvise_dontneed_invalidates_the_whole_pages_of_the_range():
    from memsim.vfs import vfs_fadvise
    seen = []

    class F:        # a file of 5 pages + 1 byte with a page cache
        f_op = FileOperations()
        f_mapping = object()
        f_inode = type("I", (), {"i_size": 5 * 4096 + 1})()
    call = lambda off, n: (seen.clear(), vfs_fadvise(F, off, n, POSIX_FADV_DONTNEED,  # noqa: E731
                                                        lambda m, a, b: seen.append((a, b))), seen[:])[2]
    assert call(0, 0) == [(0, 2 ** 63 // 4096 - 1)]           # to the end
    assert call(1, 8192) == [(1, 1)]                          # page 0 and 2 only partly: kept
    assert call(0, 4095) == []                                # page 0 partly: nothing
    assert call(4096, 4096 * 4 + 1) == [(1, 5)]               # up to the file's last byte


def test_ftruncate_sets_the_size_through_setattr_and_fsync_and_fallocate_reach_the_fs(rm):
    files = FilesStruct()
    fd = rm.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    files.write(fd, b"abcdefgh")
    files.ftruncate(fd, 3)
    inode = inode_of(rm, "/mnt/f")
    assert inode.i_size == 3 == inode.i_mapping.i_size and files.pread(fd, 10, 0) == b"abc"
    files.fsync(fd)
    assert inode.i_sb.s_fs_info["fsyncs"] == 1
    files.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1, 1)
    assert files.pread(fd, 10, 0) == b"a\0c" and inode.i_size == 3
    files.fallocate(fd, 0, 0, 8192)
    assert inode.i_size == 8192


def test_pseudofs_files_have_no_fsync_fallocate_or_positional_read(m):
    file = m.vfs.do_filp_open("/proc/meminfo")
    assert errno_of(vfs_fsync, file) == "EINVAL"
    from memsim.vfs import vfs_fallocate, vfs_pread
    assert errno_of(vfs_pread, file, 10, 0) == "ESPIPE"
    assert errno_of(vfs_fallocate, file, 0, 0, 1) == "EBADF"
    assert vfs_read(file, 9) == b"MemTotal:"
    assert errno_of(vfs_write, file, b"x") == "EBADF"
