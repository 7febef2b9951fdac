"""The file steps (mkdir, rmdir, mount, umount, read_file, write_file) and expect: {file: ...}:
errnos checked with expect: {errno: ...}, file expectations, and their load-time errors."""
import textwrap

import pytest

from memsim.errors import ExpectationFailed, WorkloadError
from memsim.plugins.core_steps import parse_fields
from memsim.testing import run_text


def wl(*steps, kernel="v5.14"):
    body = "".join(f"      - {s}\n" for s in steps)
    return (f"machine: {{kernel: {kernel}, nodes: [{{memory: 64 MiB}}]}}\n"
            "tasks:\n  - name: t\n    steps:\n" + body)


def run(*steps, **kw):
    r = run_text(wl(*steps, **kw), events=())
    return r


def test_file_steps_set_the_kernels_errno_for_expect():
    r = run("mkdir: {path: /proc/x}", "expect: {errno: ENOENT}",
            "mkdir: {path: /sys/x}", "expect: {errno: EPERM}",
            "rmdir: {path: /proc}", "expect: {errno: EBUSY}",
            "mount: {type: nosuchfs, path: /mnt}", "expect: {errno: ENODEV}",
            "umount: {path: /mnt}", "expect: {errno: EINVAL}",
            "read_file: {path: /proc/nope}", "expect: {errno: ENOENT}",
            "write_file: {path: /proc/meminfo, data: x}", "expect: {errno: EIO}",
            "write_file: {path: /sys/devices/system/node/online, data: '1'}", "expect: {errno: EACCES}",
            "write_file: {path: /proc/sys/vm/min_free_kbytes, data: '-5'}", "expect: {errno: EINVAL}")
    assert r.error is None, r.error


def test_an_unexpected_file_errno_stops_the_run_at_its_step():
    r = run("write_file: {path: /proc/sys/vm/min_free_kbytes, data: lots}")
    assert isinstance(r.error, WorkloadError)
    assert str(r.error).startswith("test.yaml:5:9: write_file failed with EINVAL (write_file "
                                   "/proc/sys/vm/min_free_kbytes: ")


def test_mount_read_and_umount_through_the_steps():
    r = run("mkdir: {path: /mnt/p, mode: '0700'}",
            "mount: {type: proc, source: proc, path: /mnt/p, options: ro}",
            "write_file: {path: /mnt/p/sys/vm/min_free_kbytes, data: '4096'}", "expect: {errno: EROFS}",
            "write_file: {path: /proc/sys/vm/min_free_kbytes, data: \"4096\\n\"}",
            "read_file: {path: /mnt/p/sys/vm/min_free_kbytes, expect: \"4096\\n\"}",
            "expect: {file: {path: /proc/mounts, contains: 'proc /mnt/p proc ro,relatime 0 0'}}",
            "umount: {path: /mnt/p}", "rmdir: {path: /mnt/p}",
            "expect: {file: {path: /proc/mounts, equals: \"rootfs / rootfs rw,relatime 0 0\\n"
            "proc /proc proc rw,relatime 0 0\\nsysfs /sys sysfs rw,relatime 0 0\\n"
            "debugfs /sys/kernel/debug debugfs rw,relatime 0 0\\n"
            "cgroup2 /sys/fs/cgroup cgroup2 rw,relatime 0 0\\n"           # the memcg plugin's hierarchy
            "/dev/vda /mnt/disk diskfs rw,relatime 0 0\\n\"}}")       # the page-cache plugin's disk
    assert r.error is None, r.error
    assert r.machine.physmem.min_free_kbytes == 4096


def test_read_file_compares_the_whole_text():
    r = run("read_file: {path: /proc/sys/vm/stat_interval, expect: \"2\\n\"}")
    assert isinstance(r.error, ExpectationFailed)
    assert "/proc/sys/vm/stat_interval reads '1\\n', expected '2\\n'" in str(r.error)


def test_write_file_takes_hex_data():
    r = run("write_file: {path: /proc/sys/vm/min_free_kbytes, data: '32 30 34 38', encoding: hex}",
            "read_file: {path: /proc/sys/vm/min_free_kbytes, expect: \"2048\\n\"}")
    assert r.error is None, r.error


def test_read_and_write_file_use_the_tasks_fds_and_close_them():
    r = run("read_file: {path: /proc/vmstat}", "write_file: {path: /proc/sys/vm/stat_refresh, data: '1'}")
    assert r.error is None
    assert all(t.files is None for t in r.machine.tasks.values())      # exited: table put
    assert all(m.mnt_count == 0 for m in r.machine.vfs.mounts())


def test_expect_file_fields_read_vmstat_meminfo_and_node_files():
    r = run("mmap: {name: b, length: 1 MiB}", "touch: {vma: b}",
            "write_file: {path: /proc/sys/vm/stat_refresh, data: '1'}",
            "expect: {file: {path: /proc/vmstat, fields: {nr_zone_active_anon: 0, numa_miss: 0}}}",
            "expect: {file: {path: /proc/meminfo, fields: {'MemTotal:': 64 MiB, HugePages_Total: 0, "
            "Hugepagesize: 2048 kB}}}",
            "expect: {file: {path: /sys/devices/system/node/node0/meminfo, fields: {MemTotal: 65536 kB}}}",
            "expect: {file: {path: /sys/devices/system/node/node0/numastat, fields: {numa_foreign: 0x0}}}")
    assert r.error is None, r.error


def test_expect_file_mismatches_fail_the_expectation():
    r = run("expect: {file: {path: /proc/meminfo, fields: {MemTotal: 32 MiB, Hugepagesize: 2 MiB}}}")
    assert isinstance(r.error, ExpectationFailed)
    assert "/proc/meminfo: MemTotal is 65536 kB, expected 32 MiB" in str(r.error)
    assert "Hugepagesize" not in str(r.error)
    r = run("expect: {file: {path: /proc/filesystems, equals: \"nodev\\trootfs\\nnodev\\tprocfs\\n\"}}")
    assert "/proc/filesystems differs at line 2: 'nodev\\tproc', expected 'nodev\\tprocfs'" in str(r.error)
    r = run("expect: {file: {path: /proc/nope, contains: x}}")
    assert isinstance(r.error, ExpectationFailed) and "cannot read /proc/nope: ENOENT" in str(r.error)


@pytest.mark.parametrize("fields, message", [
    ("{nr_fre_pages: 1}", "/proc/vmstat has no field 'nr_fre_pages'; did you mean 'nr_free_pages'?"),
    ("{nr_free_pages: lots}", "/proc/vmstat prints nr_free_pages as a number, and 'lots' is not one"),
])
def test_expect_file_field_mistakes_are_workload_errors(fields, message):
    r = run(f"expect: {{file: {{path: /proc/vmstat, fields: {fields}}}}}")
    assert isinstance(r.error, WorkloadError) and message in str(r.error)
    assert str(r.error).startswith("test.yaml:5:24: ")


def test_a_kb_field_needs_a_unit():
    r = run("expect: {file: {path: /proc/meminfo, fields: {MemTotal: 65536}}}")
    assert isinstance(r.error, WorkloadError)
    assert "prints MemTotal in kB, and '65536' has no unit; write '65536 kB'" in str(r.error)


def test_a_field_that_appears_twice_is_ambiguous():
    r = run("expect: {file: {path: /proc/mounts, fields: {proc: x}}}")
    assert isinstance(r.error, WorkloadError)


@pytest.mark.parametrize("step, message", [
    ("mkdir: {path: mnt/x}", "test.yaml:5:23: invalid mkdir.path: 'mnt/x' is not an absolute path; "
                             "write it from the root, e.g. '/mnt/x'"),
    ("mkdir: {path: /mnt/x, mode: '0789'}", "test.yaml:5:37: invalid mkdir.mode: '0789' is not an "
                                            "octal mode; write the permission bits in octal"),
    ("mkdir: {path: /mnt/x, mode: 17777}", "invalid mkdir.mode: mode 17777 has bits above 07777"),
    ("mount: {path: /mnt}", "test.yaml:5:9: step 'mount' is missing 'type'"),
    ("read_file: {path: /proc/meminfo, encoding: hex}", "read_file.encoding is only used with expect"),
    ("write_file: {path: /proc/x, data: 'zz', encoding: hex}", "write_file.data holds 'z', not a hex digit"),
    ("expect: {file: {path: /proc/vmstat}}", "expect.file needs one of equals, contains or fields"),
    ("expect: {file: {path: /proc/vmstat, equals: a, contains: b}}",
     "test.yaml:5:56: invalid expect.file: expect.file has both equals and contains"),
    ("expect: {file: {path: /proc/vmstat, fields: {}}}", "expect.file.fields is empty"),
    ("expect: {file: {equals: a}}", "expect.file is missing 'path'"),
    ("expect: {file: {path: /proc/vmstat, equal: a}}", "unknown key 'equal' in expect.file; did you mean 'equals'?"),
])
def test_file_step_mistakes_are_reported_at_load_time(step, message):
    with pytest.raises(WorkloadError) as e:
        run(step)
    assert message in str(e.value)


def test_parse_fields_splits_at_the_colon_or_the_last_blank():
    text = "MemFree:   123 kB\nNode 0 MemUsed:  7 kB\nnr_free_pages 12\n  pages free     3840\n\n"
    assert parse_fields(text) == {"MemFree": ["123 kB"], "Node 0 MemUsed": ["7 kB"],
                                  "nr_free_pages": ["12"], "pages free": ["3840"]}


def test_meminfo_expect_knows_the_profiles_lines():
    r = run("expect: {meminfo: {Zswap: 0}}")
    assert isinstance(r.error, WorkloadError) and "/proc/meminfo of v5.14 has no line 'Zswap'" in str(r.error)
    assert run("expect: {meminfo: {Zswap: 0, HugePages_Free: 0}}", kernel="v6.18").error is None


# -- the fd steps: open, close, read/write of an fd, pread, pwrite, ftruncate, unlink, fsync,
# fallocate, fadvise, madvise, mmap type fd/fd-shared (on memsim.testing's ramfiles) ------------

from memsim.testing import RamFilesPlugin  # noqa: E402

FD_STEPS = """\
tasks:
  - name: t
    steps:
      - mount: {type: ramfiles, path: /mnt}
      - open: {path: /mnt/nope, name: x}
      - expect: {errno: ENOENT}
      - read: {fd: x, length: 4}
      - expect: {errno: EBADF}
      - open: {path: /mnt/f, name: f, flags: [O_RDWR, O_CREAT]}
      - write: {fd: f, data: hello}
      - pread: {fd: f, offset: 1, expect: ell}
      - pwrite: {fd: f, offset: 0, data: J}
      - pread: {fd: f, offset: 0, expect: Jello}
      - open: {path: /mnt/f, name: ro}
      - read: {fd: ro, expect: Jel}
      - read: {fd: ro, expect: lo}
      - write: {fd: ro, data: x}
      - expect: {errno: EBADF}
      - ftruncate: {fd: ro, length: 1}
      - expect: {errno: EINVAL}
      - ftruncate: {fd: f, length: 8 KiB}
      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE], length: 4 KiB}
      - expect: {errno: EOPNOTSUPP}
      - fallocate: {fd: f, mode: [FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE], length: 1}
      - pread: {fd: f, offset: 0, expect: "00 65", encoding: hex}
      - fsync: {fd: f}
      - fadvise: {fd: f, advice: POSIX_FADV_DONTNEED}
      - mmap: {name: m0, length: 8 KiB, type: fd-shared, fd: ro}
      - expect: {errno: EACCES}
      - mmap: {name: m, length: 8 KiB, type: fd-shared, fd: f}
      - touch: {vma: m}
      - madvise: {vma: m, advice: MADV_REMOVE}
      - madvise: {vma: m, advice: MADV_DONTNEED}
      - close: {fd: f}
      - unlink: {path: /mnt/f}
      - read: {fd: f, length: 1}
      - expect: {errno: EBADF}
      - pread: {fd: ro, offset: 0, length: 8 KiB}
      - pread: {fd: ro, offset: 0, expect: "00 00", encoding: hex}
      - open: {path: /mnt, name: d}
      - mmap: {name: dm, length: 4 KiB, type: fd, fd: d}
      - expect: {errno: ENODEV}
      - read: {fd: d, length: 1}
      - expect: {errno: EISDIR}
"""


def test_the_fd_steps_do_the_file_calls_with_the_kernels_errnos():
    r = run_text(FD_STEPS, plugins=(RamFilesPlugin(),), events=())
    assert r.error is None, r.error
    sb = r.machine.vfs.path_lookup("/mnt").dentry.d_sb
    assert sb.s_fs_info["fsyncs"] == 1 and sb.s_fs_info["mmaps"] == 1
    assert sb.s_fs_info["evicted"] == [2]         # unlinked, read through ro, gone at exit


def test_a_pread_that_reads_other_bytes_fails_the_expectation():
    r = run_text(FD_STEPS.replace("expect: Jello", "expect: Hello"), plugins=(RamFilesPlugin(),),
                 events=())
    assert isinstance(r.error, ExpectationFailed)
    assert "fd f at offset 0 read 'Jello', expected 'Hello'" in str(r.error)


def test_forked_children_and_threads_know_the_fd_names():
    r = run_text(textwrap.dedent("""\
        tasks:
          - name: t
            steps:
              - mount: {type: ramfiles, path: /mnt}
              - open: {path: /mnt/f, name: f, flags: [O_RDWR, O_CREAT]}
              - fork:
                  child: c
                  steps:
                    - write: {fd: f, data: ab}
                    - close: {fd: f}
              - sleep: {duration: 1ms}
              - clone:
                  thread: th
                  steps:
                    - pread: {fd: f, offset: 0, expect: ab}
                    - close: {fd: f}
              - sleep: {duration: 1ms}
              - write: {fd: f, data: x}
              - expect: {errno: EBADF}
        """), plugins=(RamFilesPlugin(),), events=())
    assert r.error is None, r.error


@pytest.mark.parametrize("step, message", [
    ("read: {fd: nosuch, length: 1}", "test.yaml:5:20: read.fd 'nosuch' names no fd defined"),
    ("open: {path: /mnt/f, name: f, flags: [O_RDONLY, O_RDWR]}",
     "test.yaml:5:57: open.flags has two access modes, O_RDONLY and O_RDWR"),
    ("open: {path: /mnt/f, name: f, flags: [O_CREAT, O_CREAT]}", "O_CREAT is given twice in open.flags"),
    ("open: {path: /mnt/f, name: f, flags: [O_SYNC]}", "O_SYNC"),
    ("read: {length: 1}", "read needs exactly one of vma and fd"),
    ("mmap: {name: m, length: 4 KiB, type: fd}", "mmap.fd is required when type is fd"),
    ("mmap: {name: m, length: 4 KiB, fd: g}", "names no fd defined"),
    ("fadvise: {fd: g, advice: DONTNEED}", "DONTNEED"),
])
def test_fd_step_mistakes_are_reported_at_load_time(step, message):
    with pytest.raises(WorkloadError) as e:
        run_text(wl(step), events=())
    assert message in str(e.value), str(e.value)


def test_a_write_of_an_fd_takes_no_offset():
    with pytest.raises(WorkloadError) as e:
        run_text(wl("open: {path: /proc/meminfo, name: f}", "write: {fd: f, offset: 4, data: x}"), events=())
    assert "write.offset is only used with vma" in str(e.value) and "use pwrite with offset" in str(e.value)


BUFFER_STEPS = """\
tasks:
  - name: t
    steps:
      - mount: {type: ramfiles, path: /mnt}
      - open: {path: /mnt/f, name: f, flags: [O_RDWR, O_CREAT]}
      - write: {fd: f, data: abcdefgh}
      - open: {path: /mnt/f, name: r, flags: [O_RDWR]}
      - open: {path: /mnt/f, name: ro}
      - mmap: {name: m, length: 8 KiB}
      - mprotect: {vma: m, offset: 4 KiB, prot: none}
      # read(2) into the buffer: all 8 bytes, then the same call across into PROT_NONE copies 4
      - read: {fd: r, buffer: m, offset: 16, length: 8, expect: abcdefgh}
      - read: {vma: m, offset: 16, expect: abcdefgh}
      - pwrite: {fd: f, offset: 0, data: ABCDEFGH}
      - read: {fd: ro, buffer: m, offset: 4092, length: 8, expect: ABCD}
      - read: {vma: m, offset: 4092, expect: ABCD}
      - read: {fd: ro, length: 4, expect: EFGH}
      # at the end of the file: 0 bytes, the buffer is not looked at
      - read: {fd: ro, buffer: m, offset: 4 KiB, length: 4}
      # nothing copied: EFAULT, the position stays
      - open: {path: /mnt/f, name: ro2}
      - read: {fd: ro2, buffer: m, offset: 4 KiB, length: 4}
      - expect: {errno: EFAULT}
      - read: {fd: ro2, length: 3, expect: ABC}
      # write(2) from the buffer: the fd's EBADF comes before the buffer's EFAULT
      - write: {fd: ro, buffer: m, offset: 4 KiB, length: 4}
      - expect: {errno: EBADF}
      - write: {fd: r, buffer: m, offset: 4 KiB, length: 4}
      - expect: {errno: EFAULT}
      # the same bytes written by the task itself: a user access, SIGSEGV
      - write: {vma: m, offset: 4095, data: zz}
      - expect: {signal: SIGSEGV, si_code: SEGV_ACCERR}
"""


def test_read_and_write_through_a_buffer_copy_to_and_from_user_memory():
    r = run_text(BUFFER_STEPS, plugins=(RamFilesPlugin(),), events=())
    assert r.error is None, r.error


def test_a_write_from_a_buffer_that_faults_part_way_is_short():
    """6 of the 8 bytes lie before the PROT_NONE page: write(2) writes those 6 and moves the
    position by 6."""
    r = run_text(BUFFER_STEPS + """\
      - write: {vma: m, offset: 4090, data: '123456'}
      - open: {path: /mnt/f, name: w, flags: [O_WRONLY]}
      - write: {fd: w, buffer: m, offset: 4090, length: 8}
      - write: {fd: w, data: '!'}
      - pread: {fd: ro, offset: 0, expect: '123456!H'}
""", plugins=(RamFilesPlugin(),), events=())
    assert r.error is None, r.error


@pytest.mark.parametrize("step, message", [
    ("read: {vma: m, buffer: m, length: 1}", "read.buffer is only used with fd"),
    ("write: {fd: f, buffer: m, data: x, length: 1}", "write.data and write.buffer both give"),
    ("write: {fd: f, buffer: m}", "write with a buffer needs length"),
    ("write: {fd: f, data: x, length: 1}", "write.length is only used with buffer"),
    ("write: {fd: f}", "write needs data"),
    ("read: {fd: f, buffer: nosuch, length: 1}", "read.buffer 'nosuch' names no vma defined"),
])
def test_buffer_mistakes_are_reported_at_load_time(step, message):
    with pytest.raises(WorkloadError) as e:
        run_text(wl("open: {path: /proc/meminfo, name: f}", "mmap: {name: m, length: 4 KiB}", step),
                 events=())
    assert message in str(e.value), str(e.value)


def test_a_buffer_too_small_for_the_length_is_a_workload_error():
    r = run_text(wl("open: {path: /proc/meminfo, name: f}", "mmap: {name: m, length: 4 KiB}",
                    "read: {fd: f, buffer: m, offset: 4000, length: 100}"), events=())
    assert isinstance(r.error, WorkloadError)
    assert "reading 100 bytes at offset 4000 of buffer 'm' runs past its end (4096 bytes)" in str(r.error)
