"""The memcg trace events of the v6.18 profile (include/trace/events/memcg.h; tracepoints.md 9
and scenario 22): the format files, their absence on v5.14, the raw enum values of ``item``
against the live kernel (tests/memcg/probes/memcg_trace.txt), and the events of an anonymous
fault, a memory.stat read and a traced run."""
import re
from pathlib import Path

import pytest

import memsim.tracing
from memsim.plugins.memcg import trace_items
from memsim.testing import run_text, trace_text
from memsim.tracing.formatfile import format_file
from memsim.tracing.memcg import item_table, memcg_events, v6_18_enums

CATALOG = Path(memsim.tracing.__file__).parent / "catalog" / "v6.18" / "memcg"
FIXTURE = Path(__file__).parent / "probes" / "memcg_trace.txt"


def fixture_lines(kind):
    return [line.rstrip("\n").split("\t")[1:] for line in FIXTURE.read_text().splitlines()
            if line.startswith(kind + "\t")]


def probe_events(phase):
    """(event, item, val) of a phase of the probe (who: the worker or the probe)."""
    out = []
    for ph, _who, event, payload in fixture_lines("trace"):
        if ph == phase:
            f = dict(kv.split("=") for kv in payload.split())
            out.append((event, int(f.get("item", -1)), int(f.get("val", 0))))
    return out


# -- the format files ------------------------------------------------------------------------------

@pytest.mark.parametrize("decl", memcg_events("v6.18"), ids=lambda d: d.name)
def test_v6_18_format_files_are_the_live_kernels(decl):
    want = (CATALOG / decl.name / "format").read_text()
    type_id = int(re.search(r"^ID: (\d+)$", want, re.M).group(1))
    assert format_file(decl, type_id) == want


def test_every_catalog_event_is_declared():
    assert {d.name for d in memcg_events("v6.18")} == {p.name for p in CATALOG.iterdir()}


# -- scenario 22: none on v5.14 ---------------------------------------------------------------------

ANON = """\
machine: {{cpus: 2, kernel: {kernel}, nodes: [{{memory: 256 MiB}}]}}
cgroup: {{version: 1}}
tasks:
  - name: probe
    cpu: 0
    steps:
      - mkdir: {{path: /sys/fs/cgroup/memory/T}}
      - mmap: {{name: warm, length: 4 KiB}}
      - touch: {{vma: warm}}
      - mmap: {{name: region, length: 2 MiB}}
      - write_file: {{path: /sys/fs/cgroup/memory/T/cgroup.procs, data: "0"}}
      - touch: {{vma: region, length: 4 KiB}}
      - touch: {{vma: region, offset: 4 KiB, length: 160 KiB}}
      - munmap: {{vma: region}}
      - read_file: {{path: /sys/fs/cgroup/memory/T/memory.stat}}
"""


def test_v5_14_has_no_memcg_events():
    """Scenario 22: a 5.14 profile updates memcg statistics without any memcg:* event."""
    assert memcg_events("v5.14") == []
    r = run_text(ANON.format(kernel="v5.14"))
    assert r.error is None, r.error
    assert not [d for d in r.machine.events if d.system == "memcg"]
    text = trace_text(r)
    assert "rss_stat" in text and "memcg" not in text


# -- item: the 6.18 enums, checked on the live kernel -----------------------------------------------

def test_enum_tables_are_the_live_kernels_btf():
    """The probe printed every enumerator of node_stat_item, memcg_stat_item and vm_event_item
    from the kernel's BTF; the tables give each the same value (aliases *_BASE aside)."""
    btf = {}
    for enum, name, value in fixture_lines("enum"):
        if not name.endswith("_BASE"):
            btf.setdefault(enum, {})[name] = int(value)
    assert v6_18_enums() == btf


def test_memsim_items_map_to_the_items_the_kernel_printed():
    """memsim's statistics of an anonymous fault, a tmpfs write and a page-table page carry the
    numbers the live kernel's events carried for them (memcg_trace.txt)."""
    from memsim.plugins.memcg.memcontrol import MEMCG_KMEM
    from memsim.vmstat import node_stat_item as N, vm_event_item as E, NODE_STAT_NAMES
    items = trace_items()
    nr_stat = len(NODE_STAT_NAMES) + 4

    def state(e):
        return items[e.value]

    def event(e):
        return items[nr_stat + e.value]
    assert len(items) == nr_stat + len([e for e in E if e.name != "NR_VM_EVENT_ITEMS"])
    first = probe_events("anon_first")
    assert first == [("mod_memcg_state", items[MEMCG_KMEM], 1),
                     ("mod_memcg_lruvec_state", state(N.NR_PAGETABLE), 1),
                     ("mod_memcg_state", items[MEMCG_KMEM], 1),
                     ("count_memcg_events", event(E.PGPGIN), 1),
                     ("mod_memcg_lruvec_state", state(N.NR_ANON_MAPPED), 1),
                     ("count_memcg_events", event(E.PGFAULT), 1)]
    drained = {e for e in probe_events("anon_next")
               if e[:2] == ("mod_memcg_lruvec_state", state(N.NR_INACTIVE_ANON))}
    assert drained == {("mod_memcg_lruvec_state", state(N.NR_INACTIVE_ANON), 1)}
    tmpfs = {e[:2] for e in probe_events("tmpfs_write")}
    assert {("mod_memcg_lruvec_state", state(N.NR_FILE_PAGES)),
            ("mod_memcg_lruvec_state", state(N.NR_SHMEM)),
            ("count_memcg_events", event(E.PGPGIN))} <= tmpfs
    unmapped = {e[:2] for e in probe_events("munmap")}
    assert ("count_memcg_events", event(E.PGPGOUT)) in unmapped
    assert ("mod_memcg_lruvec_state", state(N.NR_SLAB_RECLAIMABLE_B)) in unmapped


def test_items_6_18_s_memcg_does_not_keep_have_no_number():
    """NR_WRITEBACK_TEMP (gone in 6.18) and node items outside memcg_node_stat_items[] give no
    event; so do events outside memcg_vm_event_stat[] (PGFREE)."""
    t = item_table(["NR_WRITEBACK_TEMP", "NR_ISOLATED_ANON", "NR_SHMEM", "MEMCG_KMEM"],
                   ["PGFREE", "PGMAJFAULT"])
    assert t == [-1, -1, 22, 55, -1, 24]


# -- the events of a fault, a memory.stat read and a run --------------------------------------------

def _decoded(r):
    """(pid, event, {field: int}) of every memcg record of the run, in order (its text)."""
    for line in trace_text(r).splitlines():
        head, event, payload = line.split(": ", 2)
        if event in ("count_memcg_events", "mod_memcg_lruvec_state", "mod_memcg_state",
                     "memcg_flush_stats"):
            pid = int(head.split("[")[0].strip().rsplit("-", 1)[1])
            yield pid, event, {k: int(v) for k, v in (kv.split("=") for kv in payload.split())}


def _memcg_records(r, memcg_id):
    """(event, item, val) of one memcg's records, in order; flushes with their fields."""
    out = []
    for _pid, event, f in _decoded(r):
        if f["memcg_id"] != memcg_id:
            continue
        if event == "memcg_flush_stats":
            out.append((event, f["stats_updates"], f["force"], f["needs_flush"]))
        else:
            out.append((event, f["item"], f["val"]))
    return out


@pytest.fixture(scope="module")
def anon_run():
    r = run_text(ANON.format(kernel="v6.18"), events=("memcg:*",))
    assert r.error is None, r.error
    return r


def test_memcg_id_is_the_cgroup_directory_s_inode(anon_run):
    """cgroup_id(): the kernfs id, the directory's inode number; the root's is 1 (the probe:
    ``cgroup root ino=1`` and events of T carrying T's inode number)."""
    h = anon_run.machine.plugin_state["memcg"]
    t = h.cgroup_at("T")
    ino = anon_run.machine.vfs.path_lookup("/sys/fs/cgroup/memory/T").dentry.d_inode.i_ino
    assert t.memcg.cgroup_id == t.id == ino
    assert h.root.memcg.cgroup_id == 1
    assert dict(fixture_lines("cgroup"))["root"] == "ino=1"
    assert {f["memcg_id"] for _pid, _event, f in _decoded(anon_run)} == {1, ino}


def test_an_anonymous_fault_gives_the_kernel_s_events_in_its_order(anon_run):
    """The first fault in a fresh 2 MiB range (no PTE table): the PTE page's kmem charge
    (MEMCG_KMEM), its NR_PAGETABLE, the obj_cgroup stock's page for the anon_vma, then the
    charge's PGPGIN, NR_ANON_MAPPED and, last, PGFAULT (mm_account_fault()): exactly what the
    live kernel printed.  Every later fault: PGPGIN, NR_ANON_MAPPED, PGFAULT; the fault whose
    folio fills the lru_add batch moves it to the LRU (NR_INACTIVE_ANON +1 per folio) before
    its PGFAULT -- which fault that is depends on the batch's other folios (on the kernel, the
    other tasks' of CPU 0)."""
    t = anon_run.machine.plugin_state["memcg"].cgroup_at("T")
    got = [e for e in _memcg_records(anon_run, t.id) if e[0] != "memcg_flush_stats"]
    got = got[:next(i for i, e in enumerate(got) if e[2] < 0)]     # the munmap's on
    want_first = probe_events("anon_first")
    assert got[:6] == want_first
    items = trace_items()
    from memsim.vmstat import node_stat_item as N
    inactive = items[N.NR_INACTIVE_ANON.value]

    def per_fault(events):
        """The faults' events without the LRU moves, and the LRU moves."""
        return ([e for e in events if e[1] != inactive or e[0] != "mod_memcg_lruvec_state"],
                [e for e in events if e[1] == inactive and e[0] == "mod_memcg_lruvec_state"])
    faults, moved = per_fault(got[6:])
    kernel_faults, kernel_moved = per_fault(probe_events("anon_next"))
    assert faults == kernel_faults                  # 40 x (PGPGIN, NR_ANON_MAPPED, PGFAULT)
    assert set(moved) == set(kernel_moved) == {("mod_memcg_lruvec_state", inactive, 1)}
    # the batch moves inside a fault, between its NR_ANON_MAPPED and its PGFAULT
    i = got.index(("mod_memcg_lruvec_state", inactive, 1))
    assert got[i - 1][1] == items[N.NR_ANON_MAPPED.value]
    assert got[i + len(moved)] == want_first[-1]                    # ("count_memcg_events", PGFAULT, 1)


def test_memory_stat_flush_event(anon_run):
    """memory.stat -> mem_cgroup_flush_stats(T) -> __mem_cgroup_flush_stats(T, false): 41
    faults made 41 x (PGPGIN + NR_ANON_MAPPED + PGFAULT) + the LRU and kmem units, 192 past
    the per-CPU batches of 64: above MEMCG_CHARGE_BATCH x 2 CPUs, so it needs a flush -- the
    live kernel's line for the same faults."""
    t = anon_run.machine.plugin_state["memcg"].cgroup_at("T")
    flushes = [e for e in _memcg_records(anon_run, t.id) if e[0] == "memcg_flush_stats"]
    kernel = [e for e in fixture_lines("trace") if e[0] == "stat_T"]
    assert flushes == [("memcg_flush_stats", 192, 0, 1)]
    assert kernel[0][2] == "memcg_flush_stats"
    assert kernel[0][3].endswith("stats_updates=192 force=0 needs_flush=1")


def test_flush_event_without_need_and_the_periodic_forced_flush():
    """A read with few updates: needs_flush 0, nothing flushed; the 2 s flush of the root runs
    forced (force 1) in the flush worker's context (pid 0 here)."""
    text = """\
machine: {cpus: 2, kernel: v6.18, nodes: [{memory: 128 MiB}]}
cgroup: {version: 2}
tasks:
  - name: t
    steps:
      - mkdir: {path: /sys/fs/cgroup/a}
      - write_file: {path: /sys/fs/cgroup/a/cgroup.procs, data: "0"}
      - mmap: {name: m, length: 16 KiB}
      - touch: {vma: m}
      - read_file: {path: /sys/fs/cgroup/a/memory.stat}
      - sleep: {duration: 2100 ms}
"""
    r = run_text(text, events=("memcg:memcg_flush_stats",))
    assert r.error is None, r.error
    a = r.machine.plugin_state["memcg"].cgroup_at("a")
    pid = next(t.pid for t in r.machine.tasks.values() if t.comm == "t")
    got = [(p, f) for p, _event, f in _decoded(r)]
    assert got[0] == (pid, {"memcg_id": a.id, "stats_updates": 0, "force": 0, "needs_flush": 0})
    assert got[1][0] == 0
    assert got[1][1]["memcg_id"] == 1 and (got[1][1]["force"], got[1][1]["needs_flush"]) == (1, 0)
    assert len(got) == 2


def test_a_traced_run_parses_back(tmp_path):
    """memsim run --trace of a small cgroup workload: the trace reader gives back every memcg
    record with its fields."""
    from click.testing import CliRunner
    from memsim.cli import main
    from memsim.tracing import open_trace
    wl = tmp_path / "w.yaml"
    wl.write_text(ANON.format(kernel="v6.18"))
    out = tmp_path / "trace.txt"
    res = CliRunner().invoke(main, ["run", str(wl), "--trace", str(out), "--events", "memcg:*"])
    assert res.exit_code == 0, res.output
    recs = list(open_trace(str(out)))
    names = [rec.event for rec in recs]
    assert set(names) == {"count_memcg_events", "mod_memcg_lruvec_state", "mod_memcg_state",
                          "memcg_flush_stats"}
    flush = [rec for rec in recs if rec.event == "memcg_flush_stats"]
    from collections import Counter
    cg_id = Counter(rec.fields["id"] for rec in recs
                    if rec.event == "count_memcg_events").most_common(1)[0][0]
    assert cg_id > 1                    # the cgroup directory's inode number (the root's is 1)
    assert [(rec.pid, rec.fields) for rec in flush] == [
        (1000, {"id": cg_id, "stats_updates": 192, "force": 0, "needs_flush": 1})]
    pgfault = [rec for rec in recs if rec.event == "count_memcg_events" and rec.fields["item"] == 23]
    assert len(pgfault) == 42 and all(rec.fields["val"] == 1 for rec in pgfault)
