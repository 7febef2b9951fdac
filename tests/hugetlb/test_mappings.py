"""hugetlb mappings: hugetlbfs files, MAP_HUGETLB, MFD_HUGETLB, reservations at mmap, faults,
COW, fork, unmap, truncate and hole punch (hugetlb.md sections 6 and 7; scenarios 8-13 with
real mappings), every run with --check on (run_text's default)."""
import pytest

from memsim.testing import run_text, task_summary

H2 = "/sys/kernel/mm/hugepages/hugepages-2048kB"
G1 = "/sys/kernel/mm/hugepages/hugepages-1048576kB"


def pool(total, free, rsvd, surp, indent=6):
    """expect steps: HugePages_Total/Free/Rsvd/Surp of /proc/meminfo."""
    pad = " " * indent
    return (f"{pad}- expect: {{meminfo: {{HugePages_Total: {total}, HugePages_Free: {free}, "
            f"HugePages_Rsvd: {rsvd}, HugePages_Surp: {surp}}}}}\n")


def run(steps, kernel="v6.18", memory="256 MiB", extra_tasks=""):
    text = (f"machine:\n  kernel: {kernel}\n  nodes: [{{memory: {memory}}}]\n"
            f"tasks:\n  - name: t\n    steps:\n{steps}{extra_tasks}")
    r = run_text(text, events=())
    return r


def ok(steps, **kw):
    r = run(steps, **kw)
    assert r.error is None, r.error
    return r


NR = "      - write_file: {{path: /proc/sys/vm/nr_hugepages, data: \"{}\"}}\n"
OVER = "      - write_file: {{path: /proc/sys/vm/nr_overcommit_hugepages, data: \"{}\"}}\n"
MOUNT = ("      - mkdir: {path: /mnt/huge}\n"
         "      - mount: {type: hugetlbfs, path: /mnt/huge, source: none}\n")


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_scenario_8_private_mapping_in_use_then_shrink_and_unmap(kernel):
    """Scenario 8: 4 pages in use by a MAP_PRIVATE|MAP_HUGETLB mapping; write 1 -> Total 4,
    Free 0, Surp 3, sysctl 1, sysfs 4; unmapping one page -> Total 3, Surp 2."""
    ok(NR.format(4)
       + "      - mmap: {name: p, length: 8 MiB, flags: [MAP_HUGETLB]}\n"
       + "      - touch: {vma: p}\n"
       + pool(4, 0, 0, 0)
       + NR.format(1)
       + pool(4, 0, 0, 3)
       + "      - read_file: {path: /proc/sys/vm/nr_hugepages, expect: \"1\\n\"}\n"
       + f"      - read_file: {{path: {H2}/nr_hugepages, expect: \"4\\n\"}}\n"
       + "      - munmap: {vma: p, offset: 6 MiB}\n"
       + pool(3, 0, 0, 2), kernel=kernel)


def test_scenario_8_a_hugetlbfs_file_keeps_its_pages_after_munmap():
    """Scenario 8's note: the page cache keeps a file's page after munmap; truncate frees it."""
    ok(NR.format(4) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 8 MiB, type: fd-shared, fd: f}\n"
       + "      - touch: {vma: m}\n"
       + NR.format(1)
       + pool(4, 0, 0, 3)
       + "      - munmap: {vma: m, offset: 6 MiB}\n"
       + pool(4, 0, 0, 3)
       + "      - ftruncate: {fd: f, length: 6 MiB}\n"
       + pool(3, 0, 0, 2)
       + "      - ftruncate: {fd: f, length: 0}\n"
       + pool(1, 1, 0, 0))


def test_scenario_9_shrinking_keeps_reserved_pages_as_surplus():
    ok(NR.format(5) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 6 MiB, type: fd-shared, fd: f}\n"
       + pool(5, 5, 3, 0)
       + NR.format(0)
       + pool(3, 3, 3, 3)
       + "      - read_file: {path: /proc/sys/vm/nr_hugepages, expect: \"0\\n\"}\n"
       + "      - munmap: {vma: m}\n"
       + pool(3, 3, 3, 3)                   # shared reservations belong to the file
       + "      - close: {fd: f}\n"
       + "      - unlink: {path: /mnt/huge/f}\n"
       + pool(0, 0, 0, 0))


def test_scenario_10_growing_promotes_faulted_surplus_without_allocating():
    ok(OVER.format(4)
       + "      - mmap: {name: p, length: 4 MiB, flags: [MAP_HUGETLB]}\n"
       + pool(2, 2, 2, 2)
       + "      - touch: {vma: p}\n"
       + pool(2, 0, 0, 2)
       + "      - expect: {file: {path: /proc/vmstat, fields: {htlb_buddy_alloc_success: 2}}}\n"
       + NR.format(1)
       + pool(2, 0, 0, 1)
       + "      - expect: {file: {path: /proc/vmstat, fields: {htlb_buddy_alloc_success: 2}}}\n")


def test_scenario_11_overcommit_at_mmap_time_and_the_refusal_changes_nothing():
    ok(OVER.format(3)
       + "      - mmap: {name: a, length: 4 MiB, type: shared, flags: [MAP_HUGETLB]}\n"
       + pool(2, 2, 2, 2)
       + "      - mmap: {name: b, length: 4 MiB, type: shared, flags: [MAP_HUGETLB]}\n"
       + "      - expect: {errno: ENOMEM}\n"
       + pool(2, 2, 2, 2))


def test_scenario_12_noreserve_overcommit_at_fault_is_sigbus():
    ok(NR.format(1)
       + "      - mmap: {name: p, length: 4 MiB, flags: [MAP_HUGETLB, MAP_NORESERVE]}\n"
       + pool(1, 1, 0, 0)
       + "      - touch: {vma: p, length: 2 MiB}\n"
       + pool(1, 0, 0, 0)
       + "      - touch: {vma: p, offset: 2 MiB}\n"
       + "      - expect: {signal: SIGBUS}\n")


def test_scenario_13_the_forked_child_has_no_reservation():
    """Pool 2, the parent's private mapping of 2 pages (Rsvd 2), page 0 touched (Rsvd 1), fork:
    the child's write to page 1 is SIGBUS (free - resv = 0, overcommit 0); the parent still
    faults page 1 on its reservation."""
    r = run(NR.format(2)
            + "      - mmap: {name: p, length: 4 MiB, flags: [MAP_HUGETLB]}\n"
            + pool(2, 2, 2, 0)
            + "      - touch: {vma: p, length: 2 MiB}\n"
            + pool(2, 1, 1, 0)
            + "      - fork:\n          child: c\n          steps:\n"
            + "            - touch: {vma: p, offset: 2 MiB}\n"
            + "            - expect: {signal: SIGBUS}\n"
            + "            - touch: {vma: p, length: 2 MiB, access: read}\n"
            + "      - sleep: {duration: 1 ms}\n"
            + "      - touch: {vma: p, offset: 2 MiB}\n"
            + pool(2, 0, 0, 0))
    assert r.error is None, r.error
    assert task_summary(r, "c")["killed_by"] is None


def test_the_owner_s_cow_takes_the_page_from_a_child_when_the_pool_is_empty():
    """hugetlb_cow() for the reservation owner when no page is left: unmap_ref_private() takes
    the page from the child, the owner reuses it, the child's next touch there is SIGBUS
    (HPAGE_RESV_UNMAPPED: "killed due to inadequate hugepage pool")."""
    r = run(NR.format(1)
            + "      - mmap: {name: p, length: 2 MiB, flags: [MAP_HUGETLB]}\n"
            + "      - write: {vma: p, data: \"abc\"}\n"
            + "      - fork:\n          child: c\n          steps:\n"
            + "            - read: {vma: p, length: 3, expect: \"abc\"}\n"
            + "            - sleep: {duration: 2 ms}\n"
            + "            - touch: {vma: p, access: read}\n"
            + "      - sleep: {duration: 1 ms}\n"
            + "      - write: {vma: p, data: \"xyz\"}\n"
            + pool(1, 0, 0, 0)
            + "      - sleep: {duration: 5 ms}\n"
            + "      - read: {vma: p, length: 3, expect: \"xyz\"}\n")
    assert r.error is None, r.error
    assert task_summary(r, "c")["killed_by"] == "SIGBUS"


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_fork_cow_copies_the_bytes_and_each_side_keeps_its_own(kernel):
    """A private mapping's bytes survive COW: the child's write gets a copy (a pool page), the
    parent's page keeps its bytes; the child's exit frees its copy."""
    ok(NR.format(4)
       + "      - mmap: {name: p, length: 4 MiB, flags: [MAP_HUGETLB]}\n"
       + "      - write: {vma: p, offset: 2 MiB, data: \"parent\"}\n"
       + "      - write: {vma: p, offset: 4000, data: \"page0\"}\n"
       + "      - fork:\n          child: c\n          steps:\n"
       + "            - read: {vma: p, offset: 2 MiB, length: 6, expect: \"parent\"}\n"
       + "            - write: {vma: p, offset: 2 MiB, data: \"child!\"}\n"
       + "            - read: {vma: p, offset: 2 MiB, length: 6, expect: \"child!\"}\n"
       + "            - read: {vma: p, offset: 4000, length: 5, expect: \"page0\"}\n"
       + pool(4, 1, 0, 0, indent=12)
       + "      - sleep: {duration: 1 ms}\n"
       + "      - read: {vma: p, offset: 2 MiB, length: 6, expect: \"parent\"}\n"
       + pool(4, 2, 0, 0)
       + "      - write: {vma: p, offset: 2 MiB, data: \"again!\"}\n"
       + "      - munmap: {vma: p}\n"
       + pool(4, 4, 0, 0), kernel=kernel)


def test_shared_mappings_see_each_other_s_writes_across_fork_and_files():
    ok(NR.format(2) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 2 MiB, type: fd-shared, fd: f}\n"
       + "      - write: {vma: m, offset: 10, data: \"shared\"}\n"
       + "      - mmap: {name: m2, length: 2 MiB, type: fd-shared, fd: f}\n"
       + "      - read: {vma: m2, offset: 10, length: 6, expect: \"shared\"}\n"
       + "      - mmap: {name: pv, length: 2 MiB, type: fd, fd: f}\n"
       + "      - read: {vma: pv, offset: 10, length: 6, expect: \"shared\"}\n"
       + "      - write: {vma: pv, offset: 10, data: \"privat\"}\n"
       + "      - read: {vma: m, offset: 10, length: 6, expect: \"shared\"}\n"
       + "      - fork:\n          child: c\n          steps:\n"
       + "            - write: {vma: m, offset: 10, data: \"fromch\"}\n"
       + "      - sleep: {duration: 1 ms}\n"
       + "      - read: {vma: m2, offset: 10, length: 6, expect: \"fromch\"}\n"
       + "      - read: {vma: pv, offset: 10, length: 6, expect: \"privat\"}\n")


def test_a_private_mapping_s_unmapped_part_gives_its_reservations_back():
    """hugetlb_vm_op_close() of the part munmap cuts off: its unconsumed reservations go."""
    ok(NR.format(4)
       + "      - mmap: {name: p, length: 8 MiB, flags: [MAP_HUGETLB]}\n"
       + "      - touch: {vma: p, length: 2 MiB}\n"
       + pool(4, 3, 3, 0)
       + "      - munmap: {vma: p, offset: 4 MiB}\n"
       + pool(4, 3, 1, 0)
       + "      - munmap: {vma: p, offset: 2 MiB, length: 1 MiB}\n"
       + "      - expect: {errno: EINVAL}\n"
       + "      - munmap: {vma: p}\n"
       + pool(4, 4, 0, 0))


def test_a_writable_shared_mapping_extends_i_size():
    """kernel-6.18-observed.md: hugetlbfs mmap of a writable shared mapping extends i_size
    (pool_sequence step 20: 4194304 after a 2-page mapping); a read-only one does not."""
    r = ok(NR.format(4) + MOUNT
           + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
           + "      - mmap: {name: m, length: 4 MiB, type: fd-shared, fd: f}\n"
           + "      - open: {name: g, path: /mnt/huge/g, flags: [O_CREAT, O_RDWR]}\n"
           + "      - mmap: {name: r, length: 4 MiB, type: fd-shared, fd: g, prot: r}\n"
           + "      - touch: {vma: r, access: read}\n"
           + "      - expect: {signal: SIGBUS}\n")
    vfs = r.machine.vfs
    assert vfs.path_lookup("/mnt/huge/f").dentry.d_inode.i_size == 4 << 20
    assert vfs.path_lookup("/mnt/huge/g").dentry.d_inode.i_size == 0


def test_truncate_zaps_the_mappings_and_a_fault_past_eof_is_sigbus():
    ok(NR.format(4) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 8 MiB, type: fd-shared, fd: f}\n"
       + "      - touch: {vma: m}\n"
       + pool(4, 0, 0, 0)
       + "      - ftruncate: {fd: f, length: 3 MiB}\n"
       + "      - expect: {errno: EINVAL}\n"
       + "      - ftruncate: {fd: f, length: 4 MiB}\n"
       + pool(4, 2, 0, 0)
       + "      - touch: {vma: m, length: 4 MiB, access: read}\n"
       + "      - touch: {vma: m, offset: 4 MiB, access: read}\n"
       + "      - expect: {signal: SIGBUS}\n")


def test_punching_a_hole_frees_the_pages_and_their_reservations():
    ok(NR.format(4) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 8 MiB, type: fd-shared, fd: f}\n"
       + "      - touch: {vma: m, length: 4 MiB}\n"
       + pool(4, 2, 2, 0)
       + "      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], offset: 1 MiB, length: 6 MiB}\n"
       # page 1 freed with its reservation; page 2 had none and keeps its reservation (5.14's
       # remove_inode_hugepages() unreserves the pages it finds)
       + pool(4, 3, 2, 0)
       + "      - read: {vma: m, offset: 2 MiB, length: 1, expect: \"\\0\"}\n"
       + pool(4, 2, 2, 0)                   # refaulted without a reservation
       + "      - fallocate: {fd: f, mode: [FALLOC_FL_ZERO_RANGE], offset: 0, length: 2 MiB}\n"
       + "      - expect: {errno: EOPNOTSUPP}\n")


def test_fallocate_preallocates_consuming_the_file_s_reservations():
    """hugetlbfs_fallocate() through a pseudo VMA: reserved indices use their reservation,
    others take free pages; ENOSPC when the pool has none; i_size grows unless KEEP_SIZE."""
    r = ok(NR.format(4) + MOUNT
           + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
           + "      - mmap: {name: m, length: 4 MiB, type: fd-shared, fd: f}\n"
           + pool(4, 4, 2, 0)
           + "      - fallocate: {fd: f, mode: [], offset: 1 MiB, length: 4 MiB}\n"
           + pool(4, 1, 0, 0)                   # pages 0-2: two reserved, one not
           + "      - fallocate: {fd: f, mode: [FALLOC_FL_KEEP_SIZE], offset: 6 MiB, length: 6 MiB}\n"
           + "      - expect: {errno: ENOSPC}\n"
           + pool(4, 0, 0, 0)
           + "      - touch: {vma: m, access: read}\n"
           + pool(4, 0, 0, 0)                   # the faults find the cached pages
           + "      - write: {vma: m, offset: 2097150, data: \"abcd\"}\n"
           + "      - pread: {fd: f, offset: 2097150, length: 4, expect: \"abcd\"}\n"
           + "      - pread: {fd: f, offset: 5242878, expect: \"\\0\\0\"}\n"
           + "      - pwrite: {fd: f, offset: 0, data: \"x\"}\n"
           + "      - expect: {errno: EINVAL}\n")
    assert r.machine.vfs.path_lookup("/mnt/huge/f").dentry.d_inode.i_size == 5 << 20


def test_size_limits_the_pages_of_a_mount_and_min_size_reserves_them():
    ok(NR.format(4)
       + "      - mkdir: {path: /mnt/huge}\n"
       + "      - mount: {type: hugetlbfs, path: /mnt/huge, source: none, options: \"size=4M,min_size=2M\"}\n"
       + pool(4, 4, 1, 0)
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: toobig, length: 6 MiB, type: fd-shared, fd: f}\n"
       + "      - expect: {errno: ENOMEM}\n"
       + "      - mmap: {name: m, length: 4 MiB, type: fd-shared, fd: f}\n"
       + pool(4, 4, 2, 0)                   # min_size's page covers one of the two
       + "      - touch: {vma: m}\n"
       + pool(4, 2, 0, 0)
       + "      - mmap: {name: n, length: 6 MiB, type: fd-shared, fd: f, flags: [MAP_NORESERVE]}\n"
       + "      - touch: {vma: n, length: 4 MiB}\n"
       + "      - touch: {vma: n, offset: 4 MiB}\n"
       + "      - expect: {signal: SIGBUS}\n"   # the subpool is full: ENOSPC
       + "      - munmap: {vma: m}\n"
       + "      - munmap: {vma: n}\n"
       + "      - close: {fd: f}\n"
       + "      - unlink: {path: /mnt/huge/f}\n"
       + pool(4, 4, 1, 0)                   # back to min_size's reserve
       + "      - umount: {path: /mnt/huge}\n"
       + pool(4, 4, 0, 0))


@pytest.mark.parametrize("options, errno", [
    ("pagesize=4M", "EINVAL"), ("size=abc", "EINVAL"), ("size=2M,min_size=4M", "EINVAL"),
    ("huge=always", "EINVAL"), ("mode=9", "EINVAL"), ("min_size=64M", "ENOMEM"),
    ("uid=x", "EINVAL"), ("nr_inodes=1", None), ("pagesize=1G,size=50%", None)])
def test_mount_options(options, errno):
    steps = (NR.format(4) + "      - mkdir: {path: /mnt/huge}\n"
             + f"      - mount: {{type: hugetlbfs, path: /mnt/huge, source: none, options: \"{options}\"}}\n")
    if errno:
        steps += f"      - expect: {{errno: {errno}}}\n" + pool(4, 4, 0, 0)
    else:
        steps += "      - open: {name: f, path: /mnt/huge/a, flags: [O_CREAT, O_RDWR]}\n"
    ok(steps)


def test_nr_inodes_limits_the_files():
    ok("      - mkdir: {path: /mnt/huge}\n"
       "      - mount: {type: hugetlbfs, path: /mnt/huge, source: none, options: \"nr_inodes=1\"}\n"
       "      - open: {name: f, path: /mnt/huge/a, flags: [O_CREAT, O_RDWR]}\n"
       "      - open: {name: g, path: /mnt/huge/b, flags: [O_CREAT, O_RDWR]}\n"
       "      - expect: {errno: ENOSPC}\n")


def test_alignment_and_size_errors_are_einval():
    ok(NR.format(2) + MOUNT
       + "      - mmap: {name: a, length: 2 MiB, addr: 0x7f0000001000, flags: [MAP_HUGETLB, MAP_FIXED]}\n"
       + "      - expect: {errno: EINVAL}\n"
       + "      - mmap: {name: b, length: 2 MiB, flags: [MAP_HUGETLB, MAP_HUGE_16MB]}\n"
       + "      - expect: {errno: EINVAL}\n"
       + "      - mmap: {name: c, length: 2 MiB, flags: [MAP_HUGETLB], type: file, file: x}\n"
       + "      - expect: {errno: EINVAL}\n"
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: d, length: 2 MiB, type: fd-shared, fd: f, offset: 4 KiB}\n"
       + "      - expect: {errno: EINVAL}\n"
       + pool(2, 2, 0, 0)
       + "      - mmap: {name: e, length: 5 KiB, flags: [MAP_HUGETLB]}\n"   # rounded up to 2 MiB
       + pool(2, 2, 1, 0)
       + "      - mmap: {name: g, length: 1 MiB, type: fd-shared, fd: f}\n"
       + pool(2, 2, 2, 0)
       + "      - munmap: {vma: e, offset: 4 KiB}\n"
       + "      - expect: {errno: EINVAL}\n")


def test_map_huge_1gb_maps_a_pud_leaf():
    ok(f"      - write_file: {{path: {G1}/nr_hugepages, data: \"1\"}}\n"
           + "      - mmap: {name: g, length: 1 GiB, flags: [MAP_HUGETLB, MAP_HUGE_1GB]}\n"
           + f"      - read_file: {{path: {G1}/resv_hugepages, expect: \"1\\n\"}}\n"
           + "      - write: {vma: g, offset: 700 MiB, data: \"giant\"}\n"
           + "      - read: {vma: g, offset: 700 MiB, length: 5, expect: \"giant\"}\n"
           + f"      - read_file: {{path: {G1}/free_hugepages, expect: \"0\\n\"}}\n"
           + "      - mmap: {name: h, length: 1 GiB, flags: [MAP_HUGETLB, MAP_HUGE_1GB]}\n"
           + "      - expect: {errno: ENOMEM}\n"
           + "      - munmap: {vma: g}\n"
           + f"      - read_file: {{path: {G1}/free_hugepages, expect: \"1\\n\"}}\n",
       memory="2560 MiB")


def test_memfd_hugetlb_reserves_at_mmap_and_keeps_them_until_the_last_reference():
    """pool_sequence step 21 and kernel-6.18-observed.md: 3 mapped, 2 faulted: Rsvd 1 kept after
    munmap while the fd is open."""
    ok(NR.format(4)
       + "      - memfd_create: {name: mfd, flags: [MFD_HUGETLB]}\n"
       + "      - mmap: {name: m, length: 6 MiB, type: fd-shared, fd: mfd}\n"
       + pool(4, 4, 3, 0)
       + "      - touch: {vma: m, length: 4 MiB}\n"
       + "      - munmap: {vma: m}\n"
       + pool(4, 2, 1, 0)
       + "      - close: {fd: mfd}\n"
       + pool(4, 4, 0, 0))


def test_mfd_huge_1gb_and_the_size_bits_without_mfd_hugetlb():
    ok(f"      - write_file: {{path: {G1}/nr_hugepages, data: \"1\"}}\n"
       + "      - memfd_create: {name: g, flags: [MFD_HUGETLB, MFD_HUGE_1GB]}\n"
       + "      - mmap: {name: m, length: 1 GiB, type: fd-shared, fd: g}\n"
       + f"      - read_file: {{path: {G1}/resv_hugepages, expect: \"1\\n\"}}\n"
       + "      - memfd_create: {name: bad, flags: [MFD_HUGE_2MB]}\n"
       + "      - expect: {errno: EINVAL}\n", memory="2560 MiB")


def test_without_the_hugetlb_plugin_mfd_hugetlb_stays_einval():
    text = ("machine:\n  nodes: [{memory: 64 MiB}]\ntasks:\n  - name: t\n    steps:\n"
            "      - memfd_create: {name: mfd, flags: [MFD_HUGETLB]}\n"
            "      - expect: {errno: EINVAL}\n")
    r = run_text(text, events=(), disabled=("hugetlb",))
    assert r.error is None, r.error


def test_hugetlbfs_is_in_proc_filesystems():
    r = ok("      - read_file: {path: /proc/filesystems}\n")
    assert "nodev\thugetlbfs\n" in r.machine.vfs.read_file("/proc/filesystems").decode()


def test_huge_faults_stay_in_c_for_a_large_mapping():
    """A 1 GiB MAP_HUGETLB mapping faults 512 times through the C fault path; --check agrees
    with every leaf (hugetlb_usage)."""
    ok(NR.format(512)
           + "      - mmap: {name: big, length: 1 GiB, flags: [MAP_HUGETLB]}\n"
           + "      - touch: {vma: big, stride: 2 MiB, pattern: strided}\n"
           + pool(512, 0, 0, 0)
           + "      - munmap: {vma: big}\n"
           + pool(512, 512, 0, 0), memory="1280 MiB")


@pytest.mark.parametrize("kernel, stride_on", [("v5.14", 624), ("v6.18", 632)])
def test_hugetlbfs_inodes_are_slab_objects_that_the_nrexceptional_switch_grows(kernel, stride_on):
    """hugetlbfs_inode_cache (live 6.18: 632 B, 25 per order-2 slab) embeds an address_space, so
    the no-nrexceptional change off makes it 8 bytes larger; a MAP_HUGETLB mapping takes one
    object for its file (the internal mount's root is a boot-time inode) and gives it back."""
    for patches, stride in (("", stride_on), ("  patches: {no-nrexceptional: off}\n", stride_on + 8)):
        text = (f"machine:\n  kernel: {kernel}\n  nodes: [{{memory: 64 MiB}}]\n{patches}"
                "tasks:\n  - name: t\n    steps:\n"
                "      - mmap: {name: a, length: 2 MiB, flags: [MAP_HUGETLB, MAP_NORESERVE]}\n"
                "      - mkdir: {path: /mnt/huge}\n"
                "      - mount: {type: hugetlbfs, path: /mnt/huge, source: none}\n"
                "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n")
        r = run_text(text, events=())
        assert r.error is None, r.error
        s = r.machine.slab.find_cache("hugetlbfs_inode_cache")
        assert s.size == stride
        # left at the end: the mount's root and its file (the MAP_HUGETLB file went at exit)
        assert s.nr_allocated == 2
        fs = r.machine.plugin_state["hugetlb.fs"]
        assert all(inode.i_data.keep_nrexceptional == bool(patches)
                   for sb in fs.supers for inode in sb.inodes() if inode.i_data is not None)


def test_the_check_sees_a_broken_page_cache_and_unbacked_reservations():
    from memsim.plugins.hugetlb.hugetlbfs import check_invariants
    r = ok(NR.format(2) + MOUNT
           + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
           + "      - fallocate: {fd: f, mode: [], offset: 0, length: 2 MiB}\n")
    m = r.machine
    assert check_invariants(m) == []
    inode = m.vfs.path_lookup("/mnt/huge/f").dentry.d_inode
    inode.i_data.nrpages += 1
    h = m.plugin_state["hugetlb"].default_hstate
    h.resv_huge_pages += 5
    problems = check_invariants(m)
    assert any("nrpages 2" in p for p in problems)
    assert any("5 pages reserved but only 1 free" in p for p in problems)


def test_pagecache_scenario_18_hugetlbfs_pages_are_in_i_pages_but_not_nr_file_pages():
    """pagecache.md scenario 18: faults at file offsets 0 and 2 MiB: entries at indices 0 and 1
    (huge-page units), nrpages 2, NR_FILE_PAGES unchanged (hugetlb_add_to_page_cache does not
    count it)."""
    def file_pages(touch):
        r = ok(NR.format(2) + MOUNT
               + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
               + "      - mmap: {name: m, length: 4 MiB, type: fd-shared, fd: f}\n"
               + ("      - touch: {vma: m}\n" if touch else "")
               + "      - munmap: {vma: m}\n")
        m = r.machine
        vmstat = dict(line.split() for line in m.vfs.read_file("/proc/vmstat").decode().splitlines())
        inode = m.vfs.path_lookup("/mnt/huge/f").dentry.d_inode
        cached = m.plugin_state["hugetlb.maps"].cached_pages(inode.hf)
        heads = [head for _, head in cached]
        assert all(m.physmem.page_info(h)["index"] == i * 512 for i, h in enumerate(heads))
        return int(vmstat["nr_file_pages"]), [i for i, _ in cached], inode.i_data.nrpages
    untouched, touched = file_pages(False), file_pages(True)
    assert untouched[1:] == ([], 0)
    assert touched[1:] == ([0, 1], 2)
    assert touched[0] == untouched[0]


def _in_use_page_steps(kind, pool_pages):
    """A pool of ``pool_pages``, one page in use by a private MAP_HUGETLB mapping or a shared
    mapping of a hugetlbfs file (pfn 0x1600: the head of the free list), with bytes in it."""
    steps = NR.format(pool_pages)
    if kind == "anon":
        steps += "      - mmap: {name: p, length: 2 MiB, flags: [MAP_HUGETLB]}\n"
    else:
        steps += (MOUNT + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
                  "      - mmap: {name: p, length: 2 MiB, type: fd-shared, fd: f}\n")
    return steps + "      - write: {vma: p, offset: 4097, data: \"hello\"}\n"


@pytest.mark.parametrize("kind", ["anon", "file"])
@pytest.mark.parametrize("kernel, first", [("v5.14", "EBUSY"), ("v6.18", None)])
def test_scenario_18_an_in_use_page_migrates_into_a_free_pool_page(kind, kernel, first):
    """Scenario 18 with a real mapping: alloc_contig_range over the in-use page migrates its
    bytes (and, for a file, its page-cache slot: hugetlbfs_migrate_page) into the free pool page;
    v5.14 then finds the old page free in the range (EBUSY) and the second call replaces it;
    v6.14+ replaces it at once (replace_free_hugepage_folios).  Total and Free never change."""
    steps = (_in_use_page_steps(kind, 2)
             + "      - alloc_contig_range: {start: 0x1600, nr_pages: 512, name: r}\n"
             + (f"      - expect: {{errno: {first}}}\n" if first else "")
             + "      - read: {vma: p, offset: 4097, length: 5, expect: \"hello\"}\n"
             + pool(2, 1, 0, 0))
    if first:
        steps += ("      - alloc_contig_range: {start: 0x1600, nr_pages: 512, name: r2}\n"
                  + pool(2, 1, 0, 0))
    steps += ("      - write: {vma: p, offset: 4097, data: \"again\"}\n"
              "      - read: {vma: p, offset: 4097, length: 5, expect: \"again\"}\n")
    r = ok(steps, kernel=kernel)
    if kind == "file":
        maps = r.machine.plugin_state["hugetlb.maps"]
        inode = r.machine.vfs.path_lookup("/mnt/huge/f").dentry.d_inode
        [(idx, head)] = maps.cached_pages(inode.hf)
        assert idx == 0 and head != 0x1600


@pytest.mark.parametrize("kind", ["anon", "file"])
def test_scenario_19_no_free_target_migrates_into_a_temporary_page(kind):
    """Scenario 19: free - resv = 0, so the target is a Temporary page from buddy; the old page
    (Temporary after move_hugetlb_state) goes back to buddy; Total and Free unchanged, 0."""
    ok(_in_use_page_steps(kind, 1)
       + "      - alloc_contig_range: {start: 0x1600, nr_pages: 512, name: r}\n"
       + pool(1, 0, 0, 0)
       + "      - read: {vma: p, offset: 4097, length: 5, expect: \"hello\"}\n", kernel="v5.14")


def test_drop_caches_and_fadvise_leave_hugetlbfs_pages_alone():
    """huge_add_to_page_cache() dirties the page "so that it will not be removed from cache/file
    by non-hugetlbfs specific code paths"; fadvise on noop_backing_dev_info ignores the advice."""
    ok(NR.format(2) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - fallocate: {fd: f, mode: [], offset: 0, length: 4 MiB}\n"
       + pool(2, 0, 0, 0)
       + "      - fadvise: {fd: f, offset: 0, length: 0, advice: POSIX_FADV_DONTNEED}\n"
       + "      - write_file: {path: /proc/sys/vm/drop_caches, data: \"3\"}\n"
       + pool(2, 0, 0, 0)
       + "      - pread: {fd: f, offset: 0, expect: \"\\0\"}\n")


@pytest.mark.parametrize("kernel, left", [("v5.14", "abcd"), ("v6.18", "\\0\\0cd")])
def test_a_hole_punch_zeroes_the_partial_pages_from_v6_0(kernel, left):
    """v6.0's hugetlbfs_zero_partial_page(): a hole that covers part of a huge page zeroes
    those bytes; 5.14 leaves them (only whole huge pages are punched)."""
    ok(NR.format(2) + MOUNT
       + "      - open: {name: f, path: /mnt/huge/f, flags: [O_CREAT, O_RDWR]}\n"
       + "      - mmap: {name: m, length: 4 MiB, type: fd-shared, fd: f}\n"
       + "      - write: {vma: m, offset: 2097150, data: \"abcd\"}\n"
       + "      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], offset: 2097150, length: 2}\n"
       + f"      - read: {{vma: m, offset: 2097150, length: 4, expect: \"{left}\"}}\n"
       + pool(2, 0, 0, 0), kernel=kernel)
