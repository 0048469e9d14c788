"""WebP (lossy, VP8) through Pillow at method 6, the slowest and best setting, as the issue asks."""

from __future__ import annotations

from ._pil import PillowCodec


class WebpCodec(PillowCodec):
    """Lossy WebP, method 6, quality 0-100 (always 4:2:0: the format has no 4:4:4 lossy mode)."""

    name = "webp"
    settings = (0, 5, 15, 30, 50, 70, 80, 90)
    setting_range = (0, 100)
    config = "method=6"
    pil_format, feature, library = "WEBP", "webp", "libwebp"

    def save_options(self, setting: float) -> dict[str, object]:
        return {"quality": int(setting), "method": 6, "lossless": False}
