"""Threads in a workload: ``clone`` starts a thread of the process (shared mm, own pid and CPU),
the threads share one table of named mappings, ``exit`` ends one thread and ``exit_group`` (or a
fatal signal) all of them.  The kernel's userfaultfd selftests resolve faults from a handler
thread of the faulting process: so does the first test here."""
import textwrap

import pytest

from memsim.errors import WorkloadError
from memsim.hookspecs import hookimpl
from memsim.mm import VM_UFFD_MISSING
from memsim.registry import Param, StepType
from memsim.sched import WaitQueue
from memsim.testing import run_text, task_summary as task

PAGE = 4096
VM_FAULT_RETRY = 0x400


def run(text, plugins=(), **kw):
    # these tests bring a minimal userfaultfd of their own (Uffd): the real plugin is left out
    return run_text(textwrap.dedent(text), plugins=plugins, events=(), disabled=("userfaultfd",), **kw)


class Uffd:
    """A minimal userfaultfd: ``register`` arms a mapping for missing faults; a fault there
    queues a message, wakes the readers and blocks the faulting task; ``serve`` is the handler
    thread's loop body: wait for a message (read() on the uffd), then UFFDIO_COPY a page holding
    ``data`` and wake the faulting task."""

    def __init__(self):
        self.fault_wq = WaitQueue("uffd-fault")          # ctx->fault_wqh
        self.read_wq = WaitQueue("uffd-read")            # ctx->fd_wqh
        self.msgs = []
        self.log = []

    def handle_userfault(self, mm, vma, address, flags, reason):
        self.msgs.append((mm, vma, address & ~(PAGE - 1)))
        self.read_wq.wake_up()
        mm.core.blocked_on = self.fault_wq
        return VM_FAULT_RETRY

    def register(self, ctx, step):
        m = ctx.mapping()
        ctx.task.mm.find_vma(m.start).vm_flags |= VM_UFFD_MISSING
        ctx.machine.mmcore.set_userfault_handler(self.handle_userfault)

    def serve(self, ctx, step):
        while not self.msgs:
            yield self.read_wq                            # read() blocks until a fault comes
        mm, vma, addr = self.msgs.pop(0)
        assert mm is ctx.task.mm                          # a thread of the faulting process
        machine = ctx.machine
        pfn = machine.physmem.alloc(0, 0x1100CCA)         # the page UFFDIO_COPY fills
        machine.physmem.write_bytes(pfn, 0, step.args["data"].encode())
        assert machine.mmcore.map_anon_page(mm, vma, addr, pfn) == 0     # mfill_atomic_install_pte
        self.log.append((ctx.task.name, addr))
        self.fault_wq.wake_up()

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("register", "arm missing faults",
                           (Param("vma", "str", "the mapping", required=True, refers="vma"),),
                           self.register, plugin="t"))
        steps.add(StepType("serve", "resolve one fault",
                           (Param("data", "str", "the page's bytes", required=True),), self.serve, plugin="t"))


def test_a_handler_thread_resolves_the_faults_of_its_process():
    uffd = Uffd()
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            cpu: 0
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - register: {vma: buf}
              - clone:
                  thread: handler
                  cpu: 1
                  steps:
                    - serve: {data: hello from the handler}
                    - serve: {data: second page}
              - write: {vma: buf, offset: 4 KiB, data: H}
              - read: {vma: buf, offset: 4 KiB, expect: Hello from the handler}
              - read: {vma: buf, offset: 8 KiB, expect: second page}
              - expect: {rss: {anon: 8 KiB}}
        """, plugins=[uffd], check=True)
    assert r.error is None, r.error
    start = r.task_data[task(r, "app")["pid"]].mappings["buf"].start
    assert uffd.log == [("handler", start + PAGE), ("handler", start + 2 * PAGE)]
    assert task(r, "handler")["tgid"] == task(r, "app")["pid"]
    assert task(r, "app")["faults"]["userfault"] == 2 and "userfault" not in task(r, "handler")["faults"]


def test_the_threads_share_their_mappings():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 64 KiB}
              - clone:
                  thread: worker
                  steps:
                    - touch: {vma: buf, length: 32 KiB}
                    - mmap: {name: made_by_worker, length: 16 KiB}
                    - touch: {vma: made_by_worker}
                    - sleep: {duration: 2 ms}
                    - touch: {vma: made_late_by_app}
                    - expect: {rss: {anon: 112 KiB}}
              - touch: {vma: buf, offset: 32 KiB}
              - sleep: {duration: 1 ms}
              - touch: {vma: made_by_worker}
              - mmap: {name: made_late_by_app, length: 32 KiB}
              - mremap: {vma: buf, length: 128 KiB, flags: [MREMAP_MAYMOVE]}
              - sleep: {duration: 2 ms}
              - expect: {rss: {anon: 112 KiB}}
        """, check=True)
    assert r.error is None, r.error
    app, worker = task(r, "app"), task(r, "worker")
    assert r.task_data[app["pid"]].mappings is r.task_data[worker["pid"]].mappings
    assert app["exited"] and worker["exited"]
    assert app["faults"]["anon"] + worker["faults"]["anon"] == 28


def test_a_forked_child_of_a_thread_gets_a_copy_of_the_mappings():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - clone:
                  thread: worker
                  steps:
                    - fork:
                        child: kid
                        steps:
                          - mmap: {name: kids_own, length: 4 KiB}
                          - touch: {vma: buf}
              - sleep: {duration: 1 ms}
        """)
    assert r.error is None, r.error
    app, kid = task(r, "app"), task(r, "kid")
    assert kid["tgid"] == kid["pid"] != app["pid"]
    assert "kids_own" not in r.task_data[app["pid"]].mappings
    assert "kids_own" in r.task_data[kid["pid"]].mappings


def test_exit_ends_one_thread_and_exit_group_all_of_them():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - clone:
                  thread: quitter
                  steps:
                    - exit: {code: 5}
              - clone:
                  thread: stayer
                  steps:
                    - sleep: {duration: 10 s}
                    - mmap: {name: never, length: 4 KiB}
              - sleep: {duration: 1 ms}
              - touch: {vma: buf}
              - exit_group: {code: 3}
              - mmap: {name: never_either, length: 4 KiB}
        """)
    assert r.error is None, r.error
    assert task(r, "quitter")["exit_code"] == 5 and task(r, "quitter")["wait_status"] == 5 << 8
    assert task(r, "stayer")["exit_code"] == 3 and task(r, "app")["exit_code"] == 3
    names = r.task_data[task(r, "app")["pid"]].mappings
    assert "never" not in names and "never_either" not in names
    assert r.machine.clock.now < 10_000_000_000                  # the sleeper did not sleep on
    assert r.machine.live_mms() == []


def test_the_process_lives_on_after_its_leader_exits():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - clone:
                  thread: worker
                  steps:
                    - sleep: {duration: 1 ms}
                    - touch: {vma: buf}
                    - expect: {rss: {anon: 16 KiB}}
              - exit: {}
        """, check=True)
    assert r.error is None, r.error
    assert task(r, "worker")["exited"] and task(r, "worker")["rss_bytes"]["MM_ANONPAGES"] == 16 * 1024


def test_a_fatal_signal_wakes_no_one_and_deadlocks_nothing():
    # the handler thread is blocked in read() on the uffd when its process dies
    uffd = Uffd()
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - clone:
                  thread: handler
                  steps:
                    - serve: {data: never}
              - sleep: {duration: 1 ms}
              - munmap: {vma: buf}
              - touch: {vma: buf}
        """, plugins=[uffd])
    assert r.error is None, r.error
    assert task(r, "handler")["killed_by"] == task(r, "app")["killed_by"] == "SIGSEGV"
    assert uffd.read_wq.waiters == []


def test_every_thread_counts_its_rss_and_the_total_is_right():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            cpu: 0
            steps:
              - mmap: {name: buf, length: 256 KiB}
              - clone:
                  thread: worker
                  cpu: 1
                  steps:
                    - touch: {vma: buf, length: 100 KiB}
                    - sleep: {duration: 1 ms}
              - touch: {vma: buf, offset: 100 KiB, length: 80 KiB}
              - expect: {rss: {anon: 180 KiB}}
        """, check=True)
    assert r.error is None, r.error
    app, worker = task(r, "app"), task(r, "worker")
    assert app["rss_bytes"]["MM_ANONPAGES"] == 180 * 1024
    assert app["faults"]["anon"] == 20 and worker["faults"]["anon"] == 25


# -- loading -----------------------------------------------------------------------------------

def test_a_thread_may_name_a_mapping_its_process_creates_later():
    # the loader reads the thread's steps first; the name is checked once the process is read
    run("""\
        tasks:
          - name: app
            steps:
              - clone:
                  thread: worker
                  steps:
                    - touch: {vma: later}
              - mmap: {name: later, length: 4 KiB}
        """)


@pytest.mark.parametrize("text, message", [
    ("""\
        tasks:
          - name: app
            steps:
              - clone:
                  thread: worker
                  steps:
                    - touch: {vma: latr}
              - mmap: {name: later, length: 4 KiB}
        """, "test.yaml:7:28: touch.vma 'latr' names no vma of the process of task 'worker' (its "
             "threads included); did you mean 'later'?"),
    ("""\
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 4 KiB}
              - clone:
                  thread: worker
                  steps:
                    - mmap: {name: buf, length: 4 KiB}
        """, "test.yaml:8:28: duplicate vma name 'buf' in task 'worker' (first defined at line 4); "
             "give each vma its own name"),
    ("""\
        tasks:
          - name: app
            steps:
              - clone: {thread: app, steps: []}
        """, "test.yaml:4:25: duplicate task name 'app' (first used at line 2); give each task a "
             "unique name"),
    ("""\
        tasks:
          - name: app
            steps:
              - clone:
                  thread: worker
                  steps:
                    - fork:
                        child: kid
                        steps:
                          - touch: {vma: later}
              - mmap: {name: later, length: 4 KiB}
        """, "test.yaml:10:34: touch.vma 'later' names no vma defined earlier in task 'kid'; "
             "define it first, with an earlier 'mmap' (mmap.name) or 'mremap' (mremap.name) step"),
])
def test_thread_names_are_checked(text, message):
    with pytest.raises(WorkloadError) as info:
        run(text)
    assert str(info.value) == message


class TaskHooks:
    def __init__(self):
        self.forks = []
        self.exits = []

    @hookimpl
    def memsim_task_fork(self, parent, child):
        self.forks.append((parent.name if parent else None, child.name, child.tgid == (parent.tgid if parent else child.pid)))

    @hookimpl
    def memsim_task_exit(self, task):
        self.exits.append(task.name)


def test_plugins_see_threads_come_and_go():
    hooks = TaskHooks()
    r = run("""\
        tasks:
          - name: app
            steps:
              - clone:
                  thread: worker
                  steps:
                    - sleep: {duration: 1 ms}
              - exit_group: {}
        """, plugins=[hooks])
    assert r.error is None, r.error
    assert hooks.forks == [(None, "app", True), ("app", "worker", True)]
    assert sorted(hooks.exits) == ["app", "worker"]
