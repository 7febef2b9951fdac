"""memsim.ring: what a full trace buffer does (tracefs options/overwrite) and the streaming mode
``memsim run --trace`` records through (issue 9, lossless traces)."""
import struct

import pytest

from memsim.ring import RING_DROP, RING_OVERWRITE, RING_STREAM, Clock, TraceBuffer

PAGE = 4096


def fill(tb, clock, n, cpu=0):
    """Write ``n`` 24-byte records stamped 1000, 2000, ...; the payload holds the record's number."""
    for i in range(n):
        clock.now = (i + 1) * 1000
        tb.write_record(cpu, struct.pack("<QQQ", i, 0, 0))


def numbers(tb, cpu=0):
    return [struct.unpack_from("<Q", p)[0] for _, p in tb.records(cpu)]


def test_overwrite_is_the_kernels_default_and_keeps_the_newest():
    clock = Clock(0)
    tb = TraceBuffer(1, 8, clock)                   # 8 KiB: two sub-buffer pages
    assert tb.mode == RING_OVERWRITE and tb.overwrite
    fill(tb, clock, 1000)
    st = tb.cpu_stats(0)
    kept = numbers(tb)
    # the newest records, in order, ending with the last written; the oldest pages were overrun
    assert kept == list(range(1000 - len(kept), 1000))
    assert st["entries"] == len(kept) and 0 < len(kept) < 1000
    assert st["overrun"] == 1000 - len(kept) and st["written"] == 1000 and st["dropped"] == 0
    assert tb.lost() == st["overrun"]
    assert len(tb.subbuffers(0)) == 2


def test_overwrite_off_drops_the_new_records():
    clock = Clock(0)
    tb = TraceBuffer(1, 8, clock, overwrite=False)
    assert tb.mode == RING_DROP and not tb.overwrite
    fill(tb, clock, 1000)
    st = tb.cpu_stats(0)
    kept = numbers(tb)
    assert kept == list(range(len(kept)))          # the oldest kept
    assert st["dropped"] == 1000 - len(kept) and st["overrun"] == 0
    assert st["entries"] == st["written"] == len(kept)
    assert tb.stats() == [(len(kept), 1000 - len(kept))]


def test_streaming_loses_nothing_and_hands_out_full_pages():
    clock = Clock(0)
    tb = TraceBuffer(2, 8, clock)
    tb.start_streaming()
    assert tb.mode == RING_STREAM and tb.lost() == 0
    taken = b""
    for chunk in range(10):                         # the reader drains now and then
        for i in range(chunk * 500, (chunk + 1) * 500):
            clock.now = (i + 1) * 1000
            tb.write_record(0, struct.pack("<QQQ", i, 0, 0))
        if chunk % 3 == 0:                          # sometimes it is late: the ring grows
            full = tb.full_pages()
            assert full > 0
            pages = tb.take_pages(0)
            assert len(pages) == full * PAGE and tb.full_pages() == 0
            taken += pages
    taken += tb.take_pages(0) + tb.head_page(0)
    assert len(taken) % PAGE == 0
    from memsim.ring import decode_subbuffer
    got = [struct.unpack_from("<Q", p)[0]
           for i in range(0, len(taken), PAGE) for _, p in decode_subbuffer(taken[i:i + PAGE])]
    assert got == list(range(5000))
    assert tb.cpu_stats(0) == {"entries": 5000, "overrun": 0, "dropped": 0, "written": 5000}
    assert tb.take_pages(1) == b"" and tb.head_page(1) == b""


def test_streaming_starts_before_the_first_record():
    clock = Clock(0)
    tb = TraceBuffer(1, 8, clock)
    fill(tb, clock, 1)
    with pytest.raises(ValueError, match="stream from the start"):
        tb.start_streaming()
    with pytest.raises(ValueError, match="streaming"):
        tb.take_pages(0)


def test_a_records_context_adds_to_the_events_flags_and_preempt_count():
    """TraceBuffer.ctx_flags / ctx_preempt (tracing_gen_ctx): a record written inside a marked
    section (softirq, a lock held) carries the event's own flags and preempt count plus the
    section's; outside it, the event's alone (the v5.14 bytes)."""
    tb = TraceBuffer(1, 8, Clock(0))
    tb.bind_core_event(2, 300, 24, [8, 16], [8, 4], common_flags=0x01, preempt_count=1)
    tb.set_core_enabled(2, True)
    assert (tb.ctx_flags, tb.ctx_preempt) == (0, 0)
    tb.emit_core(2, 0, 7, [0x1234, 0])
    tb.ctx_flags, tb.ctx_preempt = 0x10, 1          # softirq on the idle task
    tb.emit_core(2, 0, 0, [0x1235, 0])
    headers = [struct.unpack_from("<HBBi", p) for _, p in tb.records(0)]
    assert headers == [(300, 0x01, 1, 7), (300, 0x11, 2, 0)]
