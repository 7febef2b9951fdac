"""kasan.md section 10: every scenario of software tag-based KASAN, through workloads and the
plugin's Python API, and section 8: what must not be reported."""
import re
import textwrap

import pytest

from memsim.errors import KernelPanic, WorkloadError
from memsim.testing import run_text, trace_text

DIRECT_MAP = 0xFFFF888000000000
KASAN = "{mode: sw_tags, multi_shot: true, tags_identify: true}"


def kasan_run(steps: str, kasan: str = KASAN, memory: str = "64 MiB", patches: str = "",
              kernel: str = "v5.14", events=("error_report:*",), ok: bool = True):
    """Run ``steps`` (YAML lines of one task's step list) on a one-CPU machine with KASAN; with
    ``ok``, the run must end without an error (an ``expect`` that failed is one)."""
    text = (f"machine: {{cpus: 1, kernel: {kernel}, nodes: [{{memory: {memory}}}]{patches}}}\n"
            f"kasan: {kasan}\n"
            "tasks:\n  - name: t\n    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      "))
    run = run_text(text, events=events)
    if ok:
        assert run.error is None, run.error
    return run


def st(run):
    return run.machine.plugin_state["kasan"]


def obj(run, name, index=0):
    from memsim.plugins.kmem.objects import lookup
    task = next(t for t in run.machine.tasks.values() if t.comm == "t")
    return lookup(run.machine, task.pid, name, index)


def reports(run):
    return st(run).reporter.reports


def untag(p):
    return p | (0xFF << 56)


def last_page(memory_mib: int) -> int:
    return DIRECT_MAP + (memory_mib << 20) - 4096


# -- 1, 2: the initial shadow -------------------------------------------------------------------

def test_1_never_allocated_memory_reads_fe():
    addr = last_page(64)
    run = kasan_run(f"""\
        - access: {{address: {0x2A << 56 | (addr & ~(0xFF << 56)):#x}, size: 8, case: tagged}}
        - access: {{address: {addr:#x}, size: 8, case: native}}
        - expect: {{kasan_reports: {{invalid-access: 1, total: 1}}}}
        """)
    [rep] = reports(run)
    assert rep.lines[1].startswith("BUG: KASAN: invalid-access in workload_access+0x24/0x60")
    assert "Pointer tag: [2a], memory tag: [fe]" in rep.lines
    assert st(run).cases == {"tagged": ("invalid-access", 0xFE), "native": None}


def test_2_boot_memory_is_not_poisoned_and_reads_fe():
    """KASAN installed on a machine fresh from boot: the free memory was never poisoned (the
    only shadow writes are the boot caches' slab pages, kasan_poison_slab) and reads 0xFE."""
    from memsim.plugins.kasan.report import Reporter, Settings
    from memsim.plugins.kasan.sw_tags import KasanHost
    from memsim.testing import build_machine
    m = build_machine(nodes=(64 << 20,))
    pm = m.physmem
    slab_pages = sum(1 for pfn in range(pm.max_pfn) if pm.page_info(pfn)["flags"] & (1 << 9))
    host = KasanHost(pm, m.current, 1, 0, True)
    host.reporter = Reporter(m, host, Settings())
    host.install(m.slab)
    assert host.stats()["poison_calls"] == slab_pages
    free = [pfn for pfn in range(pm.max_pfn) if pm.page_info(pfn)["refcount"] == 0]
    assert len(free) > 15000
    assert {host.shadow_byte(DIRECT_MAP + (pfn << 12)) for pfn in free} == {0xFE}
    assert host.stats()["split_pages"] <= slab_pages


# -- 3, 4: the page allocator ---------------------------------------------------------------------

def test_3_page_allocation_tagging_and_4_page_use_after_free():
    run = kasan_run("""\
        - kasan_next_tags: {tags: [0x5c]}
        - alloc_pages: {name: pg, order: 1}
        """)
    host = st(run).host
    pg = obj(run, "pg")
    assert pg.addr >> 56 == 0x5C and untag(pg.addr) == DIRECT_MAP + (pg.pfn << 12)
    assert run.machine.physmem.page_address(pg.pfn) == pg.addr
    assert host.page_tag(pg.pfn) == host.page_tag(pg.pfn + 1) == 0x5C
    assert host.shadow_bytes(pg.addr, 512) == bytes([0x5C]) * 512

    run = kasan_run("""\
        - kasan_next_tags: {tags: [0x5c]}
        - alloc_pages: {name: pg, order: 1}
        - free_pages: {name: pg}
        - access: {object: pg, size: 1, write: true, caller: pagealloc_uaf}
        """)
    host = st(run).host
    pg = obj(run, "pg")
    assert host.shadow_bytes(pg.addr, 512) == bytes([0xFE]) * 512
    assert host.page_tag(pg.pfn) == 0x5C                # not reset on free
    [rep] = reports(run)
    assert rep.lines[1] == "BUG: KASAN: invalid-access in pagealloc_uaf+0x68/0x1a0"
    assert rep.lines[2].startswith(f"Write of size 1 at addr {pg.addr:016x} by task t/")
    assert rep.lines[3] == "Pointer tag: [5c], memory tag: [fe]"
    assert "The buggy address belongs to the page:" in rep.lines
    assert "page dumped because: kasan: bad access detected" in rep.lines


# -- 5, 6: kmalloc redzones ------------------------------------------------------------------------

def test_5_kmalloc_right_oob_at_the_granule_boundary():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 123}
        - access: {object: p, offset: 125}
        - access: {object: p, offset: 128, write: true, caller: kmalloc_oob_right}
        """)
    host = st(run).host
    p = obj(run, "p")
    tag = p.addr >> 56
    assert host.shadow_bytes(p.addr, 9) == bytes([tag]) * 8 + b"\xfe"
    [rep] = reports(run)
    assert rep.lines[1] == "BUG: KASAN: out-of-bounds in kmalloc_oob_right+0x68/0x1a0"
    assert rep.lines[2].startswith(f"Write of size 1 at addr {p.addr + 128:016x}")
    assert rep.lines[3] == f"Pointer tag: [{tag:02x}], memory tag: [fe]"
    assert " which belongs to the cache kmalloc-128 of size 128" in rep.lines
    assert "The buggy address is located 0 bytes to the right of" in rep.lines
    start = untag(p.addr)
    assert f" 128-byte region [{start:016x}, {start + 128:016x})" in rep.lines


def test_5_injected_tag_after_the_new_slab_pages_draw():
    """A new slab page draws its tag first (kasan.md 6.2): a fresh cache shows it."""
    run = kasan_run("""\
        - kmem_cache_create: {cache: fresh, size: 100}
        - kasan_next_tags: {tags: [0x99, 0x31]}
        - kmem_cache_alloc: {cache: fresh, name: p}
        """)
    assert obj(run, "p").addr >> 56 == 0x31


def test_6_kmalloc_tail_redzone_inside_the_object():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 100}
        - access: {object: p, offset: 100}
        - access: {object: p, offset: 112}
        """)
    host = st(run).host
    p = obj(run, "p")
    tag = p.addr >> 56
    assert host.shadow_bytes(p.addr, 8) == bytes([tag]) * 7 + b"\xfe"
    [rep] = reports(run)
    assert rep.kind == "out-of-bounds"
    assert "The buggy address is located 112 bytes inside of" in rep.lines


# -- 7, 8, 9: use-after-free --------------------------------------------------------------------

UAF = """\
    - kmalloc: {name: p, size: 64}
    - kfree: {name: p}
    - access: {object: p, caller: kmalloc_uaf}
    """


def test_7_use_after_free_with_identification():
    run = kasan_run(UAF)
    [rep] = reports(run)
    assert rep.lines[1] == "BUG: KASAN: use-after-free in kmalloc_uaf+0x68/0x1a0"
    assert rep.memory_tag == 0xFE
    pid = rep.pid
    text = rep.text
    assert f"Allocated by task {pid}:\n kasan_save_stack+0x2c/0x58\n" in text
    assert f"Freed by task {pid}:\n kasan_save_stack+0x2c/0x58\n" in text
    assert " workload_kfree+0x12/0x40\n" in text


def test_8_without_tags_identify_it_is_invalid_access():
    run = kasan_run(UAF, kasan="{mode: sw_tags, multi_shot: true}")
    [rep] = reports(run)
    assert rep.kind == "invalid-access"


def test_9_tag_collision_is_missed():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree: {name: p}
        - kasan_next_tags: {tags: [0x12]}
        - kmalloc: {name: q, size: 64}
        """)
    p = obj(run, "p")
    q = obj(run, "q")
    assert untag(q.addr) == untag(p.addr)            # SLUB hands the freed slot out again
    stale = (p.addr & ~(0xFF << 56)) | (0x12 << 56)
    assert q.addr == stale
    assert st(run).host.check(stale, 8)
    assert reports(run) == []


# -- 10, 11: bad frees ---------------------------------------------------------------------------

def test_10_double_free_is_reported_and_not_done():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 32}
        - kfree: {name: p}
        - kfree_pointer: {object: p, caller: kmalloc_double_kzfree}
        - kmalloc: {name: a, size: 32}
        - kmalloc: {name: b, size: 32}
        - expect: {kasan_reports: {double-free or invalid-free: 1}}
        """)
    [rep] = reports(run)
    p = obj(run, "p")
    assert rep.lines[1] == "BUG: KASAN: double-free or invalid-free in kmalloc_double_kzfree+0x68/0x1a0"
    assert rep.lines[2] == f"Pointer tag: [{p.addr >> 56:02x}], memory tag: [fe]"
    assert rep.addr == untag(p.addr)
    # the object is on the free list once: the next two allocations differ
    assert untag(obj(run, "a").addr) != untag(obj(run, "b").addr)
    assert "error_report_end: [kasan] %x" % untag(p.addr) in trace_text(run)


def test_11_interior_free_is_reported_and_the_object_stays():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree_pointer: {object: p, offset: 16, caller: kmem_cache_invalid_free}
        - kfree: {name: p}
        - expect: {kasan_reports: {total: 1}}
        """)
    [rep] = reports(run)
    assert rep.kind == "double-free or invalid-free"
    assert "The buggy address is located 16 bytes inside of" in rep.lines
    assert obj(run, "p").freed


def test_11_object_still_allocated_after_the_invalid_free():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree_pointer: {object: p, offset: 16}
        """)
    assert run.machine.slab.object_info(obj(run, "p").addr)["allocated"]


# -- 12: large kmalloc ---------------------------------------------------------------------------

def test_12_large_kmalloc_redzone():
    run = kasan_run("""\
        - kasan_next_tags: {tags: [0x40]}
        - kmalloc: {name: big, size: 12296}
        - access: {object: big, offset: 12300}
        - access: {object: big, offset: 12304, caller: kmalloc_pagealloc_oob_right}
        """)
    host = st(run).host
    big = obj(run, "big")
    assert big.addr >> 56 == 0x40
    shadow = host.shadow_bytes(big.addr, 1024)
    assert shadow == b"\x40" * 769 + b"\xfe" * 255
    [rep] = reports(run)
    assert rep.kind == "invalid-access"        # not a slab page: no slab classification


def test_6_7_large_kfree_is_reported_and_still_freed():
    """kasan.md 6.7: v5.14 ignores ____kasan_kfree_large's verdict and frees the pages."""
    run = kasan_run("""\
        - kmalloc: {name: big, size: 12296}
        - kfree_pointer: {object: big, offset: 16, caller: kmalloc_pagealloc_invalid_free}
        """)
    [rep] = reports(run)
    assert rep.kind == "double-free or invalid-free"
    big = obj(run, "big")
    assert run.machine.physmem.page_info(big.pfn)["refcount"] == 0
    assert big.freed
    assert st(run).host.shadow_byte(big.addr) == 0xFE


# -- 13, 14: caches with constructors and TYPESAFE_BY_RCU -----------------------------------------

def test_13_ctor_cache_objects_keep_their_tag():
    run = kasan_run("""\
        - kmem_cache_create: {cache: withctor, size: 64, ctor: true}
        - kasan_next_tags: {tags: [0x11, 0x77]}
        - kmem_cache_alloc: {cache: withctor, name: a}
        - kmem_cache_free: {name: a}
        - access: {object: a, caller: kmem_cache_oob}
        - kmem_cache_alloc: {cache: withctor, name: b}
        """)
    a, b = obj(run, "a"), obj(run, "b")
    assert a.addr >> 56 == 0x77 and b.addr == a.addr
    [rep] = reports(run)
    assert rep.memory_tag == 0xFE


def test_14_typesafe_by_rcu_objects_are_not_poisoned_on_free():
    run = kasan_run("""\
        - kmem_cache_create: {cache: rcu, size: 64, flags: SLAB_TYPESAFE_BY_RCU}
        - kmem_cache_alloc: {cache: rcu, name: a}
        - kmem_cache_free: {name: a}
        - access: {object: a, caller: kmem_cache_rcu_uaf}
        - expect: {kasan_reports: {total: 0}}
        """)
    a = obj(run, "a")
    assert st(run).host.shadow_byte(a.addr) == a.addr >> 56


# -- 15, 16: when reports are printed -------------------------------------------------------------

ONE_SHOT = "{mode: sw_tags, tags_identify: true}"


def test_15_one_shot_reporting():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree: {name: p}
        - access: {object: p, caller: kmalloc_uaf}
        - access: {object: p, offset: 8}
        - read_file: {path: /proc/sys/kernel/tainted, expect: "32\\n"}
        - kfree_pointer: {object: p}
        - expect: {kasan_reports: {use-after-free: 1, double-free or invalid-free: 1, total: 2}}
        """, kasan=ONE_SHOT)
    assert run.error is None, run.error
    assert st(run).reporter.suppressed == 1
    ends = re.findall(r"error_report_end: \[kasan\] ([0-9a-f]+)", trace_text(run))
    assert len(ends) == 2


def test_16_kasan_depth_suppresses_without_consuming_the_latch():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree: {name: p}
        - kasan_disable_current: {}
        - access: {object: p}
        - kasan_enable_current: {}
        - access: {object: p, offset: 8}
        - expect: {kasan_reports: {total: 1}}
        """, kasan=ONE_SHOT)
    assert run.error is None, run.error
    r = st(run).reporter
    assert r.suppressed == 1 and r.depth == {reports(run)[0].pid: 0}


def test_16_a_child_inherits_kasan_depth():
    """dup_task_struct copies current->kasan_depth."""
    run = kasan_run("""\
        - kasan_disable_current: {}
        - fork:
            child: kid
            steps:
              - access: {address: 0x2aff888000100000}
        """, kasan=ONE_SHOT)
    assert reports(run) == [] and st(run).reporter.suppressed == 1


def test_16_depth_counts_down_as_v5_14_does():
    run = kasan_run("- kasan_disable_current: {}\n")
    assert list(st(run).reporter.depth.values()) == [-1]


def test_7_1_invalid_free_reports_ignore_depth():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 32}
        - kfree: {name: p}
        - kasan_disable_current: {}
        - kfree_pointer: {object: p}
        - expect: {kasan_reports: {total: 1}}
        """, kasan="{mode: sw_tags}")
    assert reports(run)[0].kind == "double-free or invalid-free"


# -- 17: the memory-state dump -------------------------------------------------------------------

def test_17_memory_state_rows_and_caret():
    addr = 0xFFFF888012345678
    run = kasan_run(f"- access: {{address: {(addr & ~(0xFF << 56)) | (0x2A << 56):#x}}}\n",
                    memory="512 MiB")
    lines = reports(run)[0].lines
    i = lines.index("Memory state around the buggy address:")
    rows = lines[i + 1:i + 7]
    assert [r[:19] for r in rows] == [" ffff888012345400: ", " ffff888012345500: ",
                                      ">ffff888012345600: ", " " * 19, " ffff888012345700: ",
                                      " ffff888012345800: "]
    assert rows[3].index("^") + 1 == 41 and rows[3].strip() == "^"
    assert rows[2] == ">ffff888012345600: " + " ".join(["fe"] * 16)
    assert lines[-1] == "=" * 66


# -- 18, 19: match-all and the poison guard ------------------------------------------------------

def test_18_match_all_is_a_pointer_property_only():
    run = kasan_run("""\
        - kasan_next_tags: {tags: [0x21, 0x21]}
        - kmem_cache_create: {cache: c, size: 64}
        - kmem_cache_alloc: {cache: c, name: p}
        - kasan_poison: {object: p, size: 16, value: 0xff}
        - access: {object: p, caller: match_all_mem_tag}
        - access: {object: p, tag: 0xff}
        """)
    [rep] = reports(run)
    assert rep.memory_tag == 0xFF and rep.pointer_tag == obj(run, "p").addr >> 56


def test_19_misaligned_poison_warns_and_does_nothing():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kasan_poison: {object: p, offset: 8, size: 16, value: 0xfe}
        - read_file: {path: /proc/sys/kernel/tainted, expect: "512\\n"}
        """)
    p = obj(run, "p")
    assert st(run).host.shadow_bytes(p.addr, 2) == bytes([p.addr >> 56]) * 2
    log = "".join(line for _, line in run.machine.kmsg)
    assert "WARNING: CPU: 0 PID: " in log and " at mm/kasan/shadow.c:87 kasan_poison+0x7c/0xa0" in log


# -- 20: the tag generator -----------------------------------------------------------------------

def test_20_prng_range_and_sequence():
    run = kasan_run("- access: {address: 0xffff888000000000, size: 0}\n")
    host = st(run).host
    host.seed_cpu(0, 12345)
    tags = [host.draw(0) for _ in range(100000)]
    assert max(tags) <= 0xFD and min(tags) >= 0
    state = 12345
    for t in tags[:1000]:
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        assert t == state % 254


def test_20_seeded_from_the_machine_seed_not_the_scheduler():
    a = kasan_run(UAF)
    b = kasan_run(UAF)
    assert obj(a, "p").addr == obj(b, "p").addr
    c = kasan_run(UAF, kasan="{mode: sw_tags, seed: 7}")
    assert st(c).host.rng_state(0) != st(a).host.rng_state(0)     # another stream
    # the scheduler's generator (random touch patterns) is not drawn from: turning KASAN on
    # leaves the pages a random touch picks as they were
    touch = """\
        - mmap: {name: heap, length: 4 MiB}
        - touch: {vma: heap, pattern: random, count: 300}
        """
    on, off = kasan_run(touch), kasan_run(touch, kasan="{mode: off}")
    assert on.machine.mmcore.rng == off.machine.mmcore.rng != 0x1234567     # seed 0's start: drawn from


# -- section 8: what is not reported -------------------------------------------------------------

def test_8_not_reported():
    run = kasan_run("""\
        - kmalloc: {name: p, size: 13}
        - access: {object: p, offset: 13, size: 3}
        - access: {object: p, offset: 4096, tag: 0xff}
        - access: {address: 0xffffffff81000000, size: 8}
        - expect: {kasan_reports: {total: 0}}
        """)
    assert st(run).host.stats()["checks"] == 3


def test_no_shadow_below_the_kernel_half():
    run = kasan_run("- access: {address: 0x2a00000000001000, size: 4}\n")
    [rep] = reports(run)
    assert not any(line.startswith("Pointer tag:") for line in rep.lines)
    assert "Memory state around the buggy address:" not in rep.lines


def test_wrapping_access_is_out_of_bounds():
    run = kasan_run("- access: {address: 0xfffffffffffffffc, size: 8}\n")
    assert reports(run)[0].kind == "out-of-bounds"


# -- settings and errors ---------------------------------------------------------------------------

def test_panic_on_warn_stops_the_run_at_the_first_report():
    run = kasan_run(UAF + "- kmalloc: {name: later, size: 8}\n",
                    kasan="{mode: sw_tags, panic_on_warn: true}", ok=False)
    assert isinstance(run.error, KernelPanic) and "panic_on_warn set" in str(run.error)
    assert obj(run, "later") is None
    assert run.machine.kmsg[-1][1] == "Kernel panic - not syncing: panic_on_warn set ..."


def test_panic_on_warn_with_multi_shot_goes_on():
    run = kasan_run(UAF, kasan="{mode: sw_tags, panic_on_warn: true, multi_shot: true}")
    assert len(reports(run)) == 1


def test_v6_18_is_refused():
    with pytest.raises(WorkloadError, match="memsim models KASAN of kernel v5.14 only"):
        kasan_run(UAF, kernel="v6.18")


def test_steps_need_kasan_on():
    run = kasan_run("- kasan_disable_current: {}\n", kasan="{mode: off}", ok=False)
    assert isinstance(run.error, WorkloadError) and "KASAN is off" in str(run.error)


def test_access_without_kasan_checks_nothing():
    run = kasan_run(UAF, kasan="{mode: off}")
    assert "kasan" not in run.machine.plugin_state


@pytest.mark.parametrize("step, message", [
    ("- access: {size: 1}", "give either object or address"),
    ("- access: {address: 0x10, object: p}", "give either object or address"),
    ("- access: {address: 0x10, caller: kmalloc_oob_rigth}", "did you mean 'kmalloc_oob_right'"),
    ("- access: {address: 0x10, tag: 300}", "300"),
    ("- kasan_next_tags: {tags: [256]}", "256"),
])
def test_workload_mistakes(step, message):
    with pytest.raises(WorkloadError, match=message) as exc:
        kasan_run("- kmalloc: {name: p, size: 8}\n" + step + "\n")
    assert re.search(r"test\.yaml:\d+:\d+: ", str(exc.value))


def test_slab_geometry_with_kasan():
    """__kasan_cache_create: each slot grows by kasan_alloc_meta (56 bytes with TAGS_IDENTIFY,
    16 without), aligned to ARCH_SLAB_MINALIGN 16; kmalloc caches of a power-of-two size keep
    their natural alignment (create_boot_cache), so kmalloc-128's slot is 256 bytes."""
    run = kasan_run("- kmalloc: {name: p, size: 100}\n")
    slab = run.machine.slab
    assert slab.kmalloc_cache(100).size == 256 and slab.kmalloc_cache(100).flags & 0x08000000
    assert slab.kmalloc_cache(96).size == 160        # 96 + 56 = 152, 16-aligned
    run = kasan_run("- kmalloc: {name: p, size: 100}\n", kasan="{mode: sw_tags}")
    assert run.machine.slab.kmalloc_cache(96).size == 112      # 96 + 16
    run = kasan_run("- kmalloc: {name: p, size: 100}\n", kasan="{mode: off}")
    assert run.machine.slab.kmalloc_cache(96).size == 96


def test_7_2_zero_filled_ring_quirk():
    """kasan.md 7.2 (a): the free-tag ring starts zero-filled, so an out-of-bounds access
    through a pointer tagged 0x00 into an object never freed is called a use-after-free."""
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - access: {object: p, offset: 64, tag: 0}
        - access: {object: p, offset: 64}
        """)
    assert [r.kind for r in reports(run)] == ["use-after-free", "out-of-bounds"]


def test_7_2_tags_of_earlier_lifetimes_count_as_freed():
    """kasan.md 7.2 (b): the ring keeps the tags of the slot's earlier lives."""
    run = kasan_run("""\
        - kmalloc: {name: p, size: 64}
        - kfree: {name: p}
        - kmalloc: {name: q, size: 64}
        """)
    p, q = obj(run, "p"), obj(run, "q")
    assert untag(q.addr) == untag(p.addr) and p.addr != q.addr
    ptag = p.addr >> 56
    assert not st(run).host.check((untag(q.addr) + 64) & ~(0xFF << 56) | ptag << 56, 1)
    assert [r.kind for r in reports(run)] == ["use-after-free"]


def test_check_finds_slab_pages_without_metadata():
    """The end-of-run --check walks the slab pages: a host that never saw them (not installed)
    has no metadata for their slots."""
    from memsim.plugins.kasan.sw_tags import KasanHost
    run = kasan_run("- kmalloc: {name: p, size: 64}\n")
    assert st(run).host.check_slab_pages() == []
    m = run.machine
    stranger = KasanHost(m.physmem, m.current, 1, 0, True)
    problems = stranger.check_slab_pages()
    assert problems and re.match(r"kasan: slab page 0x[0-9a-f]+ has metadata for 0 of its \d+ objects",
                                 problems[0])
