"""The free path at munmap and exit (mm/mmu_gather.c, mm/swap.c, mm/page_alloc.c).

memsim's v6.18 profile against what the live 6.18 kernel did (tests/core/data/munmap_free_path.txt,
recorded with tests/core/probes/munmap_free_path.c): the mmu_gather batches of 7 and 509 pages,
the release in folio batches of 31 (mm_page_free then mm_page_free_batched, in order), the
batch pages (GFP_NOWAIT, preempt depth 1 under the PTE lock), one rss_stat per page table, and the
page tables freed through RCU in softirq by the idle task.  v5.14 keeps the pre-6.8 free path:
its traces are pinned byte for byte to the ones memsim wrote before the v6.18 free path existed.
"""
import hashlib
import re
from pathlib import Path

import pytest

from memsim.testing import build_machine, run_text, trace_text

DATA = Path(__file__).parent / "data" / "munmap_free_path.txt"
ADDR = 0x7F0000100000
EVENTS = "kmem:mm_page_alloc,kmem:mm_page_free,kmem:mm_page_free_batched,kmem:rss_stat"


def load_record():
    """{section: {"residue": n, "tokens": [...], "later": [...]}} of the live kernel's record."""
    out, cur, where = {}, None, None
    for line in DATA.read_text().splitlines():
        if line.startswith("["):
            cur = out[line.strip("[]")] = {"residue": 0, "tokens": [], "later": []}
            where = "tokens"
        elif cur is None or not line.strip():
            continue
        elif line.startswith("#"):
            m = re.search(r"residue\): (\d+)", line)
            if m:
                cur["residue"] = int(m.group(1))
        elif line == "later":
            where = "later"
        else:
            cur[where].append(line)
    return out


RECORD = load_record()


def workload(kernel: str, pages: int, end: str = "munmap", memory: str = "256 MiB") -> str:
    """The probe as a memsim workload: pinned to CPU 1 of 2, the mapping at the same address."""
    last = "      - munmap: {vma: buf}\n" if end == "munmap" else ""
    return (f"machine: {{cpus: 2, nodes: [{{memory: {memory}}}], kernel: {kernel}, "
            f"trace_buffer: 262144 KiB}}\n"
            "tasks:\n"
            "  - name: probe\n"
            "    cpu: 1\n"
            "    steps:\n"
            f"      - mmap: {{name: buf, length: {pages * 4096}, addr: {ADDR:#x}}}\n"
            "      - touch: {vma: buf}\n" + last)


def parse(text: str):
    """The records of a trace text: pid, cpu, flags, event, the rest and its pfn (str.split,
    not a regular expression: the 1 GiB case renders a million lines)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        left, ev, rest = line.split(": ", 2)
        who, cpu, flags, _ = left.split()
        at = rest.find("pfn=")
        yield {"pid": int(who.rsplit("-", 1)[1]), "cpu": int(cpu.strip("[]")), "flags": flags,
               "ev": ev, "rest": rest, "pfn": rest[at + 4:].split(" ", 1)[0] if at >= 0 else None}


def tokens(text: str, probe_pid: int):
    """memsim's trace in the record's terms (see the record's header): the records of the unmap
    (from its first GFP_NOWAIT page or shrinking rss_stat on), those freed later by others, and
    the residue (pages of the mapping the unmap did not free)."""
    own, tables, batch = set(), set(), set()
    pgd = None
    section, later = [], []
    started, last_size, freed = False, None, set()
    for r in parse(text):
        pfn, ev = r["pfn"], r["ev"]
        if ev == "mm_page_alloc" and r["pid"] == probe_pid:
            gfp = r["rest"].rsplit("gfp_flags=", 1)[1]
            if gfp.startswith("GFP_HIGHUSER_MOVABLE") and not started:
                own.add(pfn)
            elif gfp.startswith("GFP_KERNEL_ACCOUNT") and not started:
                if pgd is None:
                    pgd = pfn                   # spawn's pgd (the probe's came with its exec)
                else:
                    tables.add(pfn)             # the touches' tables
            elif gfp.startswith("GFP_NOWAIT"):
                batch.add(pfn)
                started = True
        if ev == "rss_stat":
            if r["pid"] != probe_pid or "MM_ANONPAGES" not in r["rest"]:
                continue
            size = int(r["rest"].rsplit("size=", 1)[1][:-1])
            if last_size is not None and size < last_size:
                started = True
            last_size = size
            role = "MM_ANONPAGES"
        else:
            role = ("own" if pfn in own else "table" if pfn in tables else
                    "batch" if pfn in batch else None)
            if role is None:
                continue
        if not started:
            continue
        if r["pid"] == probe_pid:
            if ev == "mm_page_alloc" and role != "batch":
                continue
            if ev == "mm_page_free" and role == "own":
                freed.add(pfn)
            section.append((r, role))
        elif role in ("table", "batch") and ev == "mm_page_free":
            later.append((r, role))

    def key(r, role):
        extra = " " + r["rest"].rsplit("gfp_flags=", 1)[1] if r["ev"] == "mm_page_alloc" else ""
        who = "self" if r["pid"] == probe_pid else "idle" if r["pid"] == 0 else "task"
        return (r["ev"], r["flags"], role, extra, who)

    def runs(seq):
        out = []
        for r, role in seq:
            k = key(r, role)
            if out and out[-1][1] == k and k[0] not in ("rss_stat", "mm_page_alloc"):
                out[-1][0] += 1
            else:
                out.append([1, k])
        return [f"{n} {ev} {flags} {role}{extra} {who}" for n, (ev, flags, role, extra, who) in out]
    return runs(section), runs(later), len(own) - len(freed)


def with_residue(toks, residue):
    """The last runs of the mapping's pages freed, counted with the pages the lru_add batch held
    back (they keep their places in the last folio batch): the residue is the one thing that
    depends on what else went through the batch."""
    toks = list(toks)
    for ev in ("mm_page_free_batched", "mm_page_free"):
        for i in range(len(toks) - 1, -1, -1):
            n, rest = toks[i].split(" ", 1)
            if rest.startswith(ev + " ") and " own " in rest:
                toks[i] = f"{int(n) + residue} {rest}"
                break
    return toks


def run_probe(kernel, pages, end="munmap", events=EVENTS):
    memory = "1536 MiB" if pages > 100000 else "256 MiB"
    run = run_text(workload(kernel, pages, end, memory), events=events.split(","), check=False)
    assert run.error is None, run.error
    pid = next(t["pid"] for t in run.summary()["tasks"] if t["name"] == "probe")
    return run, pid


@pytest.mark.parametrize("pages", [64, 1000])
def test_munmap_frees_as_the_live_kernel_did(pages):
    """munmap of 64 and 1000 pages (the second crosses a PMD boundary: three page tables): the
    batch pages, one rss_stat per table, runs of 7 then 31 (13 to end a batch of 509), each
    mm_page_free run followed by its mm_page_free_batched run (...2.), the batch pages freed last,
    then the tables and the table batch page in softirq on the idle task (..s1.)."""
    rec = RECORD[f"munmap {pages}"]
    run, pid = run_probe("v6.18", pages)
    section, later, residue = tokens(trace_text(run), pid)
    assert with_residue(section, residue) == with_residue(rec["tokens"], rec["residue"])
    assert later == rec["later"]


def test_exit_frees_the_tables_through_rcu_on_the_idle_task():
    """exit of 1000 pages: the page tables and their batch page go in softirq after the task is
    gone, tables first (PTE tables in address order, then the PMD and PUD tables)."""
    rec = RECORD["exit 1000"]
    run, pid = run_probe("v6.18", 1000, end="exit")
    section, later, residue = tokens(trace_text(run), pid)
    assert later == rec["later"]
    # the gather's batch pages are allocated under the PTE lock (...1.), the table batch last,
    # in free_pgtables (.....); the live probe's process image needed one gather batch more
    allocs = [t for t in section if "mm_page_alloc" in t]
    live = [t for t in rec["tokens"] if "mm_page_alloc" in t]
    assert list(dict.fromkeys(allocs)) == list(dict.fromkeys(live))
    assert allocs[-1] == live[-1] == "1 mm_page_alloc ..... batch GFP_NOWAIT self"


def flush_pattern(section):
    """The record's per-flush summary: rss_stat records, batch pages and the free runs (grouped
    per gather batch, a batch ending at a run below 31) of each flush."""
    flushes, cur, in_free = [], [], False
    for t in section:
        is_free = " mm_page_free" in t and " own " in t
        if not is_free and in_free:
            flushes.append(cur)
            cur, in_free = [], False
        in_free = in_free or is_free
        cur.append(t)
    flushes.append(cur)
    lines = []
    for k, f in enumerate(flushes[:-1], 1):
        runs = [int(t.split()[0]) for t in f if t.split()[1] == "mm_page_free" and " own " in t]
        batches, b = [], []
        for n in runs:
            b.append(n)
            if n < 31:
                batches.append(b)
                b = []
        if b:
            batches.append(b)
        lines.append((sum("rss_stat" in t for t in f), sum("mm_page_alloc" in t for t in f), batches))
    return lines, flushes[-1]


def record_flushes():
    out = []
    for line in RECORD["munmap 262144"]["tokens"]:
        m = re.match(r"flush \d+: (\d+) rss_stat, (\d+) batch pages, frees (.*)$", line)
        if not m:
            continue
        batches = []
        for part in m.group(3).split():
            body, _, times = part.partition("]x")
            runs = []
            for r in body.strip("[]").split("+"):
                n, _, k = r.partition("x")
                runs += [int(n)] * int(k or 1)
            batches += [runs] * int(times or 1)
        out.append((int(m.group(1)), int(m.group(2)), batches))
    return out


def test_a_long_munmap_flushes_every_9678_pages():
    """munmap of 262,144 pages (1 GiB): the first flush comes after 7 + 19 x 509 = 9,678 pages
    (one slot of each batch kept for an encoded nr_pages), 28 flushes in all, 19 batch pages
    allocated once; the 516 page tables go in two RCU batches, 509 and 7."""
    run, pid = run_probe("v6.18", 262144)
    section, later, residue = tokens(trace_text(run), pid)
    assert RECORD["munmap 262144"]["residue"] == 0
    flushes, tail = flush_pattern(with_residue(section, residue))
    assert flushes == record_flushes()
    assert sum(n for _, _, batches in flushes[:1] for b in batches for n in b) == 9678
    assert tail == [t for t in RECORD["munmap 262144"]["tokens"] if not t.startswith("flush ")
                    and "mm_page_free" in t and " batch " in t]
    assert later == RECORD["munmap 262144"]["later"]


def test_v514_keeps_the_pre_68_gather():
    """v5.14: batches of 8 and 510 (the first flush after 8 + 19 x 510 = 9,698 pages), each
    released in reverse order through release_pages, page tables queued as pages and freed by
    the task itself (no softirq, nothing later), the batch pages' allocations at the event's own
    preempt count."""
    run, pid = run_probe("v5.14", 20000)
    text = trace_text(run)
    section, later, residue = tokens(text, pid)
    assert later == [] and residue == 0
    allocs = [t for t in section if "mm_page_alloc" in t]
    assert set(allocs) == {"1 mm_page_alloc .... batch GFP_NOWAIT|__GFP_NOWARN self"}
    first = []
    for t in section:
        if "rss_stat" in t and first:
            break
        if " mm_page_free " in t and " own " in t:
            first.append(int(t.split()[0]))
    assert first == [8] + [510] * 19 and sum(first) == 9698
    pfns = [r["pfn"] for r in parse(text) if r["ev"] == "mm_page_free" and r["pid"] == pid]
    faulted = [r["pfn"] for r in parse(text) if r["ev"] == "mm_page_alloc"
               and "GFP_HIGHUSER_MOVABLE" in r["rest"]]
    assert pfns[:8] == faulted[:8][::-1]            # the local batch, freed in reverse order


#: sha256 of the trace text memsim wrote for these v5.14 workloads before the v6.18 free path
#: (commit 9de029e): the v5.14 profile's traces must not change.
V514_TRACES = {
    (64, "munmap"): "59eedf05fc93559783024c880c04c00e06601e394f8c85360d7c7c6854386a72",
    (1000, "munmap"): "f6536353be34b3ff569954413eb45307e6dc2c3669fbdcc2e954dc1fd08b001e",
    (1000, "exit"): "b0e6488d0f1b043c7d498d607dae335e01c0441a82dddeb966ef1149df47b9d3",
    (20000, "munmap"): "7c186a8016856e619f87d75bdae6afeb27e62bbfde76fb620afd3c2905d3f935",
}


@pytest.mark.parametrize("pages,end", sorted(V514_TRACES))
def test_v514_traces_are_unchanged(pages, end):
    run = run_text(workload("v5.14", pages, end), check=False)
    assert run.error is None
    digest = hashlib.sha256(trace_text(run, header=True).encode()).hexdigest()
    assert digest == V514_TRACES[(pages, end)]


def test_tables_go_in_the_softirq_of_the_task_still_running():
    """The RCU callback runs on whoever runs on that CPU after the grace period: a task that
    goes on touching memory after its munmap frees the tables itself, in softirq (..s.., its
    own preempt depth 0); nothing is left once the run ends."""
    text = (workload("v6.18", 64).rstrip("\n") + "\n"
            "      - mmap: {name: more, length: 64 KiB}\n"
            "      - touch: {vma: more}\n"
            "      - touch: {vma: more}\n")
    run = run_text(text, events=EVENTS.split(","), check=False)
    assert run.error is None
    pid = next(t["pid"] for t in run.summary()["tasks"] if t["name"] == "probe")
    section, later, _ = tokens(trace_text(run), pid)
    # the munmap's tables and table batch page, freed after the next step (an mmap): by the task
    assert [t for t in section if "..s.." in t] == ["3 mm_page_free ..s.. table self",
                                                    "1 mm_page_free ..s.. batch self"]
    # (the tables of the exit that follows go on the idle task: the task is gone)
    assert all(" idle" in t for t in later)
    assert run.machine.mmcore.rcu_pending() == (0, 0)
