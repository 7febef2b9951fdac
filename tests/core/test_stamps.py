"""Page stamps (PhysMem.stamp, ``touch: {stamp: true}``): who wrote a page, kept by every copy of
the page and dropped when the frame is freed, without any bytes."""
import textwrap

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.testing import run_text


class Recorder:
    """A test step ``record: {vma, key}``: the stamps of the mapping's pages, by task and key."""

    def __init__(self):
        self.seen = {}

    @hookimpl
    def memsim_register_steps(self, steps):
        def record(ctx, step):
            m = ctx.mappings[step.args["vma"]]
            core, pm = ctx.machine.mmcore, ctx.machine.physmem
            pfns = [core.pfn_of(ctx.task.mm, a) for a in range(m.start, m.end, 4096)]
            self.seen[(ctx.task.name, step.args["key"])] = (
                [pm.stamp_of(p) if p is not None and p >= 0 else None for p in pfns], ctx.task.pid)
        steps.add(StepType("record", "record the stamps of a mapping", (
            Param("vma", "str", "the mapping", required=True),
            Param("key", "str", "a name for this record", required=True)), record, plugin="t"))


def test_a_stamped_write_marks_each_page_and_copies_keep_it():
    rec = Recorder()
    text = textwrap.dedent("""\
        machine: {kernel: v6.18}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB}
              - touch: {vma: buf, access: write, stamp: true}
              - record: {vma: buf, key: first}
              - fork:
                  child: kid
                  steps:
                    - record: {vma: buf, key: before}
                    - touch: {vma: buf, length: 4 KiB, access: write, stamp: true}
                    - record: {vma: buf, key: after}
                    - read: {vma: buf, length: 4, expect: "\\0\\0\\0\\0"}
              - sleep: {duration: 10us}
              - touch: {vma: buf, offset: 8 KiB, length: 4 KiB, access: write}
              - record: {vma: buf, key: unstamped}
        """)
    run = run_text(text, plugins=[rec], events=())
    assert run.error is None, run.error
    first, pid = rec.seen[("app", "first")]
    assert len(set(first)) == 1 and first[0] >> 32 == pid and first[0] & 0xFFFFFFFF
    before, _ = rec.seen[("kid", "before")]
    assert before == first                              # the child shares the pages
    after, kid = rec.seen[("kid", "after")]
    assert after[0] >> 32 == kid and after[0] != first[0]   # its COW copy, then its write
    assert after[1:] == first[1:]
    unstamped, _ = rec.seen[("app", "unstamped")]
    # the parent's write after the fork copies the page (the child maps the old one): the copy
    # keeps the stamp, an unstamped write does not change it
    assert unstamped == first


def test_a_freed_frame_loses_its_stamp():
    rec = Recorder()
    text = textwrap.dedent("""\
        machine: {kernel: v5.14}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - touch: {vma: buf, access: write, stamp: true}
              - munmap: {vma: buf}
              - mmap: {name: again, length: 8 KiB}
              - touch: {vma: again, access: write}
              - record: {vma: again, key: new}
        """)
    run = run_text(text, plugins=[rec], events=())
    assert run.error is None, run.error
    assert rec.seen[("app", "new")][0] == [0, 0]
