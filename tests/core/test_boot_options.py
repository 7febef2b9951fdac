"""Boot options are chosen before the machine is built (issue 7, "Slab options chosen before the
boot caches exist ... set from plugin configuration").

Scenarios: a machine built directly boots with the defaults; a plugin reads its section in
memsim_machine_configure and sets slab options that change the boot caches' layout
(nrexceptional: inode caches 600 -> 608 bytes, pagecache.md 8) or nokmem; kernel parameters
added there are read back from machine.boot; plugins configure in dependency order; the
options are frozen once the machine exists.
"""
import types

import pytest

from memsim.boot import BootOptions, BootOptionsFrozen, SlabBootOptions
from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.plugin_host import PluginSpec
from memsim.registry import Param, SectionSpec
from memsim.testing import run_text

SPEC = MachineSpec(nodes=(64 << 20,))


def slab_line(machine, cache):
    return next(line.split() for line in machine.slab.slabinfo().splitlines() if line.startswith(cache + " "))


def test_a_machine_built_directly_boots_with_the_defaults():
    m = Machine(SPEC)
    assert (m.boot.slab.nrexceptional, m.boot.slab.nokmem, m.boot.cmdline) == (False, False, ())
    assert (m.slab.nrexceptional, m.slab.nokmem) == (False, False)
    assert slab_line(m, "inode_cache")[3] == "600"


def test_slab_options_reach_the_boot_caches():
    options = BootOptions()
    options.slab.nrexceptional = True
    options.slab.nokmem = True
    m = Machine(SPEC, boot=options)
    assert (m.slab.nrexceptional, m.slab.nokmem) == (True, True)
    assert slab_line(m, "inode_cache")[3] == "608"            # + unsigned long nrexceptional
    assert slab_line(m, "shmem_inode_cache")[3] == "720"


def test_kasan_metadata_widens_every_slot():
    options = BootOptions()
    options.slab.kasan_meta_size = 16
    m = Machine(SPEC, boot=options)
    assert m.slab.kasan_meta_size == 16
    plain = slab_line(Machine(SPEC), "kmalloc-64")
    assert int(slab_line(m, "kmalloc-64")[3]) > int(plain[3]) == 64   # objsize (s->size) grows
    assert int(slab_line(m, "kmalloc-64")[4]) < int(plain[4])          # fewer objects per slab


def test_the_default_min_align_leaves_every_geometry_as_it_was():
    """ARCH_SLAB_MINALIGN 8 (x86-64) is the default: the same caches with the same strides,
    orders and objects per slab as a machine whose options say 8 outright."""
    options = BootOptions()
    options.slab.min_align = 8
    assert Machine(SPEC).slab.min_align == 8
    assert Machine(SPEC, boot=options).slab.slabinfo() == Machine(SPEC).slab.slabinfo()


def test_min_align_16_starts_every_object_on_a_granule():
    """KASAN SW_TAGS on arm64: ARCH_SLAB_MINALIGN is one 16-byte granule, with 56 bytes of alloc
    metadata per object (kasan_meta_size).  calculate_sizes() rounds each slot up to the cache's
    alignment: kmalloc-8 8 + 56 = 64, kmalloc-96 96 + 56 = 152 -> 160, kmalloc-192 248 -> 256
    (248 with the default 8).  kmalloc-128's slot is 256, not 192, with either minimum:
    create_boot_cache() aligns a power-of-two kmalloc cache to its size (natural alignment since
    v5.4), so 128 + 56 = 184 rounds up to 256."""
    options = BootOptions()
    options.slab.kasan_meta_size = 56
    options.slab.min_align = 16
    m = Machine(SPEC, boot=options)
    assert m.slab.min_align == 16 and m.boot.slab.min_align == 16
    sizes = {name: m.slab.find_cache(name).size for name in
             ("kmalloc-8", "kmalloc-96", "kmalloc-128", "kmalloc-192")}
    assert sizes == {"kmalloc-8": 64, "kmalloc-96": 160, "kmalloc-128": 256, "kmalloc-192": 256}
    plain = BootOptions()
    plain.slab.kasan_meta_size = 56
    m8 = Machine(SPEC, boot=plain)
    assert {name: m8.slab.find_cache(name).size for name in sizes} == {
        "kmalloc-8": 64, "kmalloc-96": 152, "kmalloc-128": 256, "kmalloc-192": 248}
    m.slab.kmem_cache_create("odd24", 24)
    assert m.slab.find_cache("odd24").align == 16 and m8.slab.kmem_cache_create("odd24", 24).align == 8
    m.set_current(m.spawn("t"))
    for cache in ("kmalloc-8", "kmalloc-96", "kmalloc-192", "odd24", "anon_vma", "vm_area_struct"):
        addrs = [m.slab.cache_alloc(cache, 0xcc0, "workload_kmalloc") for _ in range(40)]
        assert all(a and a % 16 == 0 for a in addrs), cache
    assert all(s.align % 16 == 0 for s in m.slab.caches())


@pytest.mark.parametrize("bad", [4, 12, 8192])
def test_min_align_must_be_a_power_of_two_from_8_to_a_page(bad):
    options = BootOptions()
    options.slab.min_align = bad
    with pytest.raises(ValueError, match=f"min_align {bad} is not a power of two from 8 to 4096"):
        Machine(SPEC, boot=options)


def test_options_are_frozen_once_the_machine_is_built():
    m = Machine(SPEC, boot=BootOptions())
    with pytest.raises(BootOptionsFrozen, match="set it in memsim_machine_configure"):
        m.boot.slab.nokmem = True
    with pytest.raises(BootOptionsFrozen):
        m.boot.add_param("hugepages", 4)
    with pytest.raises(BootOptionsFrozen):
        m.boot.slab = SlabBootOptions()


def test_kernel_parameters_last_one_wins():
    options = BootOptions()
    options.add_param("hugepagesz", "1G")
    options.add_param("hugepages", 2)
    options.add_param("hugepagesz", "2M")
    options.add_param("nokaslr")
    assert options.cmdline == ["hugepagesz=1G", "hugepages=2", "hugepagesz=2M", "nokaslr"]
    assert (options.param("hugepagesz"), options.param("nokaslr"), options.param("cma")) == ("2M", "", None)
    with pytest.raises(ValueError):
        options.add_param("hugepages=2")


def slabcfg_plugin(log):
    """A plugin with a section whose keys become boot options."""
    module = types.ModuleType("slabcfg")

    @hookimpl
    def memsim_register_sections(sections):
        sections.add(SectionSpec("slabcfg", "slab boot options", (
            Param("nrexceptional", "bool", "the pre-5.13 address_space field", default=False),
            Param("nokmem", "bool", "cgroup.memory=nokmem", default=False)), plugin="slabcfg"))

    @hookimpl
    def memsim_machine_configure(options, config):
        log.append(("configure", options.frozen))
        options.slab.nrexceptional = config.sections["slabcfg"]["nrexceptional"]
        options.slab.nokmem = config.sections["slabcfg"]["nokmem"]
        if options.slab.nokmem:
            options.add_param("cgroup.memory", "nokmem")

    @hookimpl
    def memsim_machine_created(machine, config):
        log.append(("created", machine.boot.param("cgroup.memory"), machine.slab.nokmem))

    module.memsim_register_sections = memsim_register_sections
    module.memsim_machine_configure = memsim_machine_configure
    module.memsim_machine_created = memsim_machine_created
    return module


WL = """\
machine: {nodes: [{memory: 64 MiB}]}
slabcfg: {nrexceptional: true, nokmem: true}
tasks:
  - name: a
    steps:
      - kmalloc: {name: x, size: 100, gfp: GFP_KERNEL_ACCOUNT}
"""


def test_a_plugin_sets_slab_options_from_its_configuration_before_the_machine_is_built():
    log = []
    r = run_text(WL, plugins=[slabcfg_plugin(log)], events=("kmem:kmalloc",))
    assert r.error is None, r.error
    assert log == [("configure", False), ("created", "nokmem", True)]
    assert (r.machine.slab.nrexceptional, r.machine.slab.nokmem) == (True, True)
    assert slab_line(r.machine, "inode_cache")[3] == "608"
    assert r.boot is r.machine.boot and r.boot.frozen


def test_without_the_options_the_workload_boots_the_default_caches():
    log = []
    r = run_text(WL.replace("slabcfg: {nrexceptional: true, nokmem: true}\n", ""),
                 plugins=[slabcfg_plugin(log)], events=())
    assert r.error is None
    assert (r.machine.slab.nrexceptional, r.machine.slab.nokmem) == (False, False)
    assert log[-1] == ("created", None, False)


def test_plugins_configure_in_dependency_order():
    seen = []

    def plugin(name, spec, configure):
        module = types.ModuleType(name)
        module.MEMSIM_PLUGIN = spec
        module.memsim_machine_configure = hookimpl(configure)
        return module

    def base(options):
        options.add_param("hugepages", 4)

    def dependent(options):
        seen.append(options.param("hugepages"))

    # registered base first: pluggy alone would call the dependent (registered last) first
    plugins = [plugin("zbase", PluginSpec(), base),
               plugin("adependent", PluginSpec(requires=("zbase",)), dependent)]
    r = run_text("tasks:\n  - name: a\n    steps:\n      - exit: {}\n", plugins=plugins, events=())
    assert r.error is None
    assert seen == ["4"]
