"""diskfs through a workload: the fd steps on /mnt/disk (open, write, read, pread, pwrite,
ftruncate, fsync, fallocate, fadvise, mmap fd/fd-shared, unlink, close, sync) with the kernel's
errnos checked by expect, never a traceback."""
import textwrap

from memsim.errors import ExpectationFailed
from memsim.testing import run_text

DISK_STEPS = """\
machine: {kernel: KERNEL, nodes: [{memory: 64 MiB}]}
tasks:
  - name: t
    steps:
      - open: {path: /mnt/disk/nope, name: x}
      - expect: {errno: ENOENT}
      - read: {fd: x, length: 4}
      - expect: {errno: EBADF}
      - open: {path: /mnt/disk/f, name: f, flags: [O_RDWR, O_CREAT]}
      - write: {fd: f, data: hello}
      - pread: {fd: f, offset: 1, expect: ell}
      - pwrite: {fd: f, offset: 0, data: J}
      - pread: {fd: f, offset: 0, expect: Jello}
      - open: {path: /mnt/disk/f, name: ro}
      - read: {fd: ro, expect: Jel}
      - read: {fd: ro, expect: lo}
      - write: {fd: ro, data: x}
      - expect: {errno: EBADF}
      - ftruncate: {fd: ro, length: 1}
      - expect: {errno: EINVAL}
      - ftruncate: {fd: f, length: -1}
      - expect: {errno: EINVAL}
      - ftruncate: {fd: f, length: 8 KiB}
      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE], length: 4 KiB}
      - expect: {errno: EOPNOTSUPP}
      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], length: 1}
      - pread: {fd: f, offset: 0, expect: "00 65", encoding: hex}
      - fsync: {fd: f}
      - fadvise: {fd: f, advice: POSIX_FADV_DONTNEED}
      - pread: {fd: f, offset: 0, expect: "00 65 6c", encoding: hex}
      - mmap: {name: m0, length: 8 KiB, type: fd-shared, fd: ro}
      - expect: {errno: EACCES}
      - mmap: {name: m, length: 8 KiB, type: fd-shared, fd: f}
      - write: {vma: m, offset: 4096, data: shared}
      - read: {vma: m, offset: 1, length: 4, expect: ello}
      - mmap: {name: p, length: 8 KiB, type: fd, fd: f, prot: rw}
      - write: {vma: p, offset: 0, data: private}
      - pread: {fd: f, offset: 4096, expect: shared}
      - pread: {fd: f, offset: 0, length: 2, expect: "00 65", encoding: hex}
      - sync: {}
      - mmap: {name: big, length: 16 KiB, type: fd, fd: f}
      - touch: {vma: big, access: read}
      - expect: {signal: SIGBUS, si_code: BUS_ADRERR}
      - close: {fd: f}
      - unlink: {path: /mnt/disk/f}
      - read: {fd: f, length: 1}
      - expect: {errno: EBADF}
      - pread: {fd: ro, offset: 4096, expect: shared}
      - open: {path: /mnt/disk, name: d}
      - mmap: {name: dm, length: 4 KiB, type: fd, fd: d}
      - expect: {errno: ENODEV}
      - read: {fd: d, length: 1}
      - expect: {errno: EISDIR}
      - fsync: {fd: d}
      - mkdir: {path: /mnt/disk/sub}
      - open: {path: /mnt/disk/sub/g, name: g, flags: [O_WRONLY, O_CREAT]}
      - write: {fd: g, data: nested}
      - rmdir: {path: /mnt/disk/sub}
      - expect: {errno: ENOTEMPTY}
      - unlink: {path: /mnt/disk/sub}
      - expect: {errno: EISDIR}
      - unlink: {path: /mnt/disk/sub/g}
      - rmdir: {path: /mnt/disk/sub}
      - open: {path: /mnt/disk/sub/g, name: gone}
      - expect: {errno: ENOENT}
"""


def test_the_fd_steps_on_the_disk_with_the_kernels_errnos():
    for kernel in ("v5.14", "v6.18"):
        r = run_text(DISK_STEPS.replace("KERNEL", kernel), events=())
        assert r.error is None, (kernel, r.error)
