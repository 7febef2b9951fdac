"""Timelines of a trace as one PNG: what ``memsim trace plot`` draws.

:class:`PlotData` collects, in one pass over the records, the points of each timeline the events
allow (16 bytes per point of a plotted event: a timestamp and a value in two ``array``\\ s; other
events cost nothing).  :func:`render` draws a matplotlib figure with one panel per timeline that
has data, in this order:

1. **RSS per mm** (``rss_stat``): one step line per mm and counter, MiB over time (the largest
   ``MAX_MMS`` mms by peak RSS when there are more), each mm named ``comm-pid``
   (:class:`~memsim.tracing.stats.MmLives`: an mm_id reused after an exit is another mm);
2. **page allocations and frees per second by order**: ``mm_page_alloc`` above zero,
   ``mm_page_free`` mirrored below zero, one colour per order, counted in time bins (at most
   ``BINS``, about ``MIN_PER_BIN`` events each on average; symlog scale, linear up to one event
   per bin);
3. **net pages allocated** (pages of successful ``mm_page_alloc`` minus pages of ``mm_page_free``,
   each weighted by ``2**order``), cumulative from the first event;
4. **page-cache pages** (``mm_filemap_add_to_page_cache`` minus
   ``mm_filemap_delete_from_page_cache``, weighted by ``2**order``), relative to the first event;
5. **memcg stat deltas** (``count_memcg_events``, ``mod_memcg_state``,
   ``mod_memcg_lruvec_state``): the running sum of ``val`` of the ``MAX_MEMCG_SERIES`` busiest
   (event, item) pairs, summed over all cgroups.

Several traces (``memsim compare``'s two runs) can be drawn on the same axes: give
:func:`render` a mapping of label to :class:`PlotData`.

Time runs from the first event, in s, ms or µs, whichever suits the trace's span, with a margin
of ``MARGIN`` of the span after the last event.  matplotlib is imported inside :func:`render` and used
through its Agg canvas only (no pyplot, no global backend switch); the PNG is written to a
temporary file next to the output and renamed over it (atomic).
"""
from __future__ import annotations

import os
from array import array
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from memsim.errors import UsageError
from memsim.tracing.stats import RSS_MEMBERS, MmLives, alloc_failed, folio_order, rss_member

MAX_MMS = 8
#: the room left after the last event, as a share of the span (the last steps stay visible)
MARGIN = 0.03
MAX_MEMCG_SERIES = 8
BINS = 200
MIN_PER_BIN = 5
_SHORT = {0: "FILE", 1: "ANON", 2: "SWAP", 3: "SHMEM"}
_MEMCG_SHORT = {"count_memcg_events": "events", "mod_memcg_state": "state",
                "mod_memcg_lruvec_state": "lruvec"}


class _Series:
    __slots__ = ("ts", "val")

    def __init__(self) -> None:
        self.ts = array("q")
        self.val = array("q")

    def add(self, ts: int, val: int) -> None:
        self.ts.append(ts)
        self.val.append(val)

    def __len__(self) -> int:
        return len(self.ts)


class PlotData:
    """The points of every timeline, gathered from records by :meth:`add`."""

    def __init__(self) -> None:
        self.first_ts: Optional[int] = None
        self.last_ts: Optional[int] = None
        self.total = 0
        self.rss: Dict[Tuple[Any, int], _Series] = {}      # (mm, member) -> size in bytes
        self.mm_comm: Dict[Any, str] = {}                   # mm -> its comm-pid name
        self.mm_ended: Dict[Any, bool] = {}                 # mm -> torn down in the trace
        self._lives = MmLives()                             # mm = (mm_id, life)
        self.alloc = _Series()                              # val = order (successful allocs)
        self.free = _Series()                               # val = order
        self.filemap = _Series()                            # val = +/- 2**order pages
        self.memcg: Dict[Tuple[str, Any], _Series] = {}     # (event, item) -> val

    def update(self, records: Iterable) -> "PlotData":
        for rec in records:
            self.add(rec)
        return self

    def add(self, rec) -> None:
        ts = rec.ts
        self.total += 1
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        ev, f = rec.event, rec.fields
        if ev == "rss_stat":
            member, size = rss_member(f), f.get("size")
            if member is None or not isinstance(size, int):
                return
            life = self._lives.update(f.get("mm_id"), member, size, f.get("curr"), rec.pid,
                                      rec.comm)
            mm = (life.mm_id, life.life)
            key = (mm, member)
            s = self.rss.get(key)
            if s is None:
                s = self.rss[key] = _Series()
                self.mm_comm[mm] = ""
            s.add(ts, size)
            if life.ended:
                self.mm_ended[mm] = True
        elif ev == "mm_page_alloc":
            if not alloc_failed(f):
                self.alloc.add(ts, folio_order(f))
        elif ev == "mm_page_free":
            self.free.add(ts, folio_order(f))
        elif ev == "mm_filemap_add_to_page_cache":
            self.filemap.add(ts, 1 << folio_order(f))
        elif ev == "mm_filemap_delete_from_page_cache":
            self.filemap.add(ts, -(1 << folio_order(f)))
        elif ev in _MEMCG_SHORT:
            val = f.get("val")
            if isinstance(val, int):
                key2 = (ev, f.get("item"))
                s = self.memcg.get(key2)
                if s is None:
                    s = self.memcg[key2] = _Series()
                s.add(ts, val)

    def mm_names(self) -> Dict[Any, str]:
        """``(mm_id, life)`` -> the ``comm-pid`` name of that mm (see :class:`MmLives`)."""
        names = self._lives.names()
        return {(m.mm_id, m.life): names[id(m)] for m in self._lives.all}

    def panels(self) -> List[str]:
        """The panels :func:`render` will draw, in order."""
        out = []
        if self.rss:
            out.append("rss")
        if len(self.alloc) or len(self.free):
            out += ["alloc_rate", "net_pages"]
        if len(self.filemap):
            out.append("page_cache")
        if self.memcg:
            out.append("memcg")
        return out


def check_output(path: str, option: str = "-o", example: str = "out.png") -> str:
    """Refuse an output path that is a directory or whose directory is missing or unwritable
    (``example`` is the kind of file name the fix suggests)."""
    if not path or path == "-":
        raise UsageError(option, "a PNG cannot go to standard output", f"give a file name such as {example}")
    if os.path.isdir(path):
        raise UsageError(option, f"{path} is a directory", f"give a file name such as {example}")
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UsageError(option, f"{parent} is not a directory", "give a path in a directory")
    if not os.path.isdir(parent):
        raise UsageError(option, f"directory {parent} does not exist", "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(option, f"directory {parent} is not writable", "write somewhere else")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(option, f"{path} is not writable", "write somewhere else")
    return path


def _np(s: _Series):
    import numpy as np
    return (np.frombuffer(s.ts, dtype=np.int64), np.frombuffer(s.val, dtype=np.int64))


#: the panels in the order they are drawn
PANELS = ("rss", "alloc_rate", "net_pages", "page_cache", "memcg")
#: the line style of each run when several are drawn on the same axes (``memsim compare``)
RUN_STYLES = ("-", "--", ":", "-.")


def render(data: Union[PlotData, Mapping[str, PlotData]], path: str, *, title: str = "trace",
           option: str = "-o") -> List[str]:
    """Draw the panels of ``data`` into the PNG ``path`` (atomically); returns the panel names.

    ``data`` is one :class:`PlotData`, or several by label (``{"on": ..., "off": ...}``): then
    every run is drawn on the same axes (same time range, from the earliest first event), each
    series labelled with its run's label and drawn in its run's line style (:data:`RUN_STYLES`).
    A trace with no events gives a single empty panel saying so.  ``option`` names the output
    in error messages.
    """
    check_output(path, option)
    fig, panels = figure(data, title=title)
    _save(fig, path, option)
    return panels


def figure(data: Union[PlotData, Mapping[str, PlotData]], *, title: str = "trace"):
    """The matplotlib Figure :func:`render` saves, and its panel names (one axes per panel)."""
    try:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plot", "matplotlib is not installed",
                         "pip install 'memsim[plot]' to draw timelines") from None
    runs: List[Tuple[str, PlotData]] = [("", data)] if isinstance(data, PlotData) else list(data.items())
    many = len(runs) > 1
    present = set(p for _, d in runs for p in d.panels())
    panels = [p for p in PANELS if p in present]
    n = max(1, len(panels))
    fig = Figure(figsize=(13, 1.2 + 3.0 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    firsts = [d.first_ts for _, d in runs if d.first_ts is not None]
    lasts = [d.last_ts for _, d in runs if d.last_ts is not None]
    t0 = min(firsts) if firsts else 0
    span = max((max(lasts) if lasts else 0) - t0, 1)
    if many:
        counts = ", ".join(f"{label} {d.total}" for label, d in runs)
        fig.suptitle(f"{title}: events {counts}, {span / 1e9:.6f} s from t0 = {t0 / 1e9:.6f} s",
                     fontsize=12)
    else:
        fig.suptitle(f"{title}: {runs[0][1].total} events, {span / 1e9:.6f} s from t0 = "
                     f"{t0 / 1e9:.6f} s", fontsize=12)

    # the time axis in s, ms or µs, whichever keeps the numbers readable
    unit, scale = (("s", 1e9) if span >= 1e9 else ("ms", 1e6) if span >= 1e6 else ("µs", 1e3))

    def secs(ts):
        return (ts - t0) / scale

    def legend(ax, ncol_max=1):
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
                      frameon=False, ncol=1 if len(handles) <= 12 else 2, borderaxespad=0.0)

    def runs_with(panel):
        """(label prefix, line style, data) of the runs that have this panel's data."""
        return [(f"{label}: " if many else "", RUN_STYLES[i % len(RUN_STYLES)], d)
                for i, (label, d) in enumerate(runs) if panel in d.panels()]

    if not panels:
        ax = axes[0]
        ax.text(0.5, 0.5, "no events in this trace", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"time since the first event ({unit})")
        ax.set_yticks([])
    for ax, panel in zip(axes, panels):
        ax.grid(True, alpha=0.3)
        if panel == "rss":
            peaks: Dict[Any, int] = {}
            for _, _, d in runs_with(panel):
                for (mm, member), s in d.rss.items():
                    peaks[mm] = max(peaks.get(mm, 0), max(s.val))
            mms = sorted(peaks, key=lambda m: -peaks[m])
            shown = mms[:MAX_MMS]
            styles = {1: "-", 0: "--", 3: "-.", 2: ":"}
            if many:        # a colour per (mm, counter), a line style per run
                keys = sorted({(mm, member) for _, _, d in runs_with(panel) for (mm, member) in d.rss
                               if mm in shown}, key=lambda k: (shown.index(k[0]), k[1]))
                by_key = dict(zip(keys, _colors(len(keys))))
                color_of = lambda mm, member: by_key[(mm, member)]      # noqa: E731
            else:           # a colour per mm, a line style per counter
                by_mm = dict(zip(shown, _colors(len(shown))))
                color_of = lambda mm, member: by_mm[mm]                 # noqa: E731
            for prefix, run_style, d in runs_with(panel):
                names = d.mm_names()
                for mm in shown:
                    for member in sorted(m for (x, m) in d.rss if x == mm):
                        ts, val = _np(d.rss[(mm, member)])
                        if d.mm_ended.get(mm):      # torn down: the line ends there
                            x, y = secs(ts), val / (1 << 20)
                        else:
                            x = np.append(secs(ts), span / scale)
                            y = np.append(val, val[-1]) / (1 << 20)
                        who = names.get(mm, str(mm[0]))
                        ax.step(x, y, where="post", color=color_of(mm, member),
                                linestyle=run_style if many else styles.get(member, "-"),
                                linewidth=1.2, label=f"{prefix}{who} "
                                                     f"{_SHORT.get(member, RSS_MEMBERS.get(member, member))}")
            more = f" (largest {len(shown)} of {len(mms)} mms)" if len(mms) > len(shown) else ""
            ax.set_title(f"RSS per mm by counter (rss_stat){more}", fontsize=10, loc="left")
            ax.set_ylabel("MiB")
        elif panel == "alloc_rate":
            # about MIN_PER_BIN events per bin on average (the busiest run), at most BINS bins
            busiest = max(len(d.alloc) + len(d.free) for _, _, d in runs_with(panel))
            nbins = int(min(BINS, max(10, busiest // MIN_PER_BIN)))
            width = span / nbins
            edges = np.linspace(0, span, nbins + 1)
            orders = sorted(set(o for _, _, d in runs_with(panel) for o in (*d.alloc.val, *d.free.val)))
            colors = _colors(len(orders))
            per_s = 1e9 / width                 # the rate of one event in one bin
            for prefix, run_style, d in runs_with(panel):
                for i, order in enumerate(orders):
                    for s, sign in ((d.alloc, 1), (d.free, -1)):
                        if not len(s):
                            continue
                        ts, val = _np(s)
                        sel = ts[val == order] - t0
                        if not len(sel):
                            continue
                        counts, _ = np.histogram(sel, bins=edges)
                        ax.stairs(sign * counts * per_s, edges / scale, color=colors[i], linewidth=1.0,
                                  linestyle=run_style,
                                  label=f"{prefix}order {order}" if sign == 1 or not len(d.alloc) else None)
            ax.axhline(0, color="black", linewidth=0.8, zorder=5)
            ax.set_yscale("symlog", linthresh=per_s, linscale=0.3)
            lo, hi = ax.get_ylim()
            top = max(abs(lo), abs(hi), per_s * 10)
            k0, k1 = int(np.ceil(np.log10(per_s))), int(np.ceil(np.log10(top)))
            ticks = [10.0 ** k for k in range(k0, k1 + 1)]
            ax.set_yticks([-t for t in reversed(ticks)] + [0] + ticks)
            ax.set_yticklabels([f"-1e{k}" for k in reversed(range(k0, k1 + 1))] + ["0"]
                               + [f"1e{k}" for k in range(k0, k1 + 1)], fontsize=8)
            ax.set_ylim(-top * 2, top * 2)
            ax.set_title(f"page allocations (above 0) and frees (below 0) per second, by order "
                         f"(mm_page_alloc / mm_page_free; bins of {_duration(width)})",
                         fontsize=10, loc="left")
            ax.set_ylabel("events/s (frees < 0)")
        elif panel == "net_pages":
            for prefix, run_style, d in runs_with(panel):
                ts_a, ord_a = _np(d.alloc) if len(d.alloc) else (np.zeros(0, np.int64),) * 2
                ts_f, ord_f = _np(d.free) if len(d.free) else (np.zeros(0, np.int64),) * 2
                ts = np.concatenate([ts_a, ts_f])
                delta = np.concatenate([np.left_shift(1, ord_a), -np.left_shift(1, ord_f)])
                order = np.argsort(ts, kind="stable")
                y = np.cumsum(delta[order])
                ax.step(np.append(secs(ts[order]), span / scale), np.append(y, y[-1] if len(y) else 0),
                        where="post", color="tab:purple", linestyle=run_style, linewidth=1.2,
                        label=f"{prefix}allocated - freed")
            ax.axhline(0, color="black", linewidth=0.6)
            ax.set_title("net pages allocated (mm_page_alloc - mm_page_free, pages = 2**order), "
                         "from the first event", fontsize=10, loc="left")
            ax.set_ylabel("pages")
        elif panel == "page_cache":
            for prefix, run_style, d in runs_with(panel):
                ts, val = _np(d.filemap)
                y = np.cumsum(val)
                ax.step(np.append(secs(ts), span / scale), np.append(y, y[-1]), where="post",
                        color="tab:green", linestyle=run_style, linewidth=1.2,
                        label=f"{prefix}added - deleted")
            ax.axhline(0, color="black", linewidth=0.6)
            ax.set_title("page-cache pages (filemap add - delete, pages = 2**order), "
                         "relative to the first event", fontsize=10, loc="left")
            ax.set_ylabel("pages")
        elif panel == "memcg":
            sizes: Dict[Tuple[str, Any], int] = {}
            for _, _, d in runs_with(panel):
                for k, s in d.memcg.items():
                    sizes[k] = max(sizes.get(k, 0), len(s))
            keys = sorted(sizes, key=lambda k: (-sizes[k], k[0], str(k[1])))
            shown = keys[:MAX_MEMCG_SERIES]
            colors = _colors(len(shown))
            for prefix, run_style, d in runs_with(panel):
                for i, key in enumerate(shown):
                    if key not in d.memcg:
                        continue
                    ts, val = _np(d.memcg[key])
                    y = np.cumsum(val)
                    ax.step(np.append(secs(ts), span / scale), np.append(y, y[-1]), where="post",
                            color=colors[i], linestyle=run_style, linewidth=1.1,
                            label=f"{prefix}{_MEMCG_SHORT[key[0]]} item {key[1]} ({len(ts)})")
            more = f" (busiest {len(shown)} of {len(keys)})" if len(keys) > len(shown) else ""
            ax.set_title(f"memcg stat deltas, running sum of val by event/item{more}",
                         fontsize=10, loc="left")
            ax.set_ylabel("sum of val")
        legend(ax)
        ax.set_xlim(0, span * (1 + MARGIN) / scale)
    axes[-1].set_xlabel(f"time since the first event ({unit})")
    return fig, panels


def _duration(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _colors(n: int) -> List[Any]:
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


def _save(fig, path: str, option: str = "-o") -> None:
    from memsim.fileio import atomic_write
    try:
        with atomic_write(path, binary=True) as f:
            fig.savefig(f, format="png", dpi=100)
    except OSError as e:
        raise UsageError(option, f"cannot write {path}: {e.strerror}", "write somewhere else") from None


def plot_trace(reader, path: str) -> List[str]:
    """One pass over ``reader`` and the PNG at ``path``; returns the panels drawn."""
    check_output(path)
    data = PlotData().update(reader.records())
    return render(data, path, title=os.path.basename(reader.name))
