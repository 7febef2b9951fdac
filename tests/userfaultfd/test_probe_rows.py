"""Rows of tests/userfaultfd/probes/README.md's table (where the live 6.18 kernel differs from
the spec or the spec is silent), each against the probe fixture line the row names."""
import pytest


def test_row_26_one_read_collects_two_faults_oldest_first(uffd):
    """uffd_faults.txt `two faults`: read(64) with two faults pending gives 64 bytes, oldest
    first."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone: {thread: t1, steps: [{read: {vma: buf, offset: 4 KiB, length: 1}}]}
        - sleep: {duration: 1000}
        - clone: {thread: t2, steps: [{read: {vma: buf, offset: 8 KiB, length: 1}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, count: 2, expect: [{address: {vma: buf, offset: 4096}},
                                                  {address: {vma: buf, offset: 8192}}]}
        - expect: {result: {bytes: 64}}
        - uffdio_zeropage: {uffd: u, vma: buf, length: 16 KiB}
        """)


def test_row_27_a_fill_with_dontwake_before_the_read_leaves_the_message_and_the_sleeper(uffd):
    """uffd_faults.txt `COPY DONTWAKE before read`: the message stays readable and the thread
    blocked until UFFDIO_WAKE."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone: {thread: t, steps: [{read: {vma: buf, length: 1}}]}
        - sleep: {duration: 1000}
        - uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src, mode: [DONTWAKE]}
        - uffd_read: {uffd: u, expect: [{address: {vma: buf}}]}
        - probe: {fn: fdinfo, args: {contains: "total:\\t1\\n"}}
        - uffdio_wake: {uffd: u, vma: buf, length: 4 KiB}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {contains: "total:\\t0\\n"}}
        """)


@pytest.mark.parametrize("mode", ["MISSING", "WP"])
def test_row_29_the_sigbus_feature_answers_every_userfault_with_bus_adrerr(uffd, mode):
    """uffd_faults.txt `s36`: with UFFD_FEATURE_SIGBUS a MISSING or WP fault is SIGBUS
    (BUS_ADRERR), no message."""
    prep = ("- uffdio_writeprotect: {uffd: u, vma: buf, length: 4 KiB, mode: [WP]}\n"
            if mode == "WP" else "")
    touch = "- touch: {vma: buf, length: 4 KiB, access: write}\n" if mode == "WP" else ""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        $TOUCH- userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [SIGBUS]}
        - uffdio_register: {uffd: u, vma: buf, mode: [$MODE]}
        $PREP- write: {vma: buf, data: x}
        - expect: {signal: SIGBUS, si_code: BUS_ADRERR}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """, MODE=mode, TOUCH=touch, PREP=prep)


def test_row_35_writeprotect_over_two_registered_vmas(uffd):
    """uffd_wp.txt `WRITEPROTECT over two registered VMAs`: OK, both protected (v5.14: ENOENT)."""
    steps = """\
        - mmap: {name: a, length: 8 KiB, addr: 0x600000000000, flags: [MAP_FIXED]}
        - mmap: {name: b, length: 8 KiB, addr: 0x600000002000, flags: [MAP_FIXED], prot: r}
        - touch: {vma: a, access: write}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, addr: 0x600000000000, length: 16 KiB, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, addr: 0x600000000000, length: 16 KiB, mode: [WP]}
        """
    uffd.ok(steps)
    uffd.ok(steps + "- expect: {errno: ENOENT}\n", "v5.14")


def test_row_36_unprotect_running_into_an_unregistered_vma_unprotects_the_registered_part(uffd):
    """uffd_wp.txt `[registered 2, unregistered 2]`: protect and un-protect both fail with
    ENOENT on 6.18 and both change the registered part: the write then goes through."""
    uffd.ok("""\
        - mmap: {name: a, length: 8 KiB, addr: 0x600000000000, flags: [MAP_FIXED]}
        - mmap: {name: b, length: 8 KiB, addr: 0x600000002000, flags: [MAP_FIXED]}
        - touch: {vma: a, access: write}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: a, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, addr: 0x600000000000, length: 16 KiB, mode: [WP]}
        - expect: {errno: ENOENT}
        - uffdio_writeprotect: {uffd: u, addr: 0x600000000000, length: 16 KiB, mode: []}
        - expect: {errno: ENOENT}
        - write: {vma: a, data: through}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


def test_row_37_unprotect_with_dontwake_leaves_the_writer_asleep(uffd):
    """uffd_wp.txt `un-protect with DONTWAKE`: OK; the writer stays blocked until UFFDIO_WAKE."""
    uffd.ok("""\
        - mmap: {name: buf, length: 8 KiB}
        - touch: {vma: buf, access: write}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: buf, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: buf, mode: [WP]}
        - clone: {thread: t, steps: [{write: {vma: buf, data: x}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, WP]}]}
        - uffdio_writeprotect: {uffd: u, vma: buf, mode: [DONTWAKE]}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {contains: "total:\\t1\\n"}}
        - uffdio_wake: {uffd: u, vma: buf}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {contains: "total:\\t0\\n"}}
        """)


def test_row_38_wp_unpopulated_marks_none_ptes(uffd):
    """uffd_wp.txt WP_UNPOPULATED: markers on every none PTE; the first write is WP|WRITE, the
    first read no event (the zero page, write-protected)."""
    uffd.ok("""\
        - mmap: {name: buf, length: 8 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [WP_UNPOPULATED]}
        - uffdio_register: {uffd: u, vma: buf, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: buf, mode: [WP]}
        - read: {vma: buf, offset: 4 KiB, length: 1}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        - clone: {thread: t, steps: [{write: {vma: buf, data: x}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, WP], address: {vma: buf}}]}
        - uffdio_writeprotect: {uffd: u, vma: buf, mode: []}
        - sleep: {duration: 1000}
        """)


def test_row_38_without_wp_unpopulated_a_first_write_is_no_event(uffd):
    uffd.ok("""\
        - mmap: {name: buf, length: 8 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: buf, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: buf, mode: [WP]}
        - write: {vma: buf, data: x}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


def test_row_42_mremap_shrink_with_event_unmap(uffd):
    """uffd_events.txt `mremap shrink`: with EVENT_UNMAP an UNMAP of the tail, and the mremap
    waits for the read; EVENT_REMAP alone gives no event."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [EVENT_UNMAP, EVENT_REMAP]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone: {thread: t, steps: [{mremap: {vma: buf, length: 8 KiB}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: unmap, start: {vma: buf, offset: 8192},
                                         end: {vma: buf, offset: 16384}}]}
        - sleep: {duration: 1000}
        """)


def test_row_43_madv_dontneed_raises_remove_and_the_next_read_is_missing(uffd):
    """uffd_events.txt REMOVE: the exact range, the raiser blocked until read; then the page is
    gone and a read of it is a MISSING fault."""
    uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [EVENT_REMOVE]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - uffdio_copy: {uffd: u, vma: buf, offset: 4 KiB, length: 8 KiB, src_addr: 0, src: src}
        - expect: {errno: EFAULT}
        - uffdio_zeropage: {uffd: u, vma: buf, length: 16 KiB}
        - clone: {thread: t, steps: [{madvise: {vma: buf, offset: 4 KiB, length: 8 KiB, advice: MADV_DONTNEED}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: remove, start: {vma: buf, offset: 4096},
                                         end: {vma: buf, offset: 12288}}]}
        - sleep: {duration: 1000}
        - clone: {thread: r, steps: [{read: {vma: buf, offset: 4 KiB, length: 1}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [], address: {vma: buf, offset: 4096}}]}
        - uffdio_zeropage: {uffd: u, vma: buf, offset: 4 KiB, length: 4 KiB}
        """)


def test_row_31_a_fill_through_another_uffd_does_not_wake_the_owners_sleeper(uffd):
    """uffd_faults.txt `s39`: COPY through uffd2 into uffd1's range is OK but wakes no thread
    sleeping on uffd1; a WAKE through uffd1 does."""
    uffd.ok("""\
        - mmap: {name: R, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: R, mode: [MISSING]}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - clone: {thread: t, steps: [{read: {vma: R, length: 1}}]}
        - sleep: {duration: 1000}
        - uffdio_copy: {uffd: u2, vma: R, length: 4 KiB, src: src}
        - expect: {result: {copy: 4096}}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {contains: "total:\\t1\\n"}}
        - uffdio_wake: {uffd: u, vma: R, length: 4 KiB}
        - sleep: {duration: 1000}
        - probe: {fn: fdinfo, args: {contains: "total:\\t0\\n"}}
        """)


@pytest.mark.parametrize("page", ["cached", "hole"])
def test_row_39_wp_on_unpopulated_shmem_marks_cached_pages_and_holes(uffd, page):
    """uffd_wp.txt markers: WRITEPROTECT of a shmem range with no PTEs leaves a uffd-wp marker
    on cached pages and holes alike (no WP_UNPOPULATED needed); a write there is WP|WRITE."""
    offset = "0" if page == "cached" else "8 KiB"
    uffd.ok("""\
        - memfd_create: {name: m}
        - ftruncate: {fd: m, length: 16 KiB}
        - mmap: {name: A, length: 16 KiB, type: fd-shared, fd: m}
        - mmap: {name: B, length: 16 KiB, type: fd-shared, fd: m}
        - write: {vma: B, data: cached}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - clone: {thread: t, steps: [{write: {vma: A, offset: $OFF, data: x}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, WP], address: {vma: A, offset: $OFFN}}]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        - sleep: {duration: 1000}
        """, OFF=offset, OFFN=0 if page == "cached" else 8192)


def test_row_41_two_forks_give_two_fork_events_with_a_context_each(uffd):
    """uffd_events.txt EVENT_FORK: each fork queues its own FORK event, whose read installs a new
    fd for that child's context (two forks back to back are two children, two contexts)."""
    r = uffd.ok("""\
        - mmap: {name: buf, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [EVENT_FORK]}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
        - clone:
            thread: forker
            steps:
              - fork: {child: c1, steps: [{sleep: {duration: 1ms}}]}
              - fork: {child: c2, steps: [{sleep: {duration: 1ms}}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: fork}]}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: fork}]}
        - sleep: {duration: 2ms}
        """)
    h = r.machine.plugin_state["userfaultfd"]
    assert h.next_id == 3                   # the parent's context and one per child


@pytest.mark.parametrize("umo", [True, False], ids=["user_mode_only", "no_umo"])
@pytest.mark.parametrize("kind", ["read", "write"])
def test_row_30_a_system_calls_access_to_a_registered_missing_page(uffd, umo, kind):
    """uffd_faults.txt `kernel access read(2)|write(2) ...`: read(2) into, or write(2) from, a
    registered missing page is a kernel access.  With UFFD_USER_MODE_ONLY: EFAULT and no message.
    Without: a message (read(2) into the buffer: flags WRITE; write(2) from it: flags 0) and the
    system call completes with all 16 bytes after UFFDIO_COPY.  (The probe uses a pipe; memsim
    has no pipes, so a tmpfs file stands in: the copy to or from user memory is the same.)"""
    call = f"{{{kind}: {{fd: g, buffer: buf, offset: 16, length: 16}}}}"
    if umo:
        after = [f"- clone: {{thread: t, steps: [{call}, {{expect: {{errno: EFAULT}}}}]}}",
                 "- sleep: {duration: 1000}",
                 "- uffd_read: {uffd: u}",
                 "- expect: {errno: EAGAIN}",
                 # the file is as it was, and a failed read(2) leaves the position at 0
                 "- pread: {fd: f, offset: 0, expect: '0123456789abcdef'}",
                 "- read: {fd: g, length: 4, expect: '0123'}"]
    else:
        fault_flags = "[WRITE]" if kind == "read" else "[]"
        landed = ("- read: {vma: buf, offset: 16, expect: '0123456789abcdef'}" if kind == "read"
                  else "- pread: {fd: f, offset: 0, expect: 'PPPPPPPPPPPPPPPP'}")
        after = [f"- clone: {{thread: t, steps: [{call}]}}",
                 "- sleep: {duration: 1000}",
                 f"- uffd_read: {{uffd: u, expect: [{{address: {{vma: buf}}, flags: {fault_flags}}}]}}",
                 "- uffdio_copy: {uffd: u, vma: buf, length: 4 KiB, src: src}",
                 "- sleep: {duration: 1000}",
                 landed]
    uffd.ok("""\
        - mkdir: {path: /mnt/t}
        - mount: {type: tmpfs, path: /mnt/t}
        - open: {name: f, path: /mnt/t/pipe, flags: [O_RDWR, O_CREAT]}
        - write: {fd: f, data: "0123456789abcdef"}
        - open: {name: g, path: /mnt/t/pipe, flags: [O_RDWR]}
        - mmap: {name: buf, length: 8 KiB}
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: src, offset: 16, data: "PPPPPPPPPPPPPPPP"}
        - userfaultfd: {name: u, flags: $FLAGS}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: buf, mode: [MISSING]}
""" + "".join(f"        {line}\n" for line in after),
            FLAGS="[O_NONBLOCK, UFFD_USER_MODE_ONLY]" if umo else "[O_NONBLOCK]")


@pytest.mark.parametrize("event_fork", [False, True], ids=["no_event_fork", "event_fork"])
def test_row_40_fork_of_a_write_protected_page(uffd, event_fork):
    """uffd_wp.txt `fork of protected page`: without EVENT_FORK the child's VMA loses its
    registration and copy_present_ptes() clears the child PTE's uffd-wp bit (pagemap bit 57 = 0;
    the probe first read the parent's pagemap through an inherited fd and saw 1, fixed since), so
    its write goes through; fork() returns before any read.  With EVENT_FORK fork() waits for
    the FORK message, the child's PTE keeps the bit and its write raises WRITE|WP on the child's
    uffd.  Either way the parent's page stays protected (wp=WP: page 0 protected, page 1 not)."""
    features = "[EVENT_FORK]" if event_fork else "[]"
    child = ("{fork: {child: c, steps: [{probe: {fn: uffd_wp_bit, args: {vma: buf, bit: %d}}}, "
             "{write: {vma: buf, data: c}}, {read: {vma: buf, expect: c}}]}}" % int(event_fork))
    if event_fork:
        serve = ["- uffd_read: {uffd: u, expect: [{event: fork}], fork_uffd: cu}",
                 "- sleep: {duration: 1000}",
                 "- uffd_read: {uffd: cu, expect: [{flags: [WRITE, WP], address: {vma: buf}}]}",
                 "- uffdio_writeprotect: {uffd: cu, vma: buf, length: 4 KiB}"]
    else:
        serve = ["- uffd_read: {uffd: u}", "- expect: {errno: EAGAIN}"]
    steps = ["- mmap: {name: buf, length: 8 KiB}",
             "- touch: {vma: buf, access: write}",
             "- userfaultfd: {name: u, flags: [O_NONBLOCK]}",
             f"- uffdio_api: {{uffd: u, features: {features}}}",
             "- uffdio_register: {uffd: u, vma: buf, mode: [WP]}",
             "- uffdio_writeprotect: {uffd: u, vma: buf, length: 4 KiB, mode: [WP]}",
             f"- clone: {{thread: forker, steps: [{child}]}}",
             "- sleep: {duration: 1000}",
             *serve,
             "- sleep: {duration: 2ms}",
             "- probe: {fn: uffd_wp_bit, args: {vma: buf, bit: 1}}",
             "- probe: {fn: uffd_wp_bit, args: {vma: buf, offset: 4096, bit: 0}}",
             "- read: {vma: buf, length: 1, expect: '00', encoding: hex}"]
    uffd.ok("\n".join(steps) + "\n")
