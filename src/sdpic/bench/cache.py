"""Cache of encoded streams (and the metrics measured on them) so a rerun only computes what changed.

Layout: ``ROOT/<codec>/<hash of codec name+version+options>/<image sha256[:20]>/<setting>.bin`` with a
JSON sidecar holding the encode time and, per metric signature, the decoded-image metrics and decode
time. A new library version, different encoder options, a changed image or changed metric code
therefore never reuse stale values. Writes are atomic, so parallel workers and interrupted runs are safe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import atomic_write_bytes


def image_digest(rgb: np.ndarray) -> str:
    """Content hash of the pixels (not the file), so re-saved copies of the same image share entries."""
    h = hashlib.sha256()
    h.update(str(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()[:20]


def _with(base: Path, suffix: str) -> Path:
    return base.parent / (base.name + suffix)  # not with_suffix: "q0.35" has a dot of its own


def setting_label(setting: float | int) -> str:
    """Canonical file-name-safe text for a setting (``25``, ``0.35``)."""
    if isinstance(setting, int) or float(setting).is_integer():
        return str(int(setting))
    return f"{float(setting):.6g}"


class EncodeCache:
    """Encoded bytes + sidecar metadata for (codec key, image digest, setting); ``root=None`` disables it."""

    def __init__(self, root: Path | None) -> None:
        self.root = Path(root) if root is not None else None

    def _base(self, codec_name: str, codec_key: str, digest: str, setting: float | int) -> Path | None:
        if self.root is None:
            return None
        key = hashlib.sha256(codec_key.encode()).hexdigest()[:16]
        return self.root / codec_name / key / digest / f"q{setting_label(setting)}"

    def load(
        self, codec_name: str, codec_key: str, digest: str, setting: float | int
    ) -> tuple[bytes | None, dict[str, Any]]:
        """Cached stream and sidecar (``(None, {})`` on a miss or a damaged entry)."""
        base = self._base(codec_name, codec_key, digest, setting)
        if base is None:
            return None, {}
        try:
            data = _with(base, ".bin").read_bytes()
            meta = json.loads(_with(base, ".json").read_text())
        except (OSError, ValueError):
            return None, {}
        if meta.get("bytes") != len(data):
            return None, {}
        return data, meta

    def store(
        self,
        codec_name: str,
        codec_key: str,
        digest: str,
        setting: float | int,
        data: bytes,
        meta: dict[str, Any],
        *,
        stream: bool = True,
    ) -> None:
        """Save stream and sidecar atomically (the sidecar records the stream length as a consistency check).

        ``stream=False`` rewrites only the sidecar (new metrics for a stream of ``data`` already cached).
        """
        base = self._base(codec_name, codec_key, digest, setting)
        if base is None:
            return
        meta = {**meta, "bytes": len(data)}
        if stream:
            atomic_write_bytes(_with(base, ".bin"), data)
        atomic_write_bytes(_with(base, ".json"), json.dumps(meta, sort_keys=True).encode())
