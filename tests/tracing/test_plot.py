"""memsim.tracing.plot: the panels ``memsim trace plot`` draws and how the PNG is written."""
import os

import pytest

from memsim.errors import UsageError
from memsim.tracing.plot import PlotData, check_output, render
from memsim.tracing.record import Record

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def rec(event, ts, fields, system="kmem", pid=100, comm="app"):
    return Record(system, event, pid, None, comm, 0, ts, ".....", fields)


def kmem_records():
    out = []
    for i in range(50):
        out.append(rec("mm_page_alloc", i * 1000, {"pfn": 0x100 + i, "order": i % 3, "migratetype": 1}))
        out.append(rec("rss_stat", i * 1000 + 1, {"mm_id": 7, "curr": 1, "member": 1, "size": (i + 1) * 4096}))
    for i in range(20):
        out.append(rec("mm_page_free", 60000 + i * 1000, {"pfn": 0x100 + i, "order": i % 3}))
    out.append(rec("mm_page_alloc", 90000, {"pfn": (1 << 64) - 1, "order": 0, "migratetype": 0}))
    return out


def test_panels_follow_the_events_present():
    d = PlotData().update(kmem_records())
    assert d.panels() == ["rss", "alloc_rate", "net_pages"]
    assert len(d.alloc) == 50 and len(d.free) == 20          # the failed allocation is left out
    d.add(rec("mm_filemap_add_to_page_cache", 100000,
              {"pfn": 1, "i_ino": 2, "index": 0, "s_dev": 3, "order": 2}, system="filemap"))
    d.add(rec("mod_memcg_state", 100001, {"id": 1, "item": 55, "val": 1}, system="memcg"))
    assert d.panels() == ["rss", "alloc_rate", "net_pages", "page_cache", "memcg"]
    assert list(d.filemap.val) == [4]


def test_render_writes_a_png_atomically(tmp_path):
    out = tmp_path / "t.png"
    out.write_bytes(b"old")
    panels = render(PlotData().update(kmem_records()), str(out), title="kmem")
    assert panels == ["rss", "alloc_rate", "net_pages"]
    data = out.read_bytes()
    assert data[:8] == PNG and len(data) > 10000
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]     # no temporary file left


def test_render_of_an_empty_trace_says_so(tmp_path):
    out = tmp_path / "empty.png"
    assert render(PlotData(), str(out)) == []
    assert out.read_bytes()[:8] == PNG


def test_output_checks(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        check_output(str(tmp_path))
    with pytest.raises(UsageError, match="does not exist"):
        check_output(str(tmp_path / "nope" / "x.png"))
    with pytest.raises(UsageError, match="standard output"):
        check_output("-")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(UsageError, match="not writable"):
            check_output(str(ro / "x.png"))


def test_several_runs_share_the_axes_and_are_labelled(tmp_path):
    from memsim.tracing.plot import figure
    on = PlotData().update(kmem_records())
    later = [Record(r.system, r.event, r.pid, r.tgid, r.comm, r.cpu, r.ts + 50000, r.flags, r.fields)
             for r in kmem_records()[:40]]
    off = PlotData().update(later)
    fig, panels = figure({"on": on, "off": off}, title="cmp")
    assert panels == ["rss", "alloc_rate", "net_pages"] and len(fig.axes) == 3
    for ax in fig.axes:
        _, labels = ax.get_legend_handles_labels()
        assert any(l.startswith("on: ") for l in labels) and any(l.startswith("off: ") for l in labels)
        assert ax.get_xlim() == fig.axes[0].get_xlim()
    # one time axis for both: from the first event of either run to the last of either (µs),
    # and a margin of 3% of that after the last event
    assert fig.axes[0].get_xlim() == pytest.approx((0, 90.0 * 1.03))
    rss = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert rss["on: app-100 ANON"].get_linestyle() == "-"
    assert rss["off: app-100 ANON"].get_linestyle() == "--"
    assert fig.texts[0].get_text().startswith("cmp: events on 121, off 40, ")
    out = tmp_path / "cmp.png"
    assert render({"on": on, "off": off}, str(out), option="--plot") == panels
    assert out.read_bytes()[:8] == PNG
    with pytest.raises(UsageError, match="^--plot: "):
        render({"on": on}, str(tmp_path), option="--plot")


def test_the_time_axis_leaves_a_margin_and_mms_are_named_by_comm_pid():
    from memsim.tracing.plot import MARGIN, figure
    recs = kmem_records()
    # mm 7 exits (every counter back to 0), then its id comes back for another process
    recs.append(rec("rss_stat", 70000, {"mm_id": 7, "curr": 0, "member": 1, "size": 0}))
    recs.append(rec("rss_stat", 80000, {"mm_id": 7, "curr": 1, "member": 1, "size": 4096},
                    pid=200, comm="dd"))
    d = PlotData().update(recs)
    assert d.mm_names() == {(7, 0): "app-100", (7, 1): "dd-200"}
    fig, _ = figure(d)
    lo, hi = fig.axes[0].get_xlim()
    assert lo == 0 and hi == pytest.approx(90.0 * (1 + MARGIN)) and hi > 90.0
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"app-100 ANON", "dd-200 ANON"}
    # the exited mm's line ends at its teardown; the live one runs to the last event
    assert max(lines["app-100 ANON"].get_xdata()) == pytest.approx(70.0)
    assert max(lines["dd-200 ANON"].get_xdata()) == pytest.approx(90.0)
