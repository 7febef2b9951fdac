"""The ``kasan-tag-fe`` seed change ("kasan: initialize shadow to TAG_INVALID for SW_TAGS", v5.12)
as a switch.

On: KASAN_SHADOW_INIT is 0xFE (KASAN_TAG_INVALID), so memory no allocation has tagged reads
0xFE, the tag of every inaccessible state (freed, redzone).  Off: it is 0xFF, which as a *memory*
tag is an ordinary value: no random pointer tag (0x00..0xFD) matches it either (kasan.md 2, 5,
scenario 18).  memsim keeps the rest of v5.14, including the follow-up change that no longer
poisons boot memory (FPI_SKIP_KASAN_POISON): with the seed change off, never-allocated memory
keeps 0xFF, as the seed's message says.

What becomes detectable: the seed says the change "allows KASAN to detect wild and large
out-of-bounds invalid memory accesses through otherwise-tagged pointers".  The spec's analysis
(kasan.md 5 and 9) and memsim's runs differ: such an access was reported before as well, because
a tagged pointer never matches memory tag 0xFF; what changes is the memory tag its report prints
(``[fe]`` instead of ``[ff]``).  The one access whose outcome changes is through a pointer that
itself carries 0xFE (a corrupted pointer: KASAN never hands that tag out): it matched nothing
before and now matches never-allocated memory, so it is no longer reported.
"""
from __future__ import annotations

PATCH = "kasan-tag-fe"

MODEL = (
    "On (v5.12+): software tag-based KASAN starts its shadow at KASAN_TAG_INVALID (0xFE), so "
    "memory no allocation ever tagged reads 0xFE like freed memory and redzones. Off (v5.11): "
    "the shadow starts at 0xFF. memsim keeps the rest of v5.14 on both sides, including the "
    "follow-up that no longer poisons boot memory, so with the change off never-allocated "
    "memory reads 0xFF. The seed's message says the change lets KASAN detect wild and large "
    "out-of-bounds accesses through tagged pointers; following the spec (kasan.md sections 2, "
    "3, 5, 9 and scenario 18), memsim shows that those accesses are reported on both sides "
    "(0xFF is the match-all tag of a pointer, not of memory: a random pointer tag 0x00..0xFD "
    "never matches memory tag 0xFF), and that what changes is the memory tag their reports "
    "print, [fe] instead of [ff]. The one access whose outcome flips is through a pointer "
    "tagged 0xFE, a tag KASAN never hands out: before the change it was reported, after it "
    "matches never-allocated memory and is not. "
    "`configs/patch-kasan-tag-fe.yaml` runs the spec's cases (after lib/test_kasan.c); each "
    "case's metric is the memory tag its report printed (-1: no report).")

#: the demo's cases (the ``case`` labels of configs/patch-kasan-tag-fe.yaml) and what each does
CASES = (
    ("wild_tagged", "a load through a pointer tagged 0x2a from memory no allocation ever tagged"),
    ("wild_native", "the same load through a 0xFF (match-all) pointer"),
    ("wild_fe_pointer", "the same load through a pointer tagged 0xFE (never handed out)"),
    ("far_oob", "a load 200 MiB past a kmalloc'd object, into never-allocated memory"),
    ("kmalloc_oob_right", "a store one byte past a kmalloc(123) object of kmalloc-128"),
    ("kmalloc_uaf", "a load through a kfree'd kmalloc(64) pointer"),
    ("pagealloc_uaf", "a store through the pointer of a freed order-1 page block"),
    ("kmalloc_large_oob_right", "a load past the end of a 12296-byte (page allocator) kmalloc"),
    ("double_free", "a second kfree of a kmalloc(32) object"),
    ("match_all_mem_tag", "a load through a tagged pointer of memory whose tag was set to 0xFF"),
)


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``kasan-tag-fe``."""
    from memsim.patches import PatchImpl, PatchMetric
    metrics = [PatchMetric("shadow_init", "KASAN_SHADOW_INIT: the memory tag of never-allocated "
                           "memory", _shadow_init, "tag")]
    metrics += [PatchMetric(f"memtag_{name}", f"{doc}: the memory tag its report printed "
                            f"(-1: not reported)", _case(name), "tag") for name, doc in CASES]
    metrics += [PatchMetric("reports", "KASAN reports printed", _reports, "reports")]
    return PatchImpl(PATCH, MODEL, files=("/proc/sys/kernel/tainted",), metrics=tuple(metrics),
                     events=("error_report:error_report_end",))


def _state(machine):
    return machine.plugin_state.get("kasan")


def _shadow_init(machine):
    st = _state(machine)
    return st.host.shadow_init if st is not None else -1


def _case(name):
    def compute(machine):
        st = _state(machine)
        got = st.cases.get(name) if st is not None else None
        return -1 if got is None or got[1] is None else got[1]
    compute.__name__ = f"memtag_{name}"
    return compute


def _reports(machine):
    st = _state(machine)
    return len(st.reporter.reports) if st is not None else 0
