"""The ``uffd-minor`` seed change ("userfaultfd: add minor fault registration mode", v5.13 for
hugetlbfs, v5.14 for shmem) as a switch.

On (the default of both profiles): UFFDIO_REGISTER_MODE_MINOR arms shmem and hugetlb VMAs so
that a fault on a page the page cache already holds is a MINOR event, UFFDIO_CONTINUE maps that
page, and UFFDIO_API offers MINOR_HUGETLBFS and MINOR_SHMEM.  Off: the registration mode, the
ioctl and the features do not exist (EINVAL), as before the patch; such a fault is an ordinary
fault that maps the cached page.
"""
from __future__ import annotations

PATCH = "uffd-minor"

MODEL = (
    "On (v5.13 for hugetlbfs, v5.14 for shmem; the default of both profiles): "
    "UFFDIO_REGISTER_MODE_MINOR arms shmem and hugetlb VMAs (VM_UFFD_MINOR) so that a fault on a "
    "page the page cache already holds, with no PTE here, is a MINOR userfault (shmem_fault's "
    "shmem_get_folio_gfp and hugetlb_no_page decide it), fault-around is off in such VMAs, "
    "UFFDIO_CONTINUE maps the cached page (EFAULT for a hole, EINVAL past the end of the file, "
    "EEXIST over a mapped page), and UFFDIO_API offers MINOR_HUGETLBFS and MINOR_SHMEM. "
    "Off (before the patch): the MINOR registration mode is an unknown mode bit, UFFDIO_CONTINUE "
    "an unknown ioctl and the two features unknown bits, all EINVAL; the range ioctls lose "
    "CONTINUE, and such a fault maps the cached page without the monitor knowing. "
    "`configs/patch-uffd-minor.yaml` is a post-copy live migration of a 1 GiB guest (400 pages "
    "dirtied a millisecond, three pre-copy rounds over a 1 GiB/s link): with the change the "
    "target registers its guest view MINOR at the switch-over and serves each fault with "
    "CONTINUE, fetching the page first when it is stale; without it a page in the file raises "
    "no MISSING fault, so the target punches every stale page out of the file before resuming "
    "-- the guest's pause grows from 1.1 ms to 27 ms for 95,000 stale pages -- and serves "
    "MISSING faults with UFFDIO_COPY. Both end with every page equal to the source at the "
    "pause (migrate_verify, by page stamps).")


def patch_impl():
    """The :class:`memsim.patches.PatchImpl` of ``uffd-minor``."""
    from memsim.patches import PatchImpl, PatchMetric
    return PatchImpl(PATCH, MODEL, files=(),
                     metrics=(
                         PatchMetric("uffd_minor_faults", "MINOR userfaults queued", _stat("minor"), "faults"),
                         PatchMetric("uffd_missing_faults", "MISSING userfaults queued", _stat("missing"), "faults"),
                         PatchMetric("pause_us", "the guest's pause: from the source's stop to the "
                                     "target's resume", _mig(lambda m: _us(m.resumed_at, m.pause_start)), "us"),
                         PatchMetric("stale_pages", "target pages stale at the switch-over",
                                     _mig(lambda m: m.stats["postcopy_pages"]), "pages"),
                         PatchMetric("punched_pages", "stale pages punched out of the guest file before "
                                     "the resume", _mig(lambda m: m.stats["punched"]), "pages"),
                         PatchMetric("postcopy_faults", "guest faults the monitor served after the "
                                     "resume", _mig(lambda m: m.stats["minor_current"] + m.stats["minor_fetched"]
                                                    + m.stats["missing_fetched"]), "faults"),
                         PatchMetric("faults_fetching", "post-copy faults that waited for a fetch from "
                                     "the source", _mig(lambda m: m.stats["minor_fetched"] + m.stats["missing_fetched"]),
                                     "faults"),
                         PatchMetric("bytes_moved", "bytes sent from the source, pre-copy and post-copy",
                                     _mig(lambda m: m.bytes_moved), "bytes"),
                         PatchMetric("convergence_us", "from the resume until the target held every "
                                     "page", _mig(lambda m: _us(m.converged_at, m.resumed_at)), "us"),
                         PatchMetric("mismatched_pages", "guest pages that differ from the source at the "
                                     "pause (migrate_verify; -1: not verified)",
                                     _mig(lambda m: m.stats["mismatches"]), "pages"),
                     ))


def _us(end, start) -> int:
    return -1 if end is None or start is None else int((end - start) // 1000)


def _mig(fn):
    def compute(machine) -> int:
        ms = machine.plugin_state.get("userfaultfd.migrations")
        if not ms:
            return 0
        return int(fn(next(iter(ms.values()))))
    return compute


def _stat(key):
    def compute(machine) -> int:
        h = machine.plugin_state.get("userfaultfd")
        return int(h.stats[key]) if h is not None else 0
    return compute
