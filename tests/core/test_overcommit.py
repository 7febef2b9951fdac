"""vm.overcommit_memory 0/1/2 and __vm_enough_memory() at mmap (mm/util.c, mm/mmap.c).

Not probed on the live kernel: setting overcommit_memory 2 on this shared VM would refuse the
other processes' mappings.  The rules are read from mm/util.c (5.14 and 6.18 agree): GUESS
refuses one mapping larger than totalram + swap; ALWAYS refuses nothing; NEVER refuses once
Committed_AS (with the new pages) reaches vm_commit_limit() minus the user reserve
(min(total_vm / 32, user_reserve_kbytes)); root keeps the admin reserve."""
import textwrap

from memsim.testing import run_text, task_summary


def run(text):
    return run_text(textwrap.dedent(text), events=())


def test_never_refuses_past_the_commit_limit_and_always_takes_anything():
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: t
            steps:
              - read_file: {path: /proc/sys/vm/overcommit_memory, expect: "0\\n"}
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "2"}
              - mmap: {name: a, length: 30 MiB}
              - mmap: {name: b, length: 8 MiB}
              - expect: {errno: ENOMEM}
              - mmap: {name: ro, length: 8 MiB, prot: r}
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "3"}
              - expect: {errno: EINVAL}
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "1"}
              - mmap: {name: c, length: 1 GiB}
        """)
    assert r.error is None, r.error
    mi = r.machine.meminfo()
    assert mi["CommitLimit"] == 32 << 20                     # 64 MiB * overcommit_ratio 50 / 100


def test_guess_refuses_only_what_never_fits():
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: t
            steps:
              - mmap: {name: a, length: 48 MiB}
              - mmap: {name: b, length: 48 MiB}
              - mmap: {name: c, length: 65 MiB}
              - expect: {errno: ENOMEM}
        """)
    assert r.error is None, r.error


def test_overcommit_kbytes_replaces_the_ratio():
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}]}
        tasks:
          - name: t
            steps:
              - write_file: {path: /proc/sys/vm/overcommit_kbytes, data: "16384"}
              - read_file: {path: /proc/sys/vm/overcommit_ratio, expect: "0\\n"}
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "2"}
              - mmap: {name: a, length: 16 MiB}
              - expect: {errno: ENOMEM}
              - mmap: {name: b, length: 15 MiB}
        """)
    assert r.error is None, r.error
    assert r.machine.meminfo()["CommitLimit"] == 16 << 20


def test_mprotect_making_a_private_mapping_writable_is_charged():
    # mprotect_fixup(): a private mapping without VM_ACCOUNT/VM_WRITE that becomes writable goes
    # through security_vm_enough_memory_mm() and gets VM_ACCOUNT
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: t
            steps:
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "2"}
              - mmap: {name: a, length: 24 MiB}
              - mmap: {name: ro, length: 16 MiB, prot: r}
              - mprotect: {vma: ro, prot: rw}
              - expect: {errno: ENOMEM}
              - mprotect: {vma: ro, length: 4 MiB, prot: rw}
              - mprotect: {vma: ro, length: 8 MiB, prot: rw}
              - expect: {errno: ENOMEM}
        """)
    assert r.error is None, r.error


def test_fork_is_refused_past_the_commit_limit_and_uses_no_pid():
    # dup_mmap(): each VM_ACCOUNT VMA is charged (security_vm_enough_memory_mm) -> ENOMEM;
    # alloc_pid() comes later in copy_process(), so the next fork gets the next pid
    r = run("""\
        machine: {cpus: 1, nodes: [{memory: 64 MiB}], kernel: v6.18}
        tasks:
          - name: t
            steps:
              - write_file: {path: /proc/sys/vm/overcommit_memory, data: "2"}
              - mmap: {name: a, length: 20 MiB}
              - fork: {child: c1, steps: [{sleep: {duration: 1ms}}]}
              - expect: {errno: ENOMEM}
              - munmap: {vma: a, length: 12 MiB}
              - fork: {child: c2, steps: [{sleep: {duration: 1ms}}]}
        """)
    assert r.error is None, r.error
    assert [(t["name"], t["pid"]) for t in r.summary()["tasks"]] == [("t", 1000), ("c2", 1001)]
