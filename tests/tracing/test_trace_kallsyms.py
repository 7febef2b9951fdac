"""memsim.tracing.kallsyms: deterministic emulated text symbols and %pS resolution."""
import re

import pytest

from memsim.tracing import kallsyms
from memsim.tracing.kallsyms import TEXT_BASE, Kallsyms

REQUIRED = ["kmalloc_order_trace", "__kmalloc", "kmem_cache_alloc", "kfree", "kmem_cache_free",
            "anon_vma_prepare", "__anon_vma_prepare", "anon_vma_fork", "dup_mm", "mm_alloc",
            "vm_area_alloc", "vm_area_dup", "__pte_alloc", "__pmd_alloc", "__pud_alloc",
            "do_anonymous_page", "wp_page_copy", "alloc_pages_vma", "workload_kmalloc"]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_symbols_resolve(name):
    addr = kallsyms.symbol_addr(name)
    assert addr >= TEXT_BASE
    site = kallsyms.call_site(name)
    assert re.fullmatch(re.escape(name) + r"\+0x[0-9a-f]+/0x[0-9a-f]+", kallsyms.resolve(site))
    assert kallsyms.resolve(addr).startswith(name + "+0x0/0x")


def test_deterministic_and_sorted():
    a, b = Kallsyms(), Kallsyms()
    assert a.kallsyms_text() == b.kallsyms_text() == kallsyms.kallsyms_text()
    addrs = [int(line.split()[0], 16) for line in a.kallsyms_text().splitlines()]
    assert addrs == sorted(addrs) and addrs[0] == TEXT_BASE
    assert all(re.fullmatch(r"[0-9a-f]{16} T \w+", l) for l in a.kallsyms_text().splitlines())


def test_spec_example_and_misses():
    assert kallsyms.resolve(kallsyms.symbol_addr("kmalloc_order_trace") + 0x1E) == \
        "kmalloc_order_trace+0x1e/0x80"
    assert kallsyms.resolve(0x1234) is None
    assert kallsyms.resolve(TEXT_BASE - 1) is None
    with pytest.raises(KeyError, match="no symbol 'nope'"):
        kallsyms.symbol_addr("nope")


def test_add():
    k = Kallsyms(())
    a = k.add("one", 0x21)
    b = k.add("two", 0x10, 4)
    assert (a, b) == (TEXT_BASE, TEXT_BASE + 0x30)
    assert k.resolve(k.call_site("two")) == "two+0x4/0x10"
    assert k.resolve(a + 0x25) is None                  # alignment gap
    with pytest.raises(ValueError, match="already exists"):
        k.add("one", 8)
