"""Loading valid workloads (docs/workloads.md): the example of the reference, defaults, YAML
features, and sections and steps added by plugins through the registries."""
import dataclasses
from types import MappingProxyType

import pytest

from memsim.errors import Location, PluginError, WorkloadError
from memsim.registry import Param, SectionSpec, StepType
from memsim.workload.docs import _EXAMPLE, core_registries
from memsim.workload.loader import load_workload, load_workload_text
from memsim.workload.schema import MachineConfig, Step, TaskConfig, Workload

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
HEAD = "tasks:\n  - name: app\n    steps:\n"


def load(text, registries=None):
    return load_workload_text(text, "w.yaml", registries or core_registries())


def at(line, column):
    return Location("w.yaml", line, column)


def test_reference_example_loads(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(_EXAMPLE)
    w = load_workload(path, core_registries())
    assert isinstance(w, Workload) and w.path == str(path)
    assert w.machine == MachineConfig(cpus=2, nodes=(GiB, GiB), trace_buffer_kb=1408, kernel="v5.14",
                                      seed=1, quantum=512, where=Location(str(path), 1, 1))
    (app,) = w.tasks
    assert isinstance(app, TaskConfig)
    assert (app.name, app.comm, app.cpu, app.where) == ("app", "app", 0, Location(str(path), 11, 5))
    assert [s.op for s in app.steps] == ["mmap", "touch", "expect", "fork", "munmap", "mmap", "expect"]
    mmap = app.steps[0]
    assert dict(mmap.args) == {"name": "buf", "length": GiB, "type": "anon", "file": None, "fd": None, "offset": 0,
                               "prot": "rw", "flags": (), "populate": False, "addr": None}
    assert mmap.where == Location(str(path), 15, 9)
    assert mmap.arg_where["length"] == Location(str(path), 15, 35)
    assert "prot" not in mmap.arg_where                     # defaulted: not written, no place
    assert dict(app.steps[1].args) == {"vma": "buf", "offset": 0, "length": None, "access": "write",
                                       "pattern": "sequential", "stride": 4096, "count": None,
                                       "stamp": False}
    assert dict(app.steps[2].args["rss"]) == {"anon": GiB}
    fork = app.steps[3]
    assert fork.args["child"] == "kid" and fork.args["cpu"] is None
    touch, exit_ = fork.args["steps"]
    assert isinstance(touch, Step) and touch.args["length"] == 8 * KiB and touch.where.line == 21
    assert set(touch.arg_where) == {"vma", "access", "length"}
    assert exit_ == Step("exit", MappingProxyType({"code": 0}), Location(str(path), 22, 15),
                         MappingProxyType({}))
    assert app.steps[5].args["length"] == 100 * GiB
    assert app.steps[6].args["errno"] == "ENOMEM"
    assert w.sections == {} and w.given_sections == frozenset()


def test_everything_is_frozen():
    w = load(HEAD + "      - mmap: {name: a, length: 4k}\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.machine.cpus = 4
    with pytest.raises(TypeError):
        w.tasks[0].steps[0].args["length"] = 1
    assert isinstance(w.tasks, tuple) and isinstance(w.tasks[0].steps, tuple)


def test_machine_defaults_when_the_section_is_left_out():
    w = load(HEAD + "      - exit:\n")
    assert w.machine == MachineConfig(cpus=1, nodes=(GiB,), trace_buffer_kb=1408, kernel="v5.14", seed=0,
                                      quantum=512, where=None)
    assert w.tasks[0].steps[0].args == {"code": 0}


def test_tasks_without_cpu_go_round_robin_and_comm_defaults_to_the_name_cut_to_15():
    w = load("machine: {cpus: 2}\ntasks:\n"
             "  - {name: a-very-long-task-name, steps: []}\n"
             "  - {name: b, cpu: 0, steps: []}\n"
             "  - {name: c, comm: worker, steps: []}\n")
    assert [(t.name, t.comm, t.cpu) for t in w.tasks] == [
        ("a-very-long-task-name", "a-very-long-tas", 0), ("b", "b", 0), ("c", "worker", 0)]


def test_sizes_numbers_and_addresses():
    w = load("machine:\n  nodes: [{memory: 0x400000}, {memory: 2G}]\n  trace_buffer: 4 KiB\n  seed: 0x10\n"
             + HEAD + "      - mmap: {name: a, length: '1.5 MiB', addr: 0x7f0000000000, offset: 010}\n"
             "      - sleep: {duration: 1.5ms}\n"
             "      - mmap: {name: b, length: 4096, addr: '0x1000', populate: yes}\n")
    assert w.machine.nodes == (4 * MiB, 2 * GiB) and w.machine.trace_buffer_kb == 4 and w.machine.seed == 16
    a, sleep, b = w.tasks[0].steps
    assert (a["length"], a["addr"], a["offset"]) == (3 * MiB // 2, 0x7F0000000000, 10)
    assert sleep["duration"] == 1_500_000
    assert (b["addr"], b["populate"]) == (0x1000, True)


def test_anchors_aliases_and_merge_keys():
    w = load("x-big: &big {length: 1 GiB, prot: r}\n"
             "x-steps: &common\n  - touch: {vma: buf}\n"
             "tasks:\n  - name: app\n    steps:\n"
             "      - mmap: {<<: *big, name: buf, prot: rw}\n"
             "      - fork: {child: kid, steps: *common}\n"
             "      - fork: {child: kid2, steps: *common}\n")
    mmap, kid, kid2 = w.tasks[0].steps
    assert (mmap["length"], mmap["prot"]) == (GiB, "rw")          # explicit key overrides the merged one
    assert mmap.arg_where["length"] == at(1, 22)                  # merged value: where the anchor wrote it
    assert kid["steps"][0]["vma"] == "buf" and kid2["steps"][0]["vma"] == "buf"


def test_merge_of_a_list_of_mappings_first_wins():
    w = load("x-a: &a {length: 4k}\nx-b: &b {length: 8k, prot: r}\n"
             + HEAD + "      - mmap: {<<: [*a, *b], name: buf}\n")
    assert (w.tasks[0].steps[0]["length"], w.tasks[0].steps[0]["prot"]) == (4 * KiB, "r")


def test_write_and_read_data_become_bytes():
    w = load(HEAD + "      - mmap: {name: buf, length: 4k}\n"
             "      - write: {vma: buf, data: 'de ad BE ef', encoding: hex}\n"
             "      - write: {vma: buf, data: héllo}\n"
             "      - read: {vma: buf, expect: abc}\n"
             "      - read: {vma: buf, length: 2}\n")
    _, hexw, textw, read_expect, read_len = w.tasks[0].steps
    assert hexw["data"] == b"\xde\xad\xbe\xef" and textw["data"] == "héllo".encode()
    assert (read_expect["expect"], read_expect["length"]) == (b"abc", 3)
    assert (read_len["expect"], read_len["length"]) == (None, 2)


def test_expect_assertions_are_converted_and_buddyinfo_keys_normalised():
    w = load(HEAD + "      - expect:\n"
             "          rss: {anon: 8k, file: 0}\n"
             "          meminfo: {MemFree: 1024 kB, HugePages_Total: 4}\n"
             "          buddyinfo:\n"
             "            'Node 0, zone      DMA': [1, 1, 1, 0, 2, 1, 1, 0, 1, 1, 3]\n"
             "            node 1, zone normal: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n")
    expect = w.tasks[0].steps[0]
    assert expect["errno"] is None
    assert dict(expect["rss"]) == {"anon": 8 * KiB, "file": 0}
    assert dict(expect["meminfo"]) == {"MemFree": MiB, "HugePages_Total": 4}
    assert dict(expect["buddyinfo"]) == {"Node 0, zone DMA": (1, 1, 1, 0, 2, 1, 1, 0, 1, 1, 3),
                                         "Node 1, zone Normal": (0,) * 11}


def test_a_forked_child_inherits_the_mappings_made_before_the_fork():
    w = load(HEAD + "      - mmap: {name: a, length: 4k}\n"
             "      - fork:\n          child: kid\n          steps:\n"
             "            - mmap: {name: b, length: 4k}\n            - touch: {vma: a}\n            - touch: {vma: b}\n"
             "      - mmap: {name: b, length: 4k}\n")     # the parent's own 'b': no clash with the child's
    assert [s.op for s in w.tasks[0].steps] == ["mmap", "fork", "mmap"]


def test_x_keys_are_ignored_and_bare_steps_take_their_defaults():
    w = load("x-anything: [1, 2, {a: b}]\n" + HEAD + "      - exit:\n      - exit: {}\n")
    assert [s.args for s in w.tasks[0].steps] == [{"code": 0}, {"code": 0}]


# -- plugins: the loader knows steps and sections only through the registries -------------------

def _plugin_registries():
    registries = core_registries()
    registries.sections.add(SectionSpec("hugetlb", "Huge page pools.", (
        Param("nr_hugepages", "int", "persistent huge pages", default=0, minimum=0),
        Param("size", "size", "huge page size", default="2 MiB"),
    ), plugin="hugetlb"))
    registries.sections.add(SectionSpec("memcg", "Memory cgroups.", (
        Param("limit", "size", "memory.max", required=True),
    ), plugin="memcg"))
    registries.steps.add(StepType("uffd_register", "Register a range with userfaultfd.", (
        Param("name", "str", "the uffd's name", required=True, defines="uffd"),
        Param("vma", "str", "the mapping", required=True, refers="vma"),
        Param("mode", "enum", "registration mode", default="missing", choices=("missing", "wp", "minor")),
        Param("extra", "map", "free options"),
        Param("pages", "list", "page indexes", of=Param("index", "int", "a page index", minimum=0)),
    ), run=lambda ctx, step: None, plugin="userfaultfd"))
    registries.steps.add(StepType("uffd_copy", "Resolve a fault.", (
        Param("uffd", "str", "the uffd", required=True, refers="uffd"),
        Param("waker", "str", "a task to wake", refers="task"),
    ), run=lambda ctx, step: None, plugin="userfaultfd"))
    return registries


def test_plugin_sections_and_steps():
    registries = _plugin_registries()
    w = load("hugetlb: {nr_hugepages: 4}\n" + HEAD + "      - mmap: {name: buf, length: 4k}\n"
             "      - uffd_register: {name: u, vma: buf, extra: {a: [1, 2], b: 010}, pages: [0, 1]}\n"
             "      - uffd_copy: {uffd: u, waker: other}\n"
             "  - name: other\n    steps: []\n", registries)
    assert dict(w.sections["hugetlb"]) == {"nr_hugepages": 4, "size": 2 * MiB}
    assert "memcg" not in w.sections           # left out, and it has a required key
    assert w.given_sections == frozenset({"hugetlb"}) and w.section_where["hugetlb"] == at(1, 1)
    reg = w.tasks[0].steps[1]
    assert reg["extra"] == {"a": (1, 2), "b": 10} and reg["pages"] == (0, 1) and reg["mode"] == "missing"


def test_an_absent_plugin_section_takes_its_defaults():
    w = load(HEAD + "      - exit:\n", _plugin_registries())
    assert dict(w.sections["hugetlb"]) == {"nr_hugepages": 0, "size": 2 * MiB}


@pytest.mark.parametrize("text, message", [
    (HEAD + "      - mmap: {name: buf, length: 4k}\n      - uffd_copy: {uffd: v}\n",
     "w.yaml:5:27: uffd_copy.uffd 'v' names no uffd defined earlier in task 'app'; define it first, "
     "with an earlier 'uffd_register' (uffd_register.name) step"),
    (HEAD + "      - mmap: {name: buf, length: 4k}\n      - uffd_register: {name: u, vma: buf}\n"
     "      - uffd_copy: {uffd: u, waker: othr}\n  - {name: other, steps: []}\n",
     "w.yaml:6:37: uffd_copy.waker 'othr' names no task of the workload; did you mean 'other'?"),
    ("memcg: {}\n" + HEAD + "      - exit:\n",
     "w.yaml:1:1: memcg is missing 'limit'; add 'limit: SIZE' (memory.max)"),
    ("hugtlb: {}\n" + HEAD + "      - exit:\n", "w.yaml:1:1: unknown section 'hugtlb'; did you mean 'hugetlb'?"),
    ("hugetlb: {nr_hugepage: 1}\n" + HEAD + "      - exit:\n",
     "w.yaml:1:11: unknown key 'nr_hugepage' in hugetlb; did you mean 'nr_hugepages'?"),
    (HEAD + "      - mmap: {name: buf, length: 4k}\n      - uffd_register: {name: u, vma: buf, pages: [0, -1]}\n",
     "w.yaml:5:55: uffd_register.pages[1] is -1, below the minimum of 0; give at least 0"),
    (HEAD + "      - mmap: {name: buf, length: 4k}\n      - uffd_register: {name: u, vma: buf, extra: &e {a: *e}}\n",
     "w.yaml:5:51: values nest more than 100 deep (a recursive alias?); remove the alias that refers to "
     "the mapping or list holding it"),
])
def test_plugin_declarations_are_enforced(text, message):
    with pytest.raises(WorkloadError) as info:
        load(text, _plugin_registries())
    assert str(info.value) == message


def test_a_bad_declaration_is_a_plugin_error():
    registries = core_registries()
    registries.steps.add(StepType("odd", "odd", (Param("x", "float", "no such type", default=1),),
                                  run=lambda ctx, step: None, plugin="oddity"))
    registries.steps.add(StepType("bad_default", "bad", (Param("x", "size", "bad default", default="lots"),),
                                  run=lambda ctx, step: None, plugin="oddity"))
    with pytest.raises(PluginError) as info:
        load(HEAD + "      - odd: {x: 1}\n", registries)
    assert str(info.value) == ("parameter odd.x: unknown parameter type 'float'; use one of int, size, "
                               "duration, str, bool, enum, address, steps, map, list, cpu")
    with pytest.raises(PluginError) as info:
        load(HEAD + "      - bad_default:\n", registries)
    assert str(info.value) == ("parameter bad_default.x: its default 'lots' is invalid: invalid bad_default.x: "
                               "size 'lots' is not a size; fix the Param declaration")


def test_a_plugin_may_not_register_a_builtin_section():
    registries = core_registries()
    registries.sections.add(SectionSpec("machine", "mine", (), plugin="greedy"))
    with pytest.raises(PluginError, match="plugin 'greedy': it registers a section named 'machine'"):
        load(HEAD + "      - exit:\n", registries)
