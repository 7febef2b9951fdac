"""Reclaim from memory cgroups (plugins/memcg/reclaim.pyx with memsim/vmscan.pyx): a memcg's own
lruvecs, memcg limit reclaim (try_to_free_mem_cgroup_pages from try_charge_memcg, memory.high's
handle_over_high and the memory.max / memory.high writes) and memory.min / memory.low
protection of global and limit reclaim, as mm/vmscan.c and mm/memcontrol.c of v5.14 have them
(memcg.md 4.1 and 7.1; v6.18's differences are profile data)."""
import textwrap

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from memsim.testing import run_text, task_summary, trace_text

PROFILES = ("v5.14", "v6.18")
CG = "/sys/fs/cgroup"
PAGE = 4096


def workload(steps, kernel="v5.14", cpus=2, memory="256 MiB", quantum=""):
    body = textwrap.indent(textwrap.dedent(steps), "      ")
    q = f", quantum: {quantum}" if quantum else ""
    return (f"machine: {{cpus: {cpus}, kernel: {kernel}, nodes: [{{memory: {memory}}}]{q}}}\n"
            f"cgroup: {{version: 2}}\n"
            f"tasks:\n  - name: app\n    cpu: 0\n    steps:\n{body}")


def run(text, events=()):
    r = run_text(text, events=events)          # check=True: --check after every slice
    assert r.error is None, r.error
    return r


def memcg(r, path):
    return r.machine.plugin_state["memcg"].cgroup_at(path).memcg


def reclaim(r):
    return r.machine.plugin_state["memcg"].reclaim


def event(r, name):
    """A /proc/vmstat event, summed over the CPUs."""
    from memsim.vmstat import VM_EVENT_NAMES
    return r.machine.physmem.vmstat.vm_event(VM_EVENT_NAMES.index(name))


# -- memcg limit reclaim -----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", PROFILES)
def test_limit_reclaim_of_page_cache_keeps_usage_under_max_without_oom(kernel):
    """memcg.md 4.1: a charge past memory.max counts ``max`` and reclaims from the memcg's own
    LRU (try_to_free_mem_cgroup_pages); a 4 MiB file read under a 1 MiB limit never OOMs and
    memory.current stays at most 1 MiB.  The reclaim is the memcg's (pgscan / pgsteal in its
    memory.stat; no allocstall, no global pgsteal_direct), between
    mm_vmscan_memcg_reclaim_begin and _end."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.max, data: 1M}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - mmap: {{name: d, length: 4 MiB, type: file, file: data.bin, prot: r}}
        - touch: {{vma: d, access: read}}
        - munmap: {{vma: d}}
        - expect: {{file: {{path: {CG}/a/memory.events, fields: {{oom: 0, oom_kill: 0}}}}}}
        """, kernel=kernel), events=("vmscan:mm_vmscan_memcg_reclaim_*",))
    a = memcg(r, "a")
    c = a.counter("memory")
    assert c["usage"] <= 256 and c["watermark"] <= 256 and c["max"] == 256
    assert a.memory_events()["max"] > 0
    assert task_summary(r, "app")["killed_by"] is None
    assert event(r, "pgsteal_direct") == 0 and event(r, "allocstall_movable") == 0
    assert event(r, "pgsteal_file") >= 1024 - 256
    lines = [l for l in trace_text(r).splitlines() if "memcg_reclaim" in l]
    begins = [l for l in lines if "memcg_reclaim_begin" in l]
    ends = [l for l in lines if "memcg_reclaim_end" in l]
    assert len(begins) == len(ends) == a.memory_events()["max"]
    assert begins[0].endswith("mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE")
    assert sum(int(l.rsplit("=", 1)[1]) for l in ends) >= 1024 - 256
    # the memcg's lruvec holds its cache (the rest of its usage is the CPU's charge stock and
    # the lru_add batch); the root's, the node's own, does not
    sizes = reclaim(r).lru_sizes(a)
    assert 0 < sizes[2] + sizes[3] <= c["usage"]
    assert r.machine.physmem.lru_sizes(0)[2] + r.machine.physmem.lru_sizes(0)[3] < 1024 - 256


def test_anonymous_memory_without_swap_still_ends_in_the_memcg_oom_killer():
    """Anonymous pages cannot be reclaimed without swap (get_scan_count: SCAN_FILE, and the
    memcg has no file pages): each reclaim round gives back nothing, then the memcg OOM killer
    kills the task, as before memcg reclaim existed."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.max, data: 40960}}
        - fork:
            child: hog
            steps:
              - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
              - mmap: {{name: buf, length: 44 KiB}}
              - touch: {{vma: buf}}
        - sleep: {{duration: 10 ms}}
        - expect: {{file: {{path: {CG}/a/memory.events, fields: {{oom: 1, oom_kill: 1}}}}}}
        """), events=("vmscan:mm_vmscan_memcg_reclaim_end",))
    assert task_summary(r, "hog")["killed_by"] == "SIGKILL"
    ends = [l for l in trace_text(r).splitlines() if "memcg_reclaim_end" in l]
    assert ends and all(l.endswith("nr_reclaimed=0") for l in ends)


@pytest.mark.parametrize("kernel", PROFILES)
def test_a_memory_max_write_below_usage_reclaims_page_cache_instead_of_killing(kernel):
    """memory_max_write(): drain the stocks, then reclaim the excess; page cache goes, nobody is
    killed, no ``oom`` event, and the write takes effect."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - mmap: {{name: d, length: 4 MiB, type: file, file: data.bin, prot: r}}
        - touch: {{vma: d, access: read}}
        - munmap: {{vma: d}}
        - expect: {{file: {{path: {CG}/a/memory.stat, fields: {{file: 4194304}}}}}}
        - write_file: {{path: {CG}/a/memory.max, data: 1M}}
        - expect: {{file: {{path: {CG}/a/memory.events, fields: {{max: 0, oom: 0, oom_kill: 0}}}}}}
        - expect: {{file: {{path: {CG}/a/memory.max, equals: "1048576\\n"}}}}
        """, kernel=kernel))
    assert memcg(r, "a").counter("memory")["usage"] <= 256


def test_a_memory_high_write_reclaims_down_to_high():
    """memory_high_write(): drain once, then reclaim the excess until usage fits."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - mmap: {{name: d, length: 2 MiB, type: file, file: data.bin, prot: r}}
        - touch: {{vma: d, access: read}}
        - munmap: {{vma: d}}
        - write_file: {{path: {CG}/a/memory.high, data: 512K}}
        - expect: {{file: {{path: {CG}/a/memory.events, fields: {{high: 0, max: 0}}}}}}
        """))
    assert memcg(r, "a").counter("memory")["usage"] <= 128


@pytest.mark.parametrize("kernel", PROFILES)
def test_over_memory_high_the_return_to_user_mode_reclaims_the_cache(kernel):
    """mem_cgroup_handle_over_high() -> reclaim_high(): a task reading 4 MiB of file under a
    1 MiB memory.high counts ``high`` and reclaims its own cache on each return to user mode,
    so usage stays near high (at most one charge batch above it) and it is hardly throttled:
    no ``max``, no OOM."""
    batch = 32 if kernel == "v5.14" else 64
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.high, data: 1M}}
        - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
        - mmap: {{name: d, length: 4 MiB, type: file, file: data.bin, prot: r}}
        - touch: {{vma: d, access: read}}
        """, kernel=kernel))
    a = memcg(r, "a")
    ev = a.memory_events()
    assert ev["high"] > 0 and ev["max"] == 0 and ev["oom"] == 0
    assert a.counter("memory")["usage"] <= 256 + batch
    assert r.machine.clock.now < 1_000_000_000          # no 2 s penalties: reclaim kept up


# -- memory.min and memory.low -------------------------------------------------------------------------

def _protected_vs_streamer(knob, value, kernel="v5.14"):
    """``prot`` holds 8 MiB of mapped file cache with memory.<knob> = value; a task in
    ``other`` streams 256 MiB of file through the 64 MiB machine: global reclaim (kswapd and
    direct) walks every memcg's lruvec."""
    return workload(f"""\
        - mkdir: {{path: {CG}/prot}}
        - write_file: {{path: {CG}/prot/memory.{knob}, data: {value}}}
        - mkdir: {{path: {CG}/other}}
        - fork:
            child: keeper
            cpu: 0
            steps:
              - write_file: {{path: {CG}/prot/cgroup.procs, data: '0'}}
              - mmap: {{name: d, length: 8 MiB, type: file, file: keep.bin, prot: r}}
              - touch: {{vma: d, access: read}}
              - sleep: {{duration: 1 s}}
        - sleep: {{duration: 10 ms}}
        - fork:
            child: streamer
            cpu: 1
            steps:
              - write_file: {{path: {CG}/other/cgroup.procs, data: '0'}}
              - mmap: {{name: s, length: 256 MiB, type: file, file: stream.bin, prot: r}}
              - touch: {{vma: s, access: read}}
        - sleep: {{duration: 2 s}}
        """, kernel=kernel, memory="64 MiB", quantum=32)


@pytest.mark.parametrize("kernel", PROFILES)
def test_memory_min_protects_a_cgroup_from_global_reclaim(kernel):
    """shrink_node_memcgs(): a memcg whose usage is within its effective memory.min
    (mem_cgroup_below_min) is skipped; its 2048 cached pages all survive the streamer's
    reclaim, and nothing of its lruvec is even scanned.  Without memory.min the same run
    reclaims most of them."""
    r = run(_protected_vs_streamer("min", "12M", kernel))
    prot = memcg(r, "prot")
    # its 2048 cache pages, and the kernel memory (page tables, slab) charged with them
    assert prot.counter("memory")["usage"] >= 2048
    assert reclaim(r).lru_sizes(prot)[2] + reclaim(r).lru_sizes(prot)[3] == 2048
    assert reclaim(r).protection(prot) == (3072, 0)
    assert event(r, "pgsteal_kswapd") + event(r, "pgsteal_direct") > 10000
    r0 = run(_protected_vs_streamer("min", "0", kernel))
    assert memcg(r0, "prot").counter("memory")["usage"] < 1024


def test_memory_low_protects_while_others_are_reclaimable_and_counts_no_low_event():
    """Below its memory.low a memcg is skipped as long as other memcgs give pages (the first
    pass); memory.events ``low`` counts only breaches, so it stays 0."""
    r = run(_protected_vs_streamer("low", "12M"))
    prot = memcg(r, "prot")
    assert reclaim(r).lru_sizes(prot)[2] + reclaim(r).lru_sizes(prot)[3] == 2048
    assert prot.memory_events()["low"] == 0


@pytest.mark.parametrize("kernel", PROFILES)
def test_memory_low_is_breached_when_nothing_else_is_reclaimable_and_low_is_counted(kernel):
    """Limit reclaim of P (memory.max 4 MiB): child A's page cache is below A's memory.low, and
    B's anonymous memory cannot be reclaimed (no swap).  The first pass skips A
    (sc->memcg_low_skipped), reclaims nothing, and do_try_to_free_pages retries with
    memcg_low_reclaim: A's cache goes, memory.events ``low`` counts (locally in A,
    hierarchically in A and P), and B's charge succeeds without an OOM."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/p}}
        - write_file: {{path: {CG}/p/cgroup.subtree_control, data: "+memory"}}
        - mkdir: {{path: {CG}/p/a}}
        - mkdir: {{path: {CG}/p/b}}
        - write_file: {{path: {CG}/p/memory.max, data: 4M}}
        - write_file: {{path: {CG}/p/a/memory.low, data: 4M}}
        - fork:
            child: cache
            steps:
              - write_file: {{path: {CG}/p/a/cgroup.procs, data: '0'}}
              - mmap: {{name: d, length: 2 MiB, type: file, file: data.bin, prot: r}}
              - touch: {{vma: d, access: read}}
              - munmap: {{vma: d}}
        - sleep: {{duration: 10 ms}}
        - fork:
            child: anon
            steps:
              - write_file: {{path: {CG}/p/b/cgroup.procs, data: '0'}}
              - mmap: {{name: buf, length: 3 MiB}}
              - touch: {{vma: buf}}
        - sleep: {{duration: 10 ms}}
        - expect: {{file: {{path: {CG}/p/memory.events, fields: {{oom: 0, oom_kill: 0}}}}}}
        """, kernel=kernel))
    a, p = memcg(r, "p/a"), memcg(r, "p")
    assert a.memory_events(local=True)["low"] > 0
    assert p.memory_events()["low"] == a.memory_events()["low"] and p.memory_events(local=True)["low"] == 0
    assert a.counter("memory")["usage"] < 512
    assert task_summary(r, "anon")["killed_by"] is None
    assert p.counter("memory")["usage"] <= 1024


# -- lruvecs and their lifecycle ------------------------------------------------------------------------

def test_every_memcg_has_its_own_lruvec_walked_in_pre_order_and_a_freed_one_is_gone():
    """mem_cgroup_iter: the root, then each subtree in creation order; a memcg's pages are on
    its lruvec; rmdir of a cgroup whose cache pins it leaves it dying (still walked, so reclaim
    can empty it), and once its pages are reclaimed it is freed and leaves the walk."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/x}}
        - write_file: {{path: {CG}/x/cgroup.subtree_control, data: "+memory"}}
        - mkdir: {{path: {CG}/x/y}}
        - mkdir: {{path: {CG}/z}}
        - fork:
            child: reader
            steps:
              - write_file: {{path: {CG}/z/cgroup.procs, data: '0'}}
              - mmap: {{name: d, length: 64 KiB, type: file, file: data.bin, prot: r}}
              - touch: {{vma: d, access: read}}
        - sleep: {{duration: 10 ms}}
        """))
    rc = reclaim(r)
    x, y, z = memcg(r, "x"), memcg(r, "x/y"), memcg(r, "z")
    root = r.machine.plugin_state["memcg"].host.root
    assert rc.mem_cgroup_iter() == [root.id, x.id, y.id, z.id]
    assert rc.mem_cgroup_iter(x) == [x.id, y.id]
    assert rc.lru_sizes(z)[2] == 16
    h = r.machine.plugin_state["memcg"]
    h.rmdir(h.cgroup_at("z"))
    assert not z.online and not z.freed and z.id in rc.mem_cgroup_iter()
    # a dying memcg's cache is scraped out: memory.max of nothing forces it (its parent's
    # reclaim walks it)
    assert r.machine.vmscan.try_to_free_pages(0, 1 << 20) > 0
    assert z.freed and z.id not in rc.mem_cgroup_iter()
    assert r.machine.physmem.check_lru() == []


def test_a_limit_reclaim_shadow_names_the_target_and_a_freed_memcg_gives_up_the_refault():
    """workingset_eviction(page, target_memcg): limit reclaim of ``a`` stores a's id in the
    shadow; once ``a`` is removed and freed, mem_cgroup_lruvec() of that id is NULL and the
    refault gives up (no workingset_refault_file counted, v5.14)."""
    r = run(workload(f"""\
        - mkdir: {{path: {CG}/a}}
        - write_file: {{path: {CG}/a/memory.max, data: 256K}}
        - fork:
            child: reader
            steps:
              - write_file: {{path: {CG}/a/cgroup.procs, data: '0'}}
              - mmap: {{name: d, length: 1 MiB, type: file, file: data.bin, prot: r}}
              - touch: {{vma: d, access: read}}
        - sleep: {{duration: 10 ms}}
        """))
    a = memcg(r, "a")
    mapping = next(m for m in r.machine.files.files.values() if m.shadows())
    ids = {r.machine.workingset.unpack(s)[0] for s in mapping.shadows().values()}
    assert ids == {a.id}
    aid = a.id
    shadow = next(iter(mapping.shadows().values()))
    assert r.machine.workingset.refault_distance(shadow) is not None
    h = r.machine.plugin_state["memcg"]
    h.rmdir(h.cgroup_at("a"))
    r.machine.vmscan.try_to_free_pages(0, 1 << 20)
    assert a.freed
    assert r.machine.workingset.refault_distance(shadow) is None      # the memcg is gone
    assert r.machine.workingset.unpack(shadow)[0] == aid


# -- effective protection (effective_protection) --------------------------------------------------------

def _model_ep(usage, parent_usage, setting, parent_effective, siblings_protected):
    """effective_protection() of v5.14 without memory_recursiveprot."""
    protected = min(usage, setting)
    if siblings_protected > parent_effective:
        return protected * parent_effective // siblings_protected
    return protected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 64), st.integers(0, 64)), min_size=1, max_size=3),
       st.integers(0, 128))
def test_effective_min_distributes_the_parents_protection_in_proportion_to_usage(children, parent_min):
    """mem_cgroup_calculate_protection over P (memory.min ``parent_min`` pages, a child of the
    root) and its children (memory.min, usage in pages): P's emin is its memory.min; each
    child's is effective_protection() of P's -- min(usage, min), scaled by P's emin over the
    siblings' claimed protection when they claim more -- so the children never get more than
    P has."""
    steps = [f"- mkdir: {{path: {CG}/p}}",
             f"- write_file: {{path: {CG}/p/cgroup.subtree_control, data: '+memory'}}",
             f"- write_file: {{path: {CG}/p/memory.min, data: '{parent_min * PAGE}'}}"]
    for i, (mn, _) in enumerate(children):
        steps += [f"- mkdir: {{path: {CG}/p/c{i}}}",
                  f"- write_file: {{path: {CG}/p/c{i}/memory.min, data: '{mn * PAGE}'}}"]
    r = run(workload("\n".join(steps) + "\n"))
    rc = reclaim(r)
    p = memcg(r, "p")
    cs = [memcg(r, f"p/c{i}") for i in range(len(children))]
    host = r.machine.plugin_state["memcg"].host
    for c, (_, usage) in zip(cs, children):
        if usage:
            assert host.charge(c, usage) == 0
    host.drain_all_stock(host.root)
    total = sum(u for _, u in children)
    if total:
        assert rc.protection(p)[0] == parent_min
    siblings = sum(min(u, mn) for mn, u in children)
    got = 0
    for c, (mn, usage) in zip(cs, children):
        emin = rc.protection(c)[0]
        if usage:
            assert emin == _model_ep(usage, total, mn, parent_min, siblings)
            got += emin
    assert got <= parent_min


def test_v6_18_memory_reclaim_reclaims_a_cgroups_page_cache_on_request():
    """memory_reclaim() -> user_proactive_reclaim() (v5.19+): writing a size reclaims that much
    from the cgroup's own LRU lists; more than it can reclaim is EAGAIN after 16 fruitless
    rounds; a bad size or option is EINVAL.  v5.14 has no such file."""
    cache = f"""\
        - mkdir: {{path: {CG}/c}}
        - write_file: {{path: {CG}/c/cgroup.procs, data: '0'}}
        - mmap: {{name: d, length: 4 MiB, type: file, file: data.bin, prot: r}}
        - touch: {{vma: d, access: read}}
        - munmap: {{vma: d}}
        - sleep: {{duration: 3 s}}
        """.rstrip(" ")
    r = run(workload(cache + f"""\
        - write_file: {{path: {CG}/c/memory.reclaim, data: "abc"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/c/memory.reclaim, data: "1M swappiness=300"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/c/memory.reclaim, data: "1M foo"}}
        - expect: {{errno: EINVAL}}
        - write_file: {{path: {CG}/c/memory.reclaim, data: "2M"}}
        - write_file: {{path: {CG}/c/memory.reclaim, data: "64M"}}
        - expect: {{errno: EAGAIN}}
        """, kernel="v6.18"))
    c = memcg(r, "c")
    assert reclaim(r).lru_sizes(c)[2] + reclaim(r).lru_sizes(c)[3] == 0
    run(workload(f"""\
        - mkdir: {{path: {CG}/c}}
        - read_file: {{path: {CG}/c/memory.reclaim}}
        - expect: {{errno: ENOENT}}
        """, kernel="v5.14"))
