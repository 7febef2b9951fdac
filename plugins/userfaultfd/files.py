"""The files of userfaultfd: the ``vm.unprivileged_userfaultfd`` sysctl and, on v6.18, the
``/dev/userfaultfd`` misc device (mode 0600, root's)."""
from __future__ import annotations

from typing import Any

from memsim.pseudofs import proc_dointvec_minmax
from memsim.registry import ProcFile

S_IFCHR = 0o020000


def _settings(machine: Any):
    from memsim.plugins.userfaultfd.api import settings
    return settings(machine)


def _unpriv_write(machine: Any, data: bytes):
    """proc_dointvec_minmax with extra1 = 0, extra2 = 1: EINVAL outside [0, 1]."""
    value, used = proc_dointvec_minmax(data, 0, 1)
    _settings(machine)["unprivileged_userfaultfd"] = value
    return used


def proc_files():
    return (
        ProcFile("/proc/sys/vm/unprivileged_userfaultfd", "1 lets a task without CAP_SYS_PTRACE "
                 "create userfaultfds that handle kernel faults too; 0 (the default) lets it only "
                 "with UFFD_USER_MODE_ONLY",
                 render=lambda m: f"{_settings(m).get('unprivileged_userfaultfd', 0)}\n",
                 write=_unpriv_write),
    )


def machine_created(machine: Any) -> None:
    """/dev/userfaultfd (v6.1+: userfaultfd_dev_init(), a misc device, crw------- root)."""
    from memsim.plugins.userfaultfd.api import profile
    if not profile(machine).dev_userfaultfd:
        return
    vfs = machine.vfs
    try:
        dev = vfs.path_lookup("/dev").dentry
    except Exception:               # a namespace without /dev: nothing to add
        return
    if "userfaultfd" in dev.d_subdirs:
        return
    sb = dev.d_inode.i_sb
    inode = sb.new_inode(S_IFCHR | 0o600)
    sb.d_alloc(dev, "userfaultfd", inode)
