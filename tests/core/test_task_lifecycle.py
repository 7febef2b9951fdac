"""Task lifecycle hooks and the parent pointer (issue 7, "Task fork/exit hooks and a parent
pointer so a child inherits its parent's cgroup").

Scenarios: fork sets ``child.real_parent``; a task the workload starts has none; plugins see
``memsim_task_fork(parent, child)`` after the child has its mm and ``memsim_task_exit(task)``
after the mm is gone, in dependency order (exit in reverse); a parent's exit reparents its
children; a toy cgroup plugin makes a child inherit its parent's group.
"""
import types

from memsim.hookspecs import hookimpl
from memsim.machine import Machine, MachineSpec
from memsim.plugin_host import PluginSpec
from memsim.testing import run_text


def plugin(name, spec=None, **hooks):
    module = types.ModuleType(name)
    if spec is not None:
        module.MEMSIM_PLUGIN = spec
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


WL = """\
machine: {nodes: [{memory: 64 MiB}]}
tasks:
  - name: init
    steps:
      - mmap: {name: buf, length: 64 KiB}
      - touch: {vma: buf}
      - fork:
          child: kid
          steps:
            - fork:
                child: grandkid
                steps:
                  - sleep: {duration: 1ms}
                  - exit: {}
            - exit: {}
      - sleep: {duration: 2ms}
"""


def test_fork_sets_real_parent_and_a_started_task_has_none():
    m = Machine(MachineSpec(nodes=(64 << 20,)))
    init = m.spawn("init")
    kid = m.fork(init, "kid")
    assert init.real_parent is None
    assert kid.real_parent is init


def test_exit_reparents_the_children():
    m = Machine(MachineSpec(nodes=(64 << 20,)))
    init = m.spawn("init")
    kid = m.fork(init, "kid")
    grandkid = m.fork(kid, "grandkid")
    m.exit_task(kid)
    assert grandkid.real_parent is None            # reparented to init (memsim has no pid 1)
    assert kid.real_parent is init


def test_plugins_see_forks_and_exits_with_the_mm_state_of_each_moment():
    log = []

    def task_fork(parent, child):
        log.append(("fork", parent.name if parent else None, child.name, child.real_parent is parent,
                    child.mm is not None))

    def task_exit(task):
        log.append(("exit", task.name, task.mm is None))

    r = run_text(WL, plugins=[plugin("watch", memsim_task_fork=task_fork, memsim_task_exit=task_exit)],
                 events=())
    assert r.error is None, r.error
    assert log == [("fork", None, "init", True, True),
                   ("fork", "init", "kid", True, True),
                   ("fork", "kid", "grandkid", True, True),
                   ("exit", "kid", True),
                   ("exit", "grandkid", True),
                   ("exit", "init", True)]


def test_a_child_inherits_its_parents_cgroup():
    """What a memcg plugin does with the hooks: the group follows fork, and is dropped at exit."""
    groups = {}
    at_exit = {}

    def task_fork(parent, child):
        groups[child.pid] = groups[parent.pid] if parent is not None else f"/{child.name}"

    def task_exit(task):
        at_exit[task.name] = groups.pop(task.pid)

    r = run_text(WL, plugins=[plugin("toycg", memsim_task_fork=task_fork, memsim_task_exit=task_exit)],
                 events=())
    assert r.error is None
    assert at_exit == {"init": "/init", "kid": "/init", "grandkid": "/init"}
    assert groups == {}


def test_task_hooks_run_in_dependency_order_and_exit_in_reverse():
    log = []

    def hooks(name):
        return dict(memsim_task_fork=lambda child: log.append(("fork", name)),
                    memsim_task_exit=lambda task: log.append(("exit", name)))

    plugins = [plugin("zcgroup", None, **hooks("zcgroup")),
               plugin("amemcg", PluginSpec(requires=("zcgroup",)), **hooks("amemcg"))]
    r = run_text("tasks:\n  - name: a\n    steps:\n      - exit: {}\n", plugins=plugins, events=())
    assert r.error is None
    assert log == [("fork", "zcgroup"), ("fork", "amemcg"), ("exit", "amemcg"), ("exit", "zcgroup")]
