"""Signals in a workload: a fault the kernel answers with SIGSEGV or SIGBUS raises it in the
faulting task; ``expect: {signal: ...}`` right after the step catches it (the program's handler),
anything else lets the default action kill the whole thread group while other processes go on."""
import json
import textwrap

import pytest

from memsim.errors import ExpectationFailed, WorkloadError
from memsim.hookspecs import hookimpl
from memsim.mm import PY_PTE_MARKER_POISONED, VM_UFFD_MISSING, pte_marker_entry
from memsim.registry import Param, StepType
from memsim.testing import run_text, task_summary as task

PAGE = 4096


def run(text, plugins=(), **kw):
    # the test steps arm VMAs with VM_UFFD_* and no context, a state the real userfaultfd plugin
    # (and its --check) would never allow: it is left out
    return run_text(textwrap.dedent(text), plugins=plugins, events=(), disabled=("userfaultfd",), **kw)


class Poke:
    """Test steps: ``arm`` marks a mapping VM_UFFD_MISSING with no userfaultfd behind it (its
    faults get SIGBUS, as handle_userfault() without a context); ``poison`` puts a poison
    marker (UFFDIO_POISON, v6.18) in the PTE of a page."""

    def arm(self, ctx, step):
        m = ctx.mapping()
        ctx.task.mm.find_vma(m.start).vm_flags |= VM_UFFD_MISSING

    def poison(self, ctx, step):
        m = ctx.mapping()
        core = ctx.machine.mmcore
        core.set_pte(ctx.task.mm, m.start + step.args["offset"],
                     pte_marker_entry(core.swp_pte_marker, PY_PTE_MARKER_POISONED))

    @hookimpl
    def memsim_register_steps(self, steps):
        vma = Param("vma", "str", "the mapping", required=True, refers="vma")
        steps.add(StepType("arm", "arm a mapping", (vma,), self.arm, plugin="t"))
        steps.add(StepType("poison", "poison a page", (vma, Param("offset", "size", "where", default=0)),
                           self.poison, plugin="t"))


# -- an unhandled signal kills the thread group, and only it -----------------------------------

def test_uncaught_sigsegv_kills_the_process_and_the_others_go_on():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: victim
            steps:
              - mmap: {name: buf, length: 64 KiB}
              - touch: {vma: buf}
              - munmap: {vma: buf, offset: 16 KiB}
              - touch: {vma: buf, offset: 4 KiB}
              - mmap: {name: never, length: 4 KiB}
          - name: bystander
            steps:
              - mmap: {name: buf, length: 64 KiB}
              - sleep: {duration: 1ms}
              - touch: {vma: buf}
              - expect: {rss: {anon: 64 KiB}}
        """)
    assert r.error is None, r.error
    victim, bystander = task(r, "victim"), task(r, "bystander")
    assert victim["killed_by"] == "SIGSEGV" and victim["exit_code"] is None
    assert victim["wait_status"] == 11                            # WTERMSIG 11, no core written
    [sig] = victim["signals"]
    start = r.task_data[victim["pid"]].mappings["buf"].start
    assert sig == {"signo": 11, "name": "SIGSEGV", "si_code": 1, "si_code_name": "SEGV_MAPERR",
                   "si_addr": start + 16 * 1024, "step": "test.yaml:8:9", "caught": False}
    assert "never" not in r.task_data[victim["pid"]].mappings     # nothing ran after the fault
    assert bystander["exited"] and bystander["exit_code"] == 0 and bystander["killed_by"] is None
    assert bystander["wait_status"] == 0
    assert r.machine.live_mms() == []                             # the victim's mm is gone too


def test_a_fatal_signal_ends_every_thread_of_the_process():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 64 KiB}
              - clone:
                  thread: sleeper
                  steps:
                    - sleep: {duration: 1 s}
                    - mmap: {name: late, length: 4 KiB}
              - clone:
                  thread: crasher
                  steps:
                    - touch: {vma: buf}
                    - mprotect: {vma: buf, prot: r}
                    - write: {vma: buf, offset: 100, data: x}
              - sleep: {duration: 2 s}
              - exit: {code: 0}
          - name: other
            steps:
              - sleep: {duration: 3 s}
              - exit: {code: 4}
        """)
    assert r.error is None, r.error
    for name in ("app", "sleeper", "crasher"):
        t = task(r, name)
        assert t["killed_by"] == "SIGSEGV" and t["wait_status"] == 11, name
    crasher = task(r, "crasher")
    assert crasher["signals"][0]["si_code_name"] == "SEGV_ACCERR"
    assert crasher["signals"][0]["si_addr"] % PAGE == 100         # the faulting byte, not its page
    assert task(r, "app")["signals"] == []                        # raised in the crasher only
    assert task(r, "other")["exit_code"] == 4
    assert "late" not in r.task_data[task(r, "app")["pid"]].mappings    # the sleeper never woke
    assert r.machine.live_mms() == []


# -- caught: expect: {signal: ...} -------------------------------------------------------------

def test_a_caught_signal_lets_the_task_go_on():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - mprotect: {vma: buf, prot: r}
              - touch: {vma: buf, access: write}
              - expect: {signal: SIGSEGV, si_code: SEGV_ACCERR}
              - mprotect: {vma: buf, prot: rw}
              - touch: {vma: buf, access: write}
              - expect: {rss: {anon: 16 KiB}}
        """)
    assert r.error is None, r.error
    app = task(r, "app")
    assert app["exit_code"] == 0 and app["killed_by"] is None
    assert [s["caught"] for s in app["signals"]] == [True]


def test_sigbus_beyond_the_end_of_a_file():
    # the classic: a file mapping grown by mremap past the end of the file
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: f, length: 8 KiB, type: file, file: data.bin, prot: r}
              - mremap: {vma: f, length: 16 KiB}
              - touch: {vma: f, length: 8 KiB, access: read}
              - touch: {vma: f, access: read}
              - expect: {signal: SIGBUS, si_code: BUS_ADRERR}
        """)
    assert r.error is None, r.error
    [sig] = task(r, "app")["signals"]
    start = r.task_data[task(r, "app")["pid"]].mappings["f"].start
    assert sig["si_addr"] == start + 8 * 1024 and sig["caught"]


def test_sigbus_from_a_userfaultfd_range_nobody_handles():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - arm: {vma: buf}
              - touch: {vma: buf, offset: 8 KiB}
        """, plugins=[Poke()])
    assert r.error is None, r.error
    app = task(r, "app")
    assert app["killed_by"] == "SIGBUS" and app["wait_status"] == 7
    assert app["signals"][0]["si_code_name"] == "BUS_ADRERR"


def test_a_poisoned_page_is_sigbus_mceerr():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - poison: {vma: buf, offset: 4 KiB}
              - write: {vma: buf, offset: 4100, data: x}
              - expect: {signal: SIGBUS, si_code: BUS_MCEERR_AR}
        """, plugins=[Poke()])
    assert r.error is None, r.error
    [sig] = task(r, "app")["signals"]
    start = r.task_data[task(r, "app")["pid"]].mappings["buf"].start
    assert sig["si_addr_lsb"] == 12 and sig["si_addr"] == start + 4100


# -- mismatches are expectation failures at the expect's place --------------------------------

@pytest.mark.parametrize("expect, where, problem", [
    ("{signal: SIGBUS}", "9:26", "expected SIGBUS, but touch raised SIGSEGV (SEGV_MAPERR at 0x"),
    ("{signal: SIGSEGV, si_code: SEGV_ACCERR}", "9:44", "expected SIGSEGV with si_code SEGV_ACCERR, "
                                                        "but it came with SIGSEGV (SEGV_MAPERR at 0x"),
    ("{rss: {anon: 0}}", "9:9", "touch at test.yaml:8:9 raised SIGSEGV (SEGV_MAPERR at 0x"),
])
def test_signal_mismatch(expect, where, problem):
    r = run(f"""\
        machine: {{nodes: [{{memory: 64 MiB}}]}}
        tasks:
          - name: app
            steps:
              - mmap: {{name: buf, length: 16 KiB}}
              - munmap: {{vma: buf}}
              - mmap: {{name: other, length: 4 KiB}}
              - touch: {{vma: buf}}
              - expect: {expect}
        """)
    assert isinstance(r.error, ExpectationFailed) and r.error.exit_code == 1
    assert str(r.error).startswith(f"test.yaml:{where}: {problem}"), str(r.error)


def test_expecting_a_signal_that_did_not_come():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - touch: {vma: buf}
              - expect: {signal: SIGSEGV}
        """)
    assert isinstance(r.error, ExpectationFailed)
    assert str(r.error) == ("test.yaml:7:26: expected the previous step to raise SIGSEGV, but it "
                            "raised no signal; check the step before this expect")


def test_oom_kills_the_toucher_instead_of_an_errno():
    # mm/oom_kill.c: the faulting task is the only candidate, so out_of_memory() sends it SIGKILL
    # (SEND_SIG_PRIV: SI_KERNEL); the expect after the touch is never reached
    r = run("""\
        machine: {nodes: [{memory: 16 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 MiB}
              - touch: {vma: buf}
              - expect: {errno: ENOMEM}
        """)
    assert isinstance(r.error, ExpectationFailed)
    assert str(r.error).startswith("test.yaml:7:9: the OOM killer killed the process (SIGKILL) "
                                   "during touch at test.yaml:6:9: this expect is never reached")
    app = task(r, "app")
    assert app["killed_by"] == "SIGKILL" and app["wait_status"] == 9
    assert [(s["name"], s["si_code_name"], s["caught"]) for s in app["signals"]] == [
        ("SIGKILL", "SI_KERNEL", False)]


@pytest.mark.parametrize("expect, message", [
    ("{signal: SIGSEV}", "test.yaml:6:26: invalid expect.signal: 'SIGSEV' is not a signal name; "
                         "did you mean 'SIGSEGV'?"),
    ("{signal: segv}", "test.yaml:6:26: invalid expect.signal: 'segv' is not a signal name; "
                       "did you mean 'SIGSEGV'?"),
    ("{si_code: SEGV_MAPERR}", "test.yaml:6:27: expect.si_code is only read with expect.signal; "
                               "add signal: SIGSEGV (or the signal you expect)"),
    ("{signal: SIGBUS, si_code: SEGV_MAPERR}", "test.yaml:6:43: 'SEGV_MAPERR' is not a si_code of "
                                               "SIGBUS; SIGBUS comes with BUS_ADRALN, BUS_ADRERR, "
                                               "BUS_OBJERR, BUS_MCEERR_AR, BUS_MCEERR_AO"),
])
def test_signal_keys_are_checked_when_loading(expect, message):
    with pytest.raises(WorkloadError) as info:
        run(f"""\
            tasks:
              - name: app
                steps:
                  - mmap: {{name: buf, length: 16 KiB}}
                  - touch: {{vma: buf}}
                  - expect: {expect}
            """)
    assert str(info.value) == message


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_shows_killed_by(tmp_path):
    from click.testing import CliRunner
    from memsim.cli import main
    wl = tmp_path / "w.yaml"
    wl.write_text(textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: f, length: 4 KiB, type: file, file: data.bin, prot: r}
              - mremap: {vma: f, length: 8 KiB}
              - touch: {vma: f, access: read}
        """))
    r = CliRunner().invoke(main, ["run", str(wl)])
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.startswith("app "))
    assert "killed by SIGBUS" in row
    assert "app (1000): SIGBUS (BUS_ADRERR at 0x" in r.output and "not caught" in r.output
    r = CliRunner().invoke(main, ["run", str(wl), "--json"])
    t = json.loads(r.output)["tasks"][0]
    assert (t["killed_by"], t["wait_status"], t["signals"][0]["si_code_name"]) == ("SIGBUS", 7, "BUS_ADRERR")
