"""JPEG XL through imagecodecs (libjxl) at effort 7 (the libjxl default); the setting is the Butteraugli distance."""

from __future__ import annotations

import numpy as np

from .base import Availability, Codec, as_rgb_uint8


class JxlCodec(Codec):
    """JPEG XL (VarDCT), effort 7; smaller distance = more bits (1.0 is "visually lossless")."""

    name = "jxl"
    settings = (25.0, 15.0, 9.0, 6.0, 4.0, 2.7, 1.8, 1.2)
    setting_range = (0.1, 25.0)
    higher_is_more_bits = False
    integer = False
    config = "effort=7"

    def is_available(self) -> Availability:
        try:
            import imagecodecs
        except ImportError as exc:
            return Availability(False, f"imagecodecs is not installed ({exc})")
        if not getattr(imagecodecs, "JPEGXL", None) or not imagecodecs.JPEGXL.available:
            return Availability(False, "imagecodecs was built without libjxl")
        return Availability(True)

    def version(self) -> str:
        import imagecodecs

        return f"imagecodecs {imagecodecs.__version__} / {imagecodecs.jpegxl_version()}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import imagecodecs

        return bytes(
            imagecodecs.jpegxl_encode(as_rgb_uint8(rgb), effort=7, distance=float(setting), numthreads=self.threads)
        )

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        out = np.asarray(imagecodecs.jpegxl_decode(data, numthreads=self.threads))
        return np.ascontiguousarray(out[..., :3].astype(np.uint8))
