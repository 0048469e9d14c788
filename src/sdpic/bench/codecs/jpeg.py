"""JPEG through Pillow (libjpeg-turbo): the ubiquitous baseline every result is read against."""

from __future__ import annotations

from ._pil import PillowCodec, pil_feature_version, pillow_version


class JpegCodec(PillowCodec):
    """Baseline JPEG with Pillow's defaults (4:2:0, optimised Huffman off) at quality 1-100."""

    name = "jpeg"
    settings = (3, 8, 15, 25, 40, 60, 75, 88)
    setting_range = (1, 100)
    config = "pillow-default"
    pil_format, feature, library = "JPEG", "jpg", "libjpeg"

    def version(self) -> str:
        turbo = pil_feature_version("libjpeg_turbo")
        lib = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {pil_feature_version('jpg')}"
        return f"Pillow {pillow_version()} / {lib}"

    def save_options(self, setting: float) -> dict[str, object]:
        return {"quality": int(setting)}
