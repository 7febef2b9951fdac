"""mmap of an open file (memsim.vm.do_mmap with ``filp``) and madvise (memsim.vm.do_madvise):
do_mmap()'s checks of the open mode, the inode reference a mapping holds (an unlinked file lives
while mapped), and MADV_DONTNEED / MADV_REMOVE.

The errnos were probed as root on the live 6.18 kernel of this project's VM (Python's mmap.mmap
on an ext4 file, 2026-12-05): MAP_SHARED PROT_READ|PROT_WRITE of an O_RDONLY fd EACCES;
MAP_PRIVATE PROT_READ|PROT_WRITE of it ok; MAP_SHARED PROT_WRITE of an O_WRONLY fd EACCES (no
FMODE_READ); a directory ENODEV.  They are do_mmap()'s checks in mm/mmap.c.
"""
import pytest

from memsim import vm
from memsim.testing import RamFilesPlugin, build_machine
from memsim.vfs import FilesStruct, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY

PAGE = 4096


@pytest.fixture
def env():
    m = build_machine(plugins=(RamFilesPlugin(),))
    m.vfs.do_mount("none", "/mnt", "ramfiles")
    task = m.spawn("t")
    files = FilesStruct()
    fd = m.vfs.open(files, "/mnt/f", O_CREAT | O_RDWR)
    files.ftruncate(fd, 4 * PAGE)
    return m, task, files, fd


def mmap(m, task, files, fd, prot="rw", shared=False, length=4 * PAGE, offset=0):
    return vm.do_mmap(m.mmcore, task.mm, m.files, length, prot, "file-shared" if shared else "file",
                      offset=offset, totalram=m.overcommit, filp=files.fget(fd))


def errno_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except vm.MmError as e:
        return e.errno
    return "ok"


@pytest.mark.parametrize("flags, prot, shared, errno", [
    (O_RDONLY, "rw", True, "EACCES"),
    (O_RDONLY, "rw", False, "ok"),
    (O_RDONLY, "r", True, "ok"),
    (O_WRONLY, "rw", True, "EACCES"),
    (O_WRONLY, "r", False, "EACCES"),
    (O_RDWR, "rw", True, "ok"),
])
def test_mmap_checks_the_protection_against_the_open_mode(env, flags, prot, shared, errno):
    m, task, files, _ = env
    fd = m.vfs.open(files, "/mnt/f", flags)
    assert errno_of(mmap, m, task, files, fd, prot, shared) == errno


def test_a_shared_mapping_of_a_read_only_fd_cannot_become_writable(env):
    m, task, files, _ = env
    vma = mmap(m, task, files, m.vfs.open(files, "/mnt/f", O_RDONLY), "r", True)
    assert not vma.vm_flags & (vm.VM_MAYWRITE | vm.VM_SHARED) and vma.vm_flags & vm.VM_MAYSHARE


def test_mmap_of_a_directory_is_enodev(env):
    m, task, files, _ = env
    assert errno_of(mmap, m, task, files, m.vfs.open(files, "/mnt", O_RDONLY), "r") == "ENODEV"
    assert errno_of(mmap, m, task, files, m.vfs.open(files, "/proc/meminfo", O_RDONLY), "r") == "ENODEV"


def test_the_mapping_maps_the_files_page_cache_and_calls_its_mmap(env):
    m, task, files, fd = env
    vma = mmap(m, task, files, fd, "rw", True, offset=PAGE, length=2 * PAGE)
    inode = files.fget(fd).f_inode
    assert vma.vm_file is inode.i_mapping and vma.vm_pgoff == 1
    assert inode.i_sb.s_fs_info["mmaps"] == 1
    assert m.mmcore.access(task.mm, vma, vma.vm_start, vma.vm_end, True)[:2] == (2, 0)   # 2 pages, no error
    assert inode.i_mapping.nrpages == 2


def test_an_unlinked_file_lives_while_mapped_through_split_and_fork(env):
    m, task, files, fd = env
    inode = files.fget(fd).f_inode
    vma = mmap(m, task, files, fd)
    files.close_fd(fd)
    m.vfs.do_unlinkat("/mnt/f")
    evicted = inode.i_sb.s_fs_info["evicted"]
    assert evicted == [] and inode.i_count == 1
    vm.split_vma(m.mmcore, task.mm, vma, vma.vm_start + PAGE)
    assert inode.i_count == 2
    child = m.fork(task, "c")
    assert inode.i_count == 4
    m.exit_task(child)
    vm.do_munmap(m.mmcore, task.mm, vma.vm_start, PAGE)
    assert evicted == [] and inode.i_count == 1
    vm.do_munmap(m.mmcore, task.mm, vma.vm_start + PAGE, 3 * PAGE)
    assert evicted == [inode.i_ino]


def test_madvise_dontneed_zaps_and_a_hole_is_enomem(env):
    m, task, files, fd = env
    vma = mmap(m, task, files, fd, "rw", False)
    m.mmcore.access(task.mm, vma, vma.vm_start, vma.vm_end, True)
    assert m.rss(task)["MM_ANONPAGES"] == 4
    vm.do_madvise(m.mmcore, task.mm, vma.vm_start, 2 * PAGE, vm.MADV_DONTNEED)
    assert m.rss(task)["MM_ANONPAGES"] == 2
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, vma.vm_start, 8 * PAGE, vm.MADV_DONTNEED) == "ENOMEM"
    assert m.rss(task)["MM_ANONPAGES"] == 0
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, vma.vm_start + 1, PAGE, vm.MADV_DONTNEED) == "EINVAL"
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, vma.vm_start, PAGE, 99) == "EINVAL"


def test_madvise_remove_punches_a_hole_in_a_shared_writable_mapping_only(env):
    m, task, files, fd = env
    files.pwrite(fd, b"abcdefgh", PAGE - 4)
    private = mmap(m, task, files, fd, "rw", False)
    shared = mmap(m, task, files, fd, "rw", True)
    ro = mmap(m, task, files, m.vfs.open(files, "/mnt/f", O_RDONLY), "r", True)
    anon = vm.do_mmap(m.mmcore, task.mm, m.files, PAGE, "rw", totalram=m.overcommit)
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, private.vm_start, PAGE, vm.MADV_REMOVE) == "EACCES"
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, ro.vm_start, PAGE, vm.MADV_REMOVE) == "EACCES"
    assert errno_of(vm.do_madvise, m.mmcore, task.mm, anon.vm_start, PAGE, vm.MADV_REMOVE) == "EINVAL"
    vm.do_madvise(m.mmcore, task.mm, shared.vm_start + PAGE, PAGE, vm.MADV_REMOVE)
    assert files.pread(fd, 8, PAGE - 4) == b"abcd\0\0\0\0"          # page 1 punched
    assert files.fget(fd).f_inode.i_size == 4 * PAGE                # KEEP_SIZE
