"""kasan-tag-fe as a switch (plugins/kasan/patch.py), the demo's cases both ways, and the
error_report event against the live kernel's format."""
import os

from memsim.testing import assert_format_is_the_live_kernels, run_text

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "configs", "patch-kasan-tag-fe.yaml")


def demo(state: str):
    with open(DEMO) as f:
        text = f.read()
    text = text.replace("nodes: [{memory: 256 MiB}]}", "nodes: [{memory: 256 MiB}], "
                        f"patches: {{kasan-tag-fe: {state}}}}}")
    run = run_text(text, filename="patch-kasan-tag-fe.yaml", events=("error_report:*",))
    assert run.error is None, run.error
    return run


def metrics(run):
    return {m.name: m.compute(run.machine)
            for m in run.registries.patches.get("kasan-tag-fe").metrics}


def test_the_demo_case_by_case():
    on, off = metrics(demo("on")), metrics(demo("off"))
    assert on["shadow_init"] == 0xFE and off["shadow_init"] == 0xFF
    # wild and large out-of-bounds accesses through tagged pointers: reported on both sides,
    # with the memory tag of never-allocated memory
    for case in ("wild_tagged", "far_oob"):
        assert (on[f"memtag_{case}"], off[f"memtag_{case}"]) == (0xFE, 0xFF), case
    # a 0xFF pointer is never checked
    assert on["memtag_wild_native"] == off["memtag_wild_native"] == -1
    # the one flip: a pointer tagged 0xFE matches never-allocated memory with the change
    assert (on["memtag_wild_fe_pointer"], off["memtag_wild_fe_pointer"]) == (-1, 0xFF)
    # freed memory and redzones are 0xFE on both sides; a 0xFF memory tag is ordinary
    for case in ("kmalloc_oob_right", "kmalloc_uaf", "pagealloc_uaf", "kmalloc_large_oob_right",
                 "double_free"):
        assert on[f"memtag_{case}"] == off[f"memtag_{case}"] == 0xFE, case
    assert on["memtag_match_all_mem_tag"] == off["memtag_match_all_mem_tag"] == 0xFF
    assert (on["reports"], off["reports"]) == (8, 9)


def test_reports_name_the_bug_the_same_way_on_both_sides():
    kinds = {}
    for state in ("on", "off"):
        st = demo(state).machine.plugin_state["kasan"]
        kinds[state] = {case: got[0] for case, got in st.cases.items() if got is not None}
    assert kinds["on"] == {k: v for k, v in kinds["off"].items() if k != "wild_fe_pointer"}
    assert kinds["on"]["kmalloc_uaf"] == "use-after-free"
    assert kinds["on"]["kmalloc_oob_right"] == "out-of-bounds"
    assert kinds["on"]["double_free"] == "double-free or invalid-free"
    assert kinds["on"]["pagealloc_uaf"] == "invalid-access"


def test_error_report_end_is_the_live_kernels():
    from memsim.tracing.error_report import error_report_events
    assert_format_is_the_live_kernels(error_report_events("v6.18"), "error_report", "error_report_end")


def test_error_report_end_of_v5_14_knows_two_detectors():
    from memsim.tracing.error_report import error_report_events
    [decl] = error_report_events("v5.14")
    assert decl.print_fmt == ('"[%s] %lx", __print_symbolic(REC->error_detector, { 0, "kfence" }, '
                              '{ 1, "kasan" }), REC->id')


def test_the_trace_text_of_a_report():
    run = demo("on")
    from memsim.testing import trace_text
    lines = [line for line in trace_text(run).splitlines() if "error_report_end" in line]
    assert len(lines) == 8
    assert lines[0].endswith("error_report_end: [kasan] 2aff88800fff0000")
