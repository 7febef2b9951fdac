"""tracefs ``events/<system>/<event>/format``, ``events/header_page`` and ``events/header_event``.

Byte-for-byte what ``f_show`` (kernel/trace/trace_events.c) and
``ring_buffer_print_page_header``/``ring_buffer_print_entry_header``
(kernel/trace/ring_buffer.c) print; tracepoints.md 2.2, FORMAT-NOTES 5.
"""
from __future__ import annotations

from memsim.profiles import get_profile
from memsim.tracing.events import COMMON_FIELDS, EventDecl, Field

SUBBUF_SIZE = 4096
SUBBUF_HEADER = 16


def _field_line(f: Field) -> str:
    # f_show: an array type "char[16]" prints as "char comm[16]"; "__data_loc char[]" as is
    bracket = f.ctype.find("[")
    if bracket >= 0 and not f.is_data_loc:
        decl = f"{f.ctype[:bracket]} {f.name}{f.ctype[bracket:]}"
    else:
        decl = f"{f.ctype} {f.name}"
    return (f"\tfield:{decl};\toffset:{f.offset};\tsize:{f.size};"
            f"\tsigned:{1 if f.signed else 0};\n")


def format_file(decl: EventDecl, type_id: int) -> str:
    """The ``format`` file of ``decl`` registered with ID ``type_id``."""
    parts = [f"name: {decl.name}\n", f"ID: {type_id}\n", "format:\n"]
    parts += [_field_line(f) for f in COMMON_FIELDS]
    parts.append("\n")
    parts += [_field_line(f) for f in decl.fields]
    parts.append(f"\nprint fmt: {decl.print_fmt}\n")
    return "".join(parts)


def header_page(profile_name: str = "v6.18", page_size: int = SUBBUF_SIZE) -> str:
    """``events/header_page``: the sub-buffer page header (u64 timestamp, local_t commit).

    ``char data`` is signed on v5.14 (x86 ``char`` is signed) and unsigned on v6.18 (the kernel
    builds with -funsigned-char since 6.2).
    """
    char_signed = int(get_profile(profile_name).char_signed)
    return ("\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
            "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
            "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
            f"\tfield: char data;\toffset:{SUBBUF_HEADER};\tsize:{page_size - SUBBUF_HEADER};"
            f"\tsigned:{char_signed};\n")


def header_event() -> str:
    """``events/header_event``: the 32-bit record header (type_len:5, time_delta:27)."""
    return ("# compressed entry header\n"
            "\ttype_len    :    5 bits\n"
            "\ttime_delta  :   27 bits\n"
            "\tarray       :   32 bits\n"
            "\n"
            "\tpadding     : type == 29\n"
            "\ttime_extend : type == 30\n"
            "\ttime_stamp : type == 31\n"
            "\tdata max type_len  == 28\n")
