"""The signal a user page fault raises (arch/x86/mm/fault.c: do_user_addr_fault, mm_fault_error,
do_sigbus) and the x86-64 signal table."""
import signal as host_signal

import pytest

from memsim.signals import (SI_CODES, SIGNALS, SigInfo, fault_signal, wait_status_exited,
                            wait_status_signaled)


def test_signal_numbers_are_x86_64s():
    # this host is x86-64 Linux: its own signal module holds the same numbers
    for name, number in SIGNALS.items():
        if hasattr(host_signal, name):
            assert getattr(host_signal, name) == number, name
    assert (SIGNALS["SIGBUS"], SIGNALS["SIGSEGV"], SIGNALS["SIGSTKFLT"]) == (7, 11, 16)


@pytest.mark.parametrize("fault, kind, want", [
    (0, {"unmapped": True}, ("SIGSEGV", "SEGV_MAPERR")),          # bad_area()
    (0, {"access_error": True}, ("SIGSEGV", "SEGV_ACCERR")),      # bad_area_access_error()
    (0x40, {}, ("SIGSEGV", "SEGV_MAPERR")),                       # VM_FAULT_SIGSEGV: bad_area_nosemaphore()
    (0x2, {}, ("SIGBUS", "BUS_ADRERR")),                          # VM_FAULT_SIGBUS: do_sigbus()
    (0x10, {}, ("SIGBUS", "BUS_MCEERR_AR")),                      # VM_FAULT_HWPOISON
    (0x20, {}, ("SIGBUS", "BUS_MCEERR_AR")),                      # VM_FAULT_HWPOISON_LARGE
    (0x12, {}, ("SIGBUS", "BUS_MCEERR_AR")),                      # poison wins over SIGBUS
])
def test_fault_signal(fault, kind, want):
    info = fault_signal(fault, 0x7F0000001234, **kind)
    assert (info.name, info.code_name) == want
    assert info.addr == 0x7F0000001234


def test_oom_raises_no_signal():
    # mm_fault_error(): VM_FAULT_OOM goes to pagefault_out_of_memory(), not to a signal
    assert fault_signal(0x1, 0x1000) is None
    assert fault_signal(0x1 | 0x2, 0x1000) is None
    assert fault_signal(0, 0x1000) is None


def test_hwpoison_reports_the_size_of_the_poisoned_memory():
    assert fault_signal(0x10, 0x1000).addr_lsb == 12              # a page
    assert fault_signal(0x20 | (0 << 16), 0x1000).addr_lsb == 21  # hstate 0: 2 MiB
    assert fault_signal(0x20 | (1 << 16), 0x1000).addr_lsb == 30  # hstate 1: 1 GiB


def test_siginfo_as_the_summary_shows_it():
    info = SigInfo(7, SI_CODES["SIGBUS"]["BUS_ADRERR"], 0x7FFFF7FF0000)
    assert info.describe() == "SIGBUS (BUS_ADRERR at 0x7ffff7ff0000)"
    assert info.as_dict() == {"signo": 7, "name": "SIGBUS", "si_code": 2, "si_code_name": "BUS_ADRERR",
                              "si_addr": 0x7FFFF7FF0000}


def test_wait_statuses_read_like_the_host_wait_macros():
    import os
    assert os.WIFSIGNALED(wait_status_signaled(7)) and os.WTERMSIG(wait_status_signaled(7)) == 7
    assert not os.WCOREDUMP(wait_status_signaled(11))
    assert os.WCOREDUMP(wait_status_signaled(11, core_dumped=True))
    assert os.WIFEXITED(wait_status_exited(3)) and os.WEXITSTATUS(wait_status_exited(3)) == 3
