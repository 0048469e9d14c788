"""Work functions for batch tests that run in spawned workers: a module without torch, so workers start fast."""

from __future__ import annotations

import os
from pathlib import Path

from sdpic.batch import FileStats
from sdpic.outputs import atomic_write_bytes


def die_on_poison(source: Path, output: Path) -> FileStats:
    """Copy a file, but kill the worker process on one named 'poison' (as the OOM killer would)."""
    if "poison" in source.name:
        os._exit(9)
    atomic_write_bytes(output, source.read_bytes())
    size = source.stat().st_size
    return FileStats(size, 1, size, "copied")
