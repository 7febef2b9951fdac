"""The memcg side of swap accounting (issue 16): the memcg_ops the swap plugin calls --
mem_cgroup_try_charge_swap, mem_cgroup_swapout, mem_cgroup_uncharge_swap (and
mem_cgroup_swapin_uncharge_swap), mem_cgroup_swapin_charge_page, mem_cgroup_swap_full --, the
memcg private id and its references, memory.swap.events / memory.swap.high, and
mem_cgroup_get_nr_swap_pages.  Each test names the swap.md section 10 scenario it covers; the
swap plugin's slots are stood in for by calling the ops from a test step (``t_call``) with the
slot's swap_cgroup record kept by the test."""
import os

import pytest

from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.testing import build_extension, run_text

PAGE = 4096
ENOMEM = 12
CG = "/sys/fs/cgroup"
M1 = "/sys/fs/cgroup/memory"
PROFILES = ("v5.14", "v6.18")
GFP_KERNEL = 0xcc0
HERE = os.path.dirname(os.path.abspath(__file__))


class Calls:
    """The test step ``t_call: {fn: NAME}``: runs the test's function NAME(ctx) as the task,
    so current is the task and its cgroup's memcg is the one charged."""

    def __init__(self, **fns):
        self.fns = fns
        self.vals = {}

    def run(self, ctx, step):
        self.fns[step.args["fn"]](ctx, self.vals)

    @hookimpl
    def memsim_register_steps(self, steps):
        steps.add(StepType("t_call", "a test's call into the memcg swap ops", (
            Param("fn", "str", "the test function", required=True),), self.run, plugin="t"))


def workload(steps, kernel="v5.14", version=2):
    """Every step is one line ``- name: {...}``, whatever its indentation in the test."""
    body = "".join(f"      {line.strip()}\n" for line in steps.splitlines() if line.strip())
    return (f"machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 128 MiB}}]}}\n"
            f"cgroup: {{version: {version}}}\n"
            f"tasks:\n  - name: app\n    cpu: 0\n    steps:\n{body}")


def run(steps, calls, **kw):
    r = run_text(workload(steps, **kw), events=(), plugins=(calls,))
    assert r.error is None, r.error
    return r


def hier(ctx):
    return ctx.machine.plugin_state["memcg"]


def memcg(ctx, path):
    return hier(ctx).cgroup_at(path).memcg


def pfn_of(ctx, vma, offset=0):
    m = ctx.data.mappings[vma]
    return ctx.machine.mmcore.pfn_of(ctx.task.mm, m.start + offset)


def swap_stat(m):
    """MEMCG_SWAP of ``m`` (hierarchical, flushed)."""
    from memsim.plugins.memcg.memcontrol import MEMCG_SWAP
    tree = m.host.stat_tree
    tree.flush(m.stats)
    return tree.read(m.stats, MEMCG_SWAP)


def usage(m, counter):
    return m.counter(counter)["usage"]


def drain(ctx):
    """Every CPU's stock back to the counters, so the counters show the pages themselves."""
    h = hier(ctx).host
    for cpu in range(h.ncpus):
        h.drain_local_stock(cpu)


def read(ctx, path):
    return ctx.machine.vfs.read_file(path).decode()


def in_v2(path):
    return (f"- mkdir: {{path: {CG}/{path}}}\n"
            f"- write_file: {{path: {CG}/{path}/cgroup.procs, data: '0'}}\n")


def in_v1(path):
    return (f"- mkdir: {{path: {M1}/{path}}}\n"
            f"- write_file: {{path: {M1}/{path}/cgroup.procs, data: '0'}}\n")


TOUCH = "- mmap: {name: buf, length: 16 KiB}\n- touch: {vma: buf}\n"


# -- v2: the swap charge at slot allocation (scenarios 2 and 3) -----------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_2_v2_try_charge_swap_charges_the_pages_memcg_and_returns_its_id(kernel):
    """swap.md scenario 2: right after add_to_swap memory.swap.current is 4096, the record is
    A's id, A's MEMCG_SWAP is 1 and memory.current still holds the page; freeing the slot
    (uncharge_swap) gives it all back."""
    def charge(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        drain(ctx)
        v["mem"] = usage(a, "memory")
        v["id"] = h.try_charge_swap_py(pfn_of(ctx, "buf"), 1)
        assert v["id"] == a.id and h.from_id(v["id"]) is a
        assert usage(a, "swap") == 1 and swap_stat(a) == 1 and swap_stat(h.root) == 1
        assert h.id_refs(a) == 2                         # online + the slot
        assert usage(a, "memory") == v["mem"]            # the page is still charged

    def free_slot(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        assert h.uncharge_swap_py(v["id"], 1) == 1
        assert usage(a, "swap") == 0 and swap_stat(a) == 0 and h.id_refs(a) == 1
        assert usage(a, "memory") == v["mem"]

    run(in_v2("a") + TOUCH + f"""\
        - t_call: {{fn: charge}}
        - expect: {{file: {{path: {CG}/a/memory.swap.current, equals: "4096\\n"}}}}
        - expect: {{file: {{path: {CG}/a/memory.swap.events, equals: "high 0\\nmax 0\\nfail 0\\n"}}}}
        - t_call: {{fn: free_slot}}
        - expect: {{file: {{path: {CG}/a/memory.swap.current, equals: "0\\n"}}}}
        """, Calls(charge=charge, free_slot=free_slot), kernel=kernel)


def _nested_v2(extra=""):
    """a with memory enabled for its children, the task in a/b."""
    return (f"- mkdir: {{path: {CG}/a}}\n"
            f"- write_file: {{path: {CG}/a/cgroup.subtree_control, data: '+memory'}}\n"
            + in_v2("a/b") + extra)


@pytest.mark.parametrize("limit_on", ["a/b", "a"])
def test_scenario_3_v2_swap_max_refuses_the_second_page_and_counts_max_and_fail_up_the_tree(limit_on):
    """swap.md scenario 3: swap.max of one page (on the memcg itself or its parent): the first
    page's charge fits, the second is refused with -ENOMEM -- memory.swap.events max 1 fail 1
    in b and, hierarchically, in a -- and nothing of it is charged or recorded."""
    def charge(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), memcg(ctx, "a/b")
        assert h.try_charge_swap_py(pfn_of(ctx, "buf"), 1) == b.id
        assert h.try_charge_swap_py(pfn_of(ctx, "buf", PAGE), 1) == -ENOMEM
        assert usage(b, "swap") == 1 and usage(a, "swap") == 1 and swap_stat(b) == 1
        assert h.id_refs(b) == 2                         # only the first page's slot
        assert b.swap_events() == {"high": 0, "max": 1, "fail": 1}
        assert b.swap_events(local=True) == {"high": 0, "max": 1, "fail": 1}
        assert a.swap_events() == {"high": 0, "max": 1, "fail": 1}
        assert a.swap_events(local=True) == {"high": 0, "max": 0, "fail": 0}
        assert b.memory_events()["max"] == 0             # memory.events are apart

    events = '"high 0\\nmax 1\\nfail 1\\n"'
    run(_nested_v2(f"- write_file: {{path: {CG}/{limit_on}/memory.swap.max, data: '4096'}}\n")
        + TOUCH + f"""\
        - t_call: {{fn: charge}}
        - expect: {{file: {{path: {CG}/a/b/memory.swap.events, equals: {events}}}}}
        - expect: {{file: {{path: {CG}/a/memory.swap.events, equals: {events}}}}}
        - expect: {{file: {{path: {CG}/a/b/memory.swap.current, equals: "4096\\n"}}}}
        """, Calls(charge=charge))


def test_no_slot_counts_fail_on_the_pages_own_memcg_and_charges_nothing():
    """mem_cgroup_try_charge_swap() with no entry (get_swap_page found no slot): swap.events
    ``fail`` of the page's memcg (and hierarchically its parent), 0 returned, nothing charged;
    cgroup v1 and an uncharged page return 0 with no event."""
    def charge(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), memcg(ctx, "a/b")
        assert h.try_charge_swap_py(pfn_of(ctx, "buf"), 0) == 0
        assert b.swap_events() == {"high": 0, "max": 0, "fail": 1}
        assert a.swap_events() == {"high": 0, "max": 0, "fail": 1}
        assert usage(b, "swap") == 0 and swap_stat(b) == 0 and h.id_refs(b) == 1
        pfn = ctx.machine.physmem.alloc()                # uncharged: nothing to record
        assert h.try_charge_swap_py(pfn, 1) == 0 and h.try_charge_swap_py(pfn, 0) == 0
        ctx.machine.physmem.put(pfn)

    run(_nested_v2() + TOUCH + "- t_call: {fn: charge}\n", Calls(charge=charge))


# -- v1: the memsw charge moves to the slot at swap-out (scenario 4) ----------------------------------

def _swapin_charged_page(ctx, id=0):
    """A page charged as a swapped-in page (mem_cgroup_swapin_charge_page): off the LRU and
    unmapped, as mem_cgroup_swapout() finds its page."""
    pm = ctx.machine.physmem
    pfn = pm.alloc()
    assert pm.swapin_charge(pfn, None, GFP_KERNEL, id) == 0
    return pfn


@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_4_v1_swapout_moves_the_memsw_charge_from_the_page_to_its_slot(kernel):
    """swap.md scenario 4: memory 0, memsw 1, MEMCG_SWAP 1 (memory.stat ``swap 4096``), the
    record A's id, memcg_data 0, PGPGOUT; try_charge_swap does nothing on v1."""
    def swapout(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        pm = ctx.machine.physmem
        pfn = _swapin_charged_page(ctx)
        drain(ctx)
        assert (usage(a, "memory"), usage(a, "memsw")) == (1, 1)
        assert h.try_charge_swap_py(pfn, 1) == 0         # v1: nothing at add_to_swap
        refs = a.css_refs
        v["id"] = h.swapout_py(pfn, 1)
        assert v["id"] == a.id
        assert (usage(a, "memory"), usage(a, "memsw")) == (0, 1)
        assert swap_stat(a) == 1 and h.id_refs(a) == 2
        assert pm.page_info(pfn)["memcg_data"] == 0 and h.page_memcg(pfn) is None
        assert a.css_refs == refs - 1                    # the page's css reference
        assert h.swapout_py(pfn, 1) == 0                 # no memcg left on it
        pm.put(pfn)                                      # freed: nothing to uncharge
        assert (usage(a, "memory"), usage(a, "memsw")) == (0, 1)

    def free_slot(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        assert h.uncharge_swap_py(v["id"], 1) == 1
        assert (usage(a, "memory"), usage(a, "memsw")) == (0, 0)
        assert swap_stat(a) == 0 and h.id_refs(a) == 1

    run(in_v1("a") + f"""\
        - t_call: {{fn: swapout}}
        - expect: {{file: {{path: {M1}/a/memory.stat, contains: "\\nswap 4096\\n"}}}}
        - expect: {{file: {{path: {M1}/a/memory.stat, contains: "\\ntotal_swap 4096\\n"}}}}
        - expect: {{file: {{path: {M1}/a/memory.memsw.usage_in_bytes, equals: "4096\\n"}}}}
        - expect: {{file: {{path: {M1}/a/memory.usage_in_bytes, equals: "0\\n"}}}}
        - t_call: {{fn: free_slot}}
        - expect: {{file: {{path: {M1}/a/memory.stat, contains: "\\nswap 0\\n"}}}}
        """, Calls(swapout=swapout, free_slot=free_slot), kernel=kernel, version=1)


def test_scenario_4_v1_swapout_of_a_removed_child_charges_the_parent_whose_id_lives():
    """mem_cgroup_swapout() when the page's memcg went offline and its id is gone
    (mem_cgroup_id_get_online): the parent takes the slot -- its memsw charged, the child's
    uncharged, MEMCG_SWAP on the parent -- and the child, its last page gone, is freed."""
    def charge(ctx, v):
        v["pfn"] = _swapin_charged_page(ctx)

    def swapout(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), v["b"]
        assert not b.online and h.id_refs(b) == 0 and h.from_id(b.id) is None
        assert not b.freed                               # its page pins it
        drain(ctx)
        assert [usage(m, c) for m in (a, b) for c in ("memory", "memsw")] == [1, 1, 1, 1]
        assert h.swapout_py(v["pfn"], 1) == a.id
        assert [usage(m, c) for m in (a, b) for c in ("memory", "memsw")] == [0, 1, 0, 0]
        assert swap_stat(a) == 1 and h.id_refs(a) == 2
        assert b.freed
        ctx.machine.physmem.put(v["pfn"])
        assert h.uncharge_swap_py(a.id, 1) == 1
        assert usage(a, "memsw") == 0 and swap_stat(a) == 0 and h.id_refs(a) == 1

    def keep_b(ctx, v):
        v["b"] = memcg(ctx, "a/b")

    calls = Calls(charge=charge, swapout=swapout, keep_b=keep_b)
    run(in_v1("a") + in_v1("a/b") + f"""\
        - t_call: {{fn: charge}}
        - t_call: {{fn: keep_b}}
        - write_file: {{path: {M1}/a/cgroup.procs, data: '0'}}
        - rmdir: {{path: {M1}/a/b}}
        - t_call: {{fn: swapout}}
        """, calls, version=1)


def test_v2_swapout_does_nothing():
    """mem_cgroup_swapout() returns at once on cgroup v2: the page keeps its charge."""
    def swapout(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        pfn = pfn_of(ctx, "buf")
        data = ctx.machine.physmem.page_info(pfn)["memcg_data"]
        assert h.swapout_py(pfn, 1) == 0
        assert ctx.machine.physmem.page_info(pfn)["memcg_data"] == data == a.id << 2
        assert swap_stat(a) == 0 and h.id_refs(a) == 1

    run(in_v2("a") + TOUCH + "- t_call: {fn: swapout}\n", Calls(swapout=swapout))


# -- swap-in: whom the page is charged to (scenario 9) and the v1 duplicate (scenario 6) -------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_9_swapin_charges_the_recorded_memcg_while_online_else_the_faulting_one(kernel):
    """mem_cgroup_swapin_charge_page(): the slot's record names B; while B is online the new
    page is charged to B (though the task is in A); once B is removed (its id alive for the
    slot) to the task's memcg A -- with an mm its owner's, without one current's; the swap
    charge stays on B until the slot is freed."""
    def record(ctx, v):
        h, b = hier(ctx).host, memcg(ctx, "b")
        v["b"] = b
        v["id"] = h.try_charge_swap_py(pfn_of(ctx, "buf"), 1)
        assert v["id"] == b.id

    def swapin_online(ctx, v):
        h, b = hier(ctx).host, v["b"]
        pfn = _swapin_charged_page(ctx, v["id"])
        assert h.page_memcg(pfn) is b
        ctx.machine.physmem.put(pfn)

    def swapin_offline(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), v["b"]
        pm = ctx.machine.physmem
        assert not b.online and h.id_refs(b) == 1 and h.from_id(v["id"]) is b
        for mm in (None, ctx.task.mm):
            pfn = pm.alloc()
            assert pm.swapin_charge(pfn, mm, GFP_KERNEL, v["id"]) == 0
            assert h.page_memcg(pfn) is a
            pm.put(pfn)
        assert usage(b, "swap") == 1 and swap_stat(b) == 1
        assert h.uncharge_swap_py(v["id"], 1) == 1
        assert usage(b, "swap") == 0 and h.id_refs(b) == 0 and h.from_id(v["id"]) is None

    calls = Calls(record=record, swapin_online=swapin_online, swapin_offline=swapin_offline)
    run(f"- mkdir: {{path: {CG}/a}}\n" + in_v2("b") + TOUCH + f"""\
        - t_call: {{fn: record}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - t_call: {{fn: swapin_online}}
        - rmdir: {{path: {CG}/b}}
        - t_call: {{fn: swapin_offline}}
        """, calls, kernel=kernel)


@pytest.mark.parametrize("kernel", PROFILES)
def test_scenario_6_v1_swapin_uncharge_drops_the_slots_duplicate_memsw_charge(kernel):
    """swap.md scenario 6 / 6.2: after swap-out (memsw 1 on the slot) the swapped-in page is
    charged (memory 1, memsw 2), then mem_cgroup_swapin_uncharge_swap(): memsw back to 1,
    MEMCG_SWAP 0, the slot's id reference dropped, 1 returned (the caller clears the record)."""
    def go(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        pm = ctx.machine.physmem
        old = _swapin_charged_page(ctx)
        id = h.swapout_py(old, 1)
        pm.put(old)
        new = _swapin_charged_page(ctx, id)
        assert h.page_memcg(new) is a
        drain(ctx)
        assert (usage(a, "memory"), usage(a, "memsw"), swap_stat(a), h.id_refs(a)) == (1, 2, 1, 2)
        assert h.uncharge_swap_py(id, 1, swapin=True) == 1
        assert (usage(a, "memory"), usage(a, "memsw"), swap_stat(a), h.id_refs(a)) == (1, 1, 0, 1)
        pm.put(new)
        assert (usage(a, "memory"), usage(a, "memsw")) == (0, 0)

    run(in_v1("a") + "- t_call: {fn: go}\n", Calls(go=go), kernel=kernel, version=1)


def test_v2_swapin_uncharge_is_a_no_op_and_v1_without_swap_accounting_too():
    """mem_cgroup_swapin_uncharge_swap() only acts with v1 memory+swap accounting: on v2 it
    returns 0 and the slot keeps its swap charge, MEMCG_SWAP and id reference."""
    def go(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        id = h.try_charge_swap_py(pfn_of(ctx, "buf"), 1)
        new = _swapin_charged_page(ctx, id)
        assert h.uncharge_swap_py(id, 1, swapin=True) == 0
        assert (usage(a, "swap"), swap_stat(a), h.id_refs(a)) == (1, 1, 2)
        ctx.machine.physmem.put(new)
        assert h.uncharge_swap_py(id, 1) == 1
        assert (usage(a, "swap"), swap_stat(a), h.id_refs(a)) == (0, 0, 1)

    run(in_v2("a") + TOUCH + "- t_call: {fn: go}\n", Calls(go=go))

    def go_v1(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        assert not h.memsw
        old = _swapin_charged_page(ctx)
        id = h.swapout_py(old, 1)                        # memory uncharged, no memsw to move
        ctx.machine.physmem.put(old)
        assert id == a.id and swap_stat(a) == 1
        assert h.uncharge_swap_py(id, 1, swapin=True) == 0
        assert swap_stat(a) == 1 and h.id_refs(a) == 2
        assert h.uncharge_swap_py(id, 1) == 1
        assert swap_stat(a) == 0 and h.id_refs(a) == 1

    text = workload(in_v1("a") + "- t_call: {fn: go_v1}\n", version=1).replace(
        "cgroup: {version: 1}", "cgroup: {version: 1, swap_account: false}")
    r = run_text(text, events=(), plugins=(Calls(go_v1=go_v1),))
    assert r.error is None, r.error


# -- the private id keeps an offline memcg dying -----------------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_an_offline_memcg_with_recorded_slots_stays_dying_until_the_last_is_uncharged(kernel):
    """Each recorded slot holds a reference on the memcg's private id, and the id one on its
    css (mem_cgroup_id_get_many / mem_cgroup_id_put_many): removed with two slots recorded and
    no page left, B is dying (cgroup.stat nr_dying_descendants 1) until uncharge_swap drops the
    last id reference; the id then is gone and B freed."""
    def record(ctx, v):
        h, b = hier(ctx).host, memcg(ctx, "b")
        v["b"] = b
        v["id"] = h.try_charge_swap_py(pfn_of(ctx, "buf"), 2)   # a 2-slot record (THP-sized)
        assert v["id"] == b.id and h.id_refs(b) == 3 and usage(b, "swap") == 2

    def drain_lru(ctx, v):
        ctx.machine.physmem.lru_add_drain_py(True)       # the unmapped pages' last references

    def first(ctx, v):
        h, b = hier(ctx).host, v["b"]
        assert not b.online and not b.freed and h.id_refs(b) == 2
        assert h.uncharge_swap_py(v["id"], 1) == 1
        assert not b.freed and h.id_refs(b) == 1 and h.from_id(v["id"]) is b

    def last(ctx, v):
        h, b = hier(ctx).host, v["b"]
        assert h.uncharge_swap_py(v["id"], 1) == 1
        assert b.freed and h.id_refs(b) == 0 and h.from_id(v["id"]) is None and h.get(v["id"]) is None

    calls = Calls(record=record, drain_lru=drain_lru, first=first, last=last)
    run(in_v2("b") + TOUCH + f"""\
        - t_call: {{fn: record}}
        - munmap: {{vma: buf}}
        - t_call: {{fn: drain_lru}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {CG}/b}}
        - expect: {{file: {{path: {CG}/cgroup.stat, contains: "nr_dying_descendants 1\\n"}}}}
        - t_call: {{fn: first}}
        - expect: {{file: {{path: {CG}/cgroup.stat, contains: "nr_dying_descendants 1\\n"}}}}
        - t_call: {{fn: last}}
        - expect: {{file: {{path: {CG}/cgroup.stat, contains: "nr_dying_descendants 0\\n"}}}}
        """, calls, kernel=kernel)


def test_without_recorded_slots_rmdir_removes_the_id_at_once():
    """mem_cgroup_css_offline()'s mem_cgroup_id_put(): the online reference was the last, so the
    id goes at offline and a later swap-out of the memcg's page (v2) charges the parent."""
    def go(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), v["b"]
        assert not b.online and h.id_refs(b) == 0 and h.from_id(b.id) is None
        assert h.try_charge_swap_py(v["pfn"], 1) == a.id
        assert usage(a, "swap") == 1 and usage(b, "swap") == 0 and h.id_refs(a) == 2
        assert h.uncharge_swap_py(a.id, 1) == 1

    def keep(ctx, v):
        v["b"] = memcg(ctx, "a/b")
        v["pfn"] = pfn_of(ctx, "buf")

    run(_nested_v2(TOUCH) + f"""\
        - t_call: {{fn: keep}}
        - write_file: {{path: {CG}/cgroup.procs, data: '0'}}
        - rmdir: {{path: {CG}/a/b}}
        - t_call: {{fn: go}}
        """, Calls(go=go, keep=keep))


# -- mem_cgroup_swap_full ---------------------------------------------------------------------------

def test_swap_full_at_half_of_swap_high_or_swap_max_on_any_level_below_the_root():
    """mem_cgroup_swap_full()'s memcg part (v2): usage * 2 >= swap.high or swap.max of the
    page's memcg or a non-root ancestor."""
    def go(ctx, v):
        h, a, b = hier(ctx).host, memcg(ctx, "a"), memcg(ctx, "a/b")
        pfn = pfn_of(ctx, "buf")
        assert not h.swap_full_py(pfn)
        b.set_counter("swap", "max", 4)
        assert h.try_charge_swap_py(pfn, 1) == b.id
        assert not h.swap_full_py(pfn)                   # 2 < 4
        assert h.try_charge_swap_py(pfn, 1) == b.id
        assert h.swap_full_py(pfn)                       # 4 >= 4
        b.set_counter("swap", "max", 5)
        assert not h.swap_full_py(pfn)
        b.set_counter("swap", "high", 4)
        assert h.swap_full_py(pfn)                       # swap.high counts too
        b.set_counter("swap", "high", 5)
        a.set_counter("swap", "max", 4)
        assert h.swap_full_py(pfn)                       # the parent's limit
        a.set_counter("swap", "max", 5)
        assert not h.swap_full_py(pfn)
        assert not h.swap_full_py(ctx.machine.physmem.alloc())  # an uncharged page
        h.uncharge_swap_py(b.id, 2)

    run(_nested_v2(TOUCH) + "- t_call: {fn: go}\n", Calls(go=go))

    def go_v1(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        pfn = pfn_of(ctx, "buf")
        a.set_counter("memsw", "max", 1)
        assert not h.swap_full_py(pfn)                   # v1: never the memcg's

    run(in_v1("a") + TOUCH + "- t_call: {fn: go_v1}\n", Calls(go_v1=go_v1), version=1)


# -- the files --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_swap_files_text_and_bad_input(kernel):
    """swap_high_show / swap_high_write (v5.8+: "max" or a size, page_counter_memparse),
    swap_events_show (high, max, fail in both profiles); memory.swap.peak is not offered (memsim
    has no memory.peak); the root has none of them."""
    run(in_v2("a") + f"""\
        - expect: {{file: {{path: {CG}/a/memory.swap.high, equals: "max\\n"}}}}
        - expect: {{file: {{path: {CG}/a/memory.swap.events, equals: "high 0\\nmax 0\\nfail 0\\n"}}}}
        - write_file: {{path: {CG}/a/memory.swap.high, data: 1M}}
        - expect: {{file: {{path: {CG}/a/memory.swap.high, equals: "1048576\\n"}}}}
        - write_file: {{path: {CG}/a/memory.swap.high, data: "6000"}}
        - expect: {{file: {{path: {CG}/a/memory.swap.high, equals: "4096\\n"}}}}
        - write_file: {{path: {CG}/a/memory.swap.high, data: max}}
        - expect: {{file: {{path: {CG}/a/memory.swap.high, equals: "max\\n"}}}}
        - write_file: {{path: {CG}/a/memory.swap.high, data: "-1"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/memory.swap.high, data: abc}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/a/memory.swap.events, data: "0"}}
        - expect: {{errno: EINVAL}}
        - read_file: {{path: {CG}/a/memory.swap.peak}}
        - expect: {{errno: ENOENT}}
        - read_file: {{path: {CG}/memory.swap.events}}
        - expect: {{errno: ENOENT}}
        - read_file: {{path: {CG}/memory.swap.high}}
        - expect: {{errno: ENOENT}}
        """, Calls(), kernel=kernel)


def test_over_swap_high_the_return_to_user_mode_counts_high_and_throttles():
    """try_charge_memcg() also marks the task when swap usage is over memory.swap.high, and
    mem_cgroup_handle_over_high() adds calculate_high_delay() of swap_find_max_overage(),
    which counts memory.swap.events ``high`` on each level over it."""
    def over(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        assert h.try_charge_swap_py(pfn_of(ctx, "buf"), 2) == a.id
        a.set_counter("swap", "high", 1)                 # 100% over
        v["t0"] = ctx.machine.clock.now

    def check(ctx, v):
        h, a = hier(ctx).host, memcg(ctx, "a")
        assert a.swap_events()["high"] >= 1
        assert a.memory_events()["high"] == 0
        assert ctx.machine.clock.now - v["t0"] >= 10_000_000    # slept more than 10 ms
        h.uncharge_swap_py(a.id, 2)

    run(in_v2("a") + "- mmap: {name: buf, length: 1 MiB}\n- touch: {vma: buf, length: 4 KiB}\n"
        "- t_call: {fn: over}\n- touch: {vma: buf, offset: 4 KiB, length: 512 KiB}\n"
        "- t_call: {fn: check}\n", Calls(over=over, check=check))


# -- mem_cgroup_get_nr_swap_pages ------------------------------------------------------------------

@pytest.fixture(scope="module")
def swapslots(tmp_path_factory):
    """A Cython test module that fills swap_ops.swap_out and nr_swap_pages."""
    return build_extension(os.path.join(HERE, "swapslots", "swapslots.pyx"),
                           tmp_path_factory.mktemp("swapslots-build"))


def test_get_nr_swap_pages_is_the_smallest_swap_headroom_below_the_root(swapslots):
    """mem_cgroup_get_nr_swap_pages(): 0 without swap (no swap-out op); the global free slots
    (get_nr_swap_pages(); a NULL op: unlimited) for the root, and on v2 limited by each
    non-root level's swap.max - swap usage; v1 the global count alone."""
    INF = (1 << 63) - 1

    def go(ctx, v):
        rc = hier(ctx).reclaim
        h, a, b = hier(ctx).host, memcg(ctx, "a"), memcg(ctx, "a/b")
        core = ctx.machine.mmcore
        seen = v.setdefault("seen", [])
        a.set_counter("swap", "max", 10)
        b.set_counter("swap", "max", 20)
        assert h.try_charge_swap_py(pfn_of(ctx, "buf"), 3) == b.id
        for free in ("none", None, 5, 0):
            if free == "none":
                swapslots.remove(core)
            else:
                swapslots.install(core, free)
            seen.append((rc.get_nr_swap_pages(b), rc.get_nr_swap_pages(a), rc.get_nr_swap_pages()))
        swapslots.remove(core)
        b.set_counter("swap", "max", 0)                  # usage above max: negative headroom
        swapslots.install(core, None)
        seen.append((rc.get_nr_swap_pages(b),))
        swapslots.remove(core)
        h.uncharge_swap_py(b.id, 3)

    calls = Calls(go=go)
    run(_nested_v2(TOUCH) + "- t_call: {fn: go}\n", calls)
    assert calls.vals["seen"] == [(0, 0, 0), (7, 7, INF), (5, 5, 5), (0, 0, 0), (-3,)]

    def go_v1(ctx, v):
        rc = hier(ctx).reclaim
        a = memcg(ctx, "a")
        a.set_counter("memsw", "max", 1)
        swapslots.install(ctx.machine.mmcore, 9)
        v["v1"] = rc.get_nr_swap_pages(a)
        swapslots.remove(ctx.machine.mmcore)

    calls = Calls(go_v1=go_v1)
    run(in_v1("a") + "- t_call: {fn: go_v1}\n", calls, version=1)
    assert calls.vals["v1"] == 9
