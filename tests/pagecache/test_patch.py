"""The no-nrexceptional seed change as a switch (plugins/pagecache/patch.py): the patch state
sets the boot option, every mapping the machine makes follows it, nrexceptional is kept and
checked only with the change off, and the demo's ``memsim compare`` figures (pagecache.md
scenario 24 and section 8: shmem_inode_cache 22 vs 23 and inode_cache 26 vs 27 objects per 16
KiB slab under v5.14)."""
from pathlib import Path

import pytest

from memsim.boot import BootOptions
from memsim.compare import comparison, render_text, run_sides
from memsim.machine import Machine, MachineSpec
from memsim.plugin_host import collect_registries, get_plugin_manager
from memsim.plugins.pagecache import patch
from memsim.plugins.pagecache.diskfs import DISKFS_MOUNT_POINT
from memsim.plugins.pagecache.diskfs import check_invariants as diskfs_check
from memsim.plugins.pagecache.memfd import memfd_create
from memsim.profiles import get_profile
from memsim.testing import with_page_cache, run_text
from memsim import vm
from memsim.vfs import O_CREAT, O_RDWR
from memsim.workload.variant import Host, WorkloadSource

REPO = Path(__file__).resolve().parents[2]
DEMO = "configs/patch-no-nrexceptional.yaml"
MiB = 1 << 20
PAGE = 4096


def test_the_pagecache_plugin_implements_the_change_with_its_files_and_metrics():
    registries, _ = collect_registries(get_plugin_manager(), get_profile("v5.14"))
    impl = registries.patches.get("no-nrexceptional")
    assert impl is not None and impl.plugin == "pagecache"
    assert impl.files == ("/proc/slabinfo", "/proc/meminfo")
    assert {m.name for m in impl.metrics} >= {
        "inode_cache_objs_per_slab", "shmem_inode_cache_objs_per_slab", "inode_cache_slab_bytes",
        "shmem_inode_cache_slab_bytes", "slab_bytes"}
    assert "mapping_empty()" in impl.model and "8 bytes" in impl.model


SWITCH = """\
machine: {kernel: v5.14, cpus: 1, nodes: [{memory: 64 MiB}], patches: {no-nrexceptional: STATE}}
tasks:
  - name: app
    steps:
      - mkdir: {path: /mnt/t}
      - mount: {type: tmpfs, path: /mnt/t}
      - create_files: {dir: /mnt/t, count: 3, size: 4 KiB}
      - create_files: {dir: /mnt/disk, count: 3, size: 4 KiB}
      - memfd_create: {name: m}
      - write: {fd: m, data: hello}
      - mmap: {name: lib, length: 8 KiB, type: file, file: lib.so, prot: r}
      - touch: {vma: lib, access: read}
"""


@pytest.mark.parametrize("state", ["on", "off"])
def test_the_patch_state_sets_the_boot_option_and_every_mapping_follows_it(state):
    """Off: slab.nrexceptional at boot, the inode caches 8 bytes larger, and every mapping the
    machine makes keeps the counter: diskfs and tmpfs inodes, shm_mnt's memfd, the file a
    ``type: file`` mapping names (a diskfs file) and shared anonymous memory (a shm_mnt
    object).  On: none does."""
    keep = state == "off"
    run = run_text(SWITCH.replace("STATE", state))
    m = run.machine
    assert m.patches.enabled("no-nrexceptional") is not keep
    assert m.boot.slab.nrexceptional is keep
    assert m.slab.find_cache("inode_cache").size == (608 if keep else 600)
    assert m.slab.find_cache("shmem_inode_cache").size == (720 if keep else 712)
    mappings = patch.inode_mappings(m)
    assert len({mp.s_dev for mp in mappings}) == 3 and len(mappings) >= 6  # disk, /mnt/t, shm_mnt
    assert all(mp.keep_nrexceptional is keep for mp in mappings)
    assert [mp.keep_nrexceptional for mp in m.files.files.values()] == [keep]
    assert all(mp in mappings for mp in m.files.files.values())
    assert patch.check_invariants(m) == []
    # shm_mnt (memfd_create, shared anonymous memory): its inodes come from the same cache
    t = m.spawn("late")
    m.set_current(t)
    fd = memfd_create(m, t.files, "buf", 0)
    memfd = t.files.fget(fd).f_mapping
    assert memfd.keep_nrexceptional is keep and memfd in patch.inode_mappings(m)
    shared = vm.do_mmap(m.mmcore, t.mm, m.files, PAGE, "rw", "shared", totalram=m.overcommit)
    assert shared.vm_file.keep_nrexceptional is keep and shared.vm_file in patch.inode_mappings(m)
    assert patch.check_invariants(m) == []


def test_a_plugin_forcing_the_old_layout_is_not_undone_by_the_change_on():
    """configure() only ever adds the field back: with the change on it leaves the option alone."""
    class Cfg:
        class machine:
            patches = None
    opts = BootOptions()
    opts.slab.nrexceptional = True
    patch.configure(opts, Cfg)
    assert opts.slab.nrexceptional is True


# -- nrexceptional kept and checked only before the change -------------------------------------------
def disk_machine(keep):
    boot = BootOptions()
    boot.slab.nrexceptional = keep
    m = with_page_cache(Machine(MachineSpec(cpus=1, nodes=(32 * MiB,), kernel="v5.14"), boot=boot))
    t = m.spawn("app")
    m.set_current(t)
    fd = m.vfs.open(t.files, f"{DISKFS_MOUNT_POINT}/f", O_RDWR | O_CREAT)
    t.files.write(fd, b"x" * 4 * PAGE)
    t.files.fsync(fd)
    f = t.files.fget(fd)
    for _ in range(400):                        # reclaim until every page is a shadow
        if len(f.f_mapping.shadows()) == 4:
            break
        if not m.vmscan.try_to_free_pages(0, 4):
            m.physmem.lru_add_drain_py()
    assert len(f.f_mapping.shadows()) == 4 and f.f_mapping.nrpages == 0
    return m, t, fd, f.f_mapping


def test_before_the_change_nrexceptional_counts_the_shadows_and_check_compares_them():
    """pagecache.md 4.2: page_cache_delete's +1 per shadow, the final truncate's -1; --check
    (the workingset check of the disk files) finds a wrong count; the mapping is empty only
    when both counters are 0."""
    m, t, fd, mapping = disk_machine(True)
    assert mapping.keep_nrexceptional and mapping.nrexceptional == 4
    assert not mapping.mapping_empty()
    assert diskfs_check(m) == [] and patch.check_invariants(m) == []
    mapping.nrexceptional += 1
    assert any("nrexceptional says 5" in p for p in diskfs_check(m))
    mapping.nrexceptional -= 1
    t.files.ftruncate(fd, 0)                    # truncate_inode_pages_range clears the shadows
    assert mapping.nrexceptional == 0 and mapping.mapping_empty()
    assert m.check_invariants() == [] and diskfs_check(m) == []


def test_after_the_change_nothing_counts_shadows_and_check_says_so_if_something_does():
    m, t, fd, mapping = disk_machine(False)
    assert not mapping.keep_nrexceptional and mapping.nrexceptional == 0
    assert patch.check_invariants(m) == []
    mapping.nrexceptional = 2                    # a post-patch path that counted shadows
    assert any("nrexceptional is 2 after the no-nrexceptional change" in p
               for p in patch.check_invariants(m))
    mapping.nrexceptional = 0
    mapping.keep_nrexceptional = True            # a mapping not following the switch
    assert any("keep_nrexceptional is True" in p for p in patch.check_invariants(m))


# -- the demo: memsim compare --------------------------------------------------------------------
def compare_demo(kernel):
    text = (REPO / DEMO).read_text(encoding="utf-8").replace("kernel: v5.14", f"kernel: {kernel}")
    runs = run_sides(Host(), WorkloadSource(DEMO, text), "no-nrexceptional")
    return runs, comparison(runs, "no-nrexceptional")


def metrics(comp):
    return {row["name"]: (row["on"], row["off"]) for row in comp["metrics"]}


def slabinfo(run, name):
    line = next(l for l in run.machine.vfs.read_file("/proc/slabinfo").decode().splitlines()
                if l.split()[0] == name)
    f = line.split()
    return {"objsize": int(f[3]), "objperslab": int(f[4]), "pagesperslab": int(f[5]),
            "num_slabs": int(f[14])}


@pytest.mark.parametrize("kernel,inode,shmem", [
    ("v5.14", (27, 26), (23, 22)),              # the seed's figures: 16 KiB slabs for both
    ("v6.18", (26, 25), (21, 21)),              # 624/632 and 752/760 B: shmem crosses no boundary
])
def test_the_demo_shows_objects_per_slab_and_the_slab_memory_saved(kernel, inode, shmem):
    runs, comp = compare_demo(kernel)
    assert comp["run"]["status"]["on"] == comp["run"]["status"]["off"] == "passed"
    got = metrics(comp)
    assert got["inode_cache_objs_per_slab"] == inode
    assert got["shmem_inode_cache_objs_per_slab"] == shmem
    for side, i in (("on", 0), ("off", 1)):
        run = runs[side]
        for name in patch.INODE_CACHES:
            info = slabinfo(run, name)            # computed from the machine, as /proc shows it
            assert info["pagesperslab"] == 4                          # 4 CPUs: order-2 slabs
            assert got[f"{name}_objs_per_slab"][i] == info["objperslab"] == \
                info["pagesperslab"] * PAGE // info["objsize"]
            assert got[f"{name}_slab_bytes"][i] == info["num_slabs"] * info["pagesperslab"] * PAGE
            assert info["num_slabs"] * info["objperslab"] >= 4000      # several thousand inodes
        assert got["slab_bytes"][i] == run.machine.meminfo()["Slab"]     # bytes
    # the old layout needs more slabs whenever it holds fewer objects per slab
    for name, pair_ in (("inode_cache", inode), ("shmem_inode_cache", shmem)):
        on, off = got[f"{name}_slab_bytes"]
        assert (off > on) if pair_[1] < pair_[0] else (off == on)
    on, off = got["slab_bytes"]
    assert off - on == sum(got[f"{n}_slab_bytes"][1] - got[f"{n}_slab_bytes"][0]
                           for n in patch.INODE_CACHES) > 0
    text = render_text(comp)
    assert "/proc/slabinfo: differs" in text and "meminfo Slab" in text
    if kernel == "v5.14":                       # the figures the README quotes are these
        readme = (REPO / "README.md").read_text(encoding="utf-8")
        block = readme.split("$ memsim compare configs/patch-no-nrexceptional.yaml", 1)[1]
        block = block.split("```", 1)[0]
        quoted = {line.split()[0]: tuple(int(v) for v in line.split()[2:4])
                  for line in block.splitlines() if line.startswith("  ")}
        assert quoted == {k: v for k, v in got.items() if k in quoted} and len(quoted) == 7
