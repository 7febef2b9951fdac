"""memsim-hello: an example memsim plugin with one workload step and one trace event.

Registered through the ``memsim`` entry-point group under the name ``hello`` (see pyproject.toml).
Importing it only defines functions; memsim calls the hooks below when it loads its plugins.
"""
from memsim.hookspecs import hookimpl
from memsim.registry import Param, StepType
from memsim.tracing.events import EventDecl, Field

__version__ = "0.1.0"

PLUGIN = "hello"


def hello_run(ctx, step):
    """Run ``- hello: {times: N}``: emit ``hello:hello_world`` N times, counting from 0."""
    for i in range(step.args["times"]):
        ctx.emit("hello:hello_world", count=i, msg="hi")


@hookimpl
def memsim_register_steps(steps):
    steps.add(StepType(
        name="hello",
        doc="Emit the hello:hello_world trace event TIMES times.",
        params=(Param("times", "int", "how many hello_world events to emit", default=1, minimum=0),),
        run=hello_run,
        plugin=PLUGIN,
        example="- hello: {times: 3}",
    ))


@hookimpl
def memsim_register_events(events):
    # An implementation takes only the hook parameters it needs (here not `profile`).
    # Offsets as in the kernel's format file: the common fields take bytes 0-7; a __data_loc
    # field is a 4-byte (length << 16 | offset) word pointing at the string stored after the
    # fixed fields.
    events.add(EventDecl(
        system="hello",
        name="hello_world",
        fields=(
            Field("int", "count", 8, 4, 1),
            Field("__data_loc char[]", "msg", 12, 4, 0),
        ),
        print_fmt='"count=%d msg=%s", REC->count, __get_str(msg)',
        plugin=PLUGIN,
        doc="Emitted by the hello step: its iteration number and a greeting.",
    ))
