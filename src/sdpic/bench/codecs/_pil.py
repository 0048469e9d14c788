"""The codecs that go through Pillow: encode to an in-memory buffer with format options, decode to RGB."""

from __future__ import annotations

import abc
import io
from typing import ClassVar

import numpy as np
from PIL import Image, features

from .base import Availability, Codec, as_rgb_uint8


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


class PillowCodec(Codec):
    """A codec Pillow encodes and decodes; a subclass names the format and maps a setting to save options."""

    #: Pillow's format name for ``Image.save``.
    pil_format: ClassVar[str]
    #: ``PIL.features`` name of the library behind it, and how the results name that library.
    feature: ClassVar[str]
    library: ClassVar[str]

    def is_available(self) -> Availability:
        if pil_feature_version(self.feature) is None:
            return Availability(False, f"Pillow was built without {self.library}")
        return Availability(True)

    def version(self) -> str:
        return f"Pillow {pillow_version()} / {self.library} {pil_feature_version(self.feature)}"

    @abc.abstractmethod
    def save_options(self, setting: float) -> dict[str, object]:
        """Keyword arguments of ``Image.save`` that encode at ``setting``."""

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        return pil_encode(as_rgb_uint8(rgb), self.pil_format, **self.save_options(setting))

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
