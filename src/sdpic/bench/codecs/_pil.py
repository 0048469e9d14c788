"""Shared helpers for the codecs that go through Pillow: encode to an in-memory buffer, decode to RGB."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features


def pil_encode(rgb: np.ndarray, fmt: str, **params: object) -> bytes:
    """Save ``rgb`` with Pillow in ``fmt`` and return the file bytes (what a user would store)."""
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format=fmt, **params)
    return buf.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    """Decode bytes with Pillow to uint8 RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def pil_feature_version(feature: str) -> str | None:
    """Version of a Pillow codec feature (``jpg``, ``webp``, ``avif``, ``jpg_2000``) or None if missing."""
    try:
        if not features.check(feature):
            return None
        return features.version(feature)
    except ValueError:
        return None


def pillow_version() -> str:
    import PIL

    return PIL.__version__
