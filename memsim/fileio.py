"""Writing output files so that nothing already written is lost.

:func:`atomic_write` writes into a temporary file next to the target and renames it over the
target only when the whole write succeeded: an error half-way (a full disk, a bad trace, ^C)
leaves the previous file intact and no temporary file behind.  The new file gets the
permissions ``open()`` would have given it (0666 minus the umask), not mkstemp's 0600.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


def umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str, binary: bool = False, seekable: bool = False) -> Iterator[IO]:
    """``with atomic_write(path) as f:`` -- ``f`` is a text (UTF-8, ``\\n``) or binary file.

    ``seekable`` opens it ``w+b`` for writers that go back to patch offsets.  OSError from
    creating, writing or renaming propagates; the caller turns it into a user-facing error.
    """
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=d)
    try:
        if binary or seekable:
            f = os.fdopen(fd, "w+b" if seekable else "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with f:
            yield f
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
