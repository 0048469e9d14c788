"""Where the bench finds shared data and keeps its cache, without copying anything into the repository.

Shared data (Kodak, anchors, task data, ONNX models) lives outside git at ``../shared`` relative to the
project root; ``SDPIC_SHARED`` overrides that. The encode cache defaults to ``<project>/cache/bench``
(git-ignored); ``SDPIC_CACHE_DIR`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: src/sdpic/bench/paths.py -> project root (when running from a checkout).
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def shared_dir() -> Path:
    """The shared data folder: ``$SDPIC_SHARED``, else ``../shared`` from the checkout or the working dir."""
    env = os.environ.get("SDPIC_SHARED")
    if env:
        return Path(env)
    for base in (PROJECT_ROOT, Path.cwd()):
        cand = (base / ".." / "shared").resolve()
        if cand.is_dir():
            return cand
    return (PROJECT_ROOT / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path under :func:`shared_dir` (it may not exist; callers report that)."""
    return shared_dir().joinpath(*parts)


def default_cache_dir() -> Path:
    """Encode cache root: ``$SDPIC_CACHE_DIR`` or ``<project>/cache/bench``."""
    env = os.environ.get("SDPIC_CACHE_DIR")
    return Path(env) if env else PROJECT_ROOT / "cache" / "bench"
