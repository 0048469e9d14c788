"""AVIF (AV1 intra) through Pillow's libavif/libaom at the default speed: the BD-rate reference codec."""

from __future__ import annotations

from ._pil import PillowCodec, pil_feature_version, pillow_version


class AvifCodec(PillowCodec):
    """AVIF, quality 0-100, Pillow's default speed and 4:2:0 subsampling, ``max_threads`` = bench threads."""

    name = "avif"
    settings = (4, 18, 32, 45, 55, 64, 72, 80)
    setting_range = (0, 100)
    config = "pillow-default-speed,4:2:0"
    pil_format, feature, library = "AVIF", "avif", "libavif"

    def version(self) -> str:
        return f"Pillow {pillow_version()} / libavif {pil_feature_version('avif')} (libaom)"

    def save_options(self, setting: float) -> dict[str, object]:
        return {"quality": int(setting), "max_threads": self.threads}
