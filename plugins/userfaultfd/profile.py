"""What the userfaultfd of each kernel profile offers (userfaultfd.md sections 1-7 for v5.14,
section 12 and kernel-6.18-observed.md for v6.18), and what the emulated architecture allows.

Kept as data so the code paths read the same in both profiles: each field names the kernel
change it comes from.
"""
from __future__ import annotations

from dataclasses import dataclass

from memsim.profiles import ProfileTable

from . import uapi


@dataclass(frozen=True)
class UffdProfile:
    #: UFFD_API_FEATURES: every feature bit this kernel knows (v5.14 bits 0-10, v6.18 0-16)
    known_features: int
    #: UFFD_API_RANGE_IOCTLS and UFFD_API_RANGE_IOCTLS_BASIC (a range holding hugetlb VMAs)
    range_ioctls: int
    range_ioctls_basic: int
    #: validate_range() refuses a start below vm.mmap_min_addr (gone in v6.x: ENOENT later)
    mmap_min_addr_check: bool
    #: UFFDIO_REGISTER / UNREGISTER with no VMA at or after start: v5.14 ENOMEM, v6.x EINVAL
    no_vma_errno: str
    #: UFFDIO_UNREGISTER of a range another userfaultfd owns: v5.14 takes it (0), v6.x EINVAL
    unregister_checks_owner: bool
    #: WP registration on shmem and hugetlb VMAs, PTE markers for unpopulated entries (v5.19+)
    wp_shmem: bool
    #: UFFD_FEATURE_EXACT_ADDRESS (v5.18)
    exact_address: bool
    #: /dev/userfaultfd and USERFAULTFD_IOC_NEW (v6.1)
    dev_userfaultfd: bool
    #: UFFDIO_CONTINUE_MODE_WP (v6.5), UFFDIO_POISON (v6.6), UFFDIO_MOVE (v6.8)
    continue_wp: bool
    poison: bool
    move: bool
    #: UFFDIO_API refuses a feature this kernel does not offer on this architecture (v6.x
    #: compares the request with the reply; v5.14 only with the static mask)
    api_checks_offered: bool
    #: a WRITEPROTECT range running into an unregistered VMA has protected the registered part
    #: before it fails with ENOENT (v6.x: per-VMA loop)
    wp_partial: bool
    #: ctx->features carries UFFD_FEATURE_INITIALIZED once UFFDIO_API succeeded (v6.x)
    features_initialized_bit: bool
    #: a second UFFDIO_API zeroes the caller's struct (v6.x; v5.14 leaves it untouched)
    api_again_zeroes: bool
    #: the fill ioctls test mmap_changing before anything else, leaving the output field
    #: untouched (v5.14); v6.x tests it only in the engine, which writes -EAGAIN there
    mmap_changing_in_preamble: bool
    #: UFFDIO_COPY checks its source range against TASK_SIZE (v6.x validate_unaligned_range)
    copy_validates_src: bool
    #: each userfaultfd file has an inode of its own (v6.x anon_inode_create_getfile; v5.14
    #: shares the one anonymous inode)
    own_inode: bool


_R = lambda *nrs: sum(1 << n for n in nrs)   # noqa: E731  an ioctl mask from ioctl numbers

PROFILE = ProfileTable("userfaultfd.profile", {
    "v5.14": UffdProfile(
        known_features=0x7FF,
        range_ioctls=_R(uapi._UFFDIO_WAKE, uapi._UFFDIO_COPY, uapi._UFFDIO_ZEROPAGE,
                        uapi._UFFDIO_WRITEPROTECT, uapi._UFFDIO_CONTINUE),
        range_ioctls_basic=_R(uapi._UFFDIO_WAKE, uapi._UFFDIO_COPY, uapi._UFFDIO_CONTINUE),
        mmap_min_addr_check=True, no_vma_errno="ENOMEM", unregister_checks_owner=False,
        wp_shmem=False, exact_address=False, dev_userfaultfd=False, continue_wp=False,
        poison=False, move=False, api_checks_offered=False, wp_partial=False,
        features_initialized_bit=False, api_again_zeroes=False, mmap_changing_in_preamble=True,
        copy_validates_src=False, own_inode=False),
    "v6.18": UffdProfile(
        known_features=0x1FFFF,
        range_ioctls=_R(uapi._UFFDIO_WAKE, uapi._UFFDIO_COPY, uapi._UFFDIO_ZEROPAGE,
                        uapi._UFFDIO_MOVE, uapi._UFFDIO_WRITEPROTECT, uapi._UFFDIO_CONTINUE,
                        uapi._UFFDIO_POISON),
        range_ioctls_basic=_R(uapi._UFFDIO_WAKE, uapi._UFFDIO_COPY, uapi._UFFDIO_WRITEPROTECT,
                              uapi._UFFDIO_CONTINUE, uapi._UFFDIO_POISON),
        mmap_min_addr_check=False, no_vma_errno="EINVAL", unregister_checks_owner=True,
        wp_shmem=True, exact_address=True, dev_userfaultfd=True, continue_wp=True,
        poison=True, move=True, api_checks_offered=True, wp_partial=True,
        features_initialized_bit=True, api_again_zeroes=True, mmap_changing_in_preamble=False,
        copy_validates_src=True, own_inode=True),
})


@dataclass(frozen=True)
class Arch:
    """What an architecture selects: HAVE_ARCH_USERFAULTFD_MINOR (x86-64 and arm64: it needs
    the high VMA flag bits of a 64-bit kernel) and HAVE_ARCH_USERFAULTFD_WP (x86-64)."""

    name: str
    minor: bool
    wp: bool


#: the ``userfaultfd: {arch: ...}`` choices
ARCHES = {
    "x86_64": Arch("x86_64", minor=True, wp=True),
    "arm64": Arch("arm64", minor=True, wp=False),
    "i386": Arch("i386", minor=False, wp=False),
}

#: the features an architecture without uffd-wp does not offer (v5.14: PAGEFAULT_FLAG_WP; v6.x
#: every WP feature, UFFD_FEATURE_WP_MASK)
WP_FEATURES = {"v5.14": uapi.UFFD_FEATURE_PAGEFAULT_FLAG_WP,
               "v6.18": (uapi.UFFD_FEATURE_PAGEFAULT_FLAG_WP | uapi.UFFD_FEATURE_WP_HUGETLBFS_SHMEM
                         | uapi.UFFD_FEATURE_WP_UNPOPULATED | uapi.UFFD_FEATURE_WP_ASYNC)}
MINOR_FEATURES = uapi.UFFD_FEATURE_MINOR_HUGETLBFS | uapi.UFFD_FEATURE_MINOR_SHMEM


def offered_features(profile, prof: UffdProfile, arch: Arch, minor_patch: bool) -> int:
    """The ``features`` UFFDIO_API replies with: every known feature, less what the architecture
    lacks (and, with the uffd-minor change off, the MINOR features, which did not exist)."""
    f = prof.known_features
    if not arch.minor or not minor_patch:
        f &= ~MINOR_FEATURES
    if not arch.wp:
        f &= ~WP_FEATURES[getattr(profile, "name", profile)]
    return f
