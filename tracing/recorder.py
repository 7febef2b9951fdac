"""``trace-cmd record`` for a memsim run: the trace buffer's pages go out as they fill.

A :class:`TraceRecorder` switches a machine's :class:`memsim.ring.TraceBuffer` to streaming
(``RING_STREAM``: it grows instead of dropping or overwriting, until a reader takes its full
pages) and is drained at the run's preemption points (:meth:`TraceRecorder.drain`, which the
workload runner calls after every scheduler slice).  Recording an event stays in C; a drain is
one call per CPU for all the pages filled since the last one.  So a trace is complete however
long the run, and host memory holds only the pages of one drain.  The reader is a sink:

* :class:`DatSink` (``FILE.dat``): like ``trace-cmd record``, each CPU's pages are appended to a
  per-CPU temporary file (``trace.dat.cpuN``; here an unnamed file in the output's directory,
  which disappears if the process dies) and :meth:`TraceRecorder.close` assembles the trace.dat
  from them (:func:`memsim.tracing.tracedat_write.write_buffer_trace_dat` with
  :class:`~memsim.tracing.tracedat_write.PageFile` s);
* :class:`TextSink` (any other file, or ``-`` for standard output): the kernel's ``trace``
  text.  Lines are rendered as the records come (:class:`memsim.tracing.text.TextStream`
  keeps them in time order across CPUs) into a temporary file; at the end the header, whose
  ``entries-in-buffer/entries-written`` counts are known only then, is written and the lines
  copied after it.

Either way the output file appears whole or not at all (:func:`memsim.fileio.atomic_write`): a
run stopped by an error or by Ctrl-C still gets the trace of what it did, and a second Ctrl-C
while the file is written leaves no file.

:func:`write_ring` writes what the bounded ring holds at the end instead (``memsim run
--trace-ring``: the kernel's ``trace`` file and ``trace-cmd extract``, with the buffer's
overwrite or drop semantics).

Usage, as the CLI does it::

    rec = record_trace("trace.dat", run.machine, run.events)
    run.attach_recorder(rec)
    run.execute()
    rec.close()
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any, List, Optional, TextIO

from memsim.errors import TraceError

__all__ = ["TraceRecorder", "PageSink", "DatSink", "TextSink", "RecordedTrace", "record_trace",
           "record_pages", "write_ring", "is_dat"]

SUBBUF_SIZE = 4096
#: full pages (all CPUs) that make a drain worth it: 1 MiB of records
BATCH_PAGES = 256


def is_dat(path: Optional[str]) -> bool:
    """A trace.dat output: a file name ending in ``.dat`` (any other name, or ``-``: text)."""
    return bool(path) and path != "-" and path.lower().endswith(".dat")


def _trace_error(path: str, e: OSError) -> TraceError:
    return TraceError(path, f"cannot write the trace: {e.strerror}",
                      "check the path, its permissions and free space")


class PageSink:
    """Every CPU's full pages appended to its own unnamed temporary file as they come (in the
    directory ``where``; the system's temporary directory if None): what :func:`record_pages`
    keeps for :class:`RecordedTrace`, and what :class:`DatSink` assembles into a trace.dat."""

    def __init__(self, path: Optional[str], ncpus: int, where: Optional[str] = None):
        from memsim.tracing.tracedat_write import PageFile
        self.path = path
        try:
            self.cpus: List[Any] = [PageFile(tempfile.TemporaryFile(dir=where))
                                    for _ in range(ncpus)]
        except OSError as e:
            raise _trace_error(path or "trace", e) from None

    def drain(self, tb: Any, final: bool) -> None:
        try:
            for cpu, pages in enumerate(self.cpus):
                data = tb.take_pages(cpu)
                if final:
                    data += tb.head_page(cpu)
                if data:
                    pages.append(data)
        except OSError as e:
            raise _trace_error(self.path or "trace", e) from None

    def finish(self, tb: Any, registry: Any, machine: Any) -> None:
        pass

    def close(self) -> None:
        for pages in self.cpus:
            pages.close()


class DatSink(PageSink):
    """A trace.dat: every CPU's full pages appended to its own unnamed temporary file as they
    come (``trace.dat.cpuN`` of ``trace-cmd record``), the file assembled at :meth:`finish`."""

    def __init__(self, path: str, ncpus: int, version: int = 7, compression: Optional[str] = None):
        super().__init__(path, ncpus, os.path.dirname(os.path.abspath(path)))
        self.version = version
        self.compression = compression

    def finish(self, tb: Any, registry: Any, machine: Any) -> None:
        from memsim.tracing.tracedat_write import write_buffer_trace_dat
        write_buffer_trace_dat(self.path, tb, registry, machine.comms,
                               profile_name=machine.profile.name, version=self.version,
                               compression=self.compression, cpu_pages=self.cpus)


class RecordedTrace:
    """What a :class:`TraceRecorder` with a :class:`PageSink` recorded, read as a
    :class:`memsim.ring.TraceBuffer` is (``ncpus``, ``clock``, ``stats()``, ``cpu_stats()``,
    ``subbuffers()``, ``records()``), so that :class:`memsim.tracing.text.TextRenderer` and
    :func:`memsim.tracing.tracedat_write.write_buffer_trace_dat` write it as they write a ring:
    every record of the run, none lost.  The pages stay in temporary files until :meth:`close`
    (or until the object goes)."""

    def __init__(self, tb: Any, sink: PageSink):
        self.tb = tb
        self.sink = sink
        self.ncpus = tb.ncpus
        self.clock = tb.clock

    def stats(self) -> List[Any]:
        return self.tb.stats()

    def cpu_stats(self, cpu: int) -> Any:
        return self.tb.cpu_stats(cpu)

    def subbuffers(self, cpu: int) -> Any:
        """The CPU's pages, oldest first (a :class:`~memsim.tracing.tracedat_write.PageFile`)."""
        return self.sink.cpus[cpu]

    def records(self, cpu: int) -> Any:
        from memsim.ring import decode_subbuffer
        for page in self.sink.cpus[cpu]:
            yield from decode_subbuffer(page)

    def close(self) -> None:
        self.sink.close()


class TextSink:
    """The kernel's ``trace`` text, rendered as the records come (in time order across CPUs,
    :class:`memsim.tracing.text.TextStream`) into a temporary file; :meth:`finish` writes the
    header and then the lines to ``path`` (``-``: standard output)."""

    #: pages of each CPU decoded before the final lines are written
    CHUNK_PAGES = 64

    def __init__(self, path: str, renderer: Any, ncpus: int):
        from memsim.tracing.text import TextStream
        self.path = path
        self.renderer = renderer
        d = None if path == "-" else os.path.dirname(os.path.abspath(path))
        try:
            self.body: TextIO = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=d)
        except OSError as e:
            raise _trace_error(path, e) from None
        self.stream = TextStream(renderer, ncpus, self.body)
        #: per CPU: records already read from the page it was writing at the last drain
        self.seen = [0] * ncpus

    def drain(self, tb: Any, final: bool) -> None:
        """Render the records written since the last drain.  The pages are taken
        :attr:`CHUNK_PAGES` per CPU at a time and the lines written as soon as they are final
        (no record still to add can sort before them), so memory holds a few chunks of
        records, not all of a long slice's (exit_mmap freeing a gigabyte writes a million)."""
        from memsim.ring import decode_subbuffer
        ncpus = tb.ncpus
        queues: List[List[bytes]] = []
        heads: List[bytes] = []
        for cpu in range(ncpus):
            full = tb.take_pages(cpu)
            head = tb.head_page(cpu)
            queues.append([full[i:i + SUBBUF_SIZE] for i in range(0, len(full), SUBBUF_SIZE)]
                          + ([head] if head else []))
            heads.append(head)
        done = [0] * ncpus
        last = [-1] * ncpus                 # per CPU: the time stamp of its last record added
        try:
            while True:
                for cpu in range(ncpus):
                    pages = queues[cpu]
                    recs: List[Any] = []
                    for i in range(done[cpu], min(done[cpu] + self.CHUNK_PAGES, len(pages))):
                        page_recs = decode_subbuffer(pages[i])
                        recs.extend(page_recs[self.seen[cpu]:] if i == 0 else page_recs)
                        if pages[i] is heads[cpu]:
                            self.seen[cpu] = len(page_recs)
                    done[cpu] = min(done[cpu] + self.CHUNK_PAGES, len(pages))
                    if recs:
                        self.stream.add(cpu, recs)
                        last[cpu] = recs[-1][0]
                waiting = [cpu for cpu in range(ncpus) if done[cpu] < len(queues[cpu])]
                if not waiting:
                    break
                # a record still to add from CPU c sorts at (last[c], c) or after
                self.stream.flush(min((last[cpu], cpu) for cpu in waiting))
        except OSError as e:
            raise _trace_error(self.path, e) from None
        for cpu in range(ncpus):
            if not heads[cpu]:
                self.seen[cpu] = 0
        try:
            # every record written so far has been added, and a later one sorts at (now, 0)
            # or after
            self.stream.flush(None if final else (tb.clock.now, 0))
        except OSError as e:
            raise _trace_error(self.path, e) from None

    def finish(self, tb: Any, registry: Any, machine: Any) -> None:
        from memsim.fileio import atomic_write
        from memsim.tracing.text import trace_header
        n = self.stream.written
        header = trace_header(self.renderer.profile_name, n, n, tb.ncpus)
        try:
            self.body.flush()
            self.body.seek(0)
            if self.path == "-":
                sys.stdout.write(header)
                shutil.copyfileobj(self.body, sys.stdout)
                sys.stdout.flush()
                return
            with atomic_write(self.path) as f:
                f.write(header)
                shutil.copyfileobj(self.body, f)
        except OSError as e:
            raise _trace_error(self.path, e) from None

    def close(self) -> None:
        self.body.close()


class TraceRecorder:
    """Records everything a machine's trace buffer gets, into ``sink`` (:class:`DatSink`,
    :class:`TextSink`), draining it at preemption points; see the module's text.

    ``batch_pages``: a :meth:`drain` takes the pages once this many are full (all CPUs
    together); fewer wait for a later drain, so that a drain is worth its Python calls.
    """

    def __init__(self, machine: Any, registry: Any, sink: Any, batch_pages: int = BATCH_PAGES):
        self.machine = machine
        self.tb = machine.tb
        self.registry = registry
        self.sink = sink
        self.batch_pages = batch_pages
        self.closed = False
        self.tb.start_streaming()

    @property
    def path(self) -> str:
        return self.sink.path

    def drain(self) -> None:
        """Hand the full pages to the sink once there are ``batch_pages`` of them (a
        preemption point: the runner calls this after each scheduler slice)."""
        if self.tb.full_pages() >= self.batch_pages:
            self.sink.drain(self.tb, False)

    def close(self) -> None:
        """Take every record left (the pages being written too) and write the output file."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sink.drain(self.tb, True)
            self.sink.finish(self.tb, self.registry, self.machine)
        finally:
            if not isinstance(self.sink, PageSink) or self.sink.path is not None:
                self.sink.close()                   # record_pages' pages stay for recorded()

    def abort(self) -> None:
        """Stop without writing the output file (its temporary files go)."""
        if not self.closed:
            self.closed = True
            self.sink.close()

    def events(self) -> int:
        """Records written to the buffer so far (all of them reach the output)."""
        return sum(e for e, _ in self.tb.stats())

    def recorded(self) -> RecordedTrace:
        """After :meth:`close`, with a :class:`PageSink` (:func:`record_pages`): the records,
        read as a trace buffer is."""
        if not isinstance(self.sink, PageSink) or not self.closed:
            raise ValueError("recorded() needs a closed recorder of pages (record_pages)")
        return RecordedTrace(self.tb, self.sink)


def _renderer(machine: Any, registry: Any) -> Any:
    from memsim.tracing.text import TextRenderer
    return TextRenderer(registry, machine.profile.name, machine.comms, machine.ptr_key)


def record_trace(path: str, machine: Any, registry: Any, *, version: int = 7,
                 compression: Optional[str] = None) -> TraceRecorder:
    """Start recording ``machine``'s trace to ``path`` (``FILE.dat``: a trace.dat of
    ``version`` 6 or 7 and ``compression`` zstd or none; any other name or ``-``: the kernel's
    ``trace`` text) before it runs.  Attach the recorder to the run
    (:meth:`memsim.workload.runner.Run.attach_recorder`) and :meth:`~TraceRecorder.close` it
    after the run, also after an error or an interruption."""
    if is_dat(path):
        sink: Any = DatSink(path, machine.tb.ncpus, version, compression)
    else:
        sink = TextSink(path, _renderer(machine, registry), machine.tb.ncpus)
    return TraceRecorder(machine, registry, sink)


def record_pages(machine: Any, registry: Any) -> TraceRecorder:
    """Start recording ``machine``'s trace into temporary files (no output file): after the run
    and :meth:`~TraceRecorder.close`, :meth:`~TraceRecorder.recorded` reads every record
    (what :func:`memsim.run` does, so that :class:`memsim.api.RunResult`'s trace is complete)."""
    return TraceRecorder(machine, registry, PageSink(None, machine.tb.ncpus))


def write_ring(path: str, machine: Any, registry: Any, *, version: int = 7,
               compression: Optional[str] = None) -> None:
    """Write what ``machine``'s bounded trace buffer holds now (``--trace-ring``): a trace.dat
    as ``trace-cmd extract`` writes it, or the kernel's ``trace`` file with its header counts
    (``entries-written`` includes the records overwritten).  Written atomically."""
    from memsim.fileio import atomic_write
    tb = machine.tb
    if is_dat(path):
        from memsim.tracing.tracedat_write import write_buffer_trace_dat
        write_buffer_trace_dat(path, tb, registry, machine.comms, profile_name=machine.profile.name,
                               version=version, compression=compression)
        return
    renderer = _renderer(machine, registry)
    try:
        if path == "-":
            renderer.render(tb, sys.stdout)
            sys.stdout.flush()
            return
        with atomic_write(path) as f:
            renderer.render(tb, f)
    except OSError as e:
        raise _trace_error(path, e) from None
