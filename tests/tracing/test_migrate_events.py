"""The migrate events (include/trace/events/migrate.h): v6.18's declarations print the live 6.18
kernel's format files (catalog/v6.18/migrate, copied from /sys/kernel/tracing/events/migrate)
byte for byte with their IDs; v5.14's mm_migrate_pages has no large_folio_split and no
mm_migrate_pages_start, and its reason table ends at longterm_pin (5.14's migrate.h)."""
import re
from pathlib import Path

import pytest

import memsim.tracing
from memsim.testing import assert_format_is_the_live_kernels
from memsim.tracing.events import CORE_EVENTS
from memsim.tracing.formatfile import format_file
from memsim.tracing.migrate import migrate_events

CATALOG = Path(memsim.tracing.__file__).parent / "catalog" / "v6.18" / "migrate"


@pytest.mark.parametrize("decl", migrate_events("v6.18"), ids=lambda d: d.name)
def test_v6_18_format_files_are_the_live_kernels(decl):
    want = (CATALOG / decl.name / "format").read_text()
    type_id = int(re.search(r"^ID: (\d+)$", want, re.M).group(1))
    assert format_file(decl, type_id) == want
    assert_format_is_the_live_kernels(migrate_events("v6.18"), "migrate", decl.name)


def test_v5_14_has_the_5_14_layout():
    decls = {d.name: d for d in migrate_events("v5.14")}
    assert set(decls) == {"mm_migrate_pages"}
    d = decls["mm_migrate_pages"]
    assert [f.name for f in d.fields] == ["succeeded", "failed", "thp_succeeded", "thp_failed",
                                          "thp_split", "mode", "reason"]
    assert [(f.offset, f.size) for f in d.fields][-2:] == [(48, 4), (52, 4)]
    assert "nr_split" not in d.print_fmt and '{7, "longterm_pin"})' in d.print_fmt
    assert "demotion" not in d.print_fmt


def test_the_core_slots_name_them():
    for d in migrate_events("v6.18") + migrate_events("v5.14"):
        assert CORE_EVENTS[d.core_slot][:2] == ("migrate", d.name)
        assert set(CORE_EVENTS[d.core_slot][2]) >= {f.name for f in d.fields}
