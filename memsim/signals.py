"""Signals as the kernel delivers them for a user fault: numbers, si_codes and the siginfo.

The values are x86-64 Linux's (arch/x86/include/uapi/asm/signal.h, include/uapi/asm-generic/
siginfo.h).  :func:`fault_signal` is the decision of arch/x86/mm/fault.c: ``do_user_addr_fault()``
(no VMA: ``bad_area()`` -> SEGV_MAPERR; ``access_error()`` -> SEGV_ACCERR) and
``mm_fault_error()`` (VM_FAULT_SIGBUS -> ``do_sigbus()`` BUS_ADRERR, VM_FAULT_HWPOISON ->
``force_sig_mceerr(BUS_MCEERR_AR)``, VM_FAULT_SIGSEGV -> ``bad_area_nosemaphore()``, which
reports SEGV_MAPERR).  VM_FAULT_OOM raises no signal: the page fault path calls
``pagefault_out_of_memory()``; the OOM killer (memsim.oom) sends SIGKILL to its victim
(:func:`oom_sigkill`: SEND_SIG_PRIV, si_code SI_KERNEL), which cannot be caught.

A fault signal is forced (``force_sig_fault()`` in kernel/signal.c): it cannot be blocked or
ignored, only caught by a handler.  Uncaught, its default action (SIGSEGV and SIGBUS both dump
core, ``sig_kernel_coredump()``) ends the whole thread group (``do_group_exit()``); memsim writes
no core (RLIMIT_CORE 0), so the wait status is the bare signal number, as ``WTERMSIG()`` reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

__all__ = [
    "SIGNALS", "SIGNAL_NAMES", "SI_CODES", "SigInfo", "fault_signal", "signal_number",
    "wait_status_exited", "wait_status_signaled", "VM_FAULT_OOM", "VM_FAULT_SIGBUS",
    "VM_FAULT_HWPOISON", "VM_FAULT_HWPOISON_LARGE", "VM_FAULT_SIGSEGV", "SI_KERNEL", "oom_sigkill",
]

#: Signal numbers of x86-64 Linux (arch/x86/include/uapi/asm/signal.h), in number order.
SIGNALS: Dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
    "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
    "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
    "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}
#: Number -> name.
SIGNAL_NAMES: Dict[int, str] = {n: name for name, n in SIGNALS.items()}

#: si_code values per signal (include/uapi/asm-generic/siginfo.h), name -> value.
SI_CODES: Dict[str, Dict[str, int]] = {
    "SIGSEGV": {"SEGV_MAPERR": 1, "SEGV_ACCERR": 2, "SEGV_BNDERR": 3, "SEGV_PKUERR": 4,
                "SEGV_ACCADI": 5, "SEGV_ADIDERR": 6, "SEGV_ADIPERR": 7, "SEGV_MTEAERR": 8,
                "SEGV_MTESERR": 9},
    "SIGBUS": {"BUS_ADRALN": 1, "BUS_ADRERR": 2, "BUS_OBJERR": 3, "BUS_MCEERR_AR": 4,
               "BUS_MCEERR_AO": 5},
}

# VM_FAULT_* bits the decision reads (include/linux/mm_types.h; memsim.mm declares them in C)
VM_FAULT_OOM = 0x000001
VM_FAULT_SIGBUS = 0x000002
VM_FAULT_HWPOISON = 0x000010
VM_FAULT_HWPOISON_LARGE = 0x000020
VM_FAULT_SIGSEGV = 0x000040
PAGE_SHIFT = 12
#: The page shift of each hstate index VM_FAULT_HWPOISON_LARGE may carry (x86-64: 2 MiB, 1 GiB).
_HSTATE_SHIFT = (21, 30)


def signal_number(name: str) -> int:
    """The number of signal ``name`` (``"SIGBUS"`` -> 7); KeyError for an unknown name."""
    return SIGNALS[name]


@dataclass(frozen=True)
class SigInfo:
    """The siginfo of a fault signal: ``si_signo``, ``si_code``, ``si_addr`` (the address
    accessed) and ``si_addr_lsb`` (BUS_MCEERR_*: log2 of the size of the poisoned memory)."""

    signo: int
    code: int
    addr: int
    addr_lsb: int = 0

    @property
    def name(self) -> str:
        return SIGNAL_NAMES.get(self.signo, f"signal {self.signo}")

    @property
    def code_name(self) -> str:
        for code_name, value in SI_CODES.get(self.name, {}).items():
            if value == self.code:
                return code_name
        if self.code == SI_KERNEL:
            return "SI_KERNEL"
        return str(self.code)

    def describe(self) -> str:
        """``SIGBUS (BUS_ADRERR at 0x7ffff7ff0000)``; ``SIGKILL (SI_KERNEL)`` for a signal the
        kernel sent itself."""
        if self.code == SI_KERNEL:
            return f"{self.name} (SI_KERNEL)"
        return f"{self.name} ({self.code_name} at {self.addr:#x})"

    def as_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"signo": self.signo, "name": self.name, "si_code": self.code,
                               "si_code_name": self.code_name, "si_addr": self.addr}
        if self.addr_lsb:
            out["si_addr_lsb"] = self.addr_lsb
        return out


def fault_signal(fault: int, address: int, *, unmapped: bool = False,
                 access_error: bool = False, memory_failure: bool = True) -> Optional[SigInfo]:
    """The signal a user-mode page fault at ``address`` raises (arch/x86/mm/fault.c), or None.

    ``unmapped``: no VMA covers the address (``bad_area()``: SEGV_MAPERR); ``access_error``: the
    VMA forbids the access (``bad_area_access_error()``: SEGV_ACCERR); otherwise ``fault`` is
    handle_mm_fault()'s VM_FAULT_* result, read as ``mm_fault_error()`` does.  VM_FAULT_OOM and a
    fault without an error bit give None.  ``memory_failure``: the kernel has
    CONFIG_MEMORY_FAILURE; without it do_sigbus() answers VM_FAULT_HWPOISON with BUS_ADRERR.
    """
    if unmapped:
        return SigInfo(SIGNALS["SIGSEGV"], SI_CODES["SIGSEGV"]["SEGV_MAPERR"], address)
    if access_error:
        return SigInfo(SIGNALS["SIGSEGV"], SI_CODES["SIGSEGV"]["SEGV_ACCERR"], address)
    if fault & VM_FAULT_OOM:
        return None
    if fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE) and memory_failure:
        # do_sigbus(): "MCE: Killing ... due to hardware memory corruption fault"
        lsb = PAGE_SHIFT
        if fault & VM_FAULT_HWPOISON_LARGE:
            hindex = (fault >> 16) & 0xF           # VM_FAULT_GET_HINDEX()
            lsb = _HSTATE_SHIFT[hindex] if hindex < len(_HSTATE_SHIFT) else PAGE_SHIFT
        return SigInfo(SIGNALS["SIGBUS"], SI_CODES["SIGBUS"]["BUS_MCEERR_AR"], address, lsb)
    if fault & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE):
        return SigInfo(SIGNALS["SIGBUS"], SI_CODES["SIGBUS"]["BUS_ADRERR"], address)
    if fault & VM_FAULT_SIGSEGV:
        return SigInfo(SIGNALS["SIGSEGV"], SI_CODES["SIGSEGV"]["SEGV_MAPERR"], address)
    return None


#: si_code of a signal the kernel sends itself (SEND_SIG_PRIV: include/uapi/asm-generic/siginfo.h)
SI_KERNEL = 0x80


def oom_sigkill() -> SigInfo:
    """The SIGKILL __oom_kill_process() sends (do_send_sig_info(SIGKILL, SEND_SIG_PRIV, ...)):
    si_code SI_KERNEL, no address.  It cannot be caught: the thread group dies."""
    return SigInfo(SIGNALS["SIGKILL"], SI_KERNEL, 0)


def wait_status_exited(code: int) -> int:
    """The wait status of a task that exited with ``code`` (WIFEXITED, WEXITSTATUS)."""
    return (code & 0xFF) << 8


def wait_status_signaled(signo: int, core_dumped: bool = False) -> int:
    """The wait status of a task killed by ``signo`` (WIFSIGNALED, WTERMSIG, WCOREDUMP)."""
    return (signo & 0x7F) | (0x80 if core_dumped else 0)
