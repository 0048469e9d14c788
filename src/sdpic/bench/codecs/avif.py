"""AVIF (AV1 intra) through Pillow's libavif/libaom at the default speed: the BD-rate reference codec."""

from __future__ import annotations

import numpy as np

from ._pil import pil_decode, pil_encode, pil_feature_version, pillow_version
from .base import Availability, Codec, as_rgb_uint8


class AvifCodec(Codec):
    """AVIF, quality 0-100, Pillow's default speed and 4:2:0 subsampling, ``max_threads`` = bench threads."""

    name = "avif"
    settings = (4, 18, 32, 45, 55, 64, 72, 80)
    setting_range = (0, 100)
    config = "pillow-default-speed,4:2:0"

    def is_available(self) -> Availability:
        if pil_feature_version("avif") is None:
            return Availability(False, "Pillow was built without AVIF support")
        return Availability(True)

    def version(self) -> str:
        return f"Pillow {pillow_version()} / libavif {pil_feature_version('avif')} (libaom)"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        return pil_encode(as_rgb_uint8(rgb), "AVIF", quality=int(setting), max_threads=self.threads)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
