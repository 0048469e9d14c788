"""WebP (lossy, VP8) through Pillow at method 6, the slowest and best setting, as the issue asks."""

from __future__ import annotations

import numpy as np

from ._pil import pil_decode, pil_encode, pil_feature_version, pillow_version
from .base import Availability, Codec, as_rgb_uint8


class WebpCodec(Codec):
    """Lossy WebP, method 6, quality 0-100 (always 4:2:0: the format has no 4:4:4 lossy mode)."""

    name = "webp"
    settings = (0, 5, 15, 30, 50, 70, 80, 90)
    setting_range = (0, 100)
    config = "method=6"

    def is_available(self) -> Availability:
        if pil_feature_version("webp") is None:
            return Availability(False, "Pillow was built without WebP support")
        return Availability(True)

    def version(self) -> str:
        return f"Pillow {pillow_version()} / libwebp {pil_feature_version('webp')}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        return pil_encode(as_rgb_uint8(rgb), "WEBP", quality=int(setting), method=6, lossless=False)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
