"""JPEG 2000 through Pillow/OpenJPEG with the irreversible colour transform (``mct=1``).

The setting is the target rate in bits per pixel (OpenJPEG's rate control takes a compression ratio,
which for 24-bit RGB is ``24 / bpp``), so the sweep can be placed exactly on the bpp range we want.
"""

from __future__ import annotations

import numpy as np

from ._pil import pil_decode, pil_encode, pil_feature_version, pillow_version
from .base import Availability, Codec, as_rgb_uint8


class Jpeg2000Codec(Codec):
    """JPEG 2000 (J2K codestream), 9/7 wavelet, MCT on, one quality layer at ``24 / setting`` compression."""

    name = "jpeg2000"
    settings = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
    setting_range = (0.01, 8.0)
    integer = False
    config = "irreversible,mct=1,rates"

    def is_available(self) -> Availability:
        if pil_feature_version("jpg_2000") is None:
            return Availability(False, "Pillow was built without OpenJPEG")
        return Availability(True)

    def version(self) -> str:
        return f"Pillow {pillow_version()} / OpenJPEG {pil_feature_version('jpg_2000')}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        ratio = 24.0 / float(setting)
        return pil_encode(
            as_rgb_uint8(rgb),
            "JPEG2000",
            irreversible=True,
            mct=1,
            quality_mode="rates",
            quality_layers=[ratio],
            no_jp2=True,
        )

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
