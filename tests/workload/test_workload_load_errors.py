"""Every mistake in a workload is a WorkloadError 'file:line:column: problem; fix' with the column on
the offending key or value (STYLE 11, 12).  Each case gives the text, the exact message and the
text the column must point at."""
import re

import pytest

from memsim.errors import Location, WorkloadError
from memsim.workload.docs import core_registries
from memsim.workload.loader import load_workload, load_workload_text

HEAD = "tasks:\n  - name: app\n    steps:\n"
MMAP = "      - mmap: {name: buf, length: 4k}\n"
EXIT = HEAD + "      - exit: {}\n"


def load(text):
    return load_workload_text(text, "w.yaml", core_registries())


def check(text, message, token):
    with pytest.raises(WorkloadError) as info:
        load(text)
    err = info.value
    assert str(err) == message
    m = re.match(r"w\.yaml:(\d+):(\d+): ", message)
    if token is None:
        assert err.where == "w.yaml"
        return
    assert isinstance(err.where, Location) and (err.where.line, err.where.column) == (int(m[1]), int(m[2]))
    line = text.split("\n")[err.where.line - 1]
    assert line[err.where.column - 1:].startswith(token), (line, err.where)


CASES = {
    # -- the file as a whole --------------------------------------------------------------------
    "empty file": ("", "w.yaml: the workload is empty; write a mapping with a 'machine' and a 'tasks' section "
                   "(see docs/workloads.md)", None),
    "only comments": ("# nothing\n", "w.yaml: the workload is empty; write a mapping with a 'machine' and a "
                      "'tasks' section (see docs/workloads.md)", None),
    "top level is a list": ("- a\n- b\n", "w.yaml:1:1: the workload must be a mapping of sections, not a list; "
                            "write 'machine:' and 'tasks:' at the top level (see docs/workloads.md)", "- a"),
    "top level is a string": ("hello\n", "w.yaml:1:1: the workload must be a mapping of sections, not the "
                              "string 'hello'; write 'machine:' and 'tasks:' at the top level (see "
                              "docs/workloads.md)", "hello"),
    "no tasks section": ("machine: {cpus: 1}\n", "w.yaml: the workload has no 'tasks' section; add 'tasks:' with "
                         "at least one task (see docs/workloads.md)", None),
    "tasks empty": ("tasks:\n", "w.yaml:1:1: the workload has no task; add at least one task under 'tasks:' "
                    "('- name: app')", "tasks"),
    "tasks is a mapping": ("tasks: {app: 1}\n", "w.yaml:1:8: tasks must be a list, not a mapping; write each "
                           "task as a list item: '- name: NAME'", "{app"),
    # -- malformed YAML -------------------------------------------------------------------------
    "unclosed flow mapping": ("machine: {cpus: 1\n", "w.yaml:2:1: invalid YAML: expected ',' or '}', but got "
                              "'<stream end>' (while parsing a flow mapping at line 1); check the indentation "
                              "and quoting here", ""),
    "tab indentation": ("machine:\n\tcpus: 1\n", "w.yaml:2:1: invalid YAML: found character '\\t' that cannot "
                        "start any token; indent with spaces: YAML does not allow tabs", "\t"),
    "bad indentation": ("machine:\n  cpus: 1\n   seed: 2\n", "w.yaml:3:8: invalid YAML: mapping values are not "
                        "allowed here; put each 'key: value' on its own line, or quote a value that holds ': '",
                        ": 2"),
    "two documents": ("tasks: []\n---\ntasks: []\n", "w.yaml:2:1: the file holds more than one YAML document; "
                      "remove the '---' separator: a workload is one document", "---"),
    "undefined alias": (HEAD + "      - mmap: *nope\n", "w.yaml:4:15: invalid YAML: found undefined alias 'nope'; "
                        "define the anchor (&name) before using *name", "*nope"),
    "control character": (EXIT + "\x07", "w.yaml:5:1: invalid YAML: the character '\\x07' is not allowed; "
                          "remove it, or quote the value and write it as an escape", "\x07"),
    "unsupported tag": (HEAD + "      - mmap: {name: b, length: !foo 4k}\n", "w.yaml:4:33: the YAML tag !foo is "
                        "not supported; remove the tag", "!foo"),
    "non-scalar key": (HEAD + "      - mmap: {name: b, length: 4k, ? [x]: 1}\n", "w.yaml:4:39: a key in step "
                       "'mmap' is a list; keys are plain names", "[x]"),
    # -- unknown names --------------------------------------------------------------------------
    "unknown section": ("machin:\n  cpus: 1\n" + EXIT, "w.yaml:1:1: unknown section 'machin'; did you mean "
                        "'machine'?", "machin"),
    "unknown section, nothing close": ("zzz: 1\n" + EXIT, "w.yaml:1:1: unknown section 'zzz'; known sections: "
                                       "machine, tasks (a plugin's section needs the plugin loaded)", "zzz"),
    "unknown machine key": ("machine:\n  cpu: 2\n" + EXIT, "w.yaml:2:3: unknown key 'cpu' in machine; did you "
                            "mean 'cpus'?", "cpu"),
    "unknown node key": ("machine:\n  nodes:\n    - mem: 1 GiB\n" + EXIT, "w.yaml:3:7: unknown key 'mem' in "
                         "machine.nodes[0]; did you mean 'memory'?", "mem"),
    "unknown task key": ("tasks:\n  - name: a\n    setps: []\n", "w.yaml:3:5: unknown key 'setps' in a task; "
                         "did you mean 'steps'?", "setps"),
    "unknown step": (HEAD + "      - mmmap: {name: a, length: 4k}\n", "w.yaml:4:9: unknown step 'mmmap'; did "
                     "you mean 'mmap'?", "mmmap"),
    "unknown step, nothing close": (HEAD + "      - zzyzx: {}\n", "w.yaml:4:9: unknown step 'zzyzx'; "
                                    "known steps: clone, close, exit, exit_group, expect, fadvise, fallocate, "
                                    "fork, fsync, ftruncate, madvise, mbind, mkdir, mlock, "
                                    "mlockall, mmap, mount, mprotect, mremap, munlock, munlockall, munmap, "
                                    "open, pread, pwrite, read, read_file, rmdir, set_mempolicy, "
                                    "sleep, ... (36 in all, see docs/workloads.md)", "zzyzx"),
    "unknown step param": (HEAD + "      - mmap: {name: a, lenght: 4k}\n", "w.yaml:4:25: unknown key 'lenght' "
                           "in step 'mmap'; did you mean 'length'?", "lenght"),
    "unknown param of a step without params": (HEAD + "      - exit: {status: 1}\n", "w.yaml:4:16: unknown "
                                               "key 'status' in step 'exit'; step 'exit' takes code", "status"),
    "unknown rss key": (HEAD + "      - expect: {rss: {anonn: 4k}}\n", "w.yaml:4:24: unknown key 'anonn' in "
                        "expect.rss; did you mean 'anon'?", "anonn"),
    "unknown meminfo key": (HEAD + "      - expect: {meminfo: {MemFre: 4k}}\n", "w.yaml:4:28: unknown key "
                            "'MemFre' in expect.meminfo; did you mean 'MemFree'?", "MemFre"),
    # -- missing keys ---------------------------------------------------------------------------
    "task without name": ("tasks:\n  - steps: []\n", "w.yaml:2:5: a task is missing 'name'; add 'name: TEXT' "
                          "(unique task name)", "steps"),
    "task without steps": ("tasks:\n  - name: a\n", "w.yaml:2:5: a task is missing 'steps'; add 'steps: "
                           "[STEPS]' (what the task does, in order)", "name"),
    "step missing a required param": (HEAD + "      - mmap: {name: a}\n", "w.yaml:4:9: step 'mmap' is missing "
                                      "'length'; add 'length: SIZE' (length of the mapping)", "mmap"),
    "bare step missing a required param": (HEAD + "      - sleep:\n", "w.yaml:4:9: step 'sleep' is missing "
                                           "'duration'; add 'duration: DURATION' (emulated time to sleep)",
                                           "sleep"),
    "node without memory": ("machine:\n  nodes: [{}]\n" + EXIT, "w.yaml:2:11: machine.nodes[0] is missing "
                            "'memory'; add 'memory: SIZE' (the node's memory, a multiple of 4 MiB)", "{}"),
    "key without a value": (HEAD + "      - exit: {code:}\n", "w.yaml:4:16: exit.code has no value; write "
                            "'code: N' (exit status), or remove code", "code"),
    # -- wrong types ----------------------------------------------------------------------------
    "string for an int": ("machine:\n  cpus: two\n" + EXIT, "w.yaml:2:9: machine.cpus must be an integer, not "
                          "the string 'two'; write a whole number, e.g. 1", "two"),
    "quoted int": ("machine:\n  cpus: '2'\n" + EXIT, "w.yaml:2:9: machine.cpus must be an integer, not the "
                   "string '2'; remove the quotes", "'2'"),
    "float for an int": ("machine:\n  cpus: 2.0\n" + EXIT, "w.yaml:2:9: machine.cpus must be an integer, not "
                         "the number 2.0; write it without a fraction: 2", "2.0"),
    "list for an int": ("machine:\n  quantum: [1]\n" + EXIT, "w.yaml:2:12: machine.quantum must be an integer, "
                        "not a list; write a whole number, e.g. 512", "[1]"),
    "machine is a list": ("machine: [1]\n" + EXIT, "w.yaml:1:10: the machine section must be a mapping, not a "
                          "list; write 'key: value' lines indented under 'machine:'", "[1]"),
    "nodes is a mapping": ("machine:\n  nodes: {memory: 1 GiB}\n" + EXIT, "w.yaml:2:10: machine.nodes must be a "
                           "list, not a mapping; write the items one per line as '- item', or as [a, b]",
                           "{memory"),
    "task is a string": ("tasks:\n  - app\n", "w.yaml:2:5: tasks[0] must be a mapping, not the string 'app'; "
                         "write a task as '- name: NAME' followed by 'steps:'", "app"),
    "steps is a mapping": ("tasks:\n  - name: a\n    steps: {exit: {}}\n", "w.yaml:3:12: tasks[0].steps must "
                           "be a list of steps, not a mapping; write one '- STEP: {...}' item per step",
                           "{exit"),
    "name is a list": ("tasks:\n  - name: [a]\n    steps: []\n", "w.yaml:2:11: tasks[0].name must be a "
                       "string, not a list; write text; quote it if it starts with '{' or '[' or holds ': '",
                       "[a]"),
    "size is a list": (HEAD + "      - mmap: {name: a, length: [1]}\n", "w.yaml:4:33: mmap.length must be a "
                       "size, not a list; write a byte count (4096, 0x1000) or a number with a binary unit "
                       "(12k, 12 KiB, 2M, 1.5 GiB); K, KB and KiB all mean 1024", "[1]"),
    "size is a boolean": (HEAD + "      - mmap: {name: a, length: yes}\n", "w.yaml:4:33: mmap.length must be "
                          "a size, not the boolean yes; write a byte count (4096, 0x1000) or a number with a "
                          "binary unit (12k, 12 KiB, 2M, 1.5 GiB); K, KB and KiB all mean 1024", "yes"),
    "quoted bool": (HEAD + "      - mmap: {name: a, length: 4k, populate: 'yes'}\n", "w.yaml:4:47: "
                    "mmap.populate must be true or false, not the string 'yes'; remove the quotes", "'yes'"),
    "number for a bool": (HEAD + "      - mmap: {name: a, length: 4k, populate: 1}\n", "w.yaml:4:47: "
                          "mmap.populate must be true or false, not the number 1; write true or false", "1}"),
    "bad enum": (HEAD + "      - mmap: {name: a, length: 4k, type: fil}\n", "w.yaml:4:43: invalid mmap.type: "
                 "'fil' is not one of anon, shared, file, file-shared, fd, fd-shared; did you mean 'file'?", "fil"),
    "bad kernel profile": ("machine:\n  kernel: v5.15\n" + EXIT, "w.yaml:2:11: invalid machine.kernel: 'v5.15' "
                           "is not one of v5.14, v6.18; did you mean 'v5.14'?", "v5.15"),
    "params are a string": (HEAD + "      - mmap: buf\n", "w.yaml:4:15: the parameters of step 'mmap' must be a "
                            "mapping, not the string 'buf'; write '- mmap: {name: TEXT}'", "buf"),
    "rss is a list": (HEAD + "      - expect: {rss: [1]}\n", "w.yaml:4:23: expect.rss must be a mapping, not a "
                      "list; write key: value pairs, e.g. {file: SIZE}", "[1]"),
    "bad address": (HEAD + "      - mmap: {name: b, length: 4k, addr: -1}\n", "w.yaml:4:43: mmap.addr -1 is "
                    "negative; write a number such as 0x7f0000000000", "-1"),
    "address is a word": (HEAD + "      - mmap: {name: b, length: 4k, addr: high}\n", "w.yaml:4:43: mmap.addr "
                          "must be an address, not the string 'high'; write a number such as 0x7f0000000000",
                          "high"),
    # -- bad sizes, durations and ranges --------------------------------------------------------
    "unknown size unit": (HEAD + "      - mmap: {name: a, length: 12 XB}\n", "w.yaml:4:33: invalid mmap.length: "
                          "size '12 XB' has an unknown unit 'XB'; write a byte count (4096, 0x1000) or a number "
                          "with a binary unit (12k, 12 KiB, 2M, 1.5 GiB); K, KB and KiB all mean 1024", "12 XB"),
    "negative size": (HEAD + "      - mmap: {name: a, length: -4096}\n", "w.yaml:4:33: invalid mmap.length: size "
                      "'-4096' is negative; sizes are byte counts of 0 or more", "-4096"),
    "fractional bytes": (HEAD + "      - mmap: {name: a, length: 1.5}\n", "w.yaml:4:33: invalid mmap.length: size "
                         "'1.5' is not a whole number of bytes; use a smaller unit or a fraction that comes out "
                         "whole (1.5 KiB)", "1.5"),
    "empty size": (HEAD + "      - mmap: {name: a, length: ''}\n", "w.yaml:4:33: invalid mmap.length: the size "
                   "is empty; write a byte count (4096, 0x1000) or a number with a binary unit (12k, 12 KiB, 2M, "
                   "1.5 GiB); K, KB and KiB all mean 1024", "''"),
    "zero length": (HEAD + "      - mmap: {name: a, length: 0}\n", "w.yaml:4:33: mmap.length is 0; give a size "
                    "greater than zero", "0}"),
    "zero cpus": ("machine:\n  cpus: 0\n" + EXIT, "w.yaml:2:9: machine.cpus is 0; give a number greater than "
                  "zero", "0"),
    "negative seed": ("machine:\n  seed: -1\n" + EXIT, "w.yaml:2:9: machine.seed is -1, below the minimum of 0; "
                      "give at least 0", "-1"),
    "too many cpus": ("machine:\n  cpus: 1000\n" + EXIT, "w.yaml:2:9: machine.cpus is 1000, above the maximum of "
                      "256; give at most 256", "1000"),
    "exit code too large": (HEAD + "      - exit: {code: 256}\n", "w.yaml:4:22: exit.code is 256, above the "
                            "maximum of 255; give at most 255", "256"),
    "bad duration unit": (HEAD + "      - sleep: {duration: 1 fortnight}\n", "w.yaml:4:27: invalid "
                          "sleep.duration: duration '1 fortnight' has an unknown unit 'fortnight'; write "
                          "nanoseconds (500) or a number with a unit: ns, us, ms, s (100ns, 1.5ms, 2s)",
                          "1 fortnight"),
    "negative duration": (HEAD + "      - sleep: {duration: -1ms}\n", "w.yaml:4:27: invalid sleep.duration: "
                          "duration '-1ms' is negative; durations are 0 or more", "-1ms"),
    "node too small": ("machine:\n  nodes:\n    - memory: 1 MiB\n" + EXIT, "w.yaml:3:15: "
                       "machine.nodes[0].memory is 1 MiB, below the minimum of 4 MiB; give at least 4 MiB",
                       "1 MiB"),
    "node not a multiple of 4 MiB": ("machine:\n  nodes:\n    - memory: 1 GiB\n    - memory: 5 MiB\n" + EXIT,
                                     "w.yaml:4:15: invalid machine.nodes[1].memory: 5 MiB is not a multiple of "
                                     "4 MiB; use 4 MiB or 8 MiB: a node holds whole order-10 buddy blocks "
                                     "(4 MiB each)", "5 MiB"),
    "no nodes": ("machine:\n  nodes: []\n" + EXIT, "w.yaml:2:10: invalid machine.nodes: the machine has no node; "
                 "give at least one node, e.g. [{memory: 1 GiB}]", "[]"),
    "trace buffer too small": ("machine:\n  trace_buffer: 1000\n" + EXIT, "w.yaml:2:17: machine.trace_buffer is "
                               "1000 B, below the minimum of 4 KiB; give at least 4 KiB", "1000"),
    "trace buffer not whole KiB": ("machine:\n  trace_buffer: 5000\n" + EXIT, "w.yaml:2:17: invalid "
                                   "machine.trace_buffer: 5000 B is not a whole number of KiB; use a multiple "
                                   "of 1 KiB (tracefs buffer_size_kb), e.g. 1408 KiB", "5000"),
    "rss not whole pages": (HEAD + "      - expect: {rss: {anon: 1000}}\n", "w.yaml:4:30: invalid "
                            "expect.rss.anon: 1000 B is not a whole number of pages; use a multiple of 4 KiB, "
                            "e.g. 0 B or 4 KiB", "1000"),
    "meminfo not whole kB": (HEAD + "      - expect: {meminfo: {MemFree: 100}}\n", "w.yaml:4:37: invalid "
                             "expect.meminfo.MemFree: 100 B is not a whole number of KiB; /proc/meminfo counts "
                             "in kB (1024 bytes): use a multiple of 1 KiB", "100"),
    "comm too long": ("tasks:\n  - name: a\n    comm: abcdefghijklmnopq\n    steps: []\n", "w.yaml:3:11: invalid "
                      "tasks[0].comm: 'abcdefghijklmnopq' is 17 characters long, more than 15; shorten it, e.g. "
                      "to 'abcdefghijklmno' (TASK_COMM_LEN is 16)", "abcdefghijklmnopq"),
    # -- duplicates -----------------------------------------------------------------------------
    "duplicate machine key": ("machine:\n  cpus: 1\n  cpus: 2\n" + EXIT, "w.yaml:3:3: duplicate key 'cpus' in "
                              "machine (first at line 2); remove one of them", "cpus: 2"),
    "duplicate section": (EXIT + EXIT, "w.yaml:5:1: duplicate key 'tasks' in the workload (first at line 1); "
                          "remove one of them", "tasks"),
    "duplicate step param": (HEAD + "      - mmap: {name: a, length: 4k, length: 8k}\n", "w.yaml:4:37: duplicate "
                             "key 'length' in step 'mmap' (first at column 25); remove one of them", "length: 8k"),
    "duplicate after merge": ("x-a: &m {name: buf, length: 4k}\n" + HEAD + "      - mmap: {<<: *m, length: 8k, "
                              "length: 2k}\n", "w.yaml:5:36: duplicate key 'length' in step 'mmap' (first at "
                              "column 24); remove one of them", "length: 2k"),
    "duplicate task names": ("tasks:\n  - name: a\n    steps: []\n  - name: a\n    steps: []\n", "w.yaml:4:11: "
                             "duplicate task name 'a' (first used at line 2); give each task a unique name", "a"),
    "fork child reuses a task name": (HEAD + "      - fork: {child: app, steps: []}\n", "w.yaml:4:23: duplicate "
                                      "task name 'app' (first used at line 2); give each task a unique name", "app"),
    "duplicate mmap names": (HEAD + MMAP + "      - mmap: {name: buf, length: 8k}\n", "w.yaml:5:22: duplicate "
                             "vma name 'buf' in task 'app' (first defined at line 4); give each vma its own name",
                             "buf"),
    "child remaps an inherited name": (HEAD + MMAP + "      - fork:\n          child: kid\n          steps:\n"
                                       "            - mmap: {name: buf, length: 8k}\n", "w.yaml:8:28: duplicate "
                                       "vma name 'buf' in task 'kid' (first defined at line 4); give each vma its "
                                       "own name", "buf"),
    "duplicate buddyinfo line": (HEAD + "      - expect:\n          buddyinfo:\n"
                                 "            Node 0, zone DMA: [0,0,0,0,0,0,0,0,0,0,0]\n"
                                 "            'Node 0, zone   DMA': [0,0,0,0,0,0,0,0,0,0,0]\n",
                                 "w.yaml:7:13: invalid expect.buddyinfo: 'Node 0, zone DMA' is given twice; keep "
                                 "one line per node and zone", "'Node 0"),
    # -- names that refer to nothing ------------------------------------------------------------
    "vma never mapped": (HEAD + "      - touch: {vma: buf}\n", "w.yaml:4:22: touch.vma 'buf' names no vma defined "
                         "earlier in task 'app'; define it first, with an earlier 'mmap' (mmap.name) or "
                         "'mremap' (mremap.name) step", "buf"),
    "vma misspelt": (HEAD + MMAP + "      - munmap: {vma: bfu}\n", "w.yaml:5:23: munmap.vma 'bfu' names no vma "
                     "defined earlier in task 'app'; did you mean 'buf'?", "bfu"),
    "child uses a mapping made after the fork": (HEAD + "      - fork: {child: kid, steps: [{touch: {vma: buf}}]}\n"
                                                 + MMAP, "w.yaml:4:50: touch.vma 'buf' names no vma defined "
                                                 "earlier in task 'kid'; define it first, with an earlier 'mmap' "
                                                 "(mmap.name) or 'mremap' (mremap.name) step", "buf"),
    # -- cpus -----------------------------------------------------------------------------------
    "task cpu out of range": ("machine: {cpus: 2}\ntasks:\n  - name: a\n    cpu: 2\n    steps: []\n",
                              "w.yaml:4:10: tasks[0].cpu is 2 but the machine has CPUs 0 to 1; use a CPU from 0 "
                              "to 1, or raise machine.cpus", "2"),
    "task cpu on a one-cpu machine": ("tasks:\n  - name: a\n    cpu: 1\n    steps: []\n", "w.yaml:3:10: "
                                      "tasks[0].cpu is 1 but the machine has only CPU 0; use CPU 0, or raise "
                                      "machine.cpus", "1"),
    "fork cpu out of range": (HEAD + "      - fork: {child: k, steps: [], cpu: 3}\n", "w.yaml:4:42: fork.cpu is 3 "
                              "but the machine has only CPU 0; use CPU 0, or raise machine.cpus", "3"),
    # -- step shape -----------------------------------------------------------------------------
    "two steps in one item": (HEAD + "      - mmap: {name: a, length: 4k}\n        touch: {vma: a}\n",
                              "w.yaml:5:9: a step has 2 keys ('mmap', 'touch'); a step is a mapping with exactly "
                              "one key, the step name; start each step with its own '- '", "touch"),
    "params not indented": (HEAD + "      - mmap:\n        name: a\n        length: 4k\n", "w.yaml:5:9: a step "
                            "has 3 keys ('mmap', 'name', 'length'); a step is a mapping with exactly one key, the "
                            "step name; indent 'name', 'length' under 'mmap:', or write '- mmap: {name: ...}'",
                            "name"),
    "bare step name": (HEAD + "      - exit\n", "w.yaml:4:9: the step 'exit' is not a mapping; write '- exit: {}' "
                       "(a step is '- NAME: {params}')", "exit"),
    "step is a number": (HEAD + "      - 5\n", "w.yaml:4:9: a step must be a one-key mapping '- STEP: {params}', "
                         "not the number 5; write e.g. '- touch: {vma: buf}'", "5"),
    "empty step": (HEAD + "      - {}\n", "w.yaml:4:9: the step is an empty mapping; write '- STEP: {params}'",
                   "{}"),
    # -- step rules -----------------------------------------------------------------------------
    "expect without assertion": (HEAD + "      - expect: {}\n", "w.yaml:4:9: expect has no assertion; give at "
                                 "least one of errno, signal, rss, meminfo, buddyinfo, file", "expect"),
    "unknown errno": (HEAD + "      - expect: {errno: ENOMEN}\n", "w.yaml:4:25: invalid expect.errno: 'ENOMEN' is "
                      "not an errno name; did you mean 'ENOMEM'?", "ENOMEN"),
    "lower-case errno": (HEAD + "      - expect: {errno: enomem}\n", "w.yaml:4:25: invalid expect.errno: 'enomem' "
                         "is not an errno name; did you mean 'ENOMEM'? (errno names are upper case)", "enomem"),
    "file mapping without file": (HEAD + "      - mmap: {name: a, length: 4k, type: file}\n", "w.yaml:4:43: "
                                  "mmap.file is required when type is file; add file: NAME, the file to map",
                                  "file}"),
    "file with an anonymous mapping": (HEAD + "      - mmap: {name: a, length: 4k, file: x}\n", "w.yaml:4:43: "
                                       "mmap.file is only used with a file type (type is anon); add type: file or "
                                       "file-shared, or remove file", "x}"),
    "stride without strided": (HEAD + MMAP + "      - touch: {vma: buf, stride: 8k}\n", "w.yaml:5:35: "
                               "touch.stride is only used with pattern: strided (pattern is sequential); add "
                               "pattern: strided, or remove stride", "8k"),
    "count without random": (HEAD + MMAP + "      - touch: {vma: buf, count: 8}\n", "w.yaml:5:34: touch.count is "
                             "only used with pattern: random (pattern is sequential); add pattern: random, or "
                             "remove count", "8"),
    "odd hex": (HEAD + MMAP + "      - write: {vma: buf, data: abc, encoding: hex}\n", "w.yaml:5:33: write.data has "
                "3 hex digits, an odd number; write two hex digits per byte, e.g. 'de ad be ef'", "abc"),
    "bad hex digit": (HEAD + MMAP + "      - write: {vma: buf, data: 'zz', encoding: hex}\n", "w.yaml:5:33: "
                      "write.data holds 'z', not a hex digit; write two hex digits (0-9, a-f) per byte, or set "
                      "encoding: text", "'zz'"),
    "text that UTF-8 cannot encode": (HEAD + MMAP + '      - write: {vma: buf, data: "a\\ud800"}\n', "w.yaml:5:33: "
                                      "write.data holds '\\ud800', which UTF-8 cannot encode; write the bytes with "
                                      "encoding: hex", '"a'),
    "read without length or expect": (HEAD + MMAP + "      - read: {vma: buf}\n", "w.yaml:5:9: read needs length "
                                      "or expect; add length: SIZE, or expect: BYTES", "read"),
    "read length disagrees with expect": (HEAD + MMAP + "      - read: {vma: buf, length: 3, expect: abcd}\n",
                                          "w.yaml:5:34: read.length is 3 but read.expect holds 4 bytes; make them "
                                          "agree, or leave length out", "3"),
    "buddyinfo line of the wrong length": (HEAD + "      - expect: {buddyinfo: {'Node 0, zone DMA': [1,2,3]}}\n",
                                           "w.yaml:4:50: invalid expect.buddyinfo['Node 0, zone DMA']: a buddyinfo "
                                           "line has 11 free-block counts (orders 0 to 10), not 3; give 11 "
                                           "numbers, as in /proc/buddyinfo", "[1,2,3]"),
    "buddyinfo unknown zone": (HEAD + "      - expect: {buddyinfo: {'Node 0, zone Foo': [0,0,0,0,0,0,0,0,0,0,0]}}"
                               "\n", "w.yaml:4:30: invalid expect.buddyinfo: zone 'Foo' is not an x86-64 zone; use "
                               "one of DMA, DMA32, Normal, Movable", "'Node 0, zone Foo'"),
    "buddyinfo bad line name": (HEAD + "      - expect: {buddyinfo: {zone DMA: [0,0,0,0,0,0,0,0,0,0,0]}}\n",
                                "w.yaml:4:30: invalid expect.buddyinfo: 'zone DMA' is not a /proc/buddyinfo line "
                                "name; write 'Node N, zone ZONE', e.g. 'Node 0, zone DMA32'", "zone DMA"),
    # -- YAML structure abuse -------------------------------------------------------------------
    "merge of a scalar": (HEAD + "      - mmap: {<<: 5, name: a}\n", "w.yaml:4:20: a merge key '<<' takes a "
                          "mapping or a list of mappings, not the number 5; merge an anchored mapping: "
                          "'<<: *name'", "5"),
    "recursive steps": ("tasks: &t\n  - name: a\n    steps: *t\n", "w.yaml:3:5: a step has 2 keys ('name', "
                        "'steps'); a step is a mapping with exactly one key, the step name; start each step with "
                        "its own '- '", "steps"),
    "recursive fork": ("tasks:\n  - name: a\n    steps: &s\n      - fork: {child: k, steps: *s}\n", "w.yaml:4:23: "
                       "duplicate task name 'k' (first used at line 4); give each task a unique name", "k"),
}

@pytest.mark.parametrize("name", list(CASES))
def test_mistake_is_reported_at_its_place(name):
    check(*CASES[name])


def test_unreadable_file(tmp_path):
    with pytest.raises(WorkloadError) as info:
        load_workload(tmp_path / "missing.yaml", core_registries())
    assert str(info.value) == (f"{tmp_path / 'missing.yaml'}: cannot read the workload: No such file or "
                               "directory; check the path and its permissions")


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_bytes(b"tasks:\n  - name: \xff\n")
    with pytest.raises(WorkloadError) as info:
        load_workload(path, core_registries())
    assert str(info.value) == f"{path}:2:11: the file is not UTF-8 text (byte 0xff); save the workload as UTF-8"


def test_alias_bomb_is_refused(monkeypatch):
    from memsim.registry import Param, StepType
    from memsim.workload import loader
    monkeypatch.setattr(loader, "MAX_VALUES", 100_000)
    registries = core_registries()
    registries.steps.add(StepType("blob", "free data", (Param("data", "list", "anything"),),
                                  run=lambda ctx, step: None, plugin="test"))
    lines = ["x-0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        lines.append(f"x-{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\ntasks:\n  - name: a\n    steps:\n      - blob: {data: *a8}\n"
    with pytest.raises(WorkloadError) as info:
        load_workload_text(text, "w.yaml", registries)
    assert str(info.value).endswith(": the workload expands to more than 100000 values; check for aliases "
                                    "that repeat large lists")
