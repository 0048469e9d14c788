"""JPEG through Pillow (libjpeg-turbo): the ubiquitous baseline every result is read against."""

from __future__ import annotations

import numpy as np

from ._pil import pil_decode, pil_encode, pil_feature_version, pillow_version
from .base import Availability, Codec, as_rgb_uint8


class JpegCodec(Codec):
    """Baseline JPEG with Pillow's defaults (4:2:0, optimised Huffman off) at quality 1-100."""

    name = "jpeg"
    settings = (3, 8, 15, 25, 40, 60, 75, 88)
    setting_range = (1, 100)
    config = "pillow-default"

    def is_available(self) -> Availability:
        if pil_feature_version("jpg") is None:
            return Availability(False, "Pillow was built without JPEG support")
        return Availability(True)

    def version(self) -> str:
        turbo = pil_feature_version("libjpeg_turbo")
        lib = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {pil_feature_version('jpg')}"
        return f"Pillow {pillow_version()} / {lib}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        return pil_encode(as_rgb_uint8(rgb), "JPEG", quality=int(setting))

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
