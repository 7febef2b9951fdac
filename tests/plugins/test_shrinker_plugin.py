"""A shrinker written in Cython (tests/plugins/shrinkcache): the C API of memsim/shrinker.pxd in
each profile's terms (docs/plugins.md, "Registering a shrinker"), called by reclaim and by
drop_caches."""
import os

import pytest

from memsim.errors import PluginError
from memsim.testing import build_extension, build_machine, trace_text

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


@pytest.fixture(scope="session")
def shrinkcache(tmp_path_factory):
    pytest.importorskip("Cython", reason="the Cython test plugin needs Cython to build")
    return build_extension(os.path.join(HERE, "shrinkcache", "shrinkcache.pyx"),
                           tmp_path_factory.mktemp("shrinkcache-build"))


@pytest.mark.parametrize("kernel", ["v5.14", "v6.18"])
def test_a_cython_shrinker_is_registered_and_called_by_drop_caches(shrinkcache, kernel):
    m = build_machine(events=["vmscan:mm_shrink_slab_start"], kernel=kernel, cpus=1, nodes=(16 * MiB,))
    c = shrinkcache.Cache(m.shrinkers, 1000)
    try:
        assert len(m.shrinkers) == 2                   # after the core's mm-shadow
        assert m.shrinkers.shrinkers()[1][1] == ("shrinkcache" if kernel == "v6.18" else "")
        m.drop_caches.write(m, b"2")
        # priority 0: total_scan min(1000 * 4 / 2, 2 * 1000) = 2000, in 15 batches of 128
        assert c.objects == 0 and c.scans == 15
        assert "mm_shrink_slab_start: super_cache_scan+0x0/0x1b0 " in trace_text(m)
        with pytest.raises(PluginError, match="shrinker_alloc" if kernel == "v6.18" else "register_shrinker"):
            c.wrong_api()
    finally:
        c.close()
    assert len(m.shrinkers) == 1
