"""The oom events (include/trace/events/oom.h): v6.18's declarations print the live 6.18
kernel's format files (catalog/v6.18/oom, copied from /sys/kernel/tracing/events/oom/*/format)
byte for byte with their IDs; v5.14's mark_victim has only the pid (5.14's oom.h)."""
import re
from pathlib import Path

import pytest

import memsim.tracing
from memsim.tracing.formatfile import format_file
from memsim.tracing.oom import oom_events

CATALOG = Path(memsim.tracing.__file__).parent / "catalog" / "v6.18" / "oom"


@pytest.mark.parametrize("decl", oom_events("v6.18"), ids=lambda d: d.name)
def test_v6_18_format_files_are_the_live_kernels(decl):
    want = (CATALOG / decl.name / "format").read_text()
    type_id = int(re.search(r"^ID: (\d+)$", want, re.M).group(1))
    assert format_file(decl, type_id) == want


def test_v5_14_mark_victim_is_the_pid_only():
    decls = {d.name: d for d in oom_events("v5.14")}
    assert [f.name for f in decls["mark_victim"].fields] == ["pid"]
    assert decls["mark_victim"].print_fmt == '"pid=%d", REC->pid'
    # char is signed before 6.2's -funsigned-char
    assert decls["oom_score_adj_update"].field("comm").signed is True
    assert {d.name for d in oom_events("v5.14")} == {d.name for d in oom_events("v6.18")}
