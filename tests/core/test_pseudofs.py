"""Pseudo-file stores that sleep (memsim.pseudofs, memsim.vfs.vfs_write_blocking): the shape of
the kernel's set_max_huge_pages, which calls cond_resched() for each page and sleeps on
h->resize_lock (hugetlb.md section 4).

A store that returns a generator yields what task bodies yield; a ``write_file`` or ``write``
step runs it with ``yield from``, so other tasks run where it yields and the seed decides the
interleaving; ``machine.vfs.write_file`` and ``vfs_write`` run it to completion, and raise
WouldBlock where it would wait on a queue.  The files here are test-only.
"""
import textwrap

import pytest

from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.sched import PREEMPT, Mutex, WaitQueue, WouldBlock
from memsim.testing import run_text
from memsim.vfs import O_WRONLY, VfsError, fput, vfs_write, vfs_write_blocking

MiB = 1 << 20


class SleepyFiles:
    """Test-only pseudo files:

    * /proc/sys/vm/test_sleepy: the store parses a count n, then for i in 0..n-1 logs
      (writer, i) and yields PREEMPT (cond_resched());
    * /proc/sys/vm/test_locked: the same, between mutex_lock and mutex_unlock of one Mutex;
    * /sys/kernel/test_block: the store logs (writer, "wait"), sleeps on a wait queue until
      /sys/kernel/test_wake is written, logs (writer, "woken"); a ``finally`` logs "released";
    * /proc/sys/vm/test_short: a sleeping store that takes only the first byte.
    """

    def __init__(self):
        self.log = []
        self.queue = WaitQueue("test_block_wait")
        self.mutex = Mutex("test_resize_lock")
        self.machine = None

    def writer(self):
        task = self.machine.current.task
        return task.name if task is not None else "(no task)"

    def sleepy(self, _private, data):
        n = int(data)
        for i in range(n):
            self.log.append((self.writer(), i))
            yield PREEMPT

    def locked(self, _private, data):
        n = int(data)
        task = self.machine.current.task
        yield from self.mutex.lock(task)
        try:
            for i in range(n):
                self.log.append((self.writer(), i))
                yield PREEMPT
        finally:
            self.mutex.unlock(task)

    def block(self, _private, data):
        self.log.append((self.writer(), "wait"))
        try:
            yield self.queue
            self.log.append((self.writer(), "woken"))
        finally:
            self.log.append((self.writer(), "released"))
        return 1                    # took one byte of the data: write_file writes the rest

    def current_locked(self, _private, data):
        # the kernel's shape: mutex_lock(&lock) / mutex_unlock(&lock) of current
        yield from self.cur_mutex.lock()
        try:
            for i in range(int(data)):
                self.log.append((self.writer(), i))
                self.machine.clock.now += 1000          # 1 us a page
                yield PREEMPT
        finally:
            self.log.append((self.writer(), "unlock"))
            self.cur_mutex.unlock()

    def lock_and_block(self, _private, data):
        task = self.machine.current.task
        yield from self.mutex.lock(task)
        try:
            yield self.queue                        # nobody wakes it
        finally:
            self.mutex.unlock(task)

    def wake(self, _private, data):
        self.log.append((self.writer(), "wake", self.queue.wake_up()))

    def short(self, _private, data):
        self.log.append((self.writer(), bytes(data)))
        yield PREEMPT
        return 1

    @hookimpl
    def memsim_machine_created(self, machine, config):
        self.install(machine)

    def install(self, machine):
        self.machine = machine
        self.cur_mutex = Mutex("test_current_lock", current=machine.current)
        machine.procfs.create_file("sys/vm/test_current", store=self.current_locked, mode=0o200)
        machine.procfs.create_file("sys/vm/test_sleepy", store=self.sleepy, mode=0o200)
        machine.procfs.create_file("sys/vm/test_locked", store=self.locked, mode=0o200)
        machine.procfs.create_file("sys/vm/test_short", store=self.short, mode=0o200)
        machine.sysfs.create_file("kernel/test_block", store=self.block)
        machine.sysfs.create_file("kernel/test_wake", store=self.wake)
        machine.sysfs.create_file("kernel/test_lock_and_block", store=self.lock_and_block)


def two_writers(path, a="3", b="3", extra=""):
    return textwrap.dedent(f"""\
        machine: {{cpus: 2, nodes: [{{memory: 64 MiB}}]}}
        tasks:
          - name: w1
            cpu: 0
            steps:
              - write_file: {{path: {path}, data: "{a}"}}
          - name: w2
            cpu: 1
            steps:
              - write_file: {{path: {path}, data: "{b}"}}
        {extra}""")


def writers_log(text, seed, check=True):
    files = SleepyFiles()
    run = run_text(text, plugins=[files], events=(), seed=seed, check=check)
    assert run.error is None, run.error
    return files.log, run


def interleaved(log):
    """Whether the two writers' entries mix (w1 w2 w1...) rather than come in two blocks."""
    names = [e[0] for e in log]
    switches = sum(1 for x, y in zip(names, names[1:]) if x != y)
    return switches > 1


def test_a_sleeping_store_lets_another_writer_run_where_it_yields_and_the_seed_decides():
    text = two_writers("/proc/sys/vm/test_sleepy")
    outcomes = {}
    for seed in range(12):
        log, _ = writers_log(text, seed)
        assert sorted(log) == [(w, i) for w in ("w1", "w2") for i in range(3)]
        assert writers_log(text, seed)[0] == log                # the seed decides, byte for byte
        outcomes.setdefault(interleaved(log), seed)
    # some seeds run one write's cond_resched()s between the other's, some do not
    assert set(outcomes) == {True, False}, outcomes


def test_a_store_under_a_mutex_is_never_interleaved():
    # the resize_lock shape: the second writer sleeps on the mutex until the first unlocks
    text = two_writers("/proc/sys/vm/test_locked")
    for seed in range(12):
        log, run = writers_log(text, seed)
        assert not interleaved(log), (seed, log)
        assert len(log) == 6


def test_a_store_sleeps_on_a_wait_queue_until_another_task_wakes_it():
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: sleeper
            cpu: 0
            steps:
              - write_file: {path: /sys/kernel/test_block, data: "x"}
              - read_file: {path: /proc/meminfo}
          - name: waker
            cpu: 1
            steps:
              - sleep: {duration: 1ms}
              - write_file: {path: /sys/kernel/test_wake, data: "1"}
        """)
    for seed in range(4):
        log, run = writers_log(text, seed)
        assert log == [("sleeper", "wait"), ("waker", "wake", 1), ("sleeper", "woken"),
                       ("sleeper", "released")]
        assert run.machine.clock.now >= 1000000      # the write ended after the waker's sleep
    # two bytes: the store takes one, write_file writes the other and the store sleeps again,
    # with nobody left to wake it; the report names the task and the queue
    files = SleepyFiles()
    run = run_text(text.replace('data: "x"', 'data: "xy"'), plugins=[files], events=())
    assert [e[1] for e in files.log] == ["wait", "wake", "woken", "released", "wait"]
    assert "every task is blocked: sleeper-" in str(run.error)
    assert "on test_block_wait" in str(run.error)


def test_a_deadlock_in_stores_names_the_queue_and_the_mutex_with_its_owner():
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: w1
            steps:
              - write_file: {path: /sys/kernel/test_lock_and_block, data: "1"}
          - name: w2
            steps:
              - sleep: {duration: 1ms}
              - write_file: {path: /proc/sys/vm/test_locked, data: "1"}
        """)
    files = SleepyFiles()
    run = run_text(text, plugins=[files], events=())
    assert files.log == []
    w1, w2 = (t.pid for t in sorted(run.machine.tasks.values(), key=lambda t: t.pid)
              if t.name in ("w1", "w2"))
    assert (f"every task is blocked: w1-{w1} on test_block_wait, "
            f"w2-{w2} on mutex test_resize_lock (held by w1-{w1})") in str(run.error)


def test_a_mutex_of_current_is_released_by_a_holder_killed_in_the_store():
    # w1 holds the mutex of current in a long store when its sibling thread's exit_group kills
    # it; its finally runs as w1 (the killed task is current while its body unwinds), so
    # unlock() releases it and w2's write, waiting on it, goes on
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: w1
            steps:
              - clone:
                  thread: killer
                  steps:
                    - sleep: {duration: 1ms}
                    - exit_group: {code: 9}
              - write_file: {path: /proc/sys/vm/test_current, data: "100000"}
          - name: w2
            steps:
              - sleep: {duration: 2ms}
              - write_file: {path: /proc/sys/vm/test_current, data: "2"}
        """)
    log, run = writers_log(text, 0)
    assert ("w1", "unlock") in log and log[-3:] == [("w2", 0), ("w2", 1), ("w2", "unlock")]
    assert 0 < sum(1 for e in log if e[0] == "w1") < 100000
    w1 = next(t for t in run.summary()["tasks"] if t["name"] == "w1")
    assert w1["exit_code"] == 9
    files = SleepyFiles()
    m = Machine(MachineSpec(nodes=(64 * MiB,)))
    files.install(m)
    assert m.vfs.write_file("/proc/sys/vm/test_current", b"1") == 1      # no task is current
    assert files.log == [("(no task)", 0), ("(no task)", "unlock")]
    assert not files.cur_mutex.is_locked()


def test_a_sleeping_write_step_to_an_open_fd():
    text = textwrap.dedent("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: w1
            steps:
              - open: {path: /proc/sys/vm/test_locked, flags: [O_WRONLY], name: f}
              - write: {fd: f, data: "4"}
              - close: {fd: f}
          - name: w2
            steps:
              - write_file: {path: /proc/sys/vm/test_locked, data: "4"}
        """)
    for seed in range(6):
        log, _ = writers_log(text, seed)
        assert len(log) == 8 and not interleaved(log)


def test_sysctl_rules_hold_for_a_sleeping_store():
    # SYSCTL_WRITES_STRICT: the store took 1 byte, f_pos is 1, and write_file's next write
    # (of the rest) is ignored and reported as taken; the store ran once
    text = textwrap.dedent("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: w
            steps:
              - write_file: {path: /proc/sys/vm/test_short, data: "123"}
        """)
    log, _ = writers_log(text, 0)
    assert log == [("w", b"123")]


@pytest.fixture
def machine_with_files():
    m = Machine(MachineSpec(nodes=(64 * MiB,)))
    files = SleepyFiles()
    files.install(m)
    t = m.spawn("tool")
    m.set_current(t)
    return m, files


def test_a_synchronous_write_runs_a_sleeping_store_to_completion(machine_with_files):
    m, files = machine_with_files
    assert m.vfs.write_file("/proc/sys/vm/test_sleepy", b"3\n") == 2
    assert files.log == [("tool", 0), ("tool", 1), ("tool", 2)]
    assert m.vfs.write_file("/proc/sys/vm/test_locked", b"2") == 1
    assert not files.mutex.is_locked()
    file = m.vfs.do_filp_open("/proc/sys/vm/test_short", O_WRONLY)
    try:
        assert vfs_write(file, b"99") == 1 and file.f_pos == 1
        assert vfs_write(file, b"99") == 2 and file.f_pos == 1        # ignored past f_pos 0
    finally:
        fput(file)


def test_a_synchronous_write_that_would_sleep_on_a_queue_raises_and_releases(machine_with_files):
    m, files = machine_with_files
    with pytest.raises(WouldBlock, match="test_block.*test_block_wait"):
        m.vfs.write_file("/sys/kernel/test_block", b"1")
    # the store's generator was closed: its finally ran, nothing is left waiting
    assert files.log == [("tool", "wait"), ("tool", "released")] and not files.queue.waiters
    # a mutex held by another task: the write would sleep on it
    other = m.spawn("other")
    assert files.mutex.trylock(other)
    with pytest.raises(WouldBlock, match="mutex test_resize_lock \\(held by other-"):
        m.vfs.write_file("/proc/sys/vm/test_locked", b"1")
    assert files.mutex.owner is other and not files.mutex.wait.waiters


def test_errors_of_a_sleeping_write_come_from_the_generator(machine_with_files):
    m, files = machine_with_files
    file = m.vfs.do_filp_open("/proc/meminfo", 0)
    try:
        gen = vfs_write_blocking(file, b"1")
        with pytest.raises(VfsError) as e:
            next(gen)
        assert e.value.errno == "EBADF"         # not open for writing: at its first step
    finally:
        fput(file)
    # a write that does not sleep yields nothing and returns the count
    file = m.vfs.do_filp_open("/proc/sys/vm/swappiness", O_WRONLY)
    try:
        gen = vfs_write_blocking(file, b"60\n")
        with pytest.raises(StopIteration) as stop:
            next(gen)
        assert stop.value.value == 3
    finally:
        fput(file)
