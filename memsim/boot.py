"""Boot options: what must be chosen before the core builds its boot-time state.

Some configuration cannot be applied to a running machine: the slab allocator creates its boot
caches (``kmem_cache``, ``anon_vma``, the inode caches...) while the machine is built, with an
object layout that depends on options (``nrexceptional`` back in ``struct address_space``,
``cgroup.memory=nokmem``, KASAN's per-object metadata), and kernel command-line parameters
(``hugepages=``, ``cma=``) are read by the boot code.  Plugins set these in the
``memsim_machine_configure(options, config)`` hook, which runs before the :class:`Machine` is
built (:class:`memsim.workload.runner.Run` calls it, then builds the machine with them).

Once the machine is built its options are frozen (``machine.boot``): a plugin reads them in its
later hooks, and assigning to them raises :class:`BootOptionsFrozen`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import List, Optional, Tuple

__all__ = ["BootOptions", "SlabBootOptions", "BootOptionsFrozen"]


class BootOptionsFrozen(AttributeError):
    """A boot option was set after the machine was built (a plugin bug, not a user mistake)."""


class _Freezable:
    _frozen: bool = False

    def __setattr__(self, name, value):
        if self._frozen:
            raise BootOptionsFrozen(f"boot option {type(self).__name__}.{name} cannot change once the "
                                    "machine is built; set it in memsim_machine_configure")
        object.__setattr__(self, name, value)

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)


@dataclass
class SlabBootOptions(_Freezable):
    """Options of the SLUB allocator, fixed before its boot caches are created
    (:class:`memsim.slab.SlabAllocator` takes them as keyword arguments)."""

    #: ``struct address_space`` keeps the ``unsigned long nrexceptional`` removed in v5.13: the
    #: caches that embed one (inode caches) grow by 8 bytes per object.
    nrexceptional: bool = False
    #: ``cgroup.memory=nokmem``: kmalloc-cg-* caches alias the normal ones and no slab object is
    #: accounted to a memory cgroup.
    nokmem: bool = False
    #: KASAN's alloc metadata per object, in bytes (``__kasan_cache_create``): every cache gets
    #: SLAB_KASAN and each slot grows by it.  0: KASAN is off.
    kasan_meta_size: int = 0
    #: ARCH_SLAB_MINALIGN, the least alignment of every slab cache (calculate_alignment): 8 on
    #: x86-64; 16 (one tag granule) on arm64 with KASAN SW_TAGS, so every object starts on a
    #: granule.  A power of two from 8 to 4096.
    min_align: int = 8


@dataclass
class BootOptions(_Freezable):
    """Everything the core reads while the machine boots, set by plugins before it is built.

    ``slab``: the slab allocator's options.  ``cmdline``: kernel command-line parameters
    (``name`` or ``name=value`` words, in the order added), for the plugins that read them while
    the machine is created (``machine.boot.param("hugepages")``).
    """

    slab: SlabBootOptions = field(default_factory=SlabBootOptions)
    cmdline: List[str] = field(default_factory=list)

    def add_param(self, name: str, value: Optional[object] = None) -> None:
        """Append ``name=value`` (or ``name``) to the kernel command line."""
        if self._frozen:
            raise BootOptionsFrozen("the kernel command line cannot change once the machine is built; "
                                    "add parameters in memsim_machine_configure")
        if not name or any(c.isspace() for c in name) or "=" in name:
            raise ValueError(f"{name!r} is not a kernel parameter name")
        self.cmdline.append(name if value is None else f"{name}={value}")

    def param(self, name: str) -> Optional[str]:
        """The value of the last ``name=value`` on the command line (``""`` for a bare ``name``,
        None when absent): parse_args() hands each occurrence to the parameter's handler, so the
        last one wins for the plain settings."""
        found = None
        for word in self.cmdline:
            key, eq, value = word.partition("=")
            if key == name:
                found = value if eq else ""
        return found

    def freeze(self) -> "BootOptions":
        """Make the options read-only (the machine does this once it is built); returns self."""
        if not self._frozen:
            object.__setattr__(self, "cmdline", tuple(self.cmdline))
            for f in fields(self):
                value = getattr(self, f.name)
                if isinstance(value, _Freezable):
                    value._freeze()
            self._freeze()
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen
