"""Every exception a user can cause, in one module (STYLE 12).

Each one reads ``<where>: <problem>; <fix>``: *where* is a :class:`Location` (``file:line:column``,
1-based), a bare file name or option, or nothing; *problem* says what is wrong and *fix* how to
put it right.  The CLI prints ``str(error)`` and exits with ``error.exit_code`` — never a
traceback:

=====================  =========  ==================================================
exception              exit code  raised for
=====================  =========  ==================================================
``WorkloadError``      2          a workload file that cannot be read or is invalid
``UsageError``         2          a bad command line
``TraceError``         2          a trace file that cannot be read or parsed
``PluginError``        2          a plugin that cannot be found, loaded or registered
``ExpectationFailed``  1          an ``expect`` step that did not hold
``PluginBug``          3          a plugin's step or hook raised another exception
``KernelPanic``        2          the emulated kernel panicked: the run stops
``OutOfMemoryPanic``   2          no task could be OOM-killed (a ``KernelPanic``)
``Interrupted``        130        Ctrl-C (SIGINT) during a run (a KeyboardInterrupt)
=====================  =========  ==================================================

Exit code 3 is also an invariant broken under ``--check`` (a bug in memsim); ``memsim --debug``
prints the traceback of any of them.

:class:`InvalidValue` is raised by value parsers (:mod:`memsim.units`) and by the ``check``
functions of :class:`memsim.registry.Param` / ``StepType`` / ``SectionSpec``; it has no location
of its own, and the workload loader re-raises it as a :class:`WorkloadError` at the offending key
or value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

__all__ = [
    "Location",
    "MemsimError",
    "WorkloadError",
    "Deadlocked",
    "KernelPanic",
    "OutOfMemoryPanic",
    "ExpectationFailed",
    "UsageError",
    "TraceError",
    "PluginError",
    "InvalidValue",
    "PluginBug",
    "Interrupted",
    "EXIT_BAD_INPUT",
    "EXIT_EXPECTATION",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
]

#: Exit code for anything the user must fix in the input (workload, command line, trace, plugin).
EXIT_BAD_INPUT = 2
#: Exit code for a workload that ran but whose expectations did not hold.
EXIT_EXPECTATION = 1
#: Exit code for a bug in memsim or in a plugin: an exception a plugin's step or hook should not
#: raise, an invariant broken under ``--check``.
EXIT_BUG = 3
#: Exit code after Ctrl-C (128 + SIGINT, as a shell reports a process SIGINT killed).
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Location:
    """A place in a file: ``file:line:column``, 1-based; ``line``/``column`` may be None."""

    file: str
    line: Optional[int] = None
    column: Optional[int] = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


Where = Union[Location, str, None]


class MemsimError(Exception):
    """Base of every user-facing memsim error: ``str()`` is ``<where>: <problem>; <fix>``.

    ``where`` is a :class:`Location`, a string (a file name, an option) or None; an empty ``fix``
    is left out of the message.
    """

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, where: Where, problem: str, fix: str = ""):
        super().__init__(where, problem, fix)
        self.where = where
        self.problem = problem
        self.fix = fix

    def __reduce__(self):
        return (_rebuild, (type(self), self.where, self.problem, self.fix, self.__dict__))

    def __str__(self) -> str:
        text = self.problem
        if self.where is not None and str(self.where):
            text = f"{self.where}: {text}"
        if self.fix:
            text = f"{text}; {self.fix}"
        return text


def _rebuild(cls, where, problem, fix, state):
    err = MemsimError.__new__(cls)
    MemsimError.__init__(err, where, problem, fix)
    err.__dict__.update(state)
    return err


class WorkloadError(MemsimError):
    """A workload file that cannot be read or does not follow docs/workloads.md (exit code 2).

    ``WorkloadError(where, problem, fix)`` reads exactly ``<where>: <problem>; <fix>``.
    """


class Deadlocked(WorkloadError):
    """Every live task of a run is blocked and none can wake the others (exit code 2); ``where``
    is the workload file."""


class KernelPanic(WorkloadError):
    """The emulated kernel panicked (panic(): ``Kernel panic - not syncing: ...``): memsim
    stops the run (status ``error``, exit code 2).  The problem is the panic's text, which
    whoever raises it also writes to the kernel log (``machine.printk``), so the summary's
    ``kernel_log`` and its ``stopped early:`` line both show it.  ``where`` is the step that
    was running when the run knows it (the runner fills it in), else the workload file."""


class OutOfMemoryPanic(KernelPanic):
    """The OOM killer found no task to kill (every process has oom_score_adj -1000, or none
    has memory): the kernel panics ("System is deadlocked on memory"), memsim stops the run
    (status ``error``, exit code 2).  ``where`` is the step that was allocating when the run
    knows it (the runner fills it in), else the workload file."""


class ExpectationFailed(MemsimError):
    """An ``expect`` step did not hold (exit code 1); ``where`` is the step's location."""

    exit_code = EXIT_EXPECTATION


class UsageError(MemsimError):
    """A bad command line (exit code 2); ``where`` names the option, e.g. ``--seed``."""


class TraceError(MemsimError):
    """A trace file that cannot be read or parsed (exit code 2); ``where`` is the file (and line)."""


class PluginError(MemsimError):
    """A plugin that cannot be found, loaded, disabled or registered (exit code 2).

    ``where`` names the plugin (``plugin 'hello' (hello.plugin)``); a plugin that declares an
    invalid parameter (a bad default, an unknown type) is reported here too.
    """


class PluginBug(MemsimError):
    """A plugin's step or hook raised an exception that is not a :class:`MemsimError`: a bug
    in the plugin, not in the workload (exit code 3).

    ``where`` names the plugin (``plugin 'hello'``), the problem the step and its workload line
    or the hook, and the exception: ``plugin 'hello': step 'greet' at w.yaml:7:9 raised
    ZeroDivisionError: division by zero; this is a bug in the plugin: ...``.  The exception is
    the ``__cause__``; ``memsim --debug`` prints its traceback.  ``plugin`` and ``step`` (a step's
    name, or None for a hook) and ``hook`` (or None) say which.
    """

    exit_code = EXIT_BUG

    def __init__(self, where: Where, problem: str, fix: str = "", *, plugin: Optional[str] = None,
                 step: Optional[str] = None, hook: Optional[str] = None):
        super().__init__(where, problem, fix)
        self.plugin = plugin
        self.step = step
        self.hook = hook


class InvalidValue(MemsimError, ValueError):
    """A value that does not parse or does not satisfy a rule; it carries no location.

    Raised by :func:`memsim.units.parse_size` and friends and by ``check`` functions of
    parameters, steps and sections.  ``key`` is the path of the offending value below the object
    that was checked (``("buddyinfo", "Node 0, zone DMA32")`` for a step check, ``()`` or None for
    the checked value itself); with ``on_key`` the error points at that mapping key rather than at
    its value.  The workload loader turns it into a :class:`WorkloadError` at that place.
    """

    def __init__(self, problem: str, fix: str = "", key: Union[str, Tuple, None] = None,
                 on_key: bool = False):
        super().__init__(None, problem, fix)
        if isinstance(key, str):
            key = (key,)
        self.key: Tuple = tuple(key or ())
        self.on_key = on_key


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run (exit code 130).  A KeyboardInterrupt, so that whatever
    stops on Ctrl-C (a sweep, a caller's ``except KeyboardInterrupt``) stops on it too; it says
    where the run was: ``where`` (the step's ``file:line:column``), ``task`` (its name and
    pid), ``step`` (its operation) and whether it had ``finished`` it, ``emulated_ns``.
    ``str()`` reads ``interrupted in step touch of task toucher (pid 1000) at
    w.yaml:7:9, 0.051200 s emulated``.
    """

    exit_code = EXIT_INTERRUPTED

    def __init__(self, where: Where = None, task: Optional[str] = None, step: Optional[str] = None,
                 emulated_ns: int = 0, finished: bool = False):
        super().__init__(where, task, step, emulated_ns, finished)
        self.where = where
        self.task = task
        self.step = step
        self.emulated_ns = emulated_ns
        self.finished = finished
        #: what was running, when a command runs more than one workload (compare's sides)
        self.during: Optional[str] = None

    def __str__(self) -> str:
        if self.task is None:
            text = "interrupted before the first step"
        elif self.step is None:
            text = f"interrupted in task {self.task}"
        else:
            text = (f"interrupted {'after' if self.finished else 'in'} step {self.step} of task "
                    f"{self.task}")
        if self.where is not None:
            text += f" at {self.where}"
        text += f", {self.emulated_ns / 1e9:.6f} s emulated"
        return text + (f", in {self.during}" if self.during else "")
