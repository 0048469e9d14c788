"""Work functions for batch tests that run in spawned workers: a module without torch, so workers start fast."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sdpic.batch import FileStats
from sdpic.outputs import TEMP_SUFFIX, atomic_write_bytes


def die_on_poison(source: Path, output: Path) -> FileStats:
    """Copy a file, but kill the worker process on one named 'poison' (as the OOM killer would), in the middle
    of writing its output: the temporary file is made and nobody is left to delete it."""
    if "poison" in source.name:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, _tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=TEMP_SUFFIX, dir=output.parent)
        os.write(fd, b"half")
        os._exit(9)
    atomic_write_bytes(output, source.read_bytes())
    size = source.stat().st_size
    return FileStats(size, 1, size, "copied")
