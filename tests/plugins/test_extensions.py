"""Plugins extend the core's steps and sections (issue 7, "Extensible steps and sections").

A test plugin adds an mmap type, an mmap flag, a machine key and an expect key.  Scenarios: the
loader accepts them with the core's validation and file:line:column errors; the mmap step hands
a plugin's type or flag to the plugin's typed callbacks (prepare before the mapping exists,
setup with the new VmArea); the plugin reads its machine key in its hooks; its expect key's
check runs and fails at the key; two plugins (or a plugin and the core) adding the same name is
an error naming both; docs/workloads.md says which plugin adds what.
"""
import types

import pytest

from memsim import vm
from memsim.errors import ExpectationFailed, InvalidValue, PluginError, WorkloadError
from memsim.hookspecs import hookimpl
from memsim.plugin_host import collect_registries, get_plugin_manager
from memsim.profiles import get_profile
from memsim.registry import ExpectKey, Extensions, MachineKey, MmapFlag, MmapType, Param
from memsim.testing import run_text
from memsim.workload.docs import render_reference
from memsim.workload.loader import load_workload_text

HUGE = 2 << 20
VM_HUGETEST = 1 << 40           # a VM_* bit no core flag uses


def make_plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


class HugeTest:
    """The test plugin's state and callbacks; ``calls`` records (callback, details)."""

    def __init__(self, name="hugetest"):
        self.name = name
        self.calls = []

    # -- mmap callbacks
    def prepare(self, ctx, req):
        self.calls.append(("prepare", req.length, req.kind))
        if req.length > 64 * HUGE:
            raise vm.MmError("ENOMEM", "no huge pages reserved for that")
        req.length = -(-req.length // HUGE) * HUGE      # ksys_mmap_pgoff(): ALIGN(len, huge_page_size)
        req.align = HUGE                     # hugetlb_get_unmapped_area(): huge-page aligned
        req.accountable = False              # hugetlb is reserved, not accounted
        req.vm_flags |= VM_HUGETEST

    def setup(self, ctx, vma, args):
        self.calls.append(("setup", vma.vm_start, vma.vm_end, args["type"], tuple(args["flags"]),
                           ctx.task.name))
        if args["name"] == "refused":
            raise vm.MmError("EINVAL", "the test plugin refuses this mapping")
        vma.vm_private_data = self.name           # what a real plugin would do: install its state/ops

    def flag_setup(self, ctx, vma, args):
        self.calls.append(("flag", vma.vm_flags & VM_HUGETEST != 0))

    def check(self, ctx, value):
        self.calls.append(("check", dict(value)))
        mapped = sum(v.vm_end - v.vm_start for v in ctx.task.mm.vmas if v.vm_private_data == self.name)
        if mapped != value["mapped"]:
            raise ctx.expectation_failed(f"{mapped} bytes are mapped, expected {value['mapped']}",
                                         "count the hugetest mappings", self.name)

    # -- the plugin
    def module(self):
        def memsim_register_extensions(extensions):
            extensions.add(MmapType(self.name, "huge test pages", base="anon",
                                    prepare=self.prepare, setup=self.setup))
            extensions.add(MmapFlag("MAP_HUGETLB", 0x40000, "huge pages", setup=self.flag_setup))
            extensions.add(MachineKey(Param("hugepages", "int", "huge pages reserved at boot",
                                            default=0, minimum=0)))
            extensions.add(ExpectKey(Param(self.name, "map", "the plugin's mappings",
                                           items=(Param("mapped", "size", "bytes mapped", required=True),)),
                                     check=self.check))

        def memsim_machine_created(machine, config):
            self.calls.append(("created", config.machine.settings["hugepages"],
                               machine.spec.settings["hugepages"], "hugepages" in config.machine.given_settings))

        return make_plugin(self.name, memsim_register_extensions=memsim_register_extensions,
                           memsim_machine_created=memsim_machine_created)


def registries_with(*plugins):
    pm = get_plugin_manager(disabled=("hugetlb",), extra_plugins=plugins)
    return collect_registries(pm, get_profile("v5.14"))[0]


WL = """\
machine:
  nodes: [{memory: 64 MiB}]
  hugepages: 4
tasks:
  - name: app
    steps:
      - mmap: {name: h, length: 3 MiB, type: hugetest, flags: [MAP_HUGETLB]}
      - touch: {vma: h, length: 8 KiB}
      - expect: {hugetest: {mapped: 4 MiB}}
"""


def test_the_plugin_values_and_keys_load_and_reach_the_plugin():
    plugin = HugeTest()
    r = run_text(WL, disabled=("hugetlb",), plugins=[plugin.module()], events=())
    assert r.error is None, r.error
    created, prepare, setup, flag, check = plugin.calls
    assert created == ("created", 4, 4, True)
    assert prepare == ("prepare", 3 << 20, "anon")
    assert setup[0] == "setup" and setup[3:] == ("hugetest", ("MAP_HUGETLB",), "app")
    start, end = setup[1:3]
    assert start % HUGE == 0 and end - start == 2 * HUGE          # aligned and rounded up
    assert flag == ("flag", True)                                 # the VM_* bit prepare asked for
    assert check == ("check", {"mapped": 4 << 20})


def test_a_machine_key_left_out_takes_its_default():
    plugin = HugeTest()
    r = run_text(WL.replace("  hugepages: 4\n", ""), disabled=("hugetlb",), plugins=[plugin.module()], events=())
    assert r.error is None
    assert plugin.calls[0] == ("created", 0, 0, False)


def test_a_failing_plugin_expect_key_is_reported_at_the_key():
    plugin = HugeTest()
    r = run_text(WL.replace("mapped: 4 MiB", "mapped: 2 MiB"), disabled=("hugetlb",), plugins=[plugin.module()], events=())
    assert isinstance(r.error, ExpectationFailed)
    assert str(r.error) == ("test.yaml:9:28: 4194304 bytes are mapped, expected 2097152; "
                            "count the hugetest mappings")


def test_an_expect_with_only_a_plugin_key_is_an_assertion():
    regs = registries_with(HugeTest().module())
    load_workload_text(WL, "w.yaml", regs)


def test_prepare_can_refuse_the_mapping_with_an_errno():
    plugin = HugeTest()
    text = WL.replace("length: 3 MiB", "length: 1 GiB").replace(
        "      - touch: {vma: h, length: 8 KiB}\n      - expect: {hugetest: {mapped: 4 MiB}}\n",
        "      - expect: {errno: ENOMEM}\n      - expect: {hugetest: {mapped: 0}}\n")
    r = run_text(text, disabled=("hugetlb",), plugins=[plugin.module()], events=())
    assert r.error is None, r.error
    assert [c[0] for c in plugin.calls] == ["created", "prepare", "check"]


def test_setup_can_refuse_the_mapping_which_is_then_unmapped():
    plugin = HugeTest()
    text = WL.replace("name: h,", "name: refused,").replace(
        "      - touch: {vma: h, length: 8 KiB}\n", "      - expect: {errno: EINVAL}\n").replace(
        "mapped: 4 MiB", "mapped: 0")
    r = run_text(text, disabled=("hugetlb",), plugins=[plugin.module()], events=())
    assert r.error is None, r.error
    assert [c[0] for c in plugin.calls] == ["created", "prepare", "setup", "check"]


def test_without_the_plugin_its_values_are_unknown():
    with pytest.raises(WorkloadError, match=r"w.yaml:3:3: unknown key 'hugepages' in machine"):
        load_workload_text(WL, "w.yaml", registries_with())
    with pytest.raises(WorkloadError, match=r"w.yaml:6:46: invalid mmap.type: 'hugetest' is not one of "
                                            r"anon, shared, file, file-shared, fd, fd-shared; write one of"):
        load_workload_text(WL.replace("  hugepages: 4\n", ""), "w.yaml", registries_with())


@pytest.mark.parametrize("text, message", [
    (WL.replace("hugepages: 4", "hugepages: -1"),
     "w.yaml:3:14: machine.hugepages is -1, below the minimum of 0; give at least 0"),
    (WL.replace("MAP_HUGETLB]", "MAP_HUGETBL]"),
     "w.yaml:7:64: invalid mmap.flags[0]: 'MAP_HUGETBL' is not one of MAP_FIXED, MAP_NORESERVE, MAP_POPULATE, "
     "MAP_FIXED_NOREPLACE, MAP_HUGETLB; did you mean 'MAP_HUGETLB'?"),
    (WL.replace("{mapped: 4 MiB}", "{mapd: 4 MiB}"),
     "w.yaml:9:29: unknown key 'mapd' in expect.hugetest; did you mean 'mapped'?"),
    (WL.replace("type: hugetest", "type: hugetset"),
     "w.yaml:7:46: invalid mmap.type: 'hugetset' is not one of anon, shared, file, file-shared, fd, fd-shared, hugetest; "
     "did you mean 'hugetest'?"),
])
def test_plugin_values_are_validated_with_locations(text, message):
    with pytest.raises(WorkloadError) as info:
        load_workload_text(text, "w.yaml", registries_with(HugeTest().module()))
    assert str(info.value) == message


def test_a_plugin_file_type_needs_a_file():
    def ext(extensions):
        extensions.add(MmapType("dax", "a DAX file", base="file-shared"))
    regs = registries_with(make_plugin("daxtest", memsim_register_extensions=ext))
    text = "tasks:\n  - name: a\n    steps:\n      - mmap: {name: d, length: 4k, type: dax}\n"
    with pytest.raises(WorkloadError, match="w.yaml:4:43: mmap.file is required when type is dax"):
        load_workload_text(text, "w.yaml", regs)
    load_workload_text(text.replace("type: dax", "type: dax, file: pmem"), "w.yaml", regs)


# --- conflicts and malformed declarations ------------------------------------------------------

def adding(*items):
    def ext(extensions):
        for item in items:
            extensions.add(item)
    return ext


def test_two_plugins_adding_the_same_flag_is_an_error_naming_both():
    a = make_plugin("hugetlb1", memsim_register_extensions=adding(MmapFlag("MAP_HUGETLB", 0x40000, "a")))
    b = make_plugin("hugetlb2", memsim_register_extensions=adding(MmapFlag("MAP_HUGETLB", 0x40000, "b")))
    with pytest.raises(PluginError) as info:
        registries_with(a, b)
    message = str(info.value)
    assert "mmap flag 'MAP_HUGETLB' is already registered by plugin" in message
    assert "hugetlb1" in message and "hugetlb2" in message


@pytest.mark.parametrize("first, second, problem", [
    (MmapType("huge", "a"), MmapType("huge", "b"), "mmap type 'huge'"),
    (MachineKey(Param("cma", "size", "a", default=0)), MachineKey(Param("cma", "size", "b", default=0)),
     "machine key 'cma'"),
    (ExpectKey(Param("swap", "int", "a"), check=print), ExpectKey(Param("swap", "int", "b"), check=print),
     "expect key 'swap'"),
])
def test_two_plugins_adding_the_same_key_or_value_is_an_error_naming_both(first, second, problem):
    a = make_plugin("one", memsim_register_extensions=adding(first))
    b = make_plugin("two", memsim_register_extensions=adding(second))
    with pytest.raises(PluginError, match=rf"plugin '(one|two)': {problem} is already registered by plugin "
                                          rf"'(one|two)'; rename one of them, or disable one with"):
        registries_with(a, b)


def test_the_same_flag_value_twice_is_an_error():
    a = make_plugin("one", memsim_register_extensions=adding(MmapFlag("MAP_HUGETLB", 0x40000, "a")))
    b = make_plugin("two", memsim_register_extensions=adding(MmapFlag("MAP_HUGE", 0x40000, "b")))
    with pytest.raises(PluginError, match=r"mmap flag '(MAP_HUGE|MAP_HUGETLB)' has the value 0x40000 of "
                                          r"(MAP_HUGE|MAP_HUGETLB) \(added by plugin '(one|two)'\); "
                                          r"give the kernel's value of your flag"):
        registries_with(a, b)


@pytest.mark.parametrize("item, problem", [
    (MmapType("anon", "x"), "mmap type 'anon' is built into memsim (a core mmap type); give it another name"),
    (MmapFlag("MAP_FIXED", 0x40000, "x"), "mmap flag 'MAP_FIXED' is built into memsim (a core mmap flag)"),
    (MmapFlag("MAP_SHARED", 0x1, "x"), "mmap flag 'MAP_SHARED' is built into memsim (written as mmap's type)"),
    (MmapFlag("MAP_LOCKED2", 0x10, "x"), "mmap flag 'MAP_LOCKED2' has the value 0x10 of MAP_FIXED (built in)"),
    (MmapFlag("map_huge", 0x40000, "x"), "a flag is named MAP_* in capitals"),
    (MmapFlag("MAP_X", 0, "x"), "value 0 is not a mmap flag value"),
    (MmapType("Huge", "x"), "a type name is lower case"),
    (MmapType("huge", "x", base="hugetlbfs"), "base 'hugetlbfs' is not a core mmap type; use one of anon, "
                                              "shared, file, file-shared"),
    (MachineKey(Param("cpus", "int", "x", default=1)), "machine key 'cpus' is built into memsim"),
    (MachineKey(Param("cma", "size", "x", required=True)), "machine key 'cma' is required; give it a default"),
    (ExpectKey(Param("rss", "int", "x"), check=print), "expect key 'rss' is built into memsim"),
    (ExpectKey(Param("hugetlb", "int", "x", default=0), check=print), "expect key 'hugetlb' has a default"),
    (Param("hugepages", "int", "x"), "the extension registry takes MmapType, MmapFlag, MachineKey or "
                                     "ExpectKey, not Param"),
])
def test_malformed_extensions_are_refused_naming_the_plugin(item, problem):
    plugin = make_plugin("bad", memsim_register_extensions=adding(item))
    with pytest.raises(PluginError) as info:
        registries_with(plugin)
    assert str(info.value).startswith("plugin 'bad': ")
    assert problem in str(info.value)


def test_the_registering_plugin_is_recorded_on_each_extension():
    regs = registries_with(HugeTest().module())
    own = [e for e in regs.extensions if e.plugin == "hugetest"]
    assert len(own) == 4
    # the rest are the built-in plugins' expect keys: userfaultfd's 'result', kasan's 'kasan_reports'
    assert {e.plugin for e in regs.extensions} - {"hugetest"} <= {"userfaultfd", "kasan"}


def test_an_explicit_plugin_name_is_kept():
    ext = Extensions()
    ext.add(MmapFlag("MAP_HUGETLB", 0x40000, "x", plugin="hugetlb"))
    assert ext.mmap_flags["MAP_HUGETLB"].plugin == "hugetlb"
    with pytest.raises(InvalidValue, match="names no plugin"):
        ext.add(MmapFlag("MAP_SYNC", 0x80000, "x"))


# --- the reference -----------------------------------------------------------------------------

def test_the_reference_shows_which_plugin_adds_each_value_and_key():
    text = render_reference(registries_with(HugeTest().module()))
    assert "| `hugepages` | int ≥ 0 | `0` | huge pages reserved at boot *(plugin `hugetest`)* |" in text
    assert "| `hugetest` | `anon` | huge test pages *(plugin `hugetest`)* |" in text
    assert "| `MAP_HUGETLB` | `0x40000` | huge pages *(plugin `hugetest`)* |" in text
    assert "| `hugetest` | mapping | — | the plugin's mappings *(plugin `hugetest`)* |" in text
    assert "`fd-shared` \\| `hugetest`" in text           # in the type column of mmap.type
