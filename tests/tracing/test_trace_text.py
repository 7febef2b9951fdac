"""memsim.tracing.text: the kernel ``trace`` file byte for byte (tracepoints.md 2.4, 11)."""
import io
import re

import pytest

from memsim.hashptr import hash_pointer, key_from_seed
from memsim.ring import Clock, TraceBuffer
from memsim.tracing import kallsyms
from memsim.tracing.gfp import gfp_table
from memsim.tracing.kmem import kmem_events
from memsim.tracing.printfmt import VMEMMAP_BASE, compile_decl
from memsim.tracing.text import TextRenderer, comm_of, format_line, irq_info, trace_header

KEY = key_from_seed(3)
M64 = (1 << 64) - 1
RSS = "mm_id=1726253524 curr=1 type=MM_ANONPAGES size=40960B"


def hashed(ptr):
    return "00000000%08x" % hash_pointer(ptr, *KEY)


# -- line layout -------------------------------------------------------------------------------
def test_scenario_3_line_layout():
    """Scenario 3: bash-1234 on CPU 2 at 12345.678901 s; v5.14 '....', v6.18 '.....'."""
    ts = 12345678901000
    assert format_line("bash", 1234, 2, 0, 0, ts, "rss_stat", RSS, 4) == \
        "            bash-1234    [002] .... 12345.678901: rss_stat: " + RSS
    assert format_line("bash", 1234, 2, 0, 0, ts, "rss_stat", RSS, 5) == \
        "            bash-1234    [002] ..... 12345.678901: rss_stat: " + RSS


def test_scenario_4_irq_info():
    """Scenario 4: irqs-off + softirq with preempt count 2 is 'd.s2' on v5.14."""
    assert irq_info(0x01 | 0x10, 2, 4) == "d.s2"


@pytest.mark.parametrize("flags,preempt,width,text", [
    (0, 0, 4, "...."), (0x02, 0, 4, "X..."), (0x24, 0, 4, ".N.."),
    (0x04, 0x1F, 4, ".n.1f"), (0x20, 0, 4, ".p.."), (0x48, 0, 4, "..Z."), (0x40, 1, 4, "..z1"),
    (0x18, 0, 4, "..H."), (0x08, 0, 4, "..h."),
    # FORMAT-NOTES 2, values seen in the 6.18 capture
    (0, 0, 5, "....."), (0, 1, 5, "...1."), (0x01, 2, 5, "d..2."), (0x24, 0, 5, ".N..."),
    (0x04, 1, 5, ".n.1."), (0x10, 2, 5, "..s2."), (0x25, 4, 5, "dN.4."), (0x35, 1, 5, "dNs1."),
    (0x34, 0, 5, ".Ns.."),
    # v6.18-only: BH-disabled, lazy resched, migrate-disable nibble, preempt depth capped at f
    (0x80, 0, 5, "b...."), (0x81, 0, 5, "D...."), (0x26, 0, 5, ".B..."), (0x22, 0, 5, ".L..."),
    (0x06, 0, 5, ".b..."), (0x02, 0, 5, ".l..."), (0, 0x21, 5, "...12"), (0, 0xF0, 5, "....f"),
])
def test_irq_info_table(flags, preempt, width, text):
    assert irq_info(flags, preempt, width) == text


def test_timestamp_rounds_to_microseconds_like_ns2usecs():
    def line(ts):
        return format_line("a", 1, 0, 0, 0, ts, "e", "", 5).split()[3]
    assert line(999_999_499) == "0.999999:"
    assert line(999_999_500) == "1.000000:"
    assert line(123_456_789_012_345_678) == "123456789.012346:"


def test_comm_and_pid_columns():
    assert comm_of(0, {}) == "<idle>"
    assert comm_of(5, {}) == "<...>"
    assert comm_of(5, {5: "a-very-long-command-name"}) == "a-very-long-com"
    line = format_line("kworker/u8:2", 12345678, 123, 0, 0, 0, "e", "p", 5)
    assert line.startswith("    kworker/u8:2-12345678 [123] ")


# -- header ------------------------------------------------------------------------------------
def test_scenario_21_header_v514():
    """Scenario 21: 3 entries on 4 CPUs, v5.14 legend."""
    assert trace_header("v5.14", 3, 3, 4) == (
        "# tracer: nop\n"
        "#\n"
        "# entries-in-buffer/entries-written: 3/3   #P:4\n"
        "#\n"
        "#                                _-----=> irqs-off\n"
        "#                               / _----=> need-resched\n"
        "#                              | / _---=> hardirq/softirq\n"
        "#                              || / _--=> preempt-depth\n"
        "#                              ||| /     delay\n"
        "#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION\n"
        "#              | |         |   ||||      |         |\n")


def test_header_v618_equals_capture(capture_lines):
    text, _ = capture_lines
    head = "".join(l + "\n" for l in text.splitlines()[:12])
    assert trace_header("v6.18", 22851, 22851, 2) == head


# -- real 6.18 lines ---------------------------------------------------------------------------
LINE_RE = re.compile(r"^(?P<comm>.{16})-(?P<pid>\d+) *\[(?P<cpu>\d{3})\] (?P<irq>\S{5}) +"
                     r"(?P<secs>\d+)\.(?P<us>\d{6}): (?P<name>\w+): (?P<payload>.*)$")
IRQ0 = {".": 0, "d": 0x01, "b": 0x80, "D": 0x81}
IRQ1 = {".": 0, "N": 0x24, "n": 0x04, "p": 0x20, "B": 0x26, "L": 0x22, "b": 0x06, "l": 0x02}
IRQ2 = {".": 0, "Z": 0x48, "z": 0x40, "H": 0x18, "h": 0x08, "s": 0x10}
PAYLOAD_RE = {
    "rss_stat": re.compile(r"mm_id=(\d+) curr=(\d+) type=(\w+) size=(-?\d+)B$"),
    "mm_page_alloc": re.compile(r"page=([0-9a-f]{16}) pfn=0x([0-9a-f]+) order=(\d+) "
                                r"migratetype=(-?\d+) gfp_flags=(\S+)$"),
    "mm_page_free": re.compile(r"page=([0-9a-f]{16}) pfn=0x([0-9a-f]+) order=(\d+)$"),
}
MEMBERS = {"MM_FILEPAGES": 0, "MM_ANONPAGES": 1, "MM_SWAPENTS": 2, "MM_SHMEMPAGES": 3}


def gfp_value(text):
    names = {n: m for m, n in reversed(gfp_table("v6.18"))}
    if text == "none":
        return 0
    return sum(int(p, 16) if p.startswith("0x") else names[p] for p in text.split("|"))


def values_of(name, payload):
    m = PAYLOAD_RE[name].match(payload)
    assert m, payload
    g = m.groups()
    if name == "rss_stat":
        return {"mm_id": int(g[0]), "curr": int(g[1]), "member": MEMBERS[g[2]],
                "size": int(g[3])}
    pfn = int(g[1], 16) if g[0] != "0" * 16 else M64
    v = {"pfn": pfn, "order": int(g[2])}
    if name == "mm_page_alloc":
        v.update(migratetype=int(g[3]), gfp_flags=gfp_value(g[4]))
    return v


def test_capture_lines_reproduced(capture_lines):
    """Every rss_stat/mm_page_alloc/mm_page_free line of the 6.18 capture, rebuilt from its
    values, formats identically -- except the hashed page= (a different boot key)."""
    _, lines = capture_lines
    decls = {d.name: d for d in kmem_events("v6.18")}
    fmts = {n: compile_decl(decls[n], ptr_key=KEY) for n in PAYLOAD_RE}
    seen = dict.fromkeys(PAYLOAD_RE, 0)
    for line in lines:
        m = LINE_RE.match(line)
        assert m, line
        name = m["name"]
        if name not in PAYLOAD_RE:
            continue
        values = values_of(name, m["payload"])
        mine = fmts[name].payload(values)
        if name != "rss_stat":
            ptr = VMEMMAP_BASE + values["pfn"] * 64 if values["pfn"] != M64 else 0
            assert mine.startswith(f"page={hashed(ptr) if ptr else '0' * 16} ")
            assert re.match(r"page=00000000[0-9a-f]{8} ", m["payload"])
            mine = m["payload"][:21] + mine[21:]
        assert mine == m["payload"]
        irq = m["irq"]
        flags = IRQ0[irq[0]] | IRQ1[irq[1]] | IRQ2[irq[2]]
        preempt = (0 if irq[3] == "." else int(irq[3], 16)) | \
                  (0 if irq[4] == "." else int(irq[4], 16) << 4)
        ts = int(m["secs"]) * 10**9 + int(m["us"]) * 1000
        assert format_line(m["comm"].strip(), int(m["pid"]), int(m["cpu"]), flags, preempt, ts,
                           name, mine, 5) == line
        seen[name] += 1
    assert seen["rss_stat"] > 1000 and seen["mm_page_alloc"] > 1000 and seen["mm_page_free"] > 1000


# -- ring buffer round trip --------------------------------------------------------------------
def machine(profile, kmem_registry, enable="kmem"):
    reg = kmem_registry(profile, enable=enable)
    clock = Clock(12345_678901_000)
    tb = TraceBuffer(4, 64, clock)
    reg.bind(tb)
    return reg, clock, tb


def render(reg, profile, tb, comms=None):
    out = io.StringIO()
    TextRenderer(reg, profile, comms or {1234: "bash", 77: "kworker/u8:2"}, KEY).render(tb, out)
    return out.getvalue()


@pytest.mark.parametrize("profile", ["v5.14", "v6.18"])
def test_ring_round_trip(kmem_registry, profile):
    """Core (emit_core) and Python (EventRegistry.emit) records render as the kernel would:
    merged by timestamp, ties to the lower CPU, per-CPU order kept."""
    reg, clock, tb = machine(profile, kmem_registry)
    site = kallsyms.call_site("anon_vma_prepare")
    obj = 0xFFFF888100ABC000
    tb.emit_core(0, 2, 1234, [1726253524, 1, 1, 40960])                      # t0, cpu 2
    clock.now += 1_000_499                                                    # rounds down
    tb.emit_core(1, 3, 1234, [M64, 3, 0xCC0, 0])                             # t1, cpu 3
    tb.emit_core(2, 1, 77, [0x1234, 0])                                      # t1, cpu 1
    reg.emit(tb, 1, 77, "kmem:kfree", call_site=kallsyms.call_site("kfree"), ptr=0)  # t1, cpu 1
    clock.now += 1                                                            # rounds up
    tb.emit_core(6, 0, 0, [site, obj], "anon_vma")                           # t2, cpu 0
    reg.emit(tb, 3, 999, "kmem:rss_stat", mm_id=5, curr=0, member=7, size=-4096,
             _common_flags=0x11, _preempt_count=2)                          # t2, cpu 3
    text = render(reg, profile, tb)
    w = 4 if profile == "v5.14" else 5
    d, p1 = "." * w, ("...1." if profile == "v6.18" else "....")
    exp = trace_header(profile, 6, 6, 4) + "".join(l + "\n" for l in [
        f"            bash-1234    [002] {p1} 12345.678901: rss_stat: {RSS}",
        f"    kworker/u8:2-77      [001] {d} 12345.679901: mm_page_free: "
        f"page={hashed(VMEMMAP_BASE + 0x1234 * 64)} pfn=0x1234 order=0",
        f"    kworker/u8:2-77      [001] {d} 12345.679901: kfree: "
        f"call_site={kallsyms.resolve(kallsyms.call_site('kfree'))} ptr=0000000000000000",
        f"            bash-1234    [003] {d} 12345.679901: mm_page_alloc: "
        f"page=0000000000000000 pfn=0x0 order=3 migratetype=0 gfp_flags=GFP_KERNEL",
        f"          <idle>-0       [000] {d} 12345.679902: kmem_cache_free: "
        f"call_site=anon_vma_prepare+0x1b/0x40 ptr={hashed(obj)} name=anon_vma",
        f"           <...>-999     [003] {'d.s2' if w == 4 else 'd.s2.'} 12345.679902: rss_stat: "
        f"mm_id=5 curr=0 type=0x7 size=-4096B",
    ])
    assert text == exp


def test_disabled_events_are_not_rendered_and_enable_after_bind(kmem_registry):
    reg, clock, tb = machine("v5.14", kmem_registry, enable="kmem:mm_page_free")
    tb.emit_core(0, 0, 1, [1, 1, 1, 4096])
    tb.emit_core(2, 0, 1, [1, 0])
    reg.emit(tb, 0, 1, "kmem:kfree", call_site=0, ptr=0)
    reg.enable("kmem:rss_stat")
    tb.emit_core(0, 0, 1, [1, 1, 1, 8192])
    body = render(reg, "v5.14", tb).splitlines()[11:]
    assert [l.split(": ")[1] for l in body] == ["mm_page_free", "rss_stat"]
    assert body[1].endswith("size=8192B")


def test_unknown_type_and_lines_without_header(kmem_registry):
    reg, clock, tb = machine("v6.18", kmem_registry)
    tb.write_record(0, bytes([0xFF, 0xFF, 0, 0, 1, 0, 0, 0]))
    tb.emit_core(2, 0, 1, [9, 1])
    r = TextRenderer(reg, "v6.18", {1: "init"}, KEY)
    from memsim.tracing.events import EventDecl
    late = EventDecl("test", "late", (), '"hello"')
    reg.add(late)
    reg.enable("test:late")
    reg.emit(tb, 0, 1, "test:late")
    lines = list(r.lines(tb))
    assert lines[-1].endswith(": late: hello\n")
    assert lines[0] == "            init-1       [000] ..... 12345.678901: Unknown type 65535\n"
    assert render(reg, "v6.18", tb, {1: "init"}).endswith("".join(lines))
