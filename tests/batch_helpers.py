"""Work functions for batch tests that run in spawned workers: a module without torch, so workers start fast."""

from __future__ import annotations

import os
from pathlib import Path

from sdpic.batch import FileStats
from sdpic.outputs import atomic_write_bytes


def die_on_poison(source: Path, output: Path) -> FileStats:
    """Copy a file, but kill the worker process on one named 'poison' (as the OOM killer would), in the middle
    of writing its output: the temporary file is made and nobody is left to delete it."""
    if "poison" in source.name:
        os.fsync = lambda fd: os._exit(9)  # dies inside atomic_write_bytes, its temporary file written
        atomic_write_bytes(output, source.read_bytes())
    atomic_write_bytes(output, source.read_bytes())
    size = source.stat().st_size
    return FileStats(size, 1, size, "copied")
