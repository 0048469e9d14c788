"""HEIC (HEVC intra via x265) through pillow-heif: the HEVC-based still-image format phones use."""

from __future__ import annotations

import io

import numpy as np

from .base import Availability, Codec, as_rgb_uint8


class HeicCodec(Codec):
    """HEIC, quality 0-100, libheif/x265 defaults (4:2:0)."""

    name = "heic"
    settings = (5, 15, 25, 33, 40, 47, 53, 58)
    setting_range = (0, 100)
    config = "libheif-default"

    def is_available(self) -> Availability:
        try:
            import pillow_heif
        except ImportError as exc:
            return Availability(False, f"pillow-heif is not installed ({exc})")
        info = pillow_heif.libheif_info()
        if not info.get("HEIF"):
            return Availability(False, "pillow-heif has no HEVC encoder")
        return Availability(True)

    def version(self) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return f"pillow-heif {pillow_heif.__version__} / libheif {info.get('libheif')} / {info.get('HEIF')}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import pillow_heif

        rgb = as_rgb_uint8(rgb)
        heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
        buf = io.BytesIO()
        heif.save(buf, quality=int(setting))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        img = heif.to_pillow()
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
