"""The uffd-minor switch, the architecture rule of the seed (MINOR needs the high VMA flag bits
of a 64-bit kernel) and a port of the kernel selftest's minor-fault test
(tools/testing/selftests/vm/userfaultfd.c, userfaultfd_minor_test)."""
import textwrap

import pytest

from memsim.testing import run_text

KERNELS = ("v5.14", "v6.18")


def run(steps, kernel="v6.18", patches="", section="", huge=False):
    pool = "  hugepages: \"8\"\n" if huge else ""
    text = (f"machine:\n  cpus: 2\n  kernel: {kernel}\n{pool}"
            + (f"  patches: {{{patches}}}\n" if patches else "")
            + section + "tasks:\n  - name: t\n    steps:\n" + textwrap.indent(steps, "      "))
    return run_text(text, events=())


MEMFD = """\
- memfd_create: {name: m}
- ftruncate: {fd: m, length: 16 KiB}
- mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
- userfaultfd: {name: u, flags: [O_NONBLOCK]}
"""


@pytest.mark.parametrize("kernel", KERNELS)
def test_without_the_change_minor_faults_do_not_exist(kernel):
    """uffd-minor off: the MINOR features are unknown bits (EINVAL, struct zeroed) and not
    offered, MODE_MINOR an unknown mode bit, UFFDIO_CONTINUE an unknown ioctl, and the range
    ioctls lose CONTINUE."""
    offered = {"v5.14": "0x1ff", "v6.18": "0x1f9ff"}[kernel]
    r = run(MEMFD + textwrap.dedent(f"""\
        - uffdio_api: {{uffd: u, features: [MINOR_SHMEM]}}
        - expect: {{errno: EINVAL}}
        - expect: {{result: {{api: 0, features: 0, ioctls: 0}}}}
        - uffdio_api: {{uffd: u}}
        - expect: {{result: {{features: {offered}}}}}
        - uffdio_register: {{uffd: u, vma: A, mode: [MINOR]}}
        - expect: {{errno: EINVAL}}
        - uffdio_register: {{uffd: u, vma: A, mode: [MISSING]}}
        - expect: {{result: {{ioctls: {'0x1c' if kernel == 'v5.14' else '0x13c'}}}}}
        - uffdio_continue: {{uffd: u, vma: A, length: 4 KiB}}
        - expect: {{errno: EINVAL}}
        """), kernel, patches="uffd-minor: off")
    assert r.error is None, r.error


@pytest.mark.parametrize("kernel", KERNELS)
def test_with_the_change_minor_registration_works(kernel):
    r = run(MEMFD + textwrap.dedent("""\
        - uffdio_api: {uffd: u, features: [MINOR_SHMEM]}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - expect: {errno: EFAULT}
        """), kernel)
    assert r.error is None, r.error


@pytest.mark.parametrize("arch, minor, wp", [("x86_64", True, True), ("arm64", True, False),
                                             ("i386", False, False)])
@pytest.mark.parametrize("kernel", KERNELS)
def test_the_architecture_decides_minor_and_wp(kernel, arch, minor, wp):
    """The seed's rule: MINOR registration needs CONFIG_HAVE_ARCH_USERFAULTFD_MINOR (x86-64 and
    arm64: the high VMA flag bits), else EINVAL; the MINOR features are then left out of the
    reply but, on v5.14, still accepted when asked for.  WP needs uffd-wp (x86-64)."""
    base = 0x7FF if kernel == "v5.14" else 0x1FFFF
    offered = base
    if not minor:
        offered &= ~0x600
    if not wp:
        offered &= ~(0x1 if kernel == "v5.14" else 0xB001)
    ask = "[MINOR_SHMEM]"
    api_ok = minor or kernel == "v5.14"
    api = (f"- uffdio_api: {{uffd: u, features: {ask}}}\n"
           + (f"- expect: {{result: {{features: {offered:#x}}}}}\n" if api_ok else
              "- expect: {errno: EINVAL}\n- uffdio_api: {uffd: u}\n"
              f"- expect: {{result: {{features: {offered:#x}}}}}\n"))
    reg_minor = "" if minor else "- expect: {errno: EINVAL}\n"
    reg_wp = "" if wp else "- expect: {errno: EINVAL}\n"
    r = run(MEMFD + api + "- uffdio_register: {uffd: u, vma: A, mode: [MINOR]}\n" + reg_minor
            + "- mmap: {name: anon, length: 16 KiB}\n- uffdio_register: {uffd: u, vma: anon, mode: [WP]}\n"
            + reg_wp, kernel, section=f"userfaultfd: {{arch: {arch}}}\n")
    assert r.error is None, r.error


SELFTEST = """\
- memfd_create: {name: m, memfd_name: selftest}
- ftruncate: {fd: m, length: 64 KiB}
- mmap: {name: area_dst, length: 64 KiB, type: fd-shared, fd: m}
- mmap: {name: area_dst_alias, length: 64 KiB, type: fd-shared, fd: m}
- userfaultfd: {name: u, flags: [O_CLOEXEC, O_NONBLOCK]}
- uffdio_api: {uffd: u, features: [MINOR_SHMEM]}
- uffdio_register: {uffd: u, vma: area_dst, mode: [MINOR]}
- write: {vma: area_dst_alias, offset: 0, data: "page 0"}
- write: {vma: area_dst_alias, offset: 4 KiB, data: "page 1"}
- write: {vma: area_dst_alias, offset: 8 KiB, data: "page 2"}
- write: {vma: area_dst_alias, offset: 12 KiB, data: "page 3"}
- clone:
    thread: handler
    steps:
      - uffd_handler: {uffd: u, python: 'uffd_selftest:continue_range', daemon: true}
- read: {vma: area_dst, offset: 0, expect: "PAGE 0"}
- read: {vma: area_dst, offset: 4 KiB, expect: "PAGE 1"}
- read: {vma: area_dst, offset: 8 KiB, expect: "PAGE 2"}
- read: {vma: area_dst, offset: 12 KiB, expect: "PAGE 3"}
- uffdio_continue: {uffd: u, vma: area_dst, length: 4 KiB}
- expect: {errno: EEXIST}
- expect: {result: {mapped: -17}}
"""


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_selftests_minor_fault_test(kernel, tmp_path, monkeypatch):
    """userfaultfd_minor_test(): the pages are filled through the alias mapping; the test reads
    them through the registered one; the handler thread, on each MINOR fault, changes the bytes
    through the alias (uppercase, as the selftest flips them) and issues UFFDIO_CONTINUE
    (continue_range); the reader sees the changed bytes; 4 minor faults, no missing fault; a
    second CONTINUE of a mapped page is EEXIST with mapped = -EEXIST."""
    (tmp_path / "uffd_selftest.py").write_text(textwrap.dedent('''\
        from memsim.plugins.userfaultfd.uapi import UFFD_PAGEFAULT_FLAG_MINOR

        def continue_range(m):
            a_start, _ = m.mapping("area_dst")
            b_start, _ = m.mapping("area_dst_alias")
            while True:
                for msg in (yield from m.read(1)):
                    assert msg["flags"] & UFFD_PAGEFAULT_FLAG_MINOR
                    off = msg["address"] - a_start
                    yield from m.write_bytes(b_start + off, b"PAGE")
                    m.uffdio_continue(msg["address"], 4096)
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    r = run(SELFTEST, kernel)
    assert r.error is None, r.error
    stats = r.machine.plugin_state["userfaultfd"].stats
    assert stats["minor"] == 4 and stats["missing"] == 0
