"""The kasan plugin's files and summary row.

/proc/sys/kernel/tainted (the taint mask: a KASAN report sets TAINT_BAD_PAGE, 32; a WARN
TAINT_WARN, 512) and /proc/sys/kernel/panic_on_warn (the ``kasan:`` section's panic_on_warn,
writable at run time).
"""
from __future__ import annotations

from memsim.registry import ProcFile, SummaryRow


def _state(machine):
    return machine.plugin_state.get("kasan")


def _tainted(machine) -> str:
    st = _state(machine)
    return f"{st.reporter.taint if st is not None else 0}\n"


def _panic_on_warn(machine) -> str:
    st = _state(machine)
    return f"{int(st.settings.panic_on_warn) if st is not None else 0}\n"


def _write_panic_on_warn(machine, data: bytes):
    from memsim.pseudofs import proc_dointvec_minmax
    value, used = proc_dointvec_minmax(data, 0, 1)
    st = _state(machine)
    if st is not None:
        st.settings.panic_on_warn = bool(value)
    return used


def proc_files():
    return (ProcFile("/proc/sys/kernel/tainted", "the kernel's taint mask (a KASAN report sets "
                     "TAINT_BAD_PAGE, 32)", _tainted, plugin="kasan"),
            ProcFile("/proc/sys/kernel/panic_on_warn", "panic on a WARN or (without multi-shot) "
                     "a KASAN report", _panic_on_warn, write=_write_panic_on_warn, plugin="kasan"))


def _summary(machine):
    st = _state(machine)
    if st is None:
        return None
    r = st.reporter
    return dict(reports=dict(sorted(r.counts.items())), suppressed=r.suppressed,
                taint=r.taint, **st.host.stats())


def summary_rows():
    return (SummaryRow("kasan", "KASAN reports by kind, suppressed reports, checked accesses, tag "
                       "draws and shadow writes (None when KASAN is off)", _summary, plugin="kasan"),)
