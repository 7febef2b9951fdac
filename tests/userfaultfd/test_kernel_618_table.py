"""kernel-6.18-observed.md, "userfaultfd findings (6.18)": the table row by row and memory type
by memory type (each cell one case), then the behaviours of its bullet list, all under the
v6.18 profile (userfaultfd.md section 12 says the 6.18 profile must match that page).

Memory types, as the probes built them: ``hugetlb_memfd_shared`` (memfd MFD_HUGETLB,
MAP_SHARED), ``shmem_memfd_shared``, ``shmem_memfd_private`` (the registered mapping A is
MAP_PRIVATE of the memfd), ``anon_shared`` (MAP_SHARED|MAP_ANONYMOUS; its second mapping is an
mremap duplicate, old_length 0) and ``anon_private``.  "Minor" pages are written through a
second, unregistered MAP_SHARED mapping B of the same memory; faults come from a second thread.
"""
import textwrap

import pytest

HUGE, SHM, SHMP, ASH, APRIV = ("hugetlb_memfd_shared", "shmem_memfd_shared", "shmem_memfd_private",
                               "anon_shared", "anon_private")
TYPES = (HUGE, SHM, SHMP, ASH, APRIV)
HPAGE = 2 << 20
DATA = "cached"

def unit(mt):
    return HPAGE if mt == HUGE else 4096


def memory(mt, pages=4, file_pages=None, cached=(0,), register=None, src=True, api=True):
    """Steps: mapping A of ``pages`` units of memory type ``mt`` (and B, the populate view),
    ``cached`` units written through B (anon_private: through A, before registration, so the
    PTE is present), a source mapping ``src`` of one unit holding "fresh", the userfaultfd u
    (O_NONBLOCK, API done) and, with ``register`` (a mode list), A registered."""
    P = unit(mt)
    fp = pages if file_pages is None else file_pages
    s = []
    if mt == HUGE:
        s.append('- write_file: {path: /proc/sys/vm/nr_hugepages, data: "8"}')
    if mt in (HUGE, SHM, SHMP):
        flags = ", flags: [MFD_HUGETLB]" if mt == HUGE else ""
        s.append(f"- memfd_create: {{name: m{flags}}}")
        s.append(f"- ftruncate: {{fd: m, length: {fp * P}}}")
        s.append(f"- mmap: {{name: A, length: {pages * P}, type: {'fd' if mt == SHMP else 'fd-shared'}, fd: m}}")
        s.append(f"- mmap: {{name: B, length: {pages * P}, type: fd-shared, fd: m}}")
    elif mt == ASH:
        s.append(f"- mmap: {{name: A, length: {pages * P}, type: shared}}")
        s.append(f"- mremap: {{vma: A, old_length: 0, length: {pages * P}, flags: [MREMAP_MAYMOVE], name: B}}")
    else:
        s.append(f"- mmap: {{name: A, length: {pages * P}}}")
    for i in cached:
        s.append(f"- write: {{vma: {'A' if mt == APRIV else 'B'}, offset: {i * P}, data: {DATA}}}")
    if src:
        s.append(f"- mmap: {{name: src, length: {P}}}")
        s.append("- write: {vma: src, data: fresh}")
    if api:
        s.append("- userfaultfd: {name: u, flags: [O_NONBLOCK]}")
        s.append("- uffdio_api: {uffd: u}")
    if register is not None:
        s.append(f"- uffdio_register: {{uffd: u, vma: A, mode: [{', '.join(register)}]}}")
    return "\n".join(s) + "\n"


def default_mode(mt):
    """MISSING|MINOR, or MISSING where MINOR is refused (anon_private)."""
    return ["MISSING"] if mt == APRIV else ["MISSING", "MINOR"]


def go(uffd, mt, setup, steps, **subst):
    """Run ``setup`` (from memory()) and the dedented ``steps`` under v6.18."""
    text = setup + textwrap.dedent(steps)
    subst.setdefault("P", unit(mt))
    return uffd.ok(text, "v6.18", **subst)


def cells(row, *skip):
    """pytest params of a row: every memory type but ``skip``."""
    return [pytest.param(mt, id=mt) for mt in TYPES if mt not in skip]


# -- b: REGISTER ----------------------------------------------------------------------------------

REGISTER = {"MINOR": {HUGE: 0x18C, SHM: 0x1BC, SHMP: 0x1BC, ASH: 0x1BC, APRIV: "EINVAL"},
            "MISSING, MINOR": {HUGE: 0x18C, SHM: 0x1BC, SHMP: 0x1BC, ASH: 0x1BC, APRIV: "EINVAL"},
            "MISSING": {HUGE: 0x10C, SHM: 0x13C, SHMP: 0x13C, ASH: 0x13C, APRIV: 0x13C}}


@pytest.mark.parametrize("mt", cells("b_minor"))
def test_b_register_minor(uffd, mt):
    """Row b, REGISTER MINOR: ioctls 0x18c hugetlb, 0x1bc shmem and anon-shared; EINVAL on
    anon-private."""
    _register(uffd, mt, "MINOR")


@pytest.mark.parametrize("mt", cells("b_missing_minor"))
def test_b_register_missing_minor(uffd, mt):
    """Row b, REGISTER MISSING|MINOR: as MINOR alone."""
    _register(uffd, mt, "MISSING, MINOR")


@pytest.mark.parametrize("mt", cells("b_missing"))
def test_b_register_missing(uffd, mt):
    """Row b, REGISTER MISSING: 0x10c hugetlb (no ZEROPAGE), 0x13c everywhere else."""
    _register(uffd, mt, "MISSING")


def _register(uffd, mt, mode):
    want = REGISTER[mode][mt]
    check = "- expect: {errno: EINVAL}" if want == "EINVAL" else f"- expect: {{result: {{ioctls: {want:#x}}}}}"
    go(uffd, mt, memory(mt), f"""\
        - uffdio_register: {{uffd: u, vma: A, mode: [{mode}]}}
        {check}
        """)


# -- c: minor faults ------------------------------------------------------------------------------

MINOR_TYPES = (APRIV,)      # the "-" cells of rows c, h, j


@pytest.mark.parametrize("mt", cells("c_read", *MINOR_TYPES))
def test_c_minor_read_fault_flags_and_continue(uffd, mt):
    """Rows c, read: a read of a cached page through A raises MINOR; CONTINUE resolves it
    (OK) and the reader sees the data written through B."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, offset: 100, expect: ached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [MINOR], address: {vma: A}}]}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {result: {mapped: $P}}
        - sleep: {duration: 1000}
        - read: {vma: A, expect: cached}
        """.replace("offset: 100, expect: ached", "offset: 1, expect: ached"))


@pytest.mark.parametrize("mt", cells("c_write", *MINOR_TYPES))
def test_c_minor_write_fault_flags(uffd, mt):
    """Row c, write: a write of a cached page through A raises WRITE|MINOR; after CONTINUE the
    write lands (shmem_memfd_private: in a private copy, B still sees the old data)."""
    b_sees = "cached" if mt == SHMP else "cXched"
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - clone:
            thread: t
            steps:
              - write: {{vma: A, offset: 1, data: X}}
        - sleep: {{duration: 1000}}
        - uffd_read: {{uffd: u, expect: [{{event: pagefault, flags: [WRITE, MINOR], address: {{vma: A}}}}]}}
        - uffdio_continue: {{uffd: u, vma: A, length: $P}}
        - sleep: {{duration: 1000}}
        - read: {{vma: A, expect: cXched}}
        - read: {{vma: B, expect: {b_sees}}}
        """)


# -- d, e, f: CONTINUE / COPY / ZEROPAGE against the cache -----------------------------------------

D = {HUGE: "EFAULT", SHM: "EFAULT", SHMP: "EFAULT", ASH: "EFAULT", APRIV: "EINVAL"}


@pytest.mark.parametrize("mt", cells("d_continue_hole"))
def test_d_continue_page_not_in_cache(uffd, mt):
    """Row d: CONTINUE of a page the cache does not hold: EFAULT (mapped -14); anon-private
    (registered MISSING, MINOR being refused) EINVAL."""
    err = D[mt]
    go(uffd, mt, memory(mt, register=default_mode(mt)), f"""\
        - uffdio_continue: {{uffd: u, vma: A, offset: $P, length: $P}}
        - expect: {{errno: {err}}}
        - expect: {{result: {{mapped: {-14 if err == 'EFAULT' else -22}}}}}
        """)


E = {HUGE: "EEXIST", SHM: "EEXIST", SHMP: "OK", ASH: "EEXIST", APRIV: "EEXIST"}


@pytest.mark.parametrize("mt", cells("e_copy_cached"))
def test_e_copy_onto_cached_page(uffd, mt):
    """Row e: COPY onto a page the cache holds: EEXIST (copy -17), but OK on the MAP_PRIVATE
    shmem mapping (a private copy over the cached page); anon-private: EEXIST, the PTE is
    present."""
    if E[mt] == "OK":
        tail = """\
        - expect: {result: {copy: $P}}
        - read: {vma: A, expect: fresh}
        - read: {vma: B, expect: cached}
        """
    else:
        tail = """\
        - expect: {errno: EEXIST}
        - expect: {result: {copy: -17}}
        """
    go(uffd, mt, memory(mt, register=default_mode(mt)), """\
        - uffdio_copy: {uffd: u, vma: A, length: $P, src: src}
        """.rstrip(" ") + tail)


F_CACHED = {HUGE: "EINVAL", SHM: "EEXIST", SHMP: "EEXIST", ASH: "EEXIST", APRIV: "EEXIST"}
F_HOLE = {HUGE: "EINVAL", SHM: "OK", SHMP: "OK", ASH: "OK", APRIV: "OK"}


@pytest.mark.parametrize("mt", cells("f_zeropage_cached"))
def test_f_zeropage_onto_cached_page(uffd, mt):
    """Row f, page in cache: hugetlb EINVAL (zeropage -22), else EEXIST (-17).  The MAP_PRIVATE
    shmem cell ran after item e's successful COPY on the same page (userfaultfd.md 12: EEXIST
    because the PTE is present), so the COPY comes first here too."""
    first = "- uffdio_copy: {uffd: u, vma: A, length: $P, src: src}\n" if mt == SHMP else ""
    err = F_CACHED[mt]
    go(uffd, mt, memory(mt, register=default_mode(mt)) + first, f"""\
        - uffdio_zeropage: {{uffd: u, vma: A, length: $P}}
        - expect: {{errno: {err}}}
        - expect: {{result: {{zeropage: {-22 if err == 'EINVAL' else -17}}}}}
        """)


@pytest.mark.parametrize("mt", cells("f_zeropage_hole"))
def test_f_zeropage_into_hole(uffd, mt):
    """Row f, hole: hugetlb EINVAL, else OK and the page reads as zeros."""
    if F_HOLE[mt] == "EINVAL":
        tail = """\
        - expect: {errno: EINVAL}
        - expect: {result: {zeropage: -22}}
        """
    else:
        tail = """\
        - expect: {result: {zeropage: $P}}
        - read: {vma: A, offset: $P, length: 4, expect: '00000000', encoding: hex}
        """
    go(uffd, mt, memory(mt, register=default_mode(mt)), """\
        - uffdio_zeropage: {uffd: u, vma: A, offset: $P, length: $P}
        """.rstrip(" ") + tail)


# -- g: WRITEPROTECT ------------------------------------------------------------------------------

@pytest.mark.parametrize("mt", cells("g_wp_no_mode"))
def test_g_writeprotect_without_wp_mode(uffd, mt):
    """Row g: WRITEPROTECT of a range registered without MODE_WP: ENOENT everywhere."""
    go(uffd, mt, memory(mt, register=default_mode(mt)), """\
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - expect: {errno: ENOENT}
        """)


@pytest.mark.parametrize("mt", cells("g_wp_mode"))
def test_g_writeprotect_with_wp_mode(uffd, mt):
    """Row g: WRITEPROTECT of a MODE_WP range: OK everywhere (WP on shmem and hugetlb needs no
    feature bit)."""
    go(uffd, mt, memory(mt, register=["WP"]), """\
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        """)


@pytest.mark.parametrize("mt", cells("g_wp_write"))
def test_g_write_to_wp_page_flags(uffd, mt):
    """Row g: a write to a write-protected page raises WRITE|WP (0x3); un-protecting wakes the
    writer.  On shmem and hugetlb the page has no PTE in A: WRITEPROTECT leaves a uffd-wp
    marker there."""
    go(uffd, mt, memory(mt, register=["WP"]), """\
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP]}
        - clone:
            thread: t
            steps:
              - write: {vma: A, data: W}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: [WRITE, WP], address: {vma: A}}]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        - sleep: {duration: 1000}
        - read: {vma: A, expect: Wached}
        """)


# -- h: CONTINUE's argument checks -----------------------------------------------------------------

@pytest.mark.parametrize("what", ["start+1", "len+1", "len 0"])
@pytest.mark.parametrize("mt", cells("h_continue_args", *MINOR_TYPES))
def test_h_continue_unaligned_or_empty(uffd, mt, what):
    """Row h, CONTINUE start+1 / len+1 / len 0: EINVAL, the struct's mapped untouched."""
    rng = {"start+1": "offset: 1, length: $P", "len+1": "length: $P1", "len 0": "length: 0"}[what]
    args = {"start+1": "[{vma: A, offset: 1}, $P]", "len+1": "[{vma: A}, $P1]", "len 0": "[{vma: A}, 0]"}[what]
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - uffdio_continue: {{uffd: u, vma: A, {rng}}}
        - expect: {{errno: EINVAL}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: {args}}}}}
        """, P1=unit(mt) + 1)


@pytest.mark.parametrize("mt", cells("h_continue_4k", SHM, SHMP, ASH, APRIV))
def test_h_continue_4k_aligned_on_hugetlb(uffd, mt):
    """Row h: CONTINUE of a 4K-aligned start or a 4K length on hugetlb: EINVAL."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, offset: 4 KiB, length: 2 MiB}
        - expect: {errno: EINVAL}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - expect: {errno: EINVAL}
        """)


@pytest.mark.parametrize("mt", cells("h_continue_crosses_end", *MINOR_TYPES))
def test_h_continue_crosses_registered_end(uffd, mt):
    """Row h: CONTINUE running past the end of the registered range: ENOENT (mapped -2)."""
    go(uffd, mt, memory(mt), """\
        - uffdio_register: {uffd: u, vma: A, length: $P2, mode: [MINOR]}
        - uffdio_continue: {uffd: u, vma: A, offset: $P, length: $P2}
        - expect: {errno: ENOENT}
        - expect: {result: {mapped: -2}}
        """, P2=2 * unit(mt))


@pytest.mark.parametrize("where", ["unregistered vma", "hole"])
@pytest.mark.parametrize("mt", cells("h_continue_unregistered", *MINOR_TYPES))
def test_h_continue_unregistered_vma_or_hole(uffd, mt, where):
    """Row h: CONTINUE in an unregistered VMA (B) or in a hole: ENOENT (mapped -2)."""
    rng = "vma: B, length: $P" if where == "unregistered vma" else "addr: 0x200000000000, length: $P"
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - uffdio_continue: {{uffd: u, {rng}}}
        - expect: {{errno: ENOENT}}
        - expect: {{result: {{mapped: -2}}}}
        """)


@pytest.mark.parametrize("start,err", [(0, "ENOENT"), (1 << 47, "EINVAL")], ids=["start=0", "start=2^47"])
@pytest.mark.parametrize("mt", cells("h_continue_start", *MINOR_TYPES))
def test_h_continue_start_0_or_task_size(uffd, mt, start, err):
    """Row h: CONTINUE at start 0: ENOENT (6.18 has no mmap_min_addr check); at 2^47: EINVAL."""
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - uffdio_continue: {{uffd: u, addr: {start}, length: $P}}
        - expect: {{errno: {err}}}
        """)


@pytest.mark.parametrize("mode", ["[4]", "[WP]"], ids=["mode bit2", "MODE_WP without WP"])
@pytest.mark.parametrize("mt", cells("h_continue_mode", *MINOR_TYPES))
def test_h_continue_bad_mode(uffd, mt, mode):
    """Row h: CONTINUE with mode bit 2, or MODE_WP in a range registered without WP: EINVAL."""
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - uffdio_continue: {{uffd: u, vma: A, length: $P, mode: {mode}}}
        - expect: {{errno: EINVAL}}
        """)


@pytest.mark.parametrize("mt", cells("h_continue_after_unregister", *MINOR_TYPES))
def test_h_continue_after_unregister(uffd, mt):
    """Row h: CONTINUE after UNREGISTER: ENOENT."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_unregister: {uffd: u, vma: A}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {errno: ENOENT}
        - expect: {result: {mapped: -2}}
        """)


# -- i: CONTINUE over a present PTE ----------------------------------------------------------------

@pytest.mark.parametrize("mt", cells("i_continue_present"))
def test_i_continue_pte_present(uffd, mt):
    """Row i: CONTINUE where A already maps the page: EEXIST (mapped -17); anon-private
    (registered MISSING, page written before): EINVAL."""
    if mt == APRIV:
        steps = """\
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {errno: EINVAL}
        """
    else:
        steps = """\
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {result: {mapped: $P}}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {errno: EEXIST}
        - expect: {result: {mapped: -17}}
        """
    go(uffd, mt, memory(mt, register=default_mode(mt)), steps)


# -- j ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mt", cells("j_partial", *MINOR_TYPES))
def test_j_continue_cached_then_hole(uffd, mt):
    """Row j: CONTINUE over [cached, hole]: EAGAIN, mapped = one unit (2 MiB hugetlb, 4096)."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, length: $P2}
        - expect: {errno: EAGAIN}
        - expect: {result: {mapped: $P}}
        - read: {vma: A, expect: cached}
        """, P2=2 * unit(mt))


@pytest.mark.parametrize("mt", cells("j_read_hole_minor_only", *MINOR_TYPES))
def test_j_read_hole_minor_only(uffd, mt):
    """Row j: a read of a hole in a MINOR-only range raises no event (a zeroed page)."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, offset: $P, length: 4, expect: '00000000', encoding: hex}
        - sleep: {duration: 100000}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


@pytest.mark.parametrize("mt", cells("j_read_cached_missing_only", *MINOR_TYPES))
def test_j_read_cached_missing_only(uffd, mt):
    """Row j: a read of a cached page in a MISSING-only range raises no event."""
    go(uffd, mt, memory(mt, register=["MISSING"]), """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, expect: cached}
        - sleep: {duration: 100000}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


@pytest.mark.parametrize("mt", cells("j_continue_missing_only", *MINOR_TYPES))
def test_j_continue_in_missing_only_range(uffd, mt):
    """Row j: CONTINUE in a MISSING-only range works (OK), though ioctls did not offer it."""
    go(uffd, mt, memory(mt, register=["MISSING"]), """\
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {result: {mapped: $P}}
        - read: {vma: A, expect: cached}
        """)


@pytest.mark.parametrize("mt", cells("j_continue_non_owner", *MINOR_TYPES))
def test_j_continue_via_non_owner_uffd(uffd, mt):
    """Row j: CONTINUE through a second userfaultfd of the same mm: OK."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - uffdio_continue: {uffd: u2, vma: A, length: $P}
        - expect: {result: {mapped: $P}}
        """)


@pytest.mark.parametrize("mt", cells("j_continue_beyond_eof", SHMP, ASH, APRIV))
def test_j_continue_beyond_eof(uffd, mt):
    """Row j: CONTINUE beyond the file's end: hugetlb EFAULT (the writable shared mmap grew
    i_size to the mapping, so it is a hole), shmem EINVAL."""
    err = "EFAULT" if mt == HUGE else "EINVAL"
    go(uffd, mt, memory(mt, pages=2, file_pages=1, register=["MINOR"]), f"""\
        - uffdio_continue: {{uffd: u, vma: A, offset: $P, length: $P}}
        - expect: {{errno: {err}}}
        """)


# -- the bullet list ("Other behaviour an emulator must match") ------------------------------------

def run618(uffd, steps, **subst):
    return uffd.ok(textwrap.dedent(steps), "v6.18", **subst)


def test_api_offers_0x1ffff_and_refuses_unknown_bits_zeroing_the_struct(uffd):
    """UFFDIO_API: features 0x1ffff, ioctls 0x8000000000000003; a second call EINVAL; api 0xab
    or a feature not offered: EINVAL with the struct zeroed, and the fd still usable."""
    run618(uffd, """\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, api: 0xab}
        - expect: {errno: EINVAL}
        - expect: {result: {api: 0, features: 0, ioctls: 0}}
        - uffdio_api: {uffd: u, features: [0x40000]}
        - expect: {errno: EINVAL}
        - expect: {result: {api: 0, features: 0, ioctls: 0}}
        - uffdio_api: {uffd: u, features: [MINOR_SHMEM, MINOR_HUGETLBFS, WP_ASYNC, MOVE, POISON]}
        - expect: {result: {features: 0x1ffff, ioctls: 0x8000000000000003}}
        - uffdio_api: {uffd: u}
        - expect: {errno: EINVAL}
        """)


def test_before_api_register_continue_read_poll(uffd):
    """Before API: REGISTER, CONTINUE and read are EINVAL, poll POLLERR."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB, type: shared}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - expect: {errno: EINVAL}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - expect: {errno: EINVAL}
        - uffd_read: {uffd: u}
        - expect: {errno: EINVAL}
        - uffd_poll: {uffd: u}
        - expect: {result: {revents: 8}}
        """)


def test_read_short_buffer_and_empty_nonblocking(uffd):
    """read with a 16-byte buffer: EINVAL; an empty non-blocking read: EAGAIN."""
    run618(uffd, """\
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffd_read: {uffd: u, size: 16}
        - expect: {errno: EINVAL}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


def test_syscall_flags_and_dev_userfaultfd(uffd):
    """userfaultfd(O_RDWR) or (0x10): EINVAL; UFFD_USER_MODE_ONLY OK; /dev/userfaultfd with
    USERFAULTFD_IOC_NEW OK."""
    run618(uffd, """\
        - userfaultfd: {name: a, flags: [2]}
        - expect: {errno: EINVAL}
        - userfaultfd: {name: b, flags: [0x10]}
        - expect: {errno: EINVAL}
        - userfaultfd: {name: c, flags: [UFFD_USER_MODE_ONLY]}
        - userfaultfd: {name: d, dev: true}
        - uffdio_api: {uffd: d}
        - expect: {result: {features: 0x1ffff}}
        """)


def test_minor_registration_needs_no_feature_and_bad_modes(uffd):
    """MINOR registration works with features 0 (shmem, anon-shared, MAP_PRIVATE MAP_HUGETLB);
    mode 0, bit 3 or bit 63: EINVAL."""
    run618(uffd, """\
        - write_file: {path: /proc/sys/vm/nr_hugepages, data: "8"}
        - mmap: {name: A, length: 16 KiB, type: shared}
        - mmap: {name: H, length: 2 MiB, flags: [MAP_HUGETLB]}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, mode: []}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, vma: A, mode: [8]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, vma: A, mode: [0x8000000000000000]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, vma: A, mode: [MINOR]}
        - expect: {result: {ioctls: 0x1bc}}
        - uffdio_register: {uffd: u, vma: H, mode: [MINOR]}
        - expect: {result: {ioctls: 0x18c}}
        """)


def test_register_edges(uffd):
    """Register edges: unaligned / zero length, start 0, start 2^47, a wrapping range: EINVAL;
    a range with no VMA: EINVAL; a range holding holes between VMAs: accepted; WP on a
    PROT_READ VMA: OK; re-registering with the same uffd changes mode and ioctls."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB, addr: 0x600000000000, flags: [MAP_FIXED]}
        - mmap: {name: C, length: 16 KiB, addr: 0x600000008000, flags: [MAP_FIXED]}
        - mmap: {name: R, length: 16 KiB, prot: r}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, length: 100, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, vma: A, length: 0, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0, length: 4096, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0x800000000000, length: 4096, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0x600000000000, length: 0xfffffffffffff000, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0x700000000000, length: 4096, mode: [MISSING]}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u, addr: 0x600000000000, length: 0xc000, mode: [MISSING]}
        - expect: {result: {ioctls: 0x13c}}
        - probe: {fn: vma_modes, args: {vma: C, modes: [MISSING], owner: u}}
        - uffdio_register: {uffd: u, addr: 0x600000000000, length: 0xc000, mode: [WP]}
        - expect: {result: {ioctls: 0x17c}}
        - probe: {fn: vma_modes, args: {vma: A, modes: [WP], owner: u}}
        - uffdio_register: {uffd: u, vma: R, mode: [WP]}
        - expect: {result: {ioctls: 0x17c}}
        """)


def test_register_rdonly_shared_eperm_private_ok_and_unregister_edges(uffd):
    """MAP_SHARED of an O_RDONLY fd: EPERM (MAP_PRIVATE of it: OK); UNREGISTER of a range
    never registered: OK; of a hole: EINVAL; of another uffd's range: EINVAL; EBUSY for a
    range another uffd owns."""
    run618(uffd, """\
        - mkdir: {path: /mnt/t}
        - mount: {type: tmpfs, path: /mnt/t}
        - open: {name: rw, path: /mnt/t/f, flags: [O_RDWR, O_CREAT]}
        - ftruncate: {fd: rw, length: 16 KiB}
        - open: {name: ro, path: /mnt/t/f, flags: [O_RDONLY]}
        - mmap: {name: S, length: 16 KiB, type: fd-shared, fd: ro, prot: r}
        - mmap: {name: P, length: 16 KiB, type: fd, fd: ro, prot: r}
        - mmap: {name: N, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - uffdio_register: {uffd: u, vma: S, mode: [MISSING]}
        - expect: {errno: EPERM}
        - uffdio_register: {uffd: u, vma: P, mode: [MISSING]}
        - uffdio_unregister: {uffd: u, vma: N}
        - uffdio_unregister: {uffd: u, addr: 0x10000000, length: 4096}
        - expect: {errno: EINVAL}
        - uffdio_register: {uffd: u2, vma: P, mode: [MISSING]}
        - expect: {errno: EBUSY}
        - uffdio_unregister: {uffd: u2, vma: P}
        - expect: {errno: EINVAL}
        - probe: {fn: vma_modes, args: {vma: P, modes: [MISSING], owner: u}}
        """)


@pytest.mark.parametrize("mt", [SHM, ASH, HUGE])
def test_continue_argument_checks_leave_mapped_untouched(uffd, mt):
    """Argument checks in CONTINUE: unaligned, len 0, start >= TASK_SIZE, wrap, bad mode bits:
    EINVAL with mapped untouched; ENOENT outside a registered VMA with mapped -2."""
    P = unit(mt)
    go(uffd, mt, memory(mt, register=["MINOR"]), f"""\
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: [{{vma: A, offset: 1}}, $P]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: [{{vma: A}}, 0]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: [0x800000000000, $P]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: [{{vma: A}}, {(1 << 64) - P}]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: EINVAL, out: {{}}, args: [{{vma: A}}, $P, 4]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: ENOENT, out: {{mapped: -2}}, args: [{{vma: B}}, $P]}}}}
        - probe: {{fn: api_error, args: {{call: uffdio_continue, errno: ENOENT, out: {{mapped: -2}}, args: [0, $P]}}}}
        """)


@pytest.mark.parametrize("mt", [SHM, SHMP, ASH, HUGE])
def test_partial_continue_hole_then_cached(uffd, mt):
    """Partial success: CONTINUE over [hole, cached] is EFAULT with nothing mapped."""
    go(uffd, mt, memory(mt, cached=(1,), register=["MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, length: $P2}
        - expect: {errno: EFAULT}
        - expect: {result: {mapped: -14}}
        - probe: {fn: pte_count, args: {vma: A, present: 0}}
        """, P2=2 * unit(mt))


def test_partial_copy_anon(uffd):
    """Partial success, COPY on anon: [hole, present] EAGAIN with copy 4096; [present, ...]
    EEXIST with copy -17."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB}
        - mmap: {name: src, length: 8 KiB}
        - write: {vma: A, offset: 4 KiB, data: present}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING]}
        - uffdio_copy: {uffd: u, vma: A, length: 8 KiB, src: src}
        - expect: {errno: EAGAIN}
        - expect: {result: {copy: 4096}}
        - uffdio_copy: {uffd: u, vma: A, offset: 4 KiB, length: 8 KiB, src: src}
        - expect: {errno: EEXIST}
        - expect: {result: {copy: -17}}
        """)


@pytest.mark.parametrize("mt", [SHM, SHMP, ASH])
def test_copy_and_zeropage_in_minor_only_range(uffd, mt):
    """No mode check in the fill ioctls: COPY and ZEROPAGE work in a MINOR-only range (holes);
    COPY through a second uffd too."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_copy: {uffd: u, vma: A, offset: $P, length: $P, src: src}
        - expect: {result: {copy: $P}}
        - uffdio_zeropage: {uffd: u, vma: A, offset: $P2, length: $P}
        - expect: {result: {zeropage: $P}}
        - userfaultfd: {name: u2, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u2}
        - uffdio_copy: {uffd: u2, vma: A, offset: $P3, length: $P, src: src}
        - expect: {result: {copy: $P}}
        - read: {vma: A, offset: $P, expect: fresh}
        - read: {vma: A, offset: $P3, expect: fresh}
        """, P2=2 * unit(mt), P3=3 * unit(mt))


@pytest.mark.parametrize("mt", [SHM, SHMP, ASH, HUGE])
def test_fault_reporting_missing_minor(uffd, mt):
    """Fault reporting, MISSING|MINOR: a hole reads flags 0 and writes WRITE; a cached page
    MINOR and WRITE|MINOR; the address is rounded to the page (2 MiB on hugetlb); ptid 0."""
    go(uffd, mt, memory(mt, cached=(0, 1), register=["MISSING", "MINOR"]), """\
        - clone:
            thread: t1
            steps:
              - read: {vma: A, offset: $P2, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: 0, address: {vma: A, offset: $P2}, ptid: 0}]}
        - clone:
            thread: t2
            steps:
              - write: {vma: A, offset: $P3, data: x}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE], address: {vma: A, offset: $P3}}]}
        - clone:
            thread: t3
            steps:
              - read: {vma: A, offset: 100, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - clone:
            thread: t4
            steps:
              - write: {vma: A, offset: $P1x, data: y}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, MINOR], address: {vma: A, offset: $P}}]}
        - uffdio_zeropage: {uffd: u, vma: A, offset: $P2, length: $P2}
        - uffdio_continue: {uffd: u, vma: A, length: $P2}
        - sleep: {duration: 1000}
        """ if mt != HUGE else """\
        - clone:
            thread: t1
            steps:
              - read: {vma: A, offset: 0x2345, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}, ptid: 0}]}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - sleep: {duration: 1000}
        """, P1x=unit(mt) + 5, P2=2 * unit(mt), P3=3 * unit(mt))


def test_exact_address(uffd):
    """EXACT_ADDRESS: the message carries the faulting address unrounded."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [EXACT_ADDRESS]}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING]}
        - clone:
            thread: t
            steps:
              - read: {vma: A, offset: 0x123, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: 0, address: {vma: A, offset: 0x123}}]}
        - uffdio_copy: {uffd: u, vma: A, length: 4 KiB, src: src}
        - sleep: {duration: 1000}
        """)


@pytest.mark.parametrize("mt", [SHM, ASH])
def test_wakeups_continue_dontwake_then_wake(uffd, mt):
    """Wakeups: CONTINUE with DONTWAKE leaves the thread blocked until UFFDIO_WAKE; WAKE on an
    unaligned range: EINVAL."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, expect: cached}
              - write: {vma: src, offset: 8, data: done}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR]}]}
        - uffdio_continue: {uffd: u, vma: A, length: $P, mode: [DONTWAKE]}
        - sleep: {duration: 100000}
        - read: {vma: src, offset: 8, length: 4, expect: '00000000', encoding: hex}
        - uffdio_wake: {uffd: u, vma: A, offset: 1, length: $P}
        - expect: {errno: EINVAL}
        - uffdio_wake: {uffd: u, vma: A, length: $P}
        - sleep: {duration: 1000}
        - read: {vma: src, offset: 8, expect: done}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


@pytest.mark.parametrize("mt", [SHM, ASH])
def test_wake_without_resolving_repeats_and_close_resolves(uffd, mt):
    """Wakeups: WAKE without resolving makes the fault repeat (a second identical event);
    close(uffd) with a fault pending lets the thread go on, the fault handled normally."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, expect: cached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - uffdio_wake: {uffd: u, vma: A, length: $P}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - close: {fd: u}
        - sleep: {duration: 1000}
        - probe: {fn: pte_count, args: {vma: A, present: 1}}
        """)


def _fault_around(uffd, mode, index, mapped, mt=SHM):
    """16 cached pages (written through B, which is then unmapped), A at PTE index ``index``;
    a read of A's page 0: ``mapped`` pages of A get a PTE."""
    base = 0x600000000000 + index * 4096
    reg = f"- uffdio_register: {{uffd: u, vma: A, mode: [{mode}]}}\n" if mode else ""
    minor = "MINOR" in (mode or "")
    steps = f"""\
        - memfd_create: {{name: m}}
        - ftruncate: {{fd: m, length: 64 KiB}}
        - mmap: {{name: B, length: 64 KiB, type: fd-shared, fd: m}}
        - touch: {{vma: B}}
        - munmap: {{vma: B}}
        - mmap: {{name: A, length: 64 KiB, type: fd-shared, fd: m, addr: {base:#x}, flags: [MAP_FIXED]}}
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u}}
""" + textwrap.indent(reg, " " * 8)
    steps = steps.rstrip(" ")
    if minor:
        steps += """\
        - clone:
            thread: t
            steps:
              - read: {vma: A, length: 1}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - uffdio_continue: {uffd: u, vma: A, length: 4 KiB}
        - sleep: {duration: 1000}
        """
    else:
        steps += """\
        - read: {vma: A, length: 1}
        """
    steps = steps.rstrip(" ") + f"""\
        - probe: {{fn: pte_count, args: {{vma: A, present: {mapped}}}}}
        - expect: {{rss: {{shmem: {mapped * 4} KiB}}}}
        """
    run618(uffd, steps)


@pytest.mark.parametrize("mode", [None, "MISSING"], ids=["unregistered", "MISSING-only"])
@pytest.mark.parametrize("index,mapped", [(3, 16), (505, 7)], ids=["pte-index-3", "pte-index-505"])
def test_fault_around_unregistered_and_missing_only(uffd, mode, index, mapped):
    """Fault-around: unregistered and MISSING-only VMAs map the neighbours too: 15 others when
    page 0 is at PTE index 3, 6 at index 505 (the window stops at the page table's end)."""
    _fault_around(uffd, mode, index, mapped)


@pytest.mark.parametrize("mode", ["MINOR", "MISSING, MINOR"])
def test_no_fault_around_when_minor_registered(uffd, mode):
    """Fault-around: a MINOR-registered VMA does none: the minor event arrives and only page 0
    gets a PTE."""
    _fault_around(uffd, mode, 3, 1)


@pytest.mark.parametrize("mt", [SHM, ASH])
def test_madv_dontneed_makes_the_next_touch_minor_again(uffd, mt):
    """MADV_DONTNEED on the registered mapping: the next touch is a MINOR fault again."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - read: {vma: A, expect: cached}
        - madvise: {vma: A, advice: MADV_DONTNEED}
        - clone:
            thread: t
            steps:
              - read: {vma: A, expect: cached}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [MINOR], address: {vma: A}}]}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - sleep: {duration: 1000}
        """)


def test_punch_hole_then_minor_only_touch_is_a_zero_page(uffd):
    """FALLOC_FL_PUNCH_HOLE: the next touch in a MINOR-only range raises no event and reads
    zeros."""
    go(uffd, SHM, memory(SHM, register=["MINOR"]), """\
        - fallocate: {fd: m, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], length: 4 KiB}
        - clone:
            thread: t
            steps:
              - read: {vma: A, length: 4, expect: '00000000', encoding: hex}
        - sleep: {duration: 100000}
        - uffd_read: {uffd: u}
        - expect: {errno: EAGAIN}
        """)


def test_private_shmem_continue_maps_read_only_and_write_cows(uffd):
    """MAP_PRIVATE shmem: CONTINUE maps the cached page read-only; the writer then gets a
    private COW copy (the write is not visible through the shared mapping)."""
    go(uffd, SHMP, memory(SHMP, register=["MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {rss: {shmem: 8 KiB, anon: 4 KiB}}
        - write: {vma: A, data: C}
        - read: {vma: A, expect: Cached}
        - read: {vma: B, expect: cached}
        - expect: {rss: {shmem: 4 KiB, anon: 8 KiB}}
        """)


@pytest.mark.parametrize("mt", [SHM, ASH])
def test_poison(uffd, mt):
    """POISON of a cached page or a hole: OK; a later CONTINUE overwrites the marker (OK);
    POISON on a present PTE: EEXIST."""
    go(uffd, mt, memory(mt, register=["MINOR"]), """\
        - uffdio_poison: {uffd: u, vma: A, length: $P}
        - expect: {result: {updated: $P}}
        - uffdio_poison: {uffd: u, vma: A, offset: $P, length: $P}
        - expect: {result: {updated: $P}}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - expect: {result: {mapped: $P}}
        - read: {vma: A, expect: cached}
        - uffdio_poison: {uffd: u, vma: A, length: $P}
        - expect: {errno: EEXIST}
        """)


@pytest.mark.parametrize("mt", [SHM, ASH])
def test_continue_over_wp_marker(uffd, mt):
    """CONTINUE without MODE_WP over a uffd-wp marker clears it (a write goes through); with
    MODE_WP it sets it (a write raises WRITE|WP)."""
    go(uffd, mt, memory(mt, cached=(0, 1), register=["MINOR", "WP"]), """\
        - uffdio_writeprotect: {uffd: u, vma: A, length: $P2, mode: [WP]}
        - uffdio_continue: {uffd: u, vma: A, length: $P}
        - write: {vma: A, data: C}
        - uffdio_continue: {uffd: u, vma: A, offset: $P, length: $P, mode: [WP]}
        - clone:
            thread: t
            steps:
              - write: {vma: A, offset: $P, data: D}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, WP], address: {vma: A, offset: $P}}]}
        - uffdio_writeprotect: {uffd: u, vma: A, offset: $P, length: $P, mode: []}
        - sleep: {duration: 1000}
        - read: {vma: B, offset: $P, expect: Dached}
        """, P2=2 * unit(mt))


def test_writeprotect_edges_and_partial_side_effect(uffd):
    """WRITEPROTECT: WP|DONTWAKE, undefined mode bits, unaligned, len 0: EINVAL; hole or
    unregistered VMA: ENOENT; a range crossing into an unregistered VMA: ENOENT, but the
    registered part is already protected (a write there raises WRITE|WP)."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB, addr: 0x600000000000, flags: [MAP_FIXED]}
        - mmap: {name: N, length: 16 KiB, addr: 0x600000004000, flags: [MAP_FIXED]}
        - write: {vma: A, data: a}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: A, mode: [WP]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [WP, DONTWAKE]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: [4]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, vma: A, offset: 1, length: 4 KiB, mode: [WP]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, vma: A, length: 0, mode: [WP]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, addr: 0x200000000000, length: 4096, mode: [WP]}
        - expect: {errno: ENOENT}
        - uffdio_writeprotect: {uffd: u, vma: N, mode: [WP]}
        - expect: {errno: ENOENT}
        - uffdio_writeprotect: {uffd: u, addr: 0x600000000000, length: 0x8000, mode: [WP]}
        - expect: {errno: ENOENT}
        - clone:
            thread: t
            steps:
              - write: {vma: A, data: b}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{flags: [WRITE, WP], address: {vma: A}}]}
        - uffdio_writeprotect: {uffd: u, vma: A, mode: []}
        - sleep: {duration: 1000}
        - read: {vma: A, expect: b}
        """)


def test_writeprotect_hugetlb_4k_alignment(uffd):
    """WRITEPROTECT on hugetlb with 4K alignment: EINVAL."""
    go(uffd, HUGE, memory(HUGE, register=["WP"]), """\
        - uffdio_writeprotect: {uffd: u, vma: A, offset: 4 KiB, length: 2 MiB, mode: [WP]}
        - expect: {errno: EINVAL}
        - uffdio_writeprotect: {uffd: u, vma: A, length: 4 KiB, mode: [WP]}
        - expect: {errno: EINVAL}
        """)


@pytest.mark.parametrize("mt", [SHM, SHMP])
def test_beyond_eof_copy_and_zeropage_efault(uffd, mt):
    """Beyond EOF on shmem: CONTINUE EINVAL, COPY and ZEROPAGE EFAULT."""
    go(uffd, mt, memory(mt, pages=2, file_pages=1, register=["MISSING", "MINOR"]), """\
        - uffdio_continue: {uffd: u, vma: A, offset: $P, length: $P}
        - expect: {errno: EINVAL}
        - uffdio_copy: {uffd: u, vma: A, offset: $P, length: $P, src: src}
        - expect: {errno: EFAULT}
        - expect: {result: {copy: -14}}
        - uffdio_zeropage: {uffd: u, vma: A, offset: $P, length: $P}
        - expect: {errno: EFAULT}
        - expect: {result: {zeropage: -14}}
        """)


def test_move_anon_page(uffd):
    """UFFDIO_MOVE (section 12, extra ioctls; the MOVE bit 0x20 is in every anon/shmem ioctls
    mask above): an exclusive anonymous page moves from src to the registered dst; src reads
    zeros afterwards, RSS anon unchanged."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB}
        - mmap: {name: src, length: 4 KiB}
        - write: {vma: src, data: moved}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u, features: [MOVE]}
        - uffdio_register: {uffd: u, vma: A, mode: [MISSING]}
        - expect: {rss: {anon: 4 KiB}}
        - uffdio_move: {uffd: u, vma: A, length: 4 KiB, src: src}
        - expect: {result: {move: 4096}}
        - expect: {rss: {anon: 4 KiB}}
        - read: {vma: A, expect: moved}
        - read: {vma: src, length: 4, expect: '00000000', encoding: hex}
        """)


# -- refinements the live probes of tests/userfaultfd/probes/README.md recorded ---------------------

def test_zeropage_fresh_cached_page_map_private_shmem(uffd):
    """probes/README.md row 19 (the refinement of row f for shmem_memfd_private): with no PTE
    yet, ZEROPAGE over a cached page is OK and reads zeros through A while B keeps the data."""
    go(uffd, SHMP, memory(SHMP, register=["MISSING", "MINOR"]), """\
        - uffdio_zeropage: {uffd: u, vma: A, length: $P}
        - expect: {result: {zeropage: $P}}
        - read: {vma: A, length: 4, expect: '00000000', encoding: hex}
        - read: {vma: B, expect: cached}
        """)


def test_wp_only_registration_disables_fault_around(uffd):
    """probes/README.md row 32: a WP-only registration disables fault-around too: a read of a
    cached page maps one PTE and raises no event."""
    _fault_around(uffd, "WP", 3, 1)


def test_wake_len_0_and_unaligned_einval(uffd):
    """probes/README.md row 28: WAKE with len 0 or unaligned: EINVAL; with no waiter or no VMA:
    OK."""
    run618(uffd, """\
        - mmap: {name: A, length: 16 KiB}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_wake: {uffd: u, vma: A, length: 0}
        - expect: {errno: EINVAL}
        - uffdio_wake: {uffd: u, vma: A, offset: 1, length: 4 KiB}
        - expect: {errno: EINVAL}
        - uffdio_wake: {uffd: u, vma: A, length: 4 KiB}
        - uffdio_wake: {uffd: u, addr: 0x200000000000, length: 4096}
        """)
