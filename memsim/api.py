"""Run a workload from Python: what ``memsim run`` does, as a function.

::

    import memsim

    result = memsim.run("configs/anon-touch.yaml", seed=3, settings={"machine.cpus": 1},
                        events="kmem:rss_stat")
    result.status                      # "passed" (memsim.workload.outcome.STATUSES)
    result.summary["tasks"][0]["rss_bytes"]          # what `memsim run --json` prints
    result.read_file("/proc/meminfo")  # any file of the emulated machine, as text
    [r.fields["size"] for r in result.records()]     # the trace, through memsim.tracing

``memsim run`` is built on the same two steps, :func:`prepare` (the workload loaded with its
plugins, the machine built) and :class:`RunResult` (what the executed run gives), so the command
and the function cannot drift apart.  A caller that needs to act between them (attach a trace
sink, say) calls :func:`prepare`, then ``run.execute()``, then ``RunResult(run)``.

Mistakes in what is asked (a workload that does not load, an unknown seed change, a seed out of
range) raise :mod:`memsim.errors` exceptions, as the command exits 2 for them; a run that stops
early (an ``expect`` that does not hold, a deadlock, a plugin's bug) does not raise: its
:attr:`RunResult.status` and :attr:`RunResult.error` say how it ended, and
:meth:`RunResult.raise_for_status` raises the error.
"""
from __future__ import annotations

import errno as _errno
import io
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from memsim.errors import MemsimError, UsageError

__all__ = ["run", "prepare", "RunResult", "FileEntry", "workload_source", "ALL_EVENTS"]

#: ``events=`` default: every event, as ``memsim run --trace`` records.
ALL_EVENTS = "*:*"

Workload = Union[str, "os.PathLike[str]", Mapping[str, Any], Any]


def workload_source(workload: Workload):
    """A :class:`memsim.workload.variant.WorkloadSource` from a path (``str`` without a newline,
    or ``os.PathLike``), YAML text (a ``str`` with a newline), a mapping (the parsed YAML,
    ``{"machine": {...}, "tasks": [...]}``; messages point into ``yaml.safe_dump`` of it, named
    ``<dict>``) or a WorkloadSource (as is)."""
    from memsim.workload.variant import WorkloadSource
    if isinstance(workload, WorkloadSource):
        return workload
    if isinstance(workload, Mapping):
        import yaml
        try:
            text = yaml.safe_dump(_plain(workload), sort_keys=False, default_flow_style=False)
        except yaml.YAMLError as exc:
            raise UsageError("workload", f"the mapping cannot be written as YAML: {exc}",
                             "give plain values: mappings, lists, strings, numbers, booleans") from None
        return WorkloadSource("<dict>", text)
    if isinstance(workload, str) and "\n" in workload:
        return WorkloadSource("<string>", workload)
    if isinstance(workload, (str, os.PathLike)):
        return WorkloadSource.read(workload)
    raise UsageError("workload", f"a {type(workload).__name__} is not a workload",
                     "give a file's path, YAML text or a mapping")


def _plain(value):
    """``value`` with mappings and sequences made dicts and lists (yaml.safe_dump's types)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _yaml_value(value: Any) -> str:
    """``value`` as the YAML text of an override (what ``--set KEY=VALUE`` takes after '=')."""
    import yaml
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=1 << 30)
    return text[:-len("\n...\n")] if text.endswith("\n...\n") else text.rstrip("\n")


def _overrides(seed, patches, settings) -> list:
    """The overrides of ``settings`` ({dotted key: value}) and ``patches`` ({name: on}), and the
    checked ``seed``."""
    from memsim.workload.variant import parse_seed, patch_override, setting_override
    out = []
    for key, value in (settings or {}).items():
        out.append(setting_override(str(key), _yaml_value(value), f"settings[{key!r}]"))
    for name, state in (patches or {}).items():
        if isinstance(state, str) and state in ("on", "off"):
            state = state == "on"
        if not isinstance(state, bool):
            raise UsageError(f"patches[{name!r}]", f"{state!r} is not a state", "give True or False ('on' or 'off')")
        out.append(patch_override(name, state, option=f"patches[{name!r}]"))
    return out, (parse_seed(seed, "seed") if seed is not None else None)


def _globs(events) -> List[str]:
    if events is None:
        return []
    if isinstance(events, str):
        return [g.strip() for g in events.split(",") if g.strip()]
    return [str(g) for g in events]


def prepare(workload: Workload, *, seed: Optional[int] = None,
            patches: Optional[Mapping[str, Union[bool, str]]] = None,
            settings: Optional[Mapping[str, Any]] = None, events: Union[str, Iterable[str], None] = ALL_EVENTS,
            plugins: Sequence[Any] = (), disabled: Sequence[str] = (), check: bool = False,
            overrides: Sequence[Any] = (), host=None):
    """The run of ``workload`` ready to execute: a :class:`memsim.workload.runner.Run` (its
    machine built, nothing run yet).  The arguments are :func:`run`'s; also:

    :param overrides: :class:`memsim.workload.variant.Override` values applied after
        ``settings`` and ``patches`` (the CLI's ``--set`` and ``--patch``, with their option text).
    :param host: a :class:`memsim.workload.variant.Host` to reuse (its plugins are loaded once;
        a loop over many runs passes the same one); ``plugins`` and ``disabled`` must then be empty.
    """
    from memsim.workload.runner import Run
    from memsim.workload.variant import Host
    source = workload_source(workload)
    variant, seed = _overrides(seed, patches, settings)
    if host is None:
        pm = None
        if plugins:
            from memsim.plugin_host import get_plugin_manager
            pm = get_plugin_manager(disabled=disabled, extra_plugins=plugins)
        host = Host(disabled, pm=pm)
    elif plugins or disabled:
        raise UsageError("host", "plugins and disabled are given with a host",
                         "give them to the Host (Host(disabled, pm=...)), or leave host out")
    if patches:
        host.check_patches(patches, option="patches")
    prepared = host.prepare(source, variant + list(overrides), events=_globs(events))
    return Run(prepared.workload, prepared.registries, prepared.events, host.pm, check=check, seed=seed)


def run(workload: Workload, *, seed: Optional[int] = None,
        patches: Optional[Mapping[str, Union[bool, str]]] = None,
        settings: Optional[Mapping[str, Any]] = None, events: Union[str, Iterable[str], None] = ALL_EVENTS,
        plugins: Sequence[Any] = (), disabled: Sequence[str] = (), check: bool = False) -> "RunResult":
    """Run ``workload`` and return its :class:`RunResult`; ``memsim run`` with options.

    :param workload: a file's path, YAML text (a ``str`` with a newline) or a mapping of the
        parsed YAML (see :func:`workload_source`).
    :param seed: overrides ``machine.seed`` (``--seed``), 0 to 2**64-1.
    :param patches: seed changes switched on (True, ``"on"``) or off (False, ``"off"``) by name
        (``--patch NAME=on|off``; ``memsim patches`` lists them).
    :param settings: workload values by dotted key (``--set KEY=VALUE``):
        ``{"machine.cpus": 2, "tasks.0.steps.0.mmap.length": "8 MiB"}``.
    :param events: the trace events to record, set_event globs as a list or a comma-separated
        string (``--events``); every event by default; ``()`` or None records none (faster).
    :param plugins: plugin objects or modules to register besides the installed ones (a plugin
        under development, without an entry point).
    :param disabled: installed plugins to leave out by name (``-p no:NAME``).
    :param check: verify the core's invariants after every scheduler slice (``--check``).
    :raises memsim.errors.MemsimError: a mistake in what is asked (exit code 2 on the command
        line): the workload does not load, a setting or seed change is wrong, a plugin fails to load.
    """
    from memsim.tracing.recorder import record_pages
    r = prepare(workload, seed=seed, patches=patches, settings=settings, events=events,
                plugins=plugins, disabled=disabled, check=check)
    recorder = None
    if _globs(events):
        recorder = record_pages(r.machine, r.events)      # every event, as memsim run --trace
        r.attach_recorder(recorder)
    try:
        r.execute()
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    if recorder is None:
        return RunResult(r)
    recorder.close()
    r.machine.trace = recorder.recorded()
    return RunResult(r)


@dataclass(frozen=True)
class FileEntry:
    """One file or directory of the emulated machine: ``mode`` as ``ls -l`` prints it
    (``-r--r--r--``), and the filesystem mounted there (``proc``), if any."""

    path: str
    mode: str
    filesystem: Optional[str] = None

    @property
    def is_dir(self) -> bool:
        return self.mode.startswith("d")


class RunResult:
    """What an executed run gives: :attr:`summary`, :attr:`outcome`, the machine's files, the
    trace, and :attr:`run` / :attr:`machine` for deeper use."""

    def __init__(self, run, trace=None):
        #: the executed :class:`memsim.workload.runner.Run`
        self.run = run
        #: what the trace methods read: ``trace``, else the run's ``trace_buffer``: every
        #: record of the run (:class:`memsim.tracing.recorder.RecordedTrace`, what :func:`run`
        #: records), or what the machine's ring buffer holds at the end (``--trace-ring``)
        self.trace_buffer = trace if trace is not None else run.trace_buffer
        self._summary: Optional[Dict[str, Any]] = None
        self._outcome = None

    # -- how it ended ---------------------------------------------------------------------------
    @property
    def machine(self):
        """The :class:`memsim.machine.Machine` as the run left it."""
        return self.run.machine

    @property
    def summary(self) -> Dict[str, Any]:
        """The run's summary: the dict ``memsim run --json`` prints (without ``files`` and
        ``ls``, which :meth:`read_file` and :attr:`files` give)."""
        if self._summary is None:
            self._summary = self.run.summary()
        return self._summary

    @property
    def outcome(self):
        """The :class:`memsim.workload.outcome.Outcome`: status, error text and metrics (the
        core's and the seed changes'), as ``memsim sweep`` and ``compare`` count them."""
        if self._outcome is None:
            from memsim.workload.outcome import outcome
            self._outcome = outcome(self.run)
        return self._outcome

    @property
    def status(self) -> str:
        """``passed``, ``failed``, ``killed``, ``deadlocked`` or ``error``."""
        from memsim.workload.outcome import run_status
        return run_status(self.run)

    @property
    def error(self) -> Optional[MemsimError]:
        """The error the run stopped on (``<where>: <problem>; <fix>``), or None."""
        return self.run.error

    def raise_for_status(self) -> "RunResult":
        """Raise :attr:`error` if the run stopped on one; return self otherwise."""
        if self.run.error is not None:
            raise self.run.error
        return self

    # -- the machine's files -------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        """The file at ``path`` of the emulated machine (``/proc/meminfo``, ``/sys/...``), read
        as ``cat`` reads it.  A failure raises the OSError the kernel's errno makes
        (FileNotFoundError, IsADirectoryError, PermissionError...)."""
        from memsim.vfs import VfsError
        try:
            return self.machine.vfs.read_file(path)
        except VfsError as e:
            number = getattr(_errno, e.errno, _errno.EIO)
            raise OSError(number, f"{e.errno}: {e.detail}" if e.detail else e.errno, path) from None

    def read_file(self, path: str) -> str:
        """:meth:`read_bytes` as text (UTF-8; undecodable bytes replaced)."""
        return self.read_bytes(path).decode("utf-8", "replace")

    @property
    def files(self) -> List[FileEntry]:
        """Every file and directory of the machine's namespace, depth first in name order (what
        ``memsim run --ls`` lists)."""
        from memsim.vfs import mode_string
        vfs = self.machine.vfs
        roots = {vfs.mount_point(m): m.mnt_sb.s_type.name for m in vfs.mounts()}
        return [FileEntry(path, mode_string(inode.i_mode), roots.get(path))
                for path, inode in vfs.iterate("/")]

    # -- the trace ----------------------------------------------------------------------------
    @property
    def events(self):
        """The run's :class:`memsim.tracing.events.EventRegistry` (which events exist, which
        were recorded)."""
        return self.run.events

    def write_trace_text(self, f) -> None:
        """Write the trace (:attr:`trace_buffer`) to the text stream ``f``, as the kernel's
        ``trace`` file reads."""
        from memsim.tracing.text import TextRenderer
        m = self.machine
        TextRenderer(self.run.events, m.profile.name, m.comms, m.ptr_key).render(self.trace_buffer, f)

    def trace_text(self) -> str:
        """The trace as the kernel's ``trace`` file text (``memsim run --trace FILE``)."""
        out = io.StringIO()
        self.write_trace_text(out)
        return out.getvalue()

    def trace(self, strict: bool = True):
        """The trace as a :class:`memsim.tracing.TraceReader`: ``.records()``, ``.batches()``,
        ``.columns()`` as for a trace file (docs/traces.md), read with this run's event formats."""
        from memsim.tracing.formats import default_formats
        from memsim.tracing.textparse import TextReader
        data = io.BytesIO(self.trace_text().encode("utf-8"))
        return TextReader("<run>", io.BufferedReader(data), formats=default_formats(self.run.events),
                          strict=strict)

    def records(self) -> Iterator[Any]:
        """The trace's :class:`memsim.tracing.Record` objects, in the order the trace file lists them."""
        with self.trace() as reader:
            yield from reader.records()

    def write_trace(self, path: str, dat_version: int = 7, dat_compression: Optional[str] = None) -> None:
        """Write the trace to ``path``: ``*.dat`` as trace-cmd's trace.dat (version 7 with zstd
        by default, or 6), anything else as the kernel's ``trace`` text."""
        m = self.machine
        if str(path).lower().endswith(".dat"):
            from memsim.tracing.tracedat_write import write_buffer_trace_dat
            compression = dat_compression or ("zstd" if dat_version == 7 else "none")
            write_buffer_trace_dat(str(path), self.trace_buffer, self.run.events, m.comms,
                                   profile_name=m.profile.name, version=dat_version,
                                   compression=compression)
            return
        from memsim.fileio import atomic_write
        with atomic_write(str(path)) as f:
            self.write_trace_text(f)

    def __repr__(self) -> str:
        return f"<RunResult {self.run.workload.path} seed {self.run.spec.seed}: {self.status}>"
