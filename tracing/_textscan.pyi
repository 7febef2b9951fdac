"""Type stubs for memsim.tracing._textscan (Cython): text trace lines -> records/columns."""
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from memsim.tracing.columns import Columns, EventTable
from memsim.tracing.payload import PayloadPattern

ProgramSpec = Tuple[tuple, Optional[tuple]]
EventInfo = Tuple[str, str, str, Optional[Tuple[tuple, Optional[tuple], Optional[tuple]]],
                  PayloadPattern]

class ByteMap:
    def __init__(self, limit: int = ...) -> None: ...
    def __len__(self) -> int: ...
    def lookup(self, key: bytes) -> Optional[int]: ...
    def insert(self, key: bytes, value: int) -> None: ...

class StrCache:
    def __init__(self, limit: int = ...) -> None: ...

class Program:
    def __init__(self, program: ProgramSpec) -> None: ...

class Table:
    name: str
    payloads: Optional[List[str]]
    def __init__(self, name: str, prog: Program, names: List[str],
                 typecodes: List[Optional[str]]) -> None: ...
    def build(self) -> EventTable: ...

class Event:
    full_name: str
    system: str
    event: str
    pattern: PayloadPattern
    has_prog: bool
    def __init__(self, full_name: str, system: str, event: str,
                 program: Optional[Tuple[tuple, Optional[tuple], Optional[tuple]]],
                 pattern: PayloadPattern) -> None: ...

class Scanner:
    resolve: Callable[[bytes], EventInfo]
    on_other: Callable[[int, bytes], bool]
    strict: bool
    keep_payloads: bool
    lineno: int
    seq: int
    problems: List[Tuple[int, str]]
    first: Optional[Dict[str, Any]]
    batch_rows: int
    def __init__(self, resolve: Callable[[bytes], EventInfo],
                 on_other: Callable[[int, bytes], bool], strict: bool = False) -> None: ...
    def scan(self, buf: Union[bytes, bytearray], pos: int, end: int, want_records: bool, limit: int,
             out: List[Any]) -> Tuple[int, int, int]: ...
    def build(self) -> Columns: ...

def parse_line_header(line: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str]]: ...
def column_name(field: str) -> str: ...
