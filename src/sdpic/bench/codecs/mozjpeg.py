"""mozjpeg through ``jpeglib``: JPEG with trellis quantisation, the best a JPEG decoder can still read."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ._pil import pil_decode
from .base import Availability, Codec, as_rgb_uint8

_MOZ_VERSION = "mozjpeg403"


class MozjpegCodec(Codec):
    """mozjpeg 4.0.3 (bundled by jpeglib) with its default (trellis, progressive) settings, quality 1-100."""

    name = "mozjpeg"
    settings = (3, 6, 12, 22, 38, 55, 72, 85)
    setting_range = (1, 100)
    config = "jpeglib-default"

    def is_available(self) -> Availability:
        try:
            import jpeglib
        except ImportError as exc:
            return Availability(False, f"jpeglib is not installed ({exc})")
        if _MOZ_VERSION not in jpeglib.version.versions():
            return Availability(False, f"jpeglib has no {_MOZ_VERSION} build")
        return Availability(True)

    def version(self) -> str:
        try:
            from importlib.metadata import version

            return f"jpeglib {version('jpeglib')} / mozjpeg 4.0.3"
        except Exception:  # metadata missing: still say what ran
            return "jpeglib / mozjpeg 4.0.3"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import jpeglib

        rgb = as_rgb_uint8(rgb)
        fd, path = tempfile.mkstemp(suffix=".jpg", prefix="sdpic-moz-")  # jpeglib writes to paths only
        os.close(fd)
        try:
            with jpeglib.version(_MOZ_VERSION):
                jpeglib.from_spatial(rgb).write_spatial(path, qt=int(setting))
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)  # standard JPEG: any decoder reads it
