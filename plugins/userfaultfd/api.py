"""userfaultfd as a program sees it: the syscall, the ioctls, read, poll and close, with the
kernel's names, validation order, errnos and output fields (fs/userfaultfd.c; userfaultfd.md
sections 3, 4 and 6 for v5.14, section 12 and kernel-6.18-observed.md for v6.18).

Every function takes the machine and the calling task and acts on the task's fd table, as
the system call would::

    from memsim.plugins.userfaultfd import api
    fd = api.userfaultfd(machine, task, api.O_NONBLOCK)
    api.uffdio_api(machine, task, fd, features=api.UFFD_FEATURE_THREAD_ID)
    ioctls = api.uffdio_register(machine, task, fd, start, length, api.UFFDIO_REGISTER_MODE_MINOR)
    mapped = api.uffdio_continue(machine, task, fd, start, 4096)

A failure raises :class:`UffdError` with the errno name and, for the fill ioctls, the output
field as the kernel left it (``e.out == {"copy": 8192}`` after a partial copy: EAGAIN).
:func:`read` is a generator (it sleeps when nothing is queued on a blocking fd):
``msgs = yield from api.read(machine, task, fd, 64)`` inside a task body.
"""
from __future__ import annotations

from typing import Any, Dict, Generator, List, Optional

from memsim.mm import VM_HUGETLB, VM_MAYWRITE, VM_SHARED
from memsim.vfs import (Dentry, File, FileOperations, FileSystemType, Path, SuperBlock, VfsError,
                        VfsMount)

from . import uapi
from .profile import ARCHES, PROFILE, offered_features
from .uapi import *  # noqa: F401,F403  (the ABI names are part of this API)
from .uffd import FILL_CONTINUE, FILL_COPY, FILL_POISON, FILL_ZEROPAGE, UserfaultfdCtx

PAGE_SIZE = 4096
TASK_SIZE = (1 << 47) - PAGE_SIZE
MMAP_MIN_ADDR = 0x10000
VM_UFFD_MISSING = 0x200
VM_UFFD_WP = 0x1000
VM_UFFD_MINOR = 1 << 37
VM_UFFD_FLAGS = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR
S_IFREG, S_IFCHR = 0o100000, 0o020000
POLLIN, POLLERR, POLLHUP = 0x1, 0x8, 0x10
CAP_SYS_PTRACE = 19
#: emulated time of one userfaultfd system call, of filling one page (a 4 KiB copy) and of
#: moving one (UFFDIO_MOVE: two entries and the rmap, no copy)
SYSCALL_NS = 500
FILL_PAGE_NS = 300
MOVE_PAGE_NS = 100


class UffdError(Exception):
    """A userfaultfd call failed with ``errno`` (a name: "EINVAL"); ``out`` holds the output
    fields the kernel wrote before failing (a fill ioctl's copy / zeropage / mapped / move /
    updated), ``detail`` says why."""

    def __init__(self, errno: str, detail: str = "", out: Optional[Dict[str, int]] = None):
        super().__init__(f"{errno}: {detail}" if detail else errno)
        self.errno = errno
        self.detail = detail
        self.out = out or {}


_ERRNO = {2: "ENOENT", 11: "EAGAIN", 12: "ENOMEM", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST",
          22: "EINVAL", 1: "EPERM", 3: "ESRCH", 4: "EINTR", 28: "ENOSPC"}


def errno_name(ret: int) -> str:
    return _ERRNO.get(-ret, f"errno {-ret}")


# -- the machine's state ----------------------------------------------------------------------

def host(machine: Any):
    """The machine's :class:`memsim.plugins.userfaultfd.uffd.Userfaultfd`."""
    h = machine.plugin_state.get("userfaultfd")
    if h is None:
        raise UffdError("ENOSYS", "the userfaultfd plugin is not loaded")
    return h


def settings(machine: Any) -> Dict[str, Any]:
    return machine.plugin_state.setdefault("userfaultfd.settings", {"arch": "x86_64"})


def profile(machine: Any):
    return PROFILE[machine.profile]


def arch(machine: Any):
    return ARCHES[settings(machine)["arch"]]


def minor_patch(machine: Any) -> bool:
    """The ``uffd-minor`` seed change (on unless the workload turned it off)."""
    patches = getattr(machine, "patches", None)
    return patches is None or patches.enabled("uffd-minor")


#: the capabilities a ``capset`` step can drop (include/uapi/linux/capability.h); memsim's tasks
#: run as root with all of them, and userfaultfd is what asks for CAP_SYS_PTRACE
CAPS = {"CAP_IPC_LOCK": 14, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24}


def capable(machine: Any, task: Any, cap: int) -> bool:
    """capable(cap) of ``task``: tasks run as root unless a ``capset`` step dropped ``cap``
    from their effective set (a child inherits the set at fork and clone)."""
    dropped = machine.plugin_state.get("userfaultfd.caps_dropped", {})
    return cap not in dropped.get(task.pid, ())


def capset_drop(machine: Any, task: Any, caps) -> None:
    """capset(2) lowering the calling thread's effective set by ``caps`` (numbers)."""
    machine.clock.now += SYSCALL_NS
    dropped = machine.plugin_state.setdefault("userfaultfd.caps_dropped", {})
    dropped[task.pid] = frozenset(dropped.get(task.pid, frozenset()) | set(caps))


def task_fork(machine: Any, parent: Any, child: Any) -> None:
    """copy_creds(): the child starts with its parent's capabilities."""
    dropped = machine.plugin_state.get("userfaultfd.caps_dropped")
    if dropped and parent is not None and parent.pid in dropped:
        dropped[child.pid] = dropped[parent.pid]


def unprivileged_userfaultfd(machine: Any) -> int:
    return settings(machine).get("unprivileged_userfaultfd", 0)


# -- the file -----------------------------------------------------------------------------------

def _anon_mount(machine: Any) -> VfsMount:
    """anon_inode_mnt (fs/anon_inodes.c): one internal superblock whose single inode every
    anonymous file shares; its dentries are in no directory (``anon_inode:[userfaultfd]``)."""
    st = machine.plugin_state
    mnt = st.get("userfaultfd.anon_mnt")
    if mnt is None:
        fs_type = FileSystemType("anon_inodefs", "anonymous inodes", lambda fc: None, plugin="userfaultfd")
        sb = SuperBlock(fs_type, 0o555)
        vfs = machine.vfs
        mnt = VfsMount(sb, "anon_inodefs", False, vfs._next_mnt_id)     # kern_mount() at boot
        vfs._next_mnt_id += 1
        inode = sb.new_inode(0o600, i_fop=_FOPS)   # anon_inode_inode: mode 0600, no type bits
        st["userfaultfd.anon_mnt"] = mnt
        st["userfaultfd.anon_inode"] = inode
    return mnt


def anon_inode_getfile(machine: Any, name: str, private: Any, flags: int) -> File:
    """anon_inode_getfile(): an open file of the shared anonymous inode (v5.14), or of an
    inode of its own (v6.x anon_inode_create_getfile()), ``private`` its private_data."""
    mnt = _anon_mount(machine)
    inode = machine.plugin_state["userfaultfd.anon_inode"]
    if profile(machine).own_inode:
        inode = mnt.mnt_sb.new_inode(0o600, i_fop=_FOPS)
        inode.i_count -= 1                  # the file's reference is its only one
    dentry = Dentry(mnt.mnt_sb, name, mnt.mnt_root, inode)
    inode.i_count += 1
    file = File(Path(mnt, dentry), flags)
    inode.i_count -= 1                  # File took its own reference (ihold)
    file.private_data = private
    mnt.mnt_count += 1
    return file


def _release(inode, file: File) -> None:
    userfaultfd_release(file.private_data)
    h = file.private_data.host
    for path in h.machine.plugin_state.get("userfaultfd.fdinfo", {}).pop(id(file), ()):
        if path in h.machine.procfs:
            h.machine.procfs.remove(path)


def _read_nonblock(file: File, count: int) -> bytes:
    """->read of a userfaultfd for callers outside a task body (the core's ``read`` step):
    what is queued now; EAGAIN when nothing is (the ``uffd_read`` step sleeps instead)."""
    ctx = file.private_data
    out = _take_messages(ctx, count)
    if isinstance(out, str):
        raise VfsError(out, "userfaultfd read")
    if not out:
        raise VfsError("EAGAIN", "no message queued")
    return b"".join(out)


_FOPS = FileOperations(release=_release, read=_read_nonblock)


def install_fd(machine: Any, task: Any, file: File) -> int:
    """fd_install() of a userfaultfd file in ``task``'s table, with its /proc/PID/fdinfo/FD
    (memsim's procfs has fdinfo for userfaultfds only)."""
    fd = task.files.alloc_fd()
    task.files.fd_install(fd, file)
    path = f"{task.pid}/fdinfo/{fd}"
    fs = machine.procfs
    if str(task.pid) in fs and path not in fs:
        def show(f, files=task.files, fd=fd):
            if files.fdt.get(fd) is not f:
                raise VfsError("ENOENT", f"fd {fd} is closed")
            return fdinfo(machine, f)
        fs.create_file(path, show=show, mode=0o400, private=file)
        machine.plugin_state.setdefault("userfaultfd.fdinfo", {}).setdefault(id(file), []).append(path)
    return fd


def uffd_ctx(task: Any, fd: int):
    """fdget() of a userfaultfd: EBADF for a closed fd; any other file's ioctl is ENOTTY."""
    file = task.files.fdt.get(fd)
    if file is None:
        raise UffdError("EBADF", f"fd {fd} is not open")
    if not isinstance(file.private_data, UserfaultfdCtx):
        raise UffdError("ENOTTY", f"fd {fd} is not a userfaultfd")
    return file.private_data


# -- the syscall -------------------------------------------------------------------------------

def userfaultfd(machine: Any, task: Any, flags: int = 0) -> int:
    """SYSCALL_DEFINE1(userfaultfd) (userfaultfd.md 3.1): EPERM unless vm.unprivileged_userfaultfd
    is 1, UFFD_USER_MODE_ONLY is asked for, or the task has CAP_SYS_PTRACE (checked before the
    flags); EINVAL for any flag but O_CLOEXEC, O_NONBLOCK and UFFD_USER_MODE_ONLY.  Returns the fd
    of a new context in state WAIT_API."""
    machine.clock.now += SYSCALL_NS
    if not unprivileged_userfaultfd(machine) and not flags & uapi.UFFD_USER_MODE_ONLY \
            and not capable(machine, task, CAP_SYS_PTRACE):
        raise UffdError("EPERM", "vm.unprivileged_userfaultfd is 0 and the task lacks CAP_SYS_PTRACE")
    return new_userfaultfd(machine, task, flags)


def new_userfaultfd(machine: Any, task: Any, flags: int) -> int:
    """new_userfaultfd(): the flag check, the context and its file, the fd."""
    if flags & ~(uapi.O_CLOEXEC | uapi.O_NONBLOCK | uapi.UFFD_USER_MODE_ONLY):
        raise UffdError("EINVAL", f"unknown userfaultfd flags {flags & ~(uapi.O_CLOEXEC | uapi.O_NONBLOCK | uapi.UFFD_USER_MODE_ONLY):#x}")
    ctx = host(machine).new_ctx(task.mm, flags)
    # O_RDONLY: a write(2) to a userfaultfd is EBADF
    file = anon_inode_getfile(machine, "[userfaultfd]", ctx, flags & (uapi.O_NONBLOCK | uapi.O_CLOEXEC))
    return install_fd(machine, task, file)


def dev_userfaultfd(machine: Any, task: Any, flags: int = 0) -> int:
    """open("/dev/userfaultfd") and ioctl(USERFAULTFD_IOC_NEW, flags) (v6.1+,
    userfaultfd_dev_ioctl()): no permission check beyond the device's mode (root here); the
    same flag check as the syscall."""
    machine.clock.now += 2 * SYSCALL_NS
    if not profile(machine).dev_userfaultfd:
        raise UffdError("ENOENT", "/dev/userfaultfd does not exist before v6.1")
    return new_userfaultfd(machine, task, flags)


def userfaultfd_release(ctx) -> None:
    """userfaultfd_release() (userfaultfd.md 3.6): the context is released, every VMA it owns
    loses its registration, every faulting thread is woken (its fault retries and now resolves
    normally) and pollers see POLLHUP."""
    if ctx.released:
        return
    ctx.released = True
    mm = ctx.mm
    if mm is not None:
        for vma in list(mm.vmas):
            if vma.vm_userfaultfd_ctx is ctx:
                vma.vm_flags &= ~VM_UFFD_FLAGS
                vma.vm_userfaultfd_ctx = None
    ctx.wake(0, 0)
    for ev in ctx.events:
        ev.complete()
    ctx.events.clear()
    ctx.fd_wqh.wake_up()
    h = ctx.host
    if ctx in h.ctxs:
        h.ctxs.remove(ctx)


# -- UFFDIO_API -----------------------------------------------------------------------------------

def uffdio_api(machine: Any, task: Any, fd: int, api: int = uapi.UFFD_API, features: int = 0) -> Dict[str, int]:
    """userfaultfd_api() (userfaultfd.md 3.2, 6.18 in section 12): EINVAL once done (the
    struct untouched); EINVAL for a wrong api or an unknown feature, EPERM for EVENT_FORK
    without CAP_SYS_PTRACE -- both zero the struct (``e.out``); the reply is every feature
    the kernel offers and the API ioctls.  Returns {api, features, ioctls}."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    prof = profile(machine)
    zero = {"api": 0, "features": 0, "ioctls": 0}
    if ctx.api_done:
        raise UffdError("EINVAL", "UFFDIO_API was already done", zero if prof.api_again_zeroes else None)
    offered = offered_features(machine.profile, prof, arch(machine), minor_patch(machine))
    known = prof.known_features if minor_patch(machine) else prof.known_features & ~(
        uapi.UFFD_FEATURE_MINOR_HUGETLBFS | uapi.UFFD_FEATURE_MINOR_SHMEM)
    if api != uapi.UFFD_API:
        raise UffdError("EINVAL", f"api {api:#x} is not UFFD_API (0xaa)", zero)
    if not prof.api_checks_offered and features & ~known:
        raise UffdError("EINVAL", f"unknown features {features & ~known:#x}", zero)
    if features & uapi.UFFD_FEATURE_EVENT_FORK and not capable(machine, task, CAP_SYS_PTRACE):
        raise UffdError("EPERM", "UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE", zero)
    if prof.api_checks_offered:
        if features & uapi.UFFD_FEATURE_WP_ASYNC:
            features |= uapi.UFFD_FEATURE_WP_UNPOPULATED
        if features & ~offered:
            raise UffdError("EINVAL", f"features {features & ~offered:#x} are not offered", zero)
    ctx.features = features
    ctx.api_done = True
    return {"api": uapi.UFFD_API, "features": offered, "ioctls": uapi.UFFD_API_IOCTLS}


def _running(ctx) -> None:
    """Every ioctl but UFFDIO_API needs the handshake done (userfaultfd_ioctl(): EINVAL)."""
    if not ctx.api_done:
        raise UffdError("EINVAL", "UFFDIO_API has not been done")


def validate_range(machine: Any, start: int, length: int) -> None:
    """validate_range(): EINVAL for an unaligned start or length, an empty range, (v5.14) a
    start below vm.mmap_min_addr, a start beyond TASK_SIZE or a range that runs past it."""
    if start % PAGE_SIZE:
        raise UffdError("EINVAL", f"start {start:#x} is not page aligned")
    if length % PAGE_SIZE:
        raise UffdError("EINVAL", f"length {length:#x} is not page aligned")
    if not length:
        raise UffdError("EINVAL", "empty range")
    if profile(machine).mmap_min_addr_check and start < MMAP_MIN_ADDR:
        raise UffdError("EINVAL", f"start {start:#x} is below vm.mmap_min_addr")
    if start >= TASK_SIZE:
        raise UffdError("EINVAL", f"start {start:#x} is beyond TASK_SIZE")
    if length > TASK_SIZE - start:
        raise UffdError("EINVAL", "the range runs beyond TASK_SIZE")


# -- registration -----------------------------------------------------------------------------

def vma_is_anonymous(vma) -> bool:
    return vma.vm_file is None and vma.vm_private_data is None and not vma.vm_flags & VM_HUGETLB \
        and not vma.has_vm_ops


def vma_is_shmem(vma) -> bool:
    return vma.vm_file is not None and vma.vm_file.swapbacked and not vma.vm_flags & VM_HUGETLB


def vma_pagesize(vma) -> int:
    return vma.pagesize() if vma.vm_flags & VM_HUGETLB else PAGE_SIZE


def vma_can_userfault(machine: Any, vma, vm_flags: int) -> bool:
    """vma_can_userfault() (userfaultfd.md 4.2): MINOR only on shmem and hugetlb; WP not on
    them before v5.19; only anonymous, shmem and hugetlb VMAs at all."""
    huge = bool(vma.vm_flags & VM_HUGETLB)
    shmem = vma_is_shmem(vma)
    if vm_flags & VM_UFFD_WP and not profile(machine).wp_shmem and (huge or shmem):
        return False
    if vm_flags & VM_UFFD_MINOR and not (huge or shmem):
        return False
    return vma_is_anonymous(vma) or huge or shmem


def _vmas_from(mm, start: int, end: int) -> List[Any]:
    return [v for v in mm.vmas if v.vm_end > start and v.vm_start < end]


def _range_vmas(machine: Any, mm, start: int, length: int):
    """The first checks REGISTER and UNREGISTER share: validate_range(), a VMA at or after
    start (v5.14: ENOMEM), one in the range (EINVAL: a hole), a hugetlb first VMA's start
    aligned to its huge page size (EINVAL).  Returns (end, the VMAs of the range)."""
    validate_range(machine, start, length)
    end = start + length
    if profile(machine).no_vma_errno == "ENOMEM" and not any(v.vm_end > start for v in mm.vmas):
        raise UffdError("ENOMEM", "no mapping at or after start")
    vmas = _vmas_from(mm, start, end)
    if not vmas:
        raise UffdError("EINVAL", "the range lies in a hole")
    first = vmas[0]
    if first.vm_flags & VM_HUGETLB and start % vma_pagesize(first):
        raise UffdError("EINVAL", "start is not aligned to the huge page size")
    return end, vmas


def _register_modes(machine: Any) -> int:
    m = uapi.UFFDIO_REGISTER_MODE_MISSING | uapi.UFFDIO_REGISTER_MODE_WP
    if minor_patch(machine):
        m |= uapi.UFFDIO_REGISTER_MODE_MINOR
    return m


def uffdio_register(machine: Any, task: Any, fd: int, start: int, length: int, mode: int) -> int:
    """userfaultfd_register() (userfaultfd.md 4.3): the mode, what the architecture supports,
    the range, the VMAs (each compatible, writable, hugetlb ends aligned, owned by no other
    userfaultfd), then the VMAs of the range are split to it and armed; returns the ``ioctls``
    the range supports."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    _running(ctx)
    prof = profile(machine)
    if not mode or mode & ~_register_modes(machine):
        raise UffdError("EINVAL", f"bad registration mode {mode:#x}")
    vm_flags = 0
    if mode & uapi.UFFDIO_REGISTER_MODE_MISSING:
        vm_flags |= VM_UFFD_MISSING
    if mode & uapi.UFFDIO_REGISTER_MODE_WP:
        if not arch(machine).wp:
            raise UffdError("EINVAL", "this architecture has no uffd-wp")
        vm_flags |= VM_UFFD_WP
    if mode & uapi.UFFDIO_REGISTER_MODE_MINOR:
        if not arch(machine).minor:
            raise UffdError("EINVAL", "this architecture has no userfaultfd minor faults "
                            "(it needs the high VMA flag bits of a 64-bit kernel)")
        vm_flags |= VM_UFFD_MINOR
    end, vmas = _range_vmas(machine, ctx.mm, start, length)
    mm = ctx.mm
    basic = False
    for cur in vmas:
        if not vma_can_userfault(machine, cur, vm_flags):
            raise UffdError("EINVAL", f"the mapping at {cur.vm_start:#x} cannot take this mode")
        if not cur.vm_flags & VM_MAYWRITE:
            raise UffdError("EPERM", f"the mapping at {cur.vm_start:#x} may not be written (VM_MAYWRITE)")
        if cur.vm_flags & VM_HUGETLB and cur.vm_start < end <= cur.vm_end and end % vma_pagesize(cur):
            raise UffdError("EINVAL", "end is not aligned to the huge page size")
        if cur.vm_userfaultfd_ctx is not None and cur.vm_userfaultfd_ctx is not ctx:
            raise UffdError("EBUSY", f"the mapping at {cur.vm_start:#x} belongs to another userfaultfd")
        if cur.vm_flags & VM_HUGETLB:
            basic = True
    from memsim import vm as _vm
    core = machine.mmcore
    for cur in vmas:
        if cur.vm_userfaultfd_ctx is ctx and (cur.vm_flags & vm_flags) == vm_flags:
            continue            # already armed with every mode asked for: left as it is
        try:
            cur = _clip(core, mm, cur, start, end, _vm)
        except _vm.MmError as e:
            raise UffdError(e.errno, e.detail) from None
        cur.vm_flags = (cur.vm_flags & ~VM_UFFD_FLAGS) | vm_flags
        cur.vm_userfaultfd_ctx = ctx
    ioctls = prof.range_ioctls_basic if basic else prof.range_ioctls
    if not minor_patch(machine):
        ioctls &= ~(1 << uapi._UFFDIO_CONTINUE)
    if not mode & uapi.UFFDIO_REGISTER_MODE_WP:
        ioctls &= ~(1 << uapi._UFFDIO_WRITEPROTECT)
    if not mode & uapi.UFFDIO_REGISTER_MODE_MINOR:
        ioctls &= ~(1 << uapi._UFFDIO_CONTINUE)
    return ioctls


def _clip(core, mm, vma, start: int, end: int, _vm):
    """vma_modify_flags_uffd(): split the VMA to [start, end) (memsim never merges VMAs)."""
    if vma.vm_start < start:
        vma = _vm.split_vma(core, mm, vma, start)
    if vma.vm_end > end:
        _vm.split_vma(core, mm, vma, end)
    return vma


def uffdio_unregister(machine: Any, task: Any, fd: int, start: int, length: int) -> None:
    """userfaultfd_unregister() (userfaultfd.md 4.4): the range, the VMAs (compatible types;
    v6.x: owned by this userfaultfd or none), then each armed VMA of the range is split to it,
    its MISSING sleepers woken (only those: MINOR and WP sleepers stay asleep) and its
    registration cleared."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    _running(ctx)
    prof = profile(machine)
    end, vmas = _range_vmas(machine, ctx.mm, start, length)
    mm = ctx.mm
    for cur in vmas:
        if not vma_can_userfault(machine, cur, cur.vm_flags & VM_UFFD_FLAGS):
            raise UffdError("EINVAL", f"the mapping at {cur.vm_start:#x} cannot be a userfaultfd range")
        if prof.unregister_checks_owner and cur.vm_userfaultfd_ctx is not None \
                and cur.vm_userfaultfd_ctx is not ctx:
            raise UffdError("EINVAL", f"the mapping at {cur.vm_start:#x} belongs to another userfaultfd")
    from memsim import vm as _vm
    core = machine.mmcore
    for cur in vmas:
        owner = cur.vm_userfaultfd_ctx
        if owner is None:
            continue
        if cur.vm_flags & VM_UFFD_MISSING:
            s, e = max(start, cur.vm_start), min(end, cur.vm_end)
            owner.wake(s, e - s)
        try:
            cur = _clip(core, mm, cur, start, end, _vm)
        except _vm.MmError as e:
            raise UffdError(e.errno, e.detail) from None
        cur.vm_flags &= ~VM_UFFD_FLAGS
        cur.vm_userfaultfd_ctx = None


# -- the fill ioctls --------------------------------------------------------------------------

def _fill(machine, task, ctx, kind: int, dst: int, src: int, length: int, mode: int,
          dontwake: int, field: str) -> int:
    """The end of the fill ioctls (userfaultfd.md 6.1 steps 6-8): ESRCH when the address space
    has gone, the engine, its result in the output field, the wake-up of what was filled
    (unless DONTWAKE), EAGAIN for a partial fill."""
    if ctx.mm is None or ctx.mm.mm_users <= 0:
        raise UffdError("ESRCH", "the userfaultfd's process has exited")
    h = host(machine)
    src_mm = task.mm if task.mm is not None else ctx.mm
    r = h.mfill_atomic(ctx, dst, src_mm, src, length, kind, mode)
    if r > 0:
        machine.clock.now += FILL_PAGE_NS * (r // PAGE_SIZE)
        if not mode & dontwake:
            ctx.wake(dst, r)
    if r < 0:
        raise UffdError(errno_name(r), f"{field} at {dst:#x}", {field: r})
    if r != length:
        raise UffdError("EAGAIN", f"{field}: {r} of {length} bytes", {field: r})
    return r


def _fill_preamble(machine, task, fd: int, dst: int, length: int):
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    _running(ctx)
    if ctx.mmap_changing and profile(machine).mmap_changing_in_preamble:
        raise UffdError("EAGAIN", "a non-cooperative event is in flight (mmap_changing)")
    validate_range(machine, dst, length)
    return ctx


def uffdio_copy(machine: Any, task: Any, fd: int, dst: int, src: int, length: int, mode: int = 0) -> int:
    """userfaultfd_copy() (userfaultfd.md 6.1, 6.4): copy ``length`` bytes from the caller's
    ``src`` into new pages at ``dst``; returns ``copy`` (= length)."""
    ctx = _fill_preamble(machine, task, fd, dst, length)
    if src + length <= src or src + length > 1 << 64:
        raise UffdError("EINVAL", "src + len wraps")
    if profile(machine).copy_validates_src and (src >= TASK_SIZE or length > TASK_SIZE - src):
        raise UffdError("EINVAL", f"src {src:#x} is beyond TASK_SIZE")
    if mode & ~(uapi.UFFDIO_COPY_MODE_DONTWAKE | uapi.UFFDIO_COPY_MODE_WP):
        raise UffdError("EINVAL", f"unknown UFFDIO_COPY mode bits {mode:#x}")
    return _fill(machine, task, ctx, FILL_COPY, dst, src, length, mode,
                 uapi.UFFDIO_COPY_MODE_DONTWAKE, "copy")


def uffdio_zeropage(machine: Any, task: Any, fd: int, start: int, length: int, mode: int = 0) -> int:
    """userfaultfd_zeropage(): zero pages (anonymous: the shared zero page) at [start, start +
    length); returns ``zeropage``."""
    ctx = _fill_preamble(machine, task, fd, start, length)
    if mode & ~uapi.UFFDIO_ZEROPAGE_MODE_DONTWAKE:
        raise UffdError("EINVAL", f"unknown UFFDIO_ZEROPAGE mode bits {mode:#x}")
    return _fill(machine, task, ctx, FILL_ZEROPAGE, start, 0, length, mode,
                 uapi.UFFDIO_ZEROPAGE_MODE_DONTWAKE, "zeropage")


def uffdio_continue(machine: Any, task: Any, fd: int, start: int, length: int, mode: int = 0) -> int:
    """userfaultfd_continue(): map the pages the page cache already holds (minor faults);
    returns ``mapped``.  Does not exist without the uffd-minor change (EINVAL: an unknown
    ioctl)."""
    if not minor_patch(machine):
        machine.clock.now += SYSCALL_NS
        uffd_ctx(task, fd)
        raise UffdError("EINVAL", "UFFDIO_CONTINUE does not exist without the uffd-minor change")
    ctx = _fill_preamble(machine, task, fd, start, length)
    if start + length <= start:
        raise UffdError("EINVAL", "start + len wraps")
    allowed = uapi.UFFDIO_CONTINUE_MODE_DONTWAKE
    if profile(machine).continue_wp:
        allowed |= uapi.UFFDIO_CONTINUE_MODE_WP
    if mode & ~allowed:
        raise UffdError("EINVAL", f"unknown UFFDIO_CONTINUE mode bits {mode:#x}")
    return _fill(machine, task, ctx, FILL_CONTINUE, start, 0, length, mode,
                 uapi.UFFDIO_CONTINUE_MODE_DONTWAKE, "mapped")


def uffdio_poison(machine: Any, task: Any, fd: int, start: int, length: int, mode: int = 0) -> int:
    """userfaultfd_poison() (v6.6+): poison markers at the none PTEs of the range (a later
    access is SIGBUS: BUS_MCEERR_AR, or BUS_ADRERR on a kernel without CONFIG_MEMORY_FAILURE);
    returns ``updated``."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    if not profile(machine).poison:
        raise UffdError("EINVAL", "UFFDIO_POISON does not exist before v6.6")
    _running(ctx)
    if ctx.mmap_changing and profile(machine).mmap_changing_in_preamble:
        raise UffdError("EAGAIN", "a non-cooperative event is in flight (mmap_changing)")
    validate_range(machine, start, length)
    if mode & ~uapi.UFFDIO_POISON_MODE_DONTWAKE:
        raise UffdError("EINVAL", f"unknown UFFDIO_POISON mode bits {mode:#x}")
    return _fill(machine, task, ctx, FILL_POISON, start, 0, length, mode,
                 uapi.UFFDIO_POISON_MODE_DONTWAKE, "updated")


def uffdio_move(machine: Any, task: Any, fd: int, dst: int, src: int, length: int, mode: int = 0) -> int:
    """userfaultfd_move() (v6.8+; userfaultfd.md section 12, probes/README.md row 33): move the
    caller's private anonymous pages of [src, src + length) to the registered, empty
    [dst, dst + length) without copying; returns ``move`` (= length).

    Order: an unknown ioctl before v6.8 (EINVAL); the handshake; mmap_changing (EAGAIN, move =
    -EAGAIN written); a caller in another mm (EINVAL: no cross-mm moves); validate_range() of
    dst, then of src, and an unknown mode bit (EINVAL, ``move`` untouched); ESRCH when the
    address space is gone; then move_pages() (uffd.Userfaultfd.move_pages): its result goes to
    ``move`` (-errno when the first page fails, else the bytes moved), [dst, dst + moved) is
    woken unless DONTWAKE, and a short move is EAGAIN.  Not gated by UFFD_FEATURE_MOVE (the
    live kernel moves with features 0)."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    if not profile(machine).move:
        raise UffdError("EINVAL", "UFFDIO_MOVE does not exist before v6.8")
    _running(ctx)
    if ctx.mmap_changing:
        raise UffdError("EAGAIN", "a non-cooperative event is in flight (mmap_changing)",
                        {"move": -11})
    if task.mm is not ctx.mm:
        raise UffdError("EINVAL", "UFFDIO_MOVE from another address space")
    validate_range(machine, dst, length)
    validate_range(machine, src, length)
    if mode & ~(uapi.UFFDIO_MOVE_MODE_DONTWAKE | uapi.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES):
        raise UffdError("EINVAL", f"unknown UFFDIO_MOVE mode bits {mode:#x}")
    if ctx.mm is None or ctx.mm.mm_users <= 0:
        raise UffdError("ESRCH", "the userfaultfd's process has exited")
    r = host(machine).move_pages(ctx, dst, src, length, mode)
    if r < 0:
        raise UffdError(errno_name(r), f"move at {dst:#x}", {"move": r})
    machine.clock.now += MOVE_PAGE_NS * (r // PAGE_SIZE)
    if not mode & uapi.UFFDIO_MOVE_MODE_DONTWAKE:
        ctx.wake(dst, r)
    if r != length:
        raise UffdError("EAGAIN", f"move: {r} of {length} bytes", {"move": r})
    return r


def uffdio_wake(machine: Any, task: Any, fd: int, start: int, length: int) -> None:
    """userfaultfd_wake() (userfaultfd.md 6.7): the range, then every sleeper in it."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    _running(ctx)
    validate_range(machine, start, length)
    ctx.wake(start, length)


def uffdio_writeprotect(machine: Any, task: Any, fd: int, start: int, length: int, mode: int) -> None:
    """userfaultfd_writeprotect() (userfaultfd.md 6.8): WP sets the uffd-wp bit on the present
    PTEs of a WP-registered range (v6.x: markers on the none ones of file memory, or anonymous
    memory with WP_UNPOPULATED), clearing it restores them and wakes the range unless DONTWAKE."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    _running(ctx)
    prof = profile(machine)
    if ctx.mmap_changing:
        raise UffdError("EAGAIN", "a non-cooperative event is in flight (mmap_changing)")
    validate_range(machine, start, length)
    if mode & ~(uapi.UFFDIO_WRITEPROTECT_MODE_WP | uapi.UFFDIO_WRITEPROTECT_MODE_DONTWAKE):
        raise UffdError("EINVAL", f"unknown UFFDIO_WRITEPROTECT mode bits {mode:#x}")
    wp = bool(mode & uapi.UFFDIO_WRITEPROTECT_MODE_WP)
    if wp and mode & uapi.UFFDIO_WRITEPROTECT_MODE_DONTWAKE:
        raise UffdError("EINVAL", "WP with DONTWAKE")
    end = start + length
    mm = ctx.mm
    h = host(machine)
    core = machine.mmcore
    vmas = _vmas_from(mm, start, end)

    def wp_ok(v) -> bool:
        if v.vm_userfaultfd_ctx is None or not v.vm_flags & VM_UFFD_WP:
            return False
        return prof.wp_shmem or vma_is_anonymous(v)

    if not prof.wp_partial:
        # v5.14 mwriteprotect_range(): one VMA holding the whole range, private anonymous
        v = mm.find_vma(start)
        if v is None or v.vm_start > start or end > v.vm_end or v.vm_flags & VM_SHARED or not wp_ok(v):
            raise UffdError("ENOENT", "the range is not one WP-registered private anonymous mapping")
        _protect(h, core, mm, v, start, end, wp, ctx)
    else:
        # v6.x: VMA by VMA; one that is not WP-registered ends it with ENOENT, what came before
        # stays protected
        addr = start
        for v in vmas:
            if v.vm_start > addr or not wp_ok(v):
                raise UffdError("ENOENT", f"{addr:#x} is not in a WP-registered mapping")
            if v.vm_flags & VM_HUGETLB and (start % vma_pagesize(v) or length % vma_pagesize(v)):
                raise UffdError("EINVAL", "the range is not aligned to the huge page size")
            s, e = max(start, v.vm_start), min(end, v.vm_end)
            _protect(h, core, mm, v, s, e, wp, ctx)
            addr = e
        if addr < end:
            raise UffdError("ENOENT", f"{addr:#x} is not in a WP-registered mapping")
    if not wp and not mode & uapi.UFFDIO_WRITEPROTECT_MODE_DONTWAKE:
        ctx.wake(start, length)


def _protect(h, core, mm, vma, start: int, end: int, wp: bool, ctx) -> None:
    """uffd_wp_range(): change_protection() with MM_CP_UFFD_WP or MM_CP_UFFD_WP_RESOLVE; file
    memory (and anonymous memory with WP_UNPOPULATED) marks none PTEs too (v5.19+)."""
    core.change_protection(mm, start, end, not wp, 1 if wp else 2)
    markers = core.pte_markers and (vma_is_shmem(vma) or vma.vm_flags & VM_HUGETLB or
                                    ctx.features & uapi.UFFD_FEATURE_WP_UNPOPULATED)
    if not markers:
        return
    if vma.vm_flags & VM_HUGETLB:
        h.uffd_wp_huge_markers(mm, start, end, vma_pagesize(vma), wp)
    elif wp:
        h.uffd_wp_markers(mm, start, end)
    else:
        h.clear_wp_markers(mm, start, end)


# -- read and poll ------------------------------------------------------------------------------

def _take_messages(ctx, count: int):
    """userfaultfd_ctx_read() without sleeping: the messages that fit in ``count`` bytes, page
    faults first (oldest first; each moves to the read queue), then events (completed as they
    are read); an errno name instead when the read is refused."""
    if not ctx.api_done:
        return "EINVAL"
    if count < uapi.MSG_SIZE:
        return "EINVAL"
    out: List[bytes] = []
    while count - len(out) * uapi.MSG_SIZE >= uapi.MSG_SIZE:
        if ctx.fault_pending:
            f = ctx.fault_pending.pop(0)
            ctx.fault_read.append(f)
            out.append(uapi.msg_pagefault(f.flags, f.address, f.ptid))
        elif ctx.events:
            ev = ctx.events.pop(0)
            out.append(ev.read(ctx))
        else:
            break
    return out


def read(machine: Any, task: Any, fd: int, count: int = uapi.MSG_SIZE) -> Generator[Any, None, List[bytes]]:
    """read(2) of a userfaultfd (userfaultfd.md 3.3): EINVAL before UFFDIO_API or for a buffer
    under 32 bytes; the queued messages that fit, or -- nothing queued -- EAGAIN on an
    O_NONBLOCK fd and a sleep until a message arrives on a blocking one.  A generator:
    ``msgs = yield from read(...)``; returns the 32-byte messages."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    file = task.files.fget(fd)
    while True:
        out = _take_messages(ctx, count)
        if isinstance(out, str):
            raise UffdError(out, "read of a userfaultfd before UFFDIO_API or with a short buffer")
        if out:
            return out
        if ctx.released:
            return []
        if file.f_flags & uapi.O_NONBLOCK:
            raise UffdError("EAGAIN", "no message queued")
        yield ctx.fd_wqh


def poll(machine: Any, task: Any, fd: int) -> int:
    """userfaultfd_poll() (userfaultfd.md 3.4): POLLERR before UFFDIO_API and on a blocking fd;
    POLLIN when a fault is unread or an event queued; 0 otherwise."""
    machine.clock.now += SYSCALL_NS
    ctx = uffd_ctx(task, fd)
    file = task.files.fget(fd)
    if ctx.released:
        return POLLHUP
    if not ctx.api_done or not file.f_flags & uapi.O_NONBLOCK:
        return POLLERR
    return POLLIN if ctx.fault_pending or ctx.events else 0


def fdinfo(machine: Any, file: File) -> str:
    """seq_show() of /proc/PID/fdinfo/FD: pos, flags (octal, O_CLOEXEC included), mnt_id and
    ino, then userfaultfd_show_fdinfo(): pending, total and the API line (UFFD_API, the
    context's features -- with v6.x's UFFD_FEATURE_INITIALIZED bit once the handshake is done
    --, the API and range ioctls)."""
    ctx = file.private_data
    head = (f"pos:\t{file.f_pos}\nflags:\t0{file.f_flags:o}\nmnt_id:\t{file.f_path.mnt.mnt_id}\n"
            f"ino:\t{file.f_inode.i_ino}\n")
    return head + show_fdinfo(machine, ctx)


def show_fdinfo(machine: Any, ctx) -> str:
    """userfaultfd_show_fdinfo()'s three lines."""
    prof = profile(machine)
    features = ctx.features
    if prof.features_initialized_bit and ctx.api_done:
        features |= uapi.UFFD_FEATURE_INITIALIZED
    ioctls = uapi.UFFD_API_IOCTLS | prof.range_ioctls
    if not minor_patch(machine):
        ioctls &= ~(1 << uapi._UFFDIO_CONTINUE)
    return f"pending:\t{ctx.pending}\ntotal:\t{ctx.total}\nAPI:\t{uapi.UFFD_API:x}:{features:x}:{ioctls:x}\n"
