"""JPEG 2000 through Pillow/OpenJPEG with the irreversible colour transform (``mct=1``).

The setting is the target rate in bits per pixel (OpenJPEG's rate control takes a compression ratio,
which for 24-bit RGB is ``24 / bpp``), so the sweep can be placed exactly on the bpp range we want.
"""

from __future__ import annotations

from ._pil import PillowCodec


class Jpeg2000Codec(PillowCodec):
    """JPEG 2000 (J2K codestream), 9/7 wavelet, MCT on, one quality layer at ``24 / setting`` compression."""

    name = "jpeg2000"
    settings = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
    setting_range = (0.01, 8.0)
    integer = False
    config = "irreversible,mct=1,rates"
    pil_format, feature, library = "JPEG2000", "jpg_2000", "OpenJPEG"

    def save_options(self, setting: float) -> dict[str, object]:
        ratio = 24.0 / float(setting)
        return {"irreversible": True, "mct": 1, "quality_mode": "rates", "quality_layers": [ratio], "no_jp2": True}
