"""UFFDIO_MOVE (v6.8+, so only the v6.18 profile) against the live kernel's probe
``probes/uffd_move.txt`` (and the s31 MOVE line of ``probes/uffd_fill.txt``).

Every result line of the fixture is one test (or one parameter of one): the expected errno,
``move`` field and per-page present maps are read from the fixture itself, by item name, so a
test cannot drift from what the kernel did.  The probe's mappings: ``S`` the source (n pages,
page i written with the byte 0x10 + i where its mask says), ``D`` the destination (page i holding
0x70 + i where its mask says), D registered MISSING with the uffd ``u``.
"""
import pathlib
import textwrap

import pytest

PAGE = 4096
HPAGE = 2 << 20
PROBE = pathlib.Path(__file__).parent / "probes"


def _fixture(name):
    """{(item, memtype): [result, {field: value}, ...]} of a probe's result lines; the fields of
    an item printed on two lines (a result line, then a data line) are merged."""
    out = {}
    for line in (PROBE / name).read_text().splitlines():
        if not line or line.startswith(("#", "===", "  /", "probe exit", "RESTORE")):
            continue
        cols = line.split("\t")
        item, mt, rest = cols[0].strip(), cols[1], cols[2:]
        entry = out.setdefault((item, mt), {})
        for c in rest:
            if "=" in c:
                k, v = c.split("=", 1)
                entry[k] = v
            elif c:
                entry.setdefault("result", c)
    return out


MOVE = _fixture("uffd_move.txt")
FILL = _fixture("uffd_fill.txt")
AP = "anon_private"


def line(item, mt=AP):
    return MOVE[(item, mt)]


def run(uffd, steps, **subst):
    return uffd.ok(steps, "v6.18", **subst)


D = textwrap.dedent


def _write(vma, page, byte):
    return f"- write: {{vma: {vma}, offset: {page * PAGE}, data: '{byte:02x}', encoding: hex}}\n"


def pair(n, smask, dmask, reg_src=False, features="[MOVE]"):
    """pair_new() of uffd_move.c: S and D of n pages, populated per the masks, D registered."""
    s = f"- mmap: {{name: S, length: {n * PAGE}}}\n- mmap: {{name: D, length: {n * PAGE}}}\n"
    for i in range(n):
        if smask >> i & 1:
            s += _write("S", i, 0x10 + i)
        if dmask >> i & 1:
            s += _write("D", i, 0x70 + i)
    s += f"- userfaultfd: {{name: u, flags: [O_NONBLOCK]}}\n- uffdio_api: {{uffd: u, features: {features}}}\n"
    s += "- uffdio_register: {uffd: u, vma: D, mode: [MISSING]}\n"
    if reg_src:
        s += "- uffdio_register: {uffd: u, vma: S, mode: [MISSING]}\n"
    return s


def outcome(want, key="move"):
    """The expect steps of a fixture line: OK -> result move; else errno and (unless the kernel
    left it untouched) the move field."""
    s = ""
    if want["result"] != "OK":
        s += f"- expect: {{errno: {want['result']}}}\n"
    if want[key] == "untouched":
        s += f"- probe: {{fn: api_error, args: {{call: uffdio_move, errno: {want['result']}, out: {{}}, args: $ARGS}}}}\n"
    else:
        s += f"- expect: {{result: {{{key}: {int(want[key])}}}}}\n"
    return s


def maps(want, n):
    s = ""
    for vma, key in (("S", "src"), ("D", "dst")):
        if key in want:
            assert len(want[key]) == n
            s += f"- probe: {{fn: present, args: {{vma: {vma}, map: {want[key]}}}}}\n"
    return s


# -- the API bit and the REGISTER ioctls ----------------------------------------------------------

def test_api_reply_has_move_bit(uffd):
    """Fixture "API reply has MOVE (bit 16)": features 0x1ffff (bit 16 set)."""
    want = line("API reply has MOVE (bit 16)", "-")
    assert want["result"] == "yes"
    run(uffd, D(f"""\
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u}}
        - expect: {{result: {{features: {want['features']}}}}}
        """))
    assert int(want["features"], 16) >> 16 & 1


REG_SETUP = {
    "anon_private": "- mmap: {name: A, length: 8 KiB}\n",
    "anon_shared": "- mmap: {name: A, length: 8 KiB, type: shared}\n",
    "shmem_memfd_shared": "- memfd_create: {name: m}\n- ftruncate: {fd: m, length: 8 KiB}\n"
                          "- mmap: {name: A, length: 8 KiB, type: fd-shared, fd: m}\n",
    "shmem_memfd_private": "- memfd_create: {name: m}\n- ftruncate: {fd: m, length: 8 KiB}\n"
                           "- mmap: {name: A, length: 8 KiB, type: fd, fd: m}\n",
    "hugetlb_memfd_shared": '- write_file: {path: /proc/sys/vm/nr_hugepages, data: "4"}\n'
                            "- memfd_create: {name: m, flags: [MFD_HUGETLB]}\n"
                            "- ftruncate: {fd: m, length: 4 MiB}\n"
                            "- mmap: {name: A, length: 4 MiB, type: fd-shared, fd: m}\n",
}


@pytest.mark.parametrize("mt", list(REG_SETUP))
def test_register_missing_move_bit(uffd, mt):
    """Fixture "REGISTER MISSING: MOVE bit 5 in ioctls" (each memory type): 0x13c (bit 5 set)
    everywhere but hugetlb (0x10c) -- advertised for shmem and shared anon although MOVE
    fails there."""
    want = line("REGISTER MISSING: MOVE bit 5 in ioctls", mt)
    assert (int(want["ioctls"], 16) >> 5 & 1) == int(want["move_bit"])
    run(uffd, REG_SETUP[mt] + D(f"""\
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u}}
        - uffdio_register: {{uffd: u, vma: A, mode: [MISSING]}}
        - expect: {{result: {{ioctls: {want['ioctls']}}}}}
        """))


# -- moves between two fresh mappings (pair_new) -------------------------------------------------

#: fixture item -> (pages, src mask, dst mask, src registered, features, the call:
#: dst page, src page, length in pages, mode)
PAIRS = {
    "MOVE 2 pages, src unregistered, features=0": (2, 3, 0, False, "[]", (0, 0, 2, "[]")),
    "MOVE 2 pages, src unregistered, features=MOVE": (2, 3, 0, False, "[MOVE]", (0, 0, 2, "[]")),
    "MOVE 2 pages, src registered too": (2, 3, 0, True, "[MOVE]", (0, 0, 2, "[]")),
    "MOVE, dst page 0 populated": (2, 3, 1, False, "[MOVE]", (0, 0, 2, "[]")),
    "MOVE, dst page 1 populated (partial)": (2, 3, 2, False, "[MOVE]", (0, 0, 2, "[]")),
    "MOVE [P,hole,P] without ALLOW_SRC_HOLES": (3, 5, 0, False, "[MOVE]", (0, 0, 3, "[]")),
    "MOVE [P,hole,P] with ALLOW_SRC_HOLES": (3, 5, 0, False, "[MOVE]", (0, 0, 3, "[ALLOW_SRC_HOLES]")),
    "MOVE src all holes without ALLOW_SRC_HOLES": (2, 0, 0, False, "[MOVE]", (0, 0, 2, "[]")),
    "MOVE src all holes with ALLOW_SRC_HOLES": (2, 0, 0, False, "[MOVE]", (0, 0, 2, "[ALLOW_SRC_HOLES]")),
    "MOVE mode DONTWAKE": (2, 3, 0, False, "[MOVE]", (0, 0, 1, "[DONTWAKE]")),
}


@pytest.mark.parametrize("item", list(PAIRS))
def test_move_pair(uffd, item):
    """The fixture line ``item``: errno, move field, src/dst present maps; the data of
    "data_at_dst" where the fixture has it; the moved pages' rmap leads to their new place."""
    n, smask, dmask, reg_src, features, (dp, sp, ln, mode) = PAIRS[item]
    want = line(item)
    steps = pair(n, smask, dmask, reg_src, features)
    steps += (f"- uffdio_move: {{uffd: u, vma: D, offset: {dp * PAGE}, length: {ln * PAGE}, "
              f"src: S, src_offset: {sp * PAGE}, mode: {mode}}}\n")
    steps += outcome(want) + maps(want, n)
    data = MOVE.get((item, AP), {}).get("data_at_dst")
    if data:
        for i, b in enumerate(data.split(",")):
            steps += f"- read: {{vma: D, offset: {i * PAGE}, length: 1, expect: '{b[2:]}', encoding: hex}}\n"
    for i, c in enumerate(want["dst"]):
        if c == "P" and not dmask >> i & 1:
            steps += f"- probe: {{fn: rmap, args: {{vma: D, offset: {i * PAGE}}}}}\n"
    run(uffd, steps)


def test_move_both_registered_then_missing_fault_on_src(uffd):
    """Fixture "MOVE 2 pages, src registered too" then "read of moved-out src page (src
    registered MISSING)": the emptied src page raises MISSING (flags 0) at +0."""
    want = line("read of moved-out src page (src registered MISSING)")
    assert want["result"] == "event" and want["flags"] == "0x0(MISSING)" and want["addr"] == "+0x0"
    run(uffd, pair(2, 3, 0, reg_src=True) + D("""\
        - uffdio_move: {uffd: u, vma: D, length: 8 KiB, src: S}
        - expect: {result: {move: 8192}}
        - clone:
            thread: t
            steps:
              - read: {vma: S, length: 1, expect: '00', encoding: hex}
        - sleep: {duration: 1000}
        - uffd_read: {uffd: u, expect: [{event: pagefault, flags: 0, address: {vma: S}}]}
        - uffdio_zeropage: {uffd: u, vma: S, length: 4 KiB}
        - sleep: {duration: 1000}
        """))


#: the argument checks after "MOVE mode DONTWAKE" moved page 0 (src=-P dst=P-): dst offset,
#: src address (None: S + src page), length, mode
BAD_ARGS = {
    "MOVE mode bit2": (PAGE, None, PAGE, 1 << 2),
    "MOVE mode bit63": (PAGE, None, PAGE, 1 << 63),
    "MOVE dst+1": (PAGE + 1, None, PAGE, 0),
    "MOVE src+1": (PAGE, 1, PAGE, 0),
    "MOVE len+1": (PAGE, None, PAGE + 1, 0),
    "MOVE len 0": (PAGE, None, 0, 0),
    "MOVE src=2^47": (PAGE, "abs", PAGE, 0),
}


@pytest.mark.parametrize("item", list(BAD_ARGS))
def test_move_bad_arguments_einval_untouched(uffd, item):
    """The fixture line ``item``: EINVAL, ``move`` untouched, nothing moved (src=-P dst=P-)."""
    dst_off, src, length, mode = BAD_ARGS[item]
    want = line(item)
    if src is None:
        src_arg, src_step = "{vma: S, offset: 4096}", "src: S, src_offset: 4096"
    elif src == "abs":
        src_arg, src_step = str(1 << 47), f"src_addr: {1 << 47}"
    else:
        src_arg, src_step = "{vma: S, offset: 4097}", "src: S, src_offset: 4097"
    steps = pair(2, 3, 0) + D("""\
        - uffdio_move: {uffd: u, vma: D, length: 4 KiB, src: S, mode: [DONTWAKE]}
        - expect: {result: {move: 4096}}
        """)
    steps = textwrap.dedent(steps)
    steps += (f"- uffdio_move: {{uffd: u, vma: D, offset: {dst_off}, length: {length}, "
              f"{src_step}, mode: [{mode}]}}\n")
    steps += outcome(want) + maps(want, 2)
    run(uffd, steps, ARGS=f"[{{vma: D, offset: {dst_off}}}, {src_arg}, {length}, {mode}]")


# -- overlapping and adjacent ranges in one VMA --------------------------------------------------

def _one_vma(pages_written):
    s = "- mmap: {name: R, length: 16 KiB}\n"
    for i in pages_written:
        s += _write("R", i, 1 + i)
    return s + ("- userfaultfd: {name: u, flags: [O_NONBLOCK]}\n- uffdio_api: {uffd: u, features: [MOVE]}\n"
                "- uffdio_register: {uffd: u, vma: R, mode: [MISSING]}\n")


def _map_check(want):
    return f"- probe: {{fn: present, args: {{vma: R, map: {want['map']}}}}}\n"


def test_move_overlapping_and_adjacent(uffd):
    """Fixture "MOVE overlapping (dst=src+1 page, len 2 pages)": EEXIST -17, map PP-- (no
    overlap check: dst page 1 is populated); then "MOVE adjacent in one VMA (dst=src+2
    pages)": OK 8192, map --PP."""
    a = line("MOVE overlapping (dst=src+1 page, len 2 pages)")
    b = line("MOVE adjacent in one VMA (dst=src+2 pages)")
    steps = _one_vma((0, 1))
    steps += "- uffdio_move: {uffd: u, vma: R, offset: 4 KiB, length: 8 KiB, src: R}\n"
    steps += outcome(a) + _map_check(a)
    steps += "- uffdio_move: {uffd: u, vma: R, offset: 8 KiB, length: 8 KiB, src: R}\n"
    steps += outcome(b) + _map_check(b)
    steps += ("- read: {vma: R, offset: 8 KiB, length: 1, expect: '01', encoding: hex}\n"
              "- probe: {fn: rmap, args: {vma: R, offset: 8192}}\n"
              "- probe: {fn: rmap, args: {vma: R, offset: 12288}}\n")
    run(uffd, steps)


def test_move_overlapping_page_moves_twice(uffd):
    """Fixture "MOVE overlapping, dst pages all holes (src=[1,3) dst=[2,4), ALLOW_SRC_HOLES)":
    OK 8192, map ---P: page 1 moves to 2, then (as the next source) on to 3."""
    want = line("MOVE overlapping, dst pages all holes (src=[1,3) dst=[2,4), ALLOW_SRC_HOLES)")
    steps = _one_vma((1,))
    steps += ("- uffdio_move: {uffd: u, vma: R, offset: 8 KiB, length: 8 KiB, src: R, "
              "src_offset: 4 KiB, mode: [ALLOW_SRC_HOLES]}\n")
    steps += outcome(want) + _map_check(want)
    steps += ("- read: {vma: R, offset: 12 KiB, length: 1, expect: '02', encoding: hex}\n"
              "- probe: {fn: rmap, args: {vma: R, offset: 12288}}\n")
    run(uffd, steps)


# -- which VMAs may take part --------------------------------------------------------------------

UFFD = "- userfaultfd: {name: u, flags: [O_NONBLOCK]}\n- uffdio_api: {uffd: u, features: [MOVE]}\n"
SHM = "- memfd_create: {name: m}\n- ftruncate: {fd: m, length: 4 KiB}\n"
AREAS = {
    ("MOVE dst not registered", AP):
        "- mmap: {name: S, length: 4 KiB}\n- mmap: {name: D, length: 4 KiB}\n"
        "- write: {vma: S, data: x}\n" + UFFD,
    ("MOVE src in shmem (MAP_SHARED memfd), dst anon registered", "shmem_memfd_shared"):
        SHM + "- mmap: {name: S, length: 4 KiB, type: fd-shared, fd: m}\n- write: {vma: S, data: x}\n"
        "- mmap: {name: D, length: 4 KiB}\n" + UFFD + "- uffdio_register: {uffd: u, vma: D, mode: [MISSING]}\n",
    ("MOVE src in MAP_PRIVATE memfd (anon COW page), dst anon registered", "shmem_memfd_private"):
        SHM + "- mmap: {name: S, length: 4 KiB, type: fd, fd: m}\n- write: {vma: S, data: x}\n"
        "- mmap: {name: D, length: 4 KiB}\n" + UFFD + "- uffdio_register: {uffd: u, vma: D, mode: [MISSING]}\n",
    ("MOVE dst in shmem registered, src anon", "shmem_memfd_shared"):
        SHM + "- mmap: {name: D, length: 4 KiB, type: fd-shared, fd: m}\n"
        "- mmap: {name: S, length: 4 KiB}\n- write: {vma: S, data: x}\n" + UFFD +
        "- uffdio_register: {uffd: u, vma: D, mode: [MISSING]}\n",
    ("MOVE src in shared anon, dst anon registered", "anon_shared"):
        "- mmap: {name: S, length: 4 KiB, type: shared}\n- write: {vma: S, data: x}\n"
        "- mmap: {name: D, length: 4 KiB}\n" + UFFD + "- uffdio_register: {uffd: u, vma: D, mode: [MISSING]}\n",
}


@pytest.mark.parametrize("key", list(AREAS), ids=[k[0] for k in AREAS])
def test_move_vma_types(uffd, key):
    """The fixture line: EINVAL with move=-22 (validate_move_areas() in the engine writes the
    field); the source page stays where it was."""
    want = line(*key)
    steps = AREAS[key] + "- uffdio_move: {uffd: u, vma: D, length: 4 KiB, src: S}\n" + outcome(want)
    steps += "- read: {vma: S, length: 1, expect: x}\n"
    run(uffd, steps)


# -- a page shared with a forked child (PageAnonExclusive) ---------------------------------------

def test_move_page_shared_with_child_ebusy_even_after_exit(uffd):
    """Fixture "MOVE src pages shared (COW) with a forked child": EBUSY -16, src=PP dst=--;
    "MOVE again after the child exited": still EBUSY -16 (fork cleared PageAnonExclusive and
    only a write fault's reuse sets it again: memsim reads it from the read-only entry)."""
    a = line("MOVE src pages shared (COW) with a forked child")
    b = line("MOVE again after the child exited")
    steps = pair(2, 3, 0) + textwrap.dedent("""\
        - fork:
            child: kid
            steps:
              - sleep: {duration: 10000}
              - exit: {}
        - uffdio_move: {uffd: u, vma: D, length: 8 KiB, src: S}
        """)
    steps += outcome(a) + maps(a, 2)
    steps += "- probe: {fn: rmap, args: {vma: S, offset: 0, mapcount: 2}}\n"
    steps += "- sleep: {duration: 100000}\n"
    steps += "- probe: {fn: rmap, args: {vma: S, offset: 0, mapcount: 1}}\n"
    steps += "- uffdio_move: {uffd: u, vma: D, length: 8 KiB, src: S}\n" + outcome(b) + maps(b, 2)
    # a write fault reuses the page (exclusive again): now it moves
    steps += _write("S", 0, 0x20) + _write("S", 1, 0x21)
    steps += "- uffdio_move: {uffd: u, vma: D, length: 8 KiB, src: S}\n- expect: {result: {move: 8192}}\n"
    run(uffd, steps)


# -- the zero page, wake-up, THP-sized moves -------------------------------------------------------

def test_move_zero_page(uffd):
    """Fixture "MOVE zero page (read-faulted src page 0)": OK 4096, src=-- dst=P-; "MOVE zero
    page: dst reads": 0x00, and RssAnon unchanged by the move (the fixture's absolute
    RssAnon_kB is the probe process's own; the zero page is never counted)."""
    want = line("MOVE zero page (read-faulted src page 0)")
    reads = line("MOVE zero page: dst reads")
    assert reads["result"] == "0x00" and "RssAnon_kB" in reads
    steps = pair(2, 0, 0) + "- read: {vma: S, length: 1, expect: '00', encoding: hex}\n"
    steps += "- expect: {rss: {anon: 0}}\n"
    steps += "- uffdio_move: {uffd: u, vma: D, length: 4 KiB, src: S}\n" + outcome(want) + maps(want, 2)
    steps += "- expect: {rss: {anon: 0}}\n- read: {vma: D, length: 1, expect: '00', encoding: hex}\n"
    run(uffd, steps)


def test_move_resolves_missing_fault(uffd):
    """Fixture "MOVE resolves a MISSING fault on dst": OK 4096, the reader wakes and reads 0x10."""
    want = line("MOVE resolves a MISSING fault on dst")
    state, val = want["thread"].split("/val=")         # thread=done/val=0x10
    assert state == "done"
    run(uffd, pair(1, 1, 0) + D(f"""\
        - clone:
            thread: t
            steps:
              - read: {{vma: D, length: 1, expect: '{val[2:]}', encoding: hex}}
        - sleep: {{duration: 1000}}
        - uffd_read: {{uffd: u, expect: [{{event: pagefault, flags: 0, address: {{vma: D}}}}]}}
        - uffdio_move: {{uffd: u, vma: D, length: 4 KiB, src: S}}
        - expect: {{result: {{move: {want['move']}}}}}
        - sleep: {{duration: 1000}}
        - probe: {{fn: present, args: {{vma: S, map: '-'}}}}
        """))


def test_move_dontwake_leaves_sleeper(uffd):
    """"MOVE mode DONTWAKE" (fixture: OK 4096): the page moves, a sleeper on it stays asleep
    until UFFDIO_WAKE (as COPY DONTWAKE, probes/README.md row 27)."""
    want = line("MOVE mode DONTWAKE")
    run(uffd, pair(1, 1, 0) + D(f"""\
        - clone:
            thread: t
            steps:
              - read: {{vma: D, length: 1, expect: '10', encoding: hex}}
        - sleep: {{duration: 1000}}
        - uffd_read: {{uffd: u, count: 1}}
        - uffdio_move: {{uffd: u, vma: D, length: 4 KiB, src: S, mode: [DONTWAKE]}}
        - expect: {{result: {{move: {want['move']}}}}}
        - sleep: {{duration: 1000}}
        - uffdio_wake: {{uffd: u, vma: D, length: 4 KiB}}
        - sleep: {{duration: 1000}}
        """))


def test_move_2mib_aligned(uffd):
    """Fixture "MOVE 2 MiB THP-backed aligned": OK 2097152, data intact, src page 0 empty;
    AnonHugePages unchanged (memsim maps anonymous memory with 4 KiB pages only, so it is 0
    before and after; the PMD path, move_pages_huge_pmd, is the engine's for PMD leaves)."""
    want = line("MOVE 2 MiB THP-backed aligned")
    assert want["before"] if "before" in want else True
    assert want["AnonHugePages_kB_before"] == want["after"] and want["data_ok"] == "1"
    run(uffd, D(f"""\
        - mmap: {{name: S, length: 2 MiB, addr: 0x600000000000, flags: [MAP_FIXED]}}
        - mmap: {{name: D, length: 2 MiB, addr: 0x600000400000, flags: [MAP_FIXED]}}
        - touch: {{vma: S, access: write}}
        - write: {{vma: S, offset: 2093056, data: tail}}
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u, features: [MOVE]}}
        - uffdio_register: {{uffd: u, vma: D, mode: [MISSING]}}
        - uffdio_move: {{uffd: u, vma: D, length: 2 MiB, src: S}}
        - expect: {{result: {{move: {want['move']}}}}}
        - expect: {{rss: {{anon: 2 MiB}}}}
        - probe: {{fn: present, args: {{vma: S, map: '{want['src_page0']}'}}}}
        - probe: {{fn: pte_count, args: {{vma: D, present: 512}}}}
        - read: {{vma: D, offset: 2093056, expect: tail}}
        """))


def test_move_2mib_to_4k_offset(uffd):
    """Fixture "MOVE 2 MiB THP source to a 4K-offset destination": OK 2097152 in one call;
    "data after 4K-offset move": data_ok=1."""
    want = line("MOVE 2 MiB THP source to a 4K-offset destination")
    data = line("data after 4K-offset move")
    assert data["data_ok"] == "1"
    run(uffd, D(f"""\
        - mmap: {{name: S, length: 2 MiB, addr: 0x600000000000, flags: [MAP_FIXED]}}
        - mmap: {{name: D, length: 4 MiB, addr: 0x600000400000, flags: [MAP_FIXED]}}
        - touch: {{vma: S, access: write}}
        - write: {{vma: S, data: head}}
        - write: {{vma: S, offset: 2093056, data: tail}}
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u, features: [MOVE]}}
        - uffdio_register: {{uffd: u, vma: D, mode: [MISSING]}}
        - uffdio_move: {{uffd: u, vma: D, offset: 4 KiB, length: 2 MiB, src: S}}
        - expect: {{result: {{move: {want['move']}}}}}
        - read: {{vma: D, offset: 4 KiB, expect: head}}
        - read: {{vma: D, offset: 2097152, expect: tail}}
        - probe: {{fn: rmap, args: {{vma: D, offset: 2097152}}}}
        """))


# -- mmap_changing (uffd_fill.txt, s31) and the v5.14 profile ------------------------------------

def test_move_while_mmap_changing(uffd):
    """uffd_fill.txt "s31 MOVE while mmap_changing": EAGAIN with move=-11 (6.18 writes -EAGAIN
    into the field before anything else)."""
    want = FILL[("s31 MOVE while mmap_changing", AP)]
    run(uffd, D(f"""\
        - mmap: {{name: buf, length: 16 KiB}}
        - mmap: {{name: S, length: 4 KiB}}
        - write: {{vma: S, data: x}}
        - userfaultfd: {{name: u, flags: [O_NONBLOCK]}}
        - uffdio_api: {{uffd: u, features: [EVENT_REMAP]}}
        - uffdio_register: {{uffd: u, vma: buf, mode: [MISSING]}}
        - clone:
            thread: t
            steps:
              - mremap: {{vma: buf, length: 16 KiB, flags: [MREMAP_MAYMOVE, MREMAP_FIXED],
                         new_address: 0x500000000000}}
        - sleep: {{duration: 1000}}
        - uffdio_move: {{uffd: u, addr: 0x500000000000, length: 4 KiB, src: S}}
        - expect: {{errno: {want['result']}}}
        - expect: {{result: {{move: {want['move']}}}}}
        - uffd_read: {{uffd: u, expect: [{{event: remap, to: 0x500000000000, len: 16384}}]}}
        - sleep: {{duration: 1000}}
        - uffdio_move: {{uffd: u, addr: 0x500000000000, length: 4 KiB, src: S}}
        - expect: {{result: {{move: 4096}}}}
        """))


def test_move_unknown_on_v514(uffd):
    """UFFDIO_MOVE does not exist on v5.14: EINVAL (an unknown ioctl), nothing written."""
    uffd.ok(textwrap.dedent("""\
        - mmap: {name: D, length: 4 KiB}
        - mmap: {name: S, length: 4 KiB}
        - write: {vma: S, data: x}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - uffdio_register: {uffd: u, vma: D, mode: [MISSING]}
        - uffdio_move: {uffd: u, vma: D, src: S}
        - expect: {errno: EINVAL}
        - expect: {result: {}}
        - read: {vma: S, expect: x}
        """), "v5.14")


def test_move_registered_with_another_uffd_einval(uffd):
    """validate_move_areas(): dst must be registered with the uffd the ioctl came through
    (another uffd's registration: EINVAL -22, as an unregistered dst in the fixture)."""
    run(uffd, D("""\
        - mmap: {name: D, length: 4 KiB}
        - mmap: {name: S, length: 4 KiB}
        - write: {vma: S, data: x}
        - userfaultfd: {name: u, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: u}
        - userfaultfd: {name: v, flags: [O_NONBLOCK]}
        - uffdio_api: {uffd: v}
        - uffdio_register: {uffd: v, vma: D, mode: [MISSING]}
        - uffdio_move: {uffd: u, vma: D, src: S}
        - expect: {errno: EINVAL}
        - expect: {result: {move: -22}}
        - uffdio_move: {uffd: v, vma: D, src: S}
        - expect: {result: {move: 4096}}
        - read: {vma: D, expect: x}
        """))


def test_every_fixture_line_has_a_test():
    """Each result line of uffd_move.txt is named by a test above."""
    covered = set(PAIRS) | set(BAD_ARGS) | {k[0] for k in AREAS} | {
        "API reply has MOVE (bit 16)", "REGISTER MISSING: MOVE bit 5 in ioctls",
        "read of moved-out src page (src registered MISSING)",
        "MOVE overlapping (dst=src+1 page, len 2 pages)", "MOVE adjacent in one VMA (dst=src+2 pages)",
        "MOVE overlapping, dst pages all holes (src=[1,3) dst=[2,4), ALLOW_SRC_HOLES)",
        "MOVE src pages shared (COW) with a forked child", "MOVE again after the child exited",
        "MOVE zero page (read-faulted src page 0)", "MOVE zero page: dst reads",
        "MOVE resolves a MISSING fault on dst", "MOVE 2 MiB THP-backed aligned",
        "MOVE 2 MiB THP source to a 4K-offset destination", "data after 4K-offset move"}
    assert {item for item, _mt in MOVE} <= covered
