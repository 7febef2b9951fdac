"""userfaultfd.md section 11: the test scenarios 1-39 (23, swap, is another issue), each under
the v5.14 profile and, where the scenario applies there, the v6.18 one with the values of
section 12.  Every workload runs with --check on (run_text's default); the ``uffd`` fixture
(conftest.py) builds it and offers the ``probe`` test step."""
import textwrap

import pytest

KERNELS = ("v5.14", "v6.18")
both = pytest.mark.parametrize("kernel", KERNELS)
# a process with a userfaultfd u, handshake done
API = """\
- userfaultfd: {name: u, flags: [O_NONBLOCK]}
- uffdio_api: {uffd: u}
"""
# a memfd m of 4 pages, B an unregistered shared mapping of it, page 0 written through B
MEMFD = """\
- memfd_create: {name: m}
- ftruncate: {fd: m, length: 16 KiB}
- mmap: {name: B, length: 16 KiB, type: fd-shared, fd: m}
- write: {vma: B, data: cached}
"""
HUGE_MEMFD = """\
- write_file: {path: /proc/sys/vm/nr_hugepages, data: "8"}
- memfd_create: {name: m, flags: [MFD_HUGETLB]}
- ftruncate: {fd: m, length: 4 MiB}
- mmap: {name: B, length: 4 MiB, type: fd-shared, fd: m}
- mmap: {name: A, length: 4 MiB, type: fd-shared, fd: m}
- write: {vma: B, data: cached}
"""
# the blocks above at the indentation of the tests' own step blocks (8 spaces), so that a test
# can concatenate them with its own
API, MEMFD, HUGE_MEMFD = (textwrap.indent(b, " " * 8) for b in (API, MEMFD, HUGE_MEMFD))


# -- the handshake (section 3) ------------------------------------------------------------------

@both
def test_scenario_1_handshake_twice(uffd, kernel):
    """Scenario 1 (sections 3.2, 12): UFFDIO_API twice: the first replies every feature
    (0x7ff; 6.18 0x1ffff) and the API ioctls, the second is EINVAL and (5.14) writes nothing
    back; 6.18 zeroes the struct (tests/userfaultfd/probes/README.md, row 1)."""
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - expect: {result: {api: 0xaa, features: $F, ioctls: 0x8000000000000003}}
        - uffdio_api: {uffd: u}
        - expect: {errno: EINVAL}
        - probe: {fn: api_error, args: {call: uffdio_api, errno: EINVAL, out: $OUT}}
        """, kernel, F=hex(uffd.FEATURES[kernel]),
            OUT="{}" if kernel == "v5.14" else "{api: 0, features: 0, ioctls: 0}")


@both
def test_scenario_2_bad_api_value(uffd, kernel):
    """Scenario 2 (section 3.2 step 3): api 0xab is EINVAL with the whole struct zeroed; the
    context stays in WAIT_API, so a right UFFDIO_API afterwards works."""
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, api: 0xab}
        - expect: {errno: EINVAL}
        - expect: {result: {api: 0, features: 0, ioctls: 0}}
        - uffdio_api: {uffd: u}
        - expect: {result: {features: $F, ioctls: 0x8000000000000003}}
        """, kernel, F=hex(uffd.FEATURES[kernel]))


@both
def test_scenario_3_unknown_feature_bit(uffd, kernel):
    """Scenario 3 (sections 3.2, 12): an unknown feature bit (5.14: 1<<11; 6.18: 1<<17, since
    1<<11 is EXACT_ADDRESS there) is EINVAL, struct zeroed, the context still in WAIT_API."""
    bit = 1 << 11 if kernel == "v5.14" else 1 << 17
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [$BIT]}
        - expect: {errno: EINVAL}
        - expect: {result: {api: 0, features: 0, ioctls: 0}}
        - uffdio_api: {uffd: u}
        - expect: {result: {features: $F}}
        """, kernel, BIT=bit, F=hex(uffd.FEATURES[kernel]))


def test_scenario_3_exact_address_is_a_known_feature_on_618(uffd):
    """Scenario 3, 6.18 (section 12): 1<<11 (EXACT_ADDRESS) is a valid request."""
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [0x800]}
        - expect: {result: {features: 0x1ffff}}
        """, "v6.18")


@both
def test_scenario_4_event_fork_without_cap_sys_ptrace(uffd, kernel):
    """Scenario 4 (section 3.2 step 4): EVENT_FORK asked for by a task without CAP_SYS_PTRACE
    is EPERM with the struct zeroed (the capset step drops the capability)."""
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - capset: {drop: [CAP_SYS_PTRACE]}
        - uffdio_api: {uffd: u, features: [EVENT_FORK]}
        - expect: {errno: EPERM}
        - expect: {result: {api: 0, features: 0, ioctls: 0}}
        - uffdio_api: {uffd: u}
        - expect: {result: {ioctls: 0x8000000000000003}}
        """, kernel)


@both
def test_scenario_5_ioctl_read_poll_before_api(uffd, kernel):
    """Scenario 5 (sections 2.3, 3.3, 3.4): before UFFDIO_API, REGISTER and read() are EINVAL,
    poll() is POLLERR."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffd_read: {uffd: u}
        - expect: {errno: EINVAL}
        - uffd_poll: {uffd: u}
        - expect: {result: {revents: 8}}
        - probe: {fn: vma_modes, args: {vma: buf, modes: []}}
        """, kernel)


@both
def test_scenario_6_syscall_permission(uffd, kernel):
    """Scenario 6 (section 3.1): vm.unprivileged_userfaultfd 0 and no CAP_SYS_PTRACE:
    userfaultfd(0) is EPERM, userfaultfd(UFFD_USER_MODE_ONLY) works, and 0x2 with
    UFFD_USER_MODE_ONLY is EINVAL (the permission passes, the flag check does not)."""
    uffd.ok("""\
        - read_file: {path: /proc/sys/vm/unprivileged_userfaultfd, expect: "0\\n"}
        - capset: {drop: [CAP_SYS_PTRACE]}
        - userfaultfd: {name: u}
        - expect: {errno: EPERM}
        - userfaultfd: {name: u2, flags: [UFFD_USER_MODE_ONLY]}
        - userfaultfd: {name: v, flags: [2, UFFD_USER_MODE_ONLY]}
        - expect: {errno: EINVAL}
        - write_file: {path: /proc/sys/vm/unprivileged_userfaultfd, data: "1"}
        - userfaultfd: {name: w}
        """, kernel)


# -- registration (section 4) -------------------------------------------------------------------

@both
def test_scenario_7_register_anon_missing(uffd, kernel):
    """Scenario 7 (sections 4.3, 12): 4 pages of private anonymous memory registered MISSING:
    ioctls 0x1c (6.18 0x13c); the VMA has VM_UFFD_MISSING only."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - expect: {result: {ioctls: $IO}}
        - probe: {fn: vma_modes, args: {vma: buf, modes: [MISSING], owner: u}}
        """, kernel, IO=hex(uffd.IOCTLS[kernel]["anon_missing"]))


@both
def test_scenario_8_minor_on_anon_refused(uffd, kernel):
    """Scenario 8 (section 4.2): MINOR on private anonymous memory is EINVAL, the VMA left
    alone."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MINOR]}
        - expect: {errno: EINVAL}
        - probe: {fn: vma_modes, args: {vma: buf, modes: []}}
        """, kernel)


@both
def test_scenario_9_wp_on_shmem(uffd, kernel):
    """Scenario 9 (sections 4.2, 12): MISSING|WP on a shared memfd mapping: EINVAL on 5.14,
    accepted on 6.18 (ioctls 0x17c)."""
    steps = API + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, WP]}
        """
    if kernel == "v5.14":
        steps = steps.rstrip(" ") + """\
        - expect: {errno: EINVAL}
        - probe: {fn: vma_modes, args: {vma: A, modes: []}}
        """
    else:
        steps = steps.rstrip(" ") + """\
        - expect: {result: {ioctls: 0x17c}}
        - probe: {fn: vma_modes, args: {vma: A, modes: [MISSING, WP]}}
        """
    uffd.ok(steps, kernel)


@both
def test_scenario_10_read_only_shared_file(uffd, kernel):
    """Scenario 10 (section 4.3 step 9b): MAP_SHARED PROT_READ of a shmem file opened O_RDONLY
    (no VM_MAYWRITE) is EPERM.  memsim has no /proc/PID/fd, so the file is a tmpfs file opened
    a second time O_RDONLY, which gives the same VMA."""
    uffd.ok(API + """\
        - mkdir: {path: /mnt/t}
        - mount: {type: tmpfs, path: /mnt/t}
        - open: {name: rw, path: /mnt/t/f, flags: [O_RDWR, O_CREAT]}
        - ftruncate: {fd: rw, length: 16 KiB}
        - open: {name: ro, path: /mnt/t/f, flags: [O_RDONLY]}
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: ro, prot: r}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING]}
        - expect: {errno: EPERM}
        - mmap: {name: P, length: 16 KiB, type: fd, fd: ro, prot: r}
        - uffdio_register: {uffd: u, vma: P, mode: [MISSING]}
        """, kernel)


@both
def test_scenario_11_two_uffds_one_vma(uffd, kernel):
    """Scenario 11 (section 4.3 step 9d): a second userfaultfd registering a range the first
    owns is EBUSY."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - uffdio_register: {uffd: u2, vma: buf, mode: [MISSING]}
        - expect: {errno: EBUSY}
        - uffdio_register: {uffd: u2, vma: buf, offset: 4 KiB, length: 4 KiB, mode: [MISSING]}
        - expect: {errno: EBUSY}
        - probe: {fn: vma_modes, args: {vma: buf, modes: [MISSING], owner: u}}
        """, kernel)


@both
def test_scenario_12_hugetlb_alignment(uffd, kernel):
    """Scenario 12 (sections 4.3 steps 8 and 9c, 12): a 4 MiB MAP_HUGETLB mapping: a start
    that is not 2 MiB aligned and an end that is not are EINVAL; MINOR over all of it works
    with ioctls 0x8c (6.18 0x18c)."""
    uffd.ok(API + """\
        - write_file: {path: /proc/sys/vm/nr_hugepages, data: "8"}
        - mmap: {name: H, length: 4 MiB, flags: [MAP_HUGETLB]}
        - uffdio_register: {uffd: u, vma: H, offset: 4 KiB, length: 2 MiB, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, vma: H, length: 3 MiB, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - probe: {fn: vma_modes, args: {vma: H, modes: []}}
        - uffdio_register: {uffd: u, vma: H, mode: [MINOR]}
        - expect: {result: {ioctls: $IO}}
        """, kernel, IO=hex(uffd.IOCTLS[kernel]["huge_minor"]))


@both
def test_scenario_13_range_in_a_hole(uffd, kernel):
    """Scenario 13 (sections 4.3 steps 6-7, 12): a range in a hole below a VMA is EINVAL; with
    no VMA at or above the start it is ENOMEM on 5.14, EINVAL on 6.18."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, addr: 0x10000000, length: 32 KiB, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0x7ffffff00000, length: 32 KiB, mode: [MISSING]}
        - expect: {errno: $E}
        """, kernel, E="ENOMEM" if kernel == "v5.14" else "EINVAL")


@both
def test_scenario_14_mode_replacement(uffd, kernel):
    """Scenario 14 (section 4.3 step 10): re-registering a MISSING range with WP replaces the
    mode: ioctls 0x5c (6.18 0x17c), the VMA WP-only, and a read of an empty page is an
    ordinary fault (no message)."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - uffdio_register: {uffd: u, vma: buf, mode: [WP]}
        - expect: {result: {ioctls: $IO}}
        - probe: {fn: vma_modes, args: {vma: buf, modes: [WP], owner: u}}
        - clone:
            thread: t
            steps:
              - read: {vma: buf, offset: 4 KiB, length: 4, expect: '00000000', encoding: hex}
        - sleep: {duration: 100000}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """, kernel, IO=hex(uffd.IOCTLS[kernel]["anon_wp"]))


# -- faults and COPY on anonymous memory (sections 5 and 6) --------------------------------------

@both
def test_scenario_15_anon_missing_fault_and_copy(uffd, kernel):
    """Scenario 15 (sections 5.3, 6.1, 6.4): a read of P+0x123 in a MISSING range: message flags
    0, address P, ptid 0; COPY of 4 KiB: copy 4096, the reader sees the bytes, RSS anon +1."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: src, data: hello}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - expect: {result: {features: $F, ioctls: 0x8000000000000003}}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - expect: {result: {ioctls: $IO}}
        - clone:
            thread: t
            steps:
              - read: {vma: buf, offset: 0x123, length: 1}
              - read: {vma: buf, offset: 0, expect: hello}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: 0, address: {vma: buf}, ptid: 0}]}
        - uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src}
        - expect: {result: {copy: 4096}}
        - sleep: {duration: 1000}
        - expect: {rss: {anon: 8 KiB}}
        """, kernel, F=hex(uffd.FEATURES[kernel]), IO=hex(uffd.IOCTLS[kernel]["anon_missing"]))


@both
def test_scenario_16_thread_id_and_write_flag(uffd, kernel):
    """Scenario 16 (section 5.3): with THREAD_ID a write of P+8 by thread t reports flags WRITE,
    address P, ptid = t's tid."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [THREAD_ID]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: t
            steps:
              - write: {vma: buf, offset: 8, data: x}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [WRITE], address: {vma: buf}, ptid: t}]}
        - uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src}
        - sleep: {duration: 1000}
        - read: {vma: buf, offset: 8, expect: x}
        """, kernel)


@both
def test_scenario_17_partial_copy(uffd, kernel):
    """Scenario 17 (sections 6.1 step 8, 6.9): COPY of 4 pages over a range whose page 2 is
    populated: EAGAIN, copy 8192; the sleepers on pages 0 and 1 are woken, page 3 untouched."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 16 KiB}
        - write: {vma: src, data: zero}
        - write: {vma: src, offset: 4 KiB, data: one}
        - write: {vma: buf, offset: 8 KiB, data: two}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: t0
            steps:
              - read: {vma: buf, offset: 0, expect: zero}
        - clone:
            thread: t1
            steps:
              - read: {vma: buf, offset: 4 KiB, expect: one}
        - sleep: {duration: 1000}
        - uffdio_copy: {uffd: u, vma: buf, src: src}
        - expect: {errno: EAGAIN}
        - expect: {result: {copy: 8192}}
        - sleep: {duration: 1000}
        - probe: {fn: pte_count, args: {vma: buf, present: 3}}
        - probe: {fn: pte_count, args: {vma: buf, offset: 12288, present: 0}}
        - expect: {rss: {anon: 20 KiB}}
        """, kernel)


@both
def test_scenario_18_copy_on_populated_first_page(uffd, kernel):
    """Scenario 18 (sections 6.3, 6.9): COPY onto a mapped page is EEXIST with copy = -EEXIST."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: buf, data: here}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src}
        - expect: {errno: EEXIST}
        - expect: {result: {copy: -17}}
        - read: {vma: buf, expect: here}
        """, kernel)


@both
def test_scenario_19_copy_bad_dst(uffd, kernel):
    """Scenario 19 (sections 6.1 step 3, 6.9): COPY to P+1 is EINVAL and leaves copy alone."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - uffdio_copy: {uffd: u, vma: buf, offset: 1, length: 4 KiB, src: src}
        - expect: {errno: EINVAL}
        - probe: {fn: api_error, args: {call: uffdio_copy, errno: EINVAL, out: {},
                                        args: [{vma: buf, offset: 1}, {vma: src}, 4096]}}
        """, kernel)


@both
def test_scenario_20_copy_outside_registration(uffd, kernel):
    """Scenario 20 (section 6.2 step 2): a COPY spanning the registered and an unregistered VMA,
    or into an unregistered VMA, is ENOENT with copy = -ENOENT."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 32 KiB}
        - mmap: {name: src, length: 8 KiB}
        - uffdio_register: {uffd: u, vma: buf, length: 16 KiB, mode: [MISSING]}
        - uffdio_copy: {uffd: u, vma: buf, offset: 12 KiB, length: 8 KiB, src: src}
        - expect: {errno: ENOENT}
        - expect: {result: {copy: -2}}
        - uffdio_copy: {uffd: u, vma: buf, offset: 20 KiB, length: 4 KiB, src: src}
        - expect: {errno: ENOENT}
        - expect: {result: {copy: -2}}
        - uffdio_copy: {uffd: u, vma: src, length: 4 KiB, src: src}
        - expect: {errno: ENOENT}
        - expect: {result: {copy: -2}}
        """, kernel)


# -- shmem minor faults (sections 5.1, 6.5) -------------------------------------------------------

@both
def test_scenario_21_shmem_minor_fault_and_continue(uffd, kernel):
    """Scenario 21 (sections 5.1, 6.5, 7): a read through A (MINOR) of a page written through
    B: message flags MINOR, address A; CONTINUE: mapped 4096, the reader sees B's data; a
    second CONTINUE: EEXIST, mapped -17."""
    uffd.ok(API + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - expect: {result: {ioctls: $IO}}
        - clone:
            thread: t
            steps:
              - read: {vma: A, offset: 0, expect: cached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [MINOR], address: {vma: A}}]}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - expect: {result: {mapped: 4096}}
        - sleep: {duration: 1000}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - expect: {errno: EEXIST}
        - expect: {result: {mapped: -17}}
        """, kernel, IO=hex(uffd.IOCTLS[kernel]["shmem_minor"]))


@both
def test_scenario_22_shmem_continue_on_hole_and_past_eof(uffd, kernel):
    """Scenario 22 (section 6.5): A maps 8 pages of a 4-page memfd, MINOR: CONTINUE of the
    never-written page 1 is EFAULT (mapped -14), of page 4 (past EOF) EINVAL (mapped -22)."""
    uffd.ok(API + MEMFD + """\
        - mmap: {name: A, length: 32 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - uffdio_continue: {uffd: u, vma: A, offset: 4 KiB, length: 4 KiB}
        - expect: {errno: EFAULT}
        - expect: {result: {mapped: -14}}
        - uffdio_continue: {uffd: u, vma: A, offset: 16 KiB, length: 4 KiB}
        - expect: {errno: EINVAL}
        - expect: {result: {mapped: -22}}
        """, kernel)


@both
def test_scenario_24_shmem_copy_on_minor_fault(uffd, kernel):
    """Scenario 24 (sections 6.4, 7, 10.3): COPY onto a page the cache holds: EEXIST (copy -17)
    through a MAP_SHARED A; through a MAP_PRIVATE A it installs a private anonymous page."""
    uffd.ok(API + MEMFD + """\
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: src, data: private}
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - mmap: {name: P, length: 16 KiB, type: fd, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, MINOR]}
        - uffdio_register: {uffd: u, vma: P, mode: [MISSING, MINOR]}
        - uffdio_copy: {uffd: u, vma: A, length: 4 KiB, src: src}
        - expect: {errno: EEXIST}
        - expect: {result: {copy: -17}}
        - expect: {rss: {anon: 4 KiB}}
        - uffdio_copy: {uffd: u, vma: P, length: 4 KiB, src: src}
        - expect: {result: {copy: 4096}}
        - expect: {rss: {anon: 8 KiB}}
        - read: {vma: P, expect: private}
        - read: {vma: B, expect: cached}
        """, kernel)


@both
def test_scenario_25_shmem_minor_only_hole(uffd, kernel):
    """Scenario 25 (section 5.1): a read of a hole in a MINOR-only range raises no message: a
    zeroed page is allocated in the file and mapped."""
    uffd.ok(API + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - expect: {rss: {shmem: 4 KiB}}
        - read: {vma: A, offset: 12 KiB, length: 4, expect: '00000000', encoding: hex}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        - expect: {rss: {shmem: 8 KiB}}
        - expect: {meminfo: {Shmem: 8 KiB}}
        """, kernel)


# -- hugetlb minor faults (section 6.6) -----------------------------------------------------------

@both
def test_scenario_26_hugetlb_minor_fault_and_continue(uffd, kernel):
    """Scenario 26 (sections 5.1, 5.3, 6.6): a read of A+0x1000 where the file's huge page 0 is
    cached: message MINOR at A (huge page aligned); CONTINUE of 2 MiB: mapped 2 MiB."""
    uffd.ok(API + HUGE_MEMFD + """\
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - expect: {result: {ioctls: $IO}}
        - clone:
            thread: t
            steps:
              - read: {vma: A, offset: 0x1000, length: 1}
              - read: {vma: A, expect: cached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [MINOR], address: {vma: A}}]}
        - uffdio_continue: {uffd: u, vma: A, length: 2 MiB}
        - expect: {result: {mapped: 2097152}}
        - sleep: {duration: 1000}
        - expect: {meminfo: {HugePages_Free: 7}}
        """, kernel, IO=hex(uffd.IOCTLS[kernel]["huge_minor"]))


@both
def test_scenario_27_hugetlb_continue_on_missing_page_and_zeropage(uffd, kernel):
    """Scenario 27 (section 6.6): CONTINUE of the never-populated huge page 1 is EFAULT (mapped
    -14); ZEROPAGE on hugetlb is EINVAL (zeropage -22)."""
    uffd.ok(API + HUGE_MEMFD + """\
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, MINOR]}
        - uffdio_continue: {uffd: u, vma: A, offset: 2 MiB, length: 2 MiB}
        - expect: {errno: EFAULT}
        - expect: {result: {mapped: -14}}
        - uffdio_zeropage: {uffd: u, vma: A, length: 2 MiB}
        - expect: {errno: EINVAL}
        - expect: {result: {zeropage: -22}}
        """, kernel)


@both
def test_scenario_28_hugetlb_copy_on_minor_shared(uffd, kernel):
    """Scenario 28 (section 6.6): COPY of 2 MiB onto a huge page the cache holds, through a
    shared mapping: EEXIST (copy -17)."""
    uffd.ok(API + HUGE_MEMFD + """\
        - mmap: {name: src, length: 2 MiB}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, MINOR]}
        - uffdio_copy: {uffd: u, vma: A, length: 2 MiB, src: src}
        - expect: {errno: EEXIST}
        - expect: {result: {copy: -17}}
        """, kernel)


# -- write protection (sections 6.8) -------------------------------------------------------------

@both
def test_scenario_29_writeprotect_on_shared_memory(uffd, kernel):
    """Scenario 29 (sections 6.8, 12): WRITEPROTECT of shmem registered without WP is ENOENT;
    6.18: with MODE_WP registration it works."""
    steps = API + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, MINOR]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - expect: {errno: ENOENT}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        - expect: {errno: ENOENT}
        """
    if kernel == "v6.18":
        steps = steps.rstrip(" ") + """\
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING, WP]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        """
    uffd.ok(steps, kernel)


@both
def test_scenario_30_wp_flow_on_anon(uffd, kernel):
    """Scenario 30 (sections 5.1, 6.8): a populated page WP-protected: a write raises WP|WRITE
    (0x3); WRITEPROTECT mode 0 lets the writer go on; WP|DONTWAKE is EINVAL."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - write: {vma: buf, data: before}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING, WP]}
        - uffdio_writeprotect: {uffd: u, vma: buf, length: 4 KiB, mode: [WP]}
        - clone:
            thread: t
            steps:
              - write: {vma: buf, data: after!}
        - sleep: {duration: 1000}
        - read: {vma: buf, expect: before}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [WP, WRITE], address: {vma: buf}}]}
        - uffdio_writeprotect: {uffd: u, vma: buf, length: 4 KiB, mode: [WP, DONTWAKE]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, vma: buf, length: 4 KiB, mode: []}
        - sleep: {duration: 1000}
        - read: {vma: buf, expect: after!}
        """, kernel)


# -- events, wake, unregister, close (sections 3.6, 3.7, 4.4, 5.4) -------------------------------

@both
def test_scenario_31_mmap_changing(uffd, kernel):
    """Scenario 31 (sections 3.7, 6.1 step 1): with EVENT_REMAP a thread's mremap of the
    registered range queues a REMAP event and blocks; COPY before the event is read is EAGAIN
    (copy unchanged; 6.18 writes -EAGAIN into it, probes/README.md row 23); after the read COPY
    works."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [EVENT_REMAP]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: t
            steps:
              - mremap: {vma: buf, length: 16 KiB, flags: [MREMAP_MAYMOVE, MREMAP_FIXED],
                         new_address: 0x500000000000}
        - sleep: {duration: 1000}
        - uffdio_copy: {uffd: u, addr: 0x500000000000, length: 4 KiB, src: src}
        - expect: {errno: EAGAIN}
        - probe: {fn: api_error, args: {call: uffdio_copy, errno: EAGAIN, out: $OUT,
                                        args: [0x500000000000, {vma: src}, 4096]}}
        - uffd_read: {uffd: u, expect: [{event: remap, to: 0x500000000000, len: 16384}]}
        - sleep: {duration: 1000}
        - uffdio_copy: {uffd: u, addr: 0x500000000000, length: 4 KiB, src: src}
        - expect: {result: {copy: 4096}}
        """, kernel, OUT="{}" if kernel == "v5.14" else "{copy: -11}")


@both
def test_scenario_32_wake_without_resolve(uffd, kernel):
    """Scenario 32 (sections 5.2 step 9, 6.7): WAKE of a read but unresolved fault: 0; the
    thread refaults and a second identical message is queued."""
    uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: t
            steps:
              - write: {vma: buf, offset: 100, data: x}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [WRITE], address: {vma: buf}}]}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        - uffdio_wake: {uffd: u, vma: buf, length: 4 KiB}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [WRITE], address: {vma: buf}}]}
        - uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src}
        - sleep: {duration: 1000}
        - read: {vma: buf, offset: 100, expect: x}
        """, kernel)


@both
def test_scenario_33_unregister_does_not_wake_minor_sleepers(uffd, kernel):
    """Scenario 33 (section 4.4; kept in the 6.18 profile): UNREGISTER of a MINOR-only range
    leaves its sleeper asleep; UFFDIO_WAKE wakes it and it maps the cached page normally."""
    uffd.ok(API + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - clone:
            thread: t
            steps:
              - read: {vma: A, expect: cached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - uffdio_unregister: {uffd: u, vma: A}
        - sleep: {duration: 100000}
        - probe: {fn: vma_modes, args: {vma: A, modes: []}}
        - probe: {fn: pte_count, args: {vma: A, present: 0}}
        - expect: {rss: {shmem: 4 KiB}}
        - uffdio_wake: {uffd: u, vma: A, length: 4 KiB}
        - sleep: {duration: 1000}
        - probe: {fn: pte_count, args: {vma: A, present: 1}}
        - expect: {rss: {shmem: 8 KiB}}
        """, kernel)


@both
def test_scenario_34_close_releases_everything(uffd, kernel):
    """Scenario 34 (section 3.6): close() of the uffd with two threads asleep on MISSING faults
    wakes both; the faults resolve as ordinary ones (zero page, new page); the VMA is no longer
    registered."""
    r = uffd.ok(API + """\
        - mmap: {name: buf, length: 16 KiB}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: r
            steps:
              - read: {vma: buf, length: 4, expect: '00000000', encoding: hex}
        - clone:
            thread: w
            steps:
              - write: {vma: buf, offset: 8 KiB, data: w}
        - sleep: {duration: 1000}
        - close: {fd: u}
        - sleep: {duration: 1000}
        - probe: {fn: vma_modes, args: {vma: buf, modes: []}}
        - read: {vma: buf, offset: 8 KiB, expect: w}
        - expect: {rss: {anon: 4 KiB}}
        """, kernel)
    summaries = {t["name"]: t for t in r.summary()["tasks"]}
    assert summaries["r"].get("killed_by") is None and summaries["w"].get("killed_by") is None


@both
def test_scenario_35_poll_on_blocking_fd(uffd, kernel):
    """Scenario 35 (section 3.4): poll() of a uffd opened without O_NONBLOCK is POLLERR; with
    O_NONBLOCK it is 0 with nothing queued."""
    uffd.ok("""\
        - userfaultfd: {name: u}
        - uffdio_api: {uffd: u}
        - uffd_poll: {uffd: u}
        - expect: {result: {revents: 8}}
        - userfaultfd: {name: v, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: v}
        - uffd_poll: {uffd: v}
        - expect: {result: {revents: 0}}
        """, kernel)


@both
def test_scenario_36_sigbus_feature(uffd, kernel):
    """Scenario 36 (section 5.2 step 3): with the SIGBUS feature a minor fault on a cached
    shmem page is SIGBUS for the thread, and no message is queued."""
    uffd.ok("""\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [SIGBUS]}
""" + MEMFD + """\
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - clone:
            thread: t
            steps:
              - read: {vma: A, length: 1}
              - expect: {signal: SIGBUS}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """, kernel)


@both
def test_scenario_37_fdinfo(uffd, kernel):
    """Scenario 37 (section 3.5): /proc/PID/fdinfo/FD with one unread and one read but
    unresolved fault: pending 1, total 2, API aa:<features>:<API|range ioctls> (5.14
    80000000000000df; 6.18: features with bit 31 and 80000000000001ff after pos/flags/mnt_id/ino
    lines, probes/README.md row 5)."""
    tail = ('contains: "pending:\\t1\\ntotal:\\t2\\nAPI:\\taa:100:80000000000000df\\n"'
            if kernel == "v5.14" else
            'contains: "pending:\\t1\\ntotal:\\t2\\nAPI:\\taa:80000100:80000000000001ff\\n"')
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [THREAD_ID]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: t1
            steps:
              - read: {vma: buf, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u}
        - clone:
            thread: t2
            steps:
              - read: {vma: buf, offset: 4 KiB, length: 1}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {$TAIL}}
        - uffdio_zeropage: {uffd: u, vma: buf, length: 8 KiB}
        """, kernel, TAIL=tail)


@both
def test_scenario_38_unregister_another_uffds_range(uffd, kernel):
    """Scenario 38 (sections 4.4, 12): uffd2 unregistering uffd1's range: 5.14 returns 0, the
    range loses its registration and uffd1's sleeper in it is woken (it faults normally);
    6.18 returns EINVAL and the range stays registered."""
    steps = API + """\
        - mmap: {name: R, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - uffdio_register: {uffd: u, vma: R, mode: [MISSING]}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - clone:
            thread: t
            steps:
              - write: {vma: R, data: mine}
        - sleep: {duration: 1000}
        - uffdio_unregister: {uffd: u2, vma: R}
        """
    if kernel == "v5.14":
        steps = steps.rstrip(" ") + """\
        - sleep: {duration: 1000}
        - probe: {fn: vma_modes, args: {vma: R, modes: []}}
        - read: {vma: R, expect: mine}
        """
    else:
        steps = steps.rstrip(" ") + """\
        - expect: {errno: EINVAL}
        - sleep: {duration: 1000}
        - probe: {fn: vma_modes, args: {vma: R, modes: [MISSING], owner: u}}
        - probe: {fn: pte_count, args: {vma: R, present: 0}}
        - uffdio_copy: {uffd: u, vma: R, length: 4 KiB, src: src}
        - sleep: {duration: 1000}
        - read: {vma: R, expect: mine}
        """
    uffd.ok(steps, kernel)


@both
def test_scenario_39_fill_through_another_uffd(uffd, kernel):
    """Scenario 39 (sections 6.2 step 2, 9): COPY into uffd1's range through uffd2 (same mm)
    works: find_dst_vma only asks for some context."""
    uffd.ok(API + """\
        - mmap: {name: R, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: src, data: via-u2}
        - uffdio_register: {uffd: u, vma: R, mode: [MISSING]}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - uffdio_copy: {uffd: u2, vma: R, offset: 4 KiB, length: 4 KiB, src: src}
        - expect: {result: {copy: 4096}}
        - read: {vma: R, offset: 4 KiB, expect: via-u2}
        - probe: {fn: vma_modes, args: {vma: R, modes: [MISSING], owner: u}}
        """, kernel)


@both
def test_capabilities_are_inherited_at_fork_and_clone(uffd, kernel):
    """copy_creds(): a child forked or a thread cloned after capset starts without the dropped
    capability (EVENT_FORK is EPERM for it too); one forked before keeps it."""
    uffd.ok("""\
        - fork:
            child: early
            steps:
              - sleep: {duration: 10000}
              - userfaultfd: {name: u, flags: [O_NONBLOCK]}
              - uffdio_api: {uffd: u, features: [EVENT_FORK]}
        - capset: {drop: [CAP_SYS_PTRACE]}
        - fork:
            child: late
            steps:
              - userfaultfd: {name: u}
              - expect: {errno: EPERM}
        - clone:
            thread: t
            steps:
              - userfaultfd: {name: v, flags: [O_NONBLOCK]}
              - expect: {errno: EPERM}
        - sleep: {duration: 20000}
        """, kernel)
