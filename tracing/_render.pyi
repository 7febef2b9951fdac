"""Type stubs for memsim.tracing._render (Cython): the lines of ``trace report`` from columns."""
from array import array
from typing import Callable, List, Optional, Tuple

STAMP_CALL: int
STAMP_US: int
STAMP_US_COLON: int
STAMP_NS_COLON: int

PrefixOf = Callable[[str, int, int, Optional[str], Optional[int], str], str]

def assemble(ts: array, pid: array, cpu: array, tgid: array, comm: List[str],
             flags: List[Optional[str]], buffers: Optional[List[str]], name: str,
             payloads: List[str], prefix_of: PrefixOf, stamp_of: Callable[[int], str],
             stamp_form: int, strip_newline: bool) -> List[str]: ...
def scatter(out: list, seq: array, base: int, lines: List[str]) -> None: ...
def batch_text(tables: List[Tuple[array, array, array, array, array, List[str],
                                  List[Optional[str]], Optional[List[str]], str, List[str], bool]],
               n: int, base: int, prefix_of: PrefixOf, stamp_of: Callable[[int], str],
               stamp_form: int) -> bytes: ...
