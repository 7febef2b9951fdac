"""The kernel log (Machine.printk, machine.kmsg, format_kmsg) and KernelPanic.

Scenarios: printk stamps each line with the emulated clock and dmesg prints it as
``[%5lu.%06lu] line``; the run summary lists the log under ``kernel_log`` (empty when nothing was
logged); a step that panics (KernelPanic) stops the run at its own location with the panic's
text in the log and in the error; the OOM killer's panics are KernelPanics and logged too.
"""
import textwrap

import pytest

from memsim.errors import EXIT_BAD_INPUT, KernelPanic, OutOfMemoryPanic, WorkloadError
from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec, format_kmsg
from memsim.registry import Param, StepType
from memsim.testing import run_text


@pytest.mark.parametrize("ns, text", [
    (0, "[    0.000000] hello"),
    (120_000, "[    0.000120] hello"),
    (1_999, "[    0.000001] hello"),                     # microseconds, rounded down
    (3_000_500_000, "[    3.000500] hello"),
    (12_345_678_901_234, "[12345.678901] hello"),
    (123_456_000_000_000, "[123456.000000] hello"),       # %5lu widens, as dmesg does
])
def test_format_kmsg_is_dmesgs_form(ns, text):
    assert format_kmsg(ns, "hello") == text


def test_printk_appends_each_line_with_the_emulated_time():
    m = Machine(MachineSpec(nodes=(64 << 20,)), with_slab=False)
    assert m.kmsg == [] and m.dmesg() == []
    m.clock.now = 120_000
    m.printk("BUG: KASAN: slab-out-of-bounds in foo\nRead of size 1 at addr ffff888000001000\n")
    m.clock.now = 2_000_000_000
    m.printk("Disabling lock debugging due to kernel taint")
    assert m.kmsg == [(120_000, "BUG: KASAN: slab-out-of-bounds in foo"),
                      (120_000, "Read of size 1 at addr ffff888000001000"),
                      (2_000_000_000, "Disabling lock debugging due to kernel taint")]
    assert m.dmesg() == ["[    0.000120] BUG: KASAN: slab-out-of-bounds in foo",
                         "[    0.000120] Read of size 1 at addr ffff888000001000",
                         "[    2.000000] Disabling lock debugging due to kernel taint"]


class Panicky:
    """A test plugin: ``log: {text}`` printks, ``panic: {text}`` printks and panics, as a
    plugin with panic_on_warn would."""

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("log", "printk", (Param("text", "str", "what", required=True),),
                           lambda ctx, step: ctx.machine.printk(step.args["text"]), plugin="t"))
        steps.add(StepType("panic", "panic()", (Param("text", "str", "what", required=True),),
                           self.panic, plugin="t"))

    @staticmethod
    def panic(ctx, step):
        text = f"Kernel panic - not syncing: {step.args['text']}"
        ctx.machine.printk(text)
        raise KernelPanic(None, text, "do not set panic_on_warn")


def workload(steps):
    return ("machine: {cpus: 1, nodes: [{memory: 64 MiB}]}\ntasks:\n  - name: app\n    steps:\n"
            + textwrap.indent(textwrap.dedent(steps), "      "))


def test_the_summary_lists_the_kernel_log():
    r = run_text(workload("""\
        - sleep: {duration: 1500 us}
        - log: {text: "hello\\nworld"}
        """), plugins=(Panicky(),), events=())
    assert r.error is None, r.error
    assert r.summary()["kernel_log"] == ["[    0.001500] hello", "[    0.001500] world"]


def test_a_run_that_logs_nothing_has_an_empty_kernel_log():
    r = run_text(workload("- sleep: {duration: 1 ms}\n"), events=())
    assert r.summary()["kernel_log"] == []


def test_a_kernel_panic_stops_the_run_at_its_step_and_is_logged():
    r = run_text(workload("""\
        - log: {text: "WARNING: CPU: 0 PID: 1000 at mm/slub.c"}
        - panic: {text: panic_on_warn set ...}
        - sleep: {duration: 1 ms}
        """), plugins=(Panicky(),), events=())
    assert isinstance(r.error, KernelPanic) and isinstance(r.error, WorkloadError)
    assert r.error.exit_code == EXIT_BAD_INPUT
    assert str(r.error) == ("test.yaml:6:9: Kernel panic - not syncing: panic_on_warn set ...; "
                            "do not set panic_on_warn")
    s = r.summary()
    assert s["kernel_log"] == ["[    0.000000] WARNING: CPU: 0 PID: 1000 at mm/slub.c",
                               "[    0.000000] Kernel panic - not syncing: panic_on_warn set ..."]
    assert s["error"] == str(r.error)
    assert s["tasks"][0]["exited"] is False       # the sleep after the panic never ran


def test_the_oom_killers_panics_are_kernel_panics_and_logged():
    assert issubclass(OutOfMemoryPanic, KernelPanic)
    r = run_text(workload("""\
        - write_file: {path: /proc/sys/vm/panic_on_oom, data: '1'}
        - mmap: {name: heap, length: 63 MiB}
        - touch: {vma: heap, access: write}
        """), events=())
    assert isinstance(r.error, OutOfMemoryPanic)
    assert str(r.error.where) == "test.yaml:7:9"
    [line] = r.summary()["kernel_log"]
    assert line.endswith("] Kernel panic - not syncing: Out of memory: system-wide panic_on_oom "
                         "is enabled")
    r = run_text(workload("""\
        - mmap: {name: heap, length: 63 MiB}
        - touch: {vma: heap, access: write}
        """).replace("  - name: app\n", "  - name: app\n    oom_score_adj: -1000\n"), events=())
    assert isinstance(r.error, OutOfMemoryPanic)
    assert [line.split("] ", 1)[1] for line in r.summary()["kernel_log"]] == [
        "Out of memory and no killable processes...",
        "Kernel panic - not syncing: System is deadlocked on memory"]
