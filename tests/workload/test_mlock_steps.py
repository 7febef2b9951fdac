"""The mlock, munlock, mlockall and munlockall steps (mm/mlock.c): /proc/meminfo Mlocked and
Unevictable and the unevictable_pgs_* lines of /proc/vmstat per profile, errors as the system
calls return them, mlockall(MCL_FUTURE) locking a later mmap, and a locked mapping surviving a
streaming read under memory pressure.  Run with --check (the unevictable list against
nr_unevictable at every step)."""
import textwrap

import pytest

from memsim.testing import run_text
from memsim.vmstat import vm_event_item as EV

PROLOGUE = """\
machine:
  nodes: [{memory: %s}]
  kernel: %s
tasks:
  - name: app
    steps:
"""


def run(kernel, steps, memory="64 MiB"):
    text = PROLOGUE % (memory, kernel) + textwrap.indent(textwrap.dedent(steps), " " * 6)
    r = run_text(text, events=(), check=True)
    assert r.error is None, r.error
    return r


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_mlock_and_munlock_show_in_meminfo_and_vmstat(kernel):
    run(kernel, """\
        - mmap: {name: buf, length: 1 MiB}
        - touch: {vma: buf, length: 256 KiB}
        - mlock: {vma: buf}
        - expect: {meminfo: {Mlocked: 1024 kB, Unevictable: 1024 kB}}
        - munlock: {vma: buf, offset: 512 KiB}
        - write_file: {path: /proc/sys/vm/stat_refresh, data: "1"}
        - expect: {meminfo: {Mlocked: 512 kB, Unevictable: 512 kB}}
        - expect: {file: {path: /proc/vmstat, fields: {nr_mlock: 128, unevictable_pgs_mlocked: 256,
                   unevictable_pgs_culled: 256, unevictable_pgs_munlocked: 128,
                   unevictable_pgs_rescued: 128}}}
    """)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_mlockall_future_locks_a_later_mmap_and_munlockall_undoes_it(kernel):
    run(kernel, """\
        - mlockall: {flags: [MCL_FUTURE]}
        - mmap: {name: buf, length: 512 KiB}
        - expect: {meminfo: {Mlocked: 512 kB}}
        - mmap: {name: lazy, length: 512 KiB, type: file, file: data, prot: r}
        - munlockall: {}
        - expect: {meminfo: {Mlocked: 0 kB}}
        - mmap: {name: later, length: 512 KiB, populate: true}
        - expect: {meminfo: {Mlocked: 0 kB}}
    """)


def test_mlock_errors_as_the_system_calls_return_them():
    run("v6.18", """\
        - mmap: {name: buf, length: 64 KiB}
        - munmap: {vma: buf, offset: 16 KiB, length: 4 KiB}
        - mlock: {vma: buf}
        - expect: {errno: ENOMEM}
        - expect: {meminfo: {Mlocked: 0 kB}}
        - mmap: {name: none, length: 8 KiB, prot: none}
        - mlock: {vma: none}
        - expect: {errno: ENOMEM}
        - mlockall: {flags: [MCL_ONFAULT]}
        - expect: {errno: EINVAL}
    """)


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_locked_mapping_survives_a_streaming_read(kernel):
    r = run(kernel, """\
        - mmap: {name: hot, length: 2 MiB, type: file, file: hot, prot: r}
        - mlock: {vma: hot}
        - mmap: {name: stream, length: 96 MiB, type: file, file: big, prot: r}
        - touch: {vma: stream, access: read}
        - expect: {meminfo: {Mlocked: 2048 kB, Unevictable: 2048 kB}}
    """, memory="32 MiB")
    vs = r.machine.physmem.vmstat
    assert vs.vm_event(EV.PGSTEAL_DIRECT) + vs.vm_event(EV.PGSTEAL_KSWAPD) > 16384
