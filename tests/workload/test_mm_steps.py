"""The mremap, set_mempolicy and mbind steps: what a workload writes, what it gets (the named
mapping follows a move; errnos are checked with expect), run with the --check invariants."""
import textwrap

import pytest

from memsim.errors import WorkloadError
from memsim.testing import run_text


def run(text, **kw):
    kw.setdefault("check", True)
    return run_text(textwrap.dedent(text), events=(), **kw)


def data(r, name="app"):
    pid = next(t["pid"] for t in r.summary()["tasks"] if t["name"] == name)
    return r.task_data[pid]


def test_the_name_follows_the_move_and_the_bytes_with_it():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 16 KiB, addr: 0x600000000000}
              - mmap: {name: wall, length: 4 KiB, addr: 0x600000004000}
              - write: {vma: buf, offset: 12 KiB, data: moved with its page}
              - mremap: {vma: buf, length: 64 KiB}
              - expect: {errno: ENOMEM}
              - mremap: {vma: buf, length: 64 KiB, flags: [MREMAP_MAYMOVE]}
              - read: {vma: buf, offset: 12 KiB, expect: moved with its page}
              - touch: {vma: buf}
              - expect: {rss: {anon: 64 KiB}}
              - mremap: {vma: buf, length: 8 KiB}
              - expect: {rss: {anon: 8 KiB}}
        """)
    assert r.error is None, r.error
    buf = data(r).mappings["buf"]
    assert buf.start != 0x600000000000 and buf.end - buf.start == 8 * 1024


def test_dontunmap_with_a_new_name_keeps_both_ranges():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: heap, length: 8 KiB}
              - write: {vma: heap, data: live object}
              - mremap: {vma: heap, length: 8 KiB, name: copy, flags: [MREMAP_MAYMOVE, MREMAP_DONTUNMAP]}
              - read: {vma: copy, expect: live object}
              - read: {vma: heap, expect: "00 00 00 00", encoding: hex}
              - expect: {rss: {anon: 4 KiB}}
        """)
    assert r.error is None, r.error
    d = data(r)
    assert d.mappings["heap"].start != d.mappings["copy"].start


def test_fixed_moves_to_the_address_given():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - write: {vma: buf, offset: 4 KiB, data: here}
              - mremap: {vma: buf, offset: 4 KiB, length: 4 KiB, new_address: 0x700000000000,
                         flags: [MREMAP_MAYMOVE, MREMAP_FIXED], name: page}
              - read: {vma: page, expect: here}
              - touch: {vma: buf, length: 4 KiB}
              - touch: {vma: buf, offset: 4 KiB}
              - expect: {signal: SIGSEGV, si_code: SEGV_MAPERR}
        """)
    assert r.error is None, r.error
    assert data(r).mappings["page"].start == 0x700000000000


@pytest.mark.parametrize("step, errno", [
    ("{vma: buf, length: 8 KiB, flags: [MREMAP_FIXED], new_address: 0x700000000000}", "EINVAL"),
    ("{vma: buf, length: 16 KiB, flags: [MREMAP_MAYMOVE, MREMAP_DONTUNMAP]}", "EINVAL"),
    ("{vma: buf, length: 8 KiB, flags: [MREMAP_DONTUNMAP]}", "EINVAL"),
    ("{vma: buf, offset: 100, old_length: 4 KiB, length: 8 KiB, flags: [MREMAP_MAYMOVE]}", "EINVAL"),
    ("{vma: buf, length: 0}", "EINVAL"),
    ("{vma: buf, old_length: 0, length: 8 KiB, flags: [MREMAP_MAYMOVE]}", "EINVAL"),
    ("{vma: gone, length: 16 KiB, flags: [MREMAP_MAYMOVE]}", "EFAULT"),
    ("{vma: split, length: 32 KiB, flags: [MREMAP_MAYMOVE]}", "EFAULT"),
    ("{vma: buf, length: 64 KiB}", "ENOMEM"),
])
def test_mremap_errnos(step, errno):
    r = run(f"""\
        machine: {{nodes: [{{memory: 64 MiB}}]}}
        tasks:
          - name: app
            steps:
              - mmap: {{name: buf, length: 8 KiB, addr: 0x600000000000}}
              - mmap: {{name: wall, length: 4 KiB, addr: 0x600000002000}}
              - mmap: {{name: gone, length: 8 KiB, addr: 0x500000000000}}
              - munmap: {{vma: gone}}
              - mmap: {{name: split, length: 16 KiB}}
              - mprotect: {{vma: split, offset: 8 KiB, prot: r}}
              - mremap: {step}
              - expect: {{errno: {errno}}}
        """)
    assert r.error is None, r.error


@pytest.mark.parametrize("step, message", [
    ("{vma: buf, length: 8 KiB, new_address: 0x700000000000}",
     "test.yaml:6:56: mremap.new_address is only read with MREMAP_FIXED or MREMAP_DONTUNMAP; add "
     "MREMAP_MAYMOVE and MREMAP_FIXED to flags, or remove new_address"),
    ("{vma: buf, length: 8 KiB, flags: [MREMAP_MAYMOVE, MREMAP_MAYMOVE]}",
     "test.yaml:6:67: MREMAP_MAYMOVE is given twice in mremap.flags; list each flag once"),
    ("{vma: buf, length: 8 KiB, flags: [MREMAP_MAYMOV]}",
     "test.yaml:6:51: invalid mremap.flags[0]: 'MREMAP_MAYMOV' is not one of MREMAP_MAYMOVE, "
     "MREMAP_FIXED, MREMAP_DONTUNMAP; did you mean 'MREMAP_MAYMOVE'?"),
    ("{vma: buf, length: 8 KiB, name: buf}",
     "test.yaml:6:49: duplicate vma name 'buf' in task 'app' (first defined at line 5); give each "
     "vma its own name"),
])
def test_mremap_mistakes_are_found_when_loading(step, message):
    with pytest.raises(WorkloadError) as info:
        run(f"""\
            machine: {{nodes: [{{memory: 64 MiB}}]}}
            tasks:
              - name: app
                steps:
                  - mmap: {{name: buf, length: 8 KiB}}
                  - mremap: {step}
            """)
    assert str(info.value) == message


def test_an_old_range_outside_the_named_mapping_is_a_workload_error():
    r = run("""\
        machine: {nodes: [{memory: 64 MiB}]}
        tasks:
          - name: app
            steps:
              - mmap: {name: buf, length: 8 KiB}
              - mremap: {vma: buf, offset: 4 KiB, old_length: 8 KiB, length: 8 KiB}
        """)
    assert isinstance(r.error, WorkloadError)
    assert str(r.error).startswith("test.yaml:6:55: offset 4096 + old_length 8192 is outside mapping 'buf'")


# -- set_mempolicy and mbind -------------------------------------------------------------------

TWO_NODES = "machine: {cpus: 2, nodes: [{memory: 64 MiB}, {memory: 64 MiB}]}\n"


def node_pages(r):
    return [n["pages_allocated"] for n in r.summary()["nodes"]]


def test_set_mempolicy_bind_puts_the_pages_on_the_node():
    base = run(TWO_NODES + textwrap.dedent("""\
        tasks:
          - name: app
            cpu: 0
            steps:
              - mmap: {name: buf, length: 4 MiB}
              - touch: {vma: buf}
        """))
    bound = run(TWO_NODES + textwrap.dedent("""\
        tasks:
          - name: app
            cpu: 0
            steps:
              - set_mempolicy: {mode: bind, nodes: [1]}
              - mmap: {name: buf, length: 4 MiB}
              - touch: {vma: buf}
        """))
    assert base.error is None and bound.error is None
    assert node_pages(base)[0] >= 1024 and node_pages(base)[1] < 16
    assert node_pages(bound)[1] >= 1024 and node_pages(bound)[0] < node_pages(base)[0] - 1000


def test_interleave_and_mbind_in_a_workload():
    r = run(TWO_NODES + textwrap.dedent("""\
        tasks:
          - name: app
            cpu: 0
            steps:
              - set_mempolicy: {mode: interleave, nodes: [0, 1]}
              - mmap: {name: buf, length: 4 MiB}
              - mbind: {vma: buf, offset: 2 MiB, mode: bind, nodes: [0]}
              - touch: {vma: buf}
              - fork:
                  child: kid
                  steps:
                    - mmap: {name: more, length: 2 MiB}
                    - touch: {vma: more}
        """))
    assert r.error is None, r.error
    n0, n1 = node_pages(r)
    # first 2 MiB interleaved (256 pages each), second 2 MiB bound to node 0 (512 pages), the
    # child's 2 MiB interleaved with the policy it inherited (256 each); plus a few tables
    assert 1024 <= n0 < 1024 + 64 and 512 <= n1 < 512 + 32


def test_bind_to_a_full_node_invokes_the_oom_killer():
    # the bound allocation fails on node 1 while node 0 has room: __alloc_pages_may_oom() runs
    # out_of_memory() (CONSTRAINT_MEMORY_POLICY in the kernel) and the only task is killed
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 16 MiB}, {memory: 16 MiB}]}
        tasks:
          - name: app
            cpu: 0
            steps:
              - mmap: {name: buf, length: 20 MiB}
              - mbind: {vma: buf, mode: bind, nodes: [1]}
              - touch: {vma: buf}
        """)
    assert r.error is None, r.error
    app, = r.summary()["tasks"]
    assert app["killed_by"] == "SIGKILL"
    assert [k["comm"] for k in r.summary()["oom_kills"]] == ["app"]


@pytest.mark.parametrize("step, errno, kernel", [
    ("set_mempolicy: {mode: bind}", "EINVAL", "v5.14"),
    ("set_mempolicy: {mode: interleave, nodes: [2, 3]}", "EINVAL", "v5.14"),
    ("set_mempolicy: {mode: bind, nodes: [0], flags: [MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES]}",
     "EINVAL", "v5.14"),
    ("set_mempolicy: {mode: local, nodes: [0]}", "EINVAL", "v5.14"),
    ("set_mempolicy: {mode: preferred_many, nodes: [0]}", "EINVAL", "v5.14"),
    ("mbind: {vma: buf, offset: 100, length: 4 KiB, mode: bind, nodes: [0]}", "EINVAL", "v5.14"),
    ("mbind: {vma: holey, mode: bind, nodes: [0]}", "EFAULT", "v5.14"),
])
def test_mempolicy_errnos(step, errno, kernel):
    r = run(f"""\
        machine: {{cpus: 2, nodes: [{{memory: 64 MiB}}, {{memory: 64 MiB}}], kernel: {kernel}}}
        tasks:
          - name: app
            steps:
              - mmap: {{name: buf, length: 16 KiB}}
              - mmap: {{name: holey, length: 16 KiB}}
              - munmap: {{vma: holey, offset: 4 KiB, length: 4 KiB}}
              - {step}
              - expect: {{errno: {errno}}}
        """)
    assert r.error is None, r.error


def test_preferred_many_is_known_to_the_newer_kernel():
    r = run("""\
        machine: {cpus: 2, nodes: [{memory: 64 MiB}, {memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: app
            steps:
              - set_mempolicy: {mode: preferred_many, nodes: [1]}
              - mmap: {name: buf, length: 64 KiB}
              - touch: {vma: buf}
        """)
    assert r.error is None, r.error
    assert node_pages(r)[1] >= 16


@pytest.mark.parametrize("step, message", [
    ("set_mempolicy: {mode: bnid, nodes: [0]}",
     "test.yaml:4:31: invalid set_mempolicy.mode: 'bnid' is not one of default, preferred, bind, "
     "interleave, local, preferred_many; did you mean 'bind'?"),
    ("set_mempolicy: {mode: bind, nodes: [-1]}",
     "test.yaml:4:45: set_mempolicy.nodes[0] is -1, below the minimum of 0; give at least 0"),
    ("set_mempolicy: {mode: bind, nodes: [0], flags: [MPOL_F_STATIC_NODES, MPOL_F_STATIC_NODES]}",
     "test.yaml:4:78: MPOL_F_STATIC_NODES is given twice in set_mempolicy.flags; list each flag once"),
])
def test_mempolicy_mistakes_are_found_when_loading(step, message):
    with pytest.raises(WorkloadError) as info:
        run(f"""\
            tasks:
              - name: app
                steps:
                  - {step}
            """)
    assert str(info.value) == message
