"""The Pillow plugin: Image.open / Image.save for .sdpic, lazy decoding, typed errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sdpic
import sdpic.pillow
from sdpic.errors import ChecksumError, FormatError, TruncatedFileError
from tests.conftest import smooth_image


@pytest.fixture
def rgb_image() -> Image.Image:
    return Image.fromarray(smooth_image(48, 80))


def test_registered_like_a_builtin_format() -> None:
    assert Image.registered_extensions()[".sdpic"] == sdpic.pillow.FORMAT
    assert Image.MIME[sdpic.pillow.FORMAT] == sdpic.pillow.MIME
    assert sdpic.pillow.FORMAT in Image.OPEN and sdpic.pillow.FORMAT in Image.SAVE


def test_save_by_extension_and_open_match_the_api(tmp_path: Path, rgb_image: Image.Image) -> None:
    path = tmp_path / "x.sdpic"
    rgb_image.save(path, quality=30)
    assert path.read_bytes() == sdpic.compress(rgb_image, quality=30)  # same bytes as the API
    with Image.open(path) as img:
        assert img.format == "SDPIC" and img.get_format_mimetype() == sdpic.pillow.MIME
        assert (img.size, img.mode) == ((80, 48), "RGB")
        assert img.info["quality"] == 30 and img.info["bpp"] == pytest.approx(path.stat().st_size * 8 / (80 * 48))
        pixels = np.asarray(img.convert("RGB"))
    expected = np.asarray(sdpic.decompress(path.read_bytes()))
    np.testing.assert_array_equal(pixels, expected)


def test_size_and_mode_are_known_before_decoding(tmp_path: Path, monkeypatch) -> None:
    grey = Image.fromarray(smooth_image(40, 56)[..., 0])
    buf = io.BytesIO()
    grey.save(buf, format="SDPIC", quality=20)
    calls = []
    import sdpic.api

    real = sdpic.api.decompress
    monkeypatch.setattr(sdpic.api, "decompress", lambda data, **kw: calls.append(1) or real(data, **kw))
    img = Image.open(io.BytesIO(buf.getvalue()))
    assert (img.size, img.mode) == ((56, 40), "L") and not calls  # header only
    img.load()
    img.load()
    assert len(calls) == 1 and img.getpixel((0, 0)) == real(buf.getvalue()).getpixel((0, 0))


def test_save_parameters_reach_the_encoder(tmp_path: Path, rgb_image: Image.Image) -> None:
    low, high = io.BytesIO(), io.BytesIO()
    rgb_image.save(low, format="SDPIC", quality=5)
    rgb_image.save(high, format="SDPIC", quality=90)
    assert len(low.getvalue()) < len(high.getvalue())
    mask = Image.new("L", rgb_image.size, 0)
    mask.paste(255, (0, 0, 40, 48))
    with_map = io.BytesIO()
    rgb_image.save(with_map, format="SDPIC", quality=50, saliency=mask, roi_strength=1.0)
    with Image.open(with_map) as img:
        assert img.info["quality_map"] is True
    with pytest.raises(sdpic.ParameterError):
        rgb_image.save(io.BytesIO(), format="SDPIC", quality=500)


def test_rgba_and_palette_images_save(tmp_path: Path, rgb_image: Image.Image) -> None:
    for img in (rgb_image.convert("RGBA"), rgb_image.convert("P")):
        buf = io.BytesIO()
        img.save(buf, format="SDPIC", quality=10)
        with Image.open(buf) as back:
            assert back.mode == "RGB" and back.size == img.size


@pytest.mark.parametrize(("damage", "error"), [
    (lambda d: d[:-7], TruncatedFileError),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), ChecksumError),
    (lambda d: d[:12], TruncatedFileError),
])
def test_bad_files_raise_typed_errors_from_open(rgb_image: Image.Image, damage, error) -> None:
    buf = io.BytesIO()
    rgb_image.save(buf, format="SDPIC", quality=10)
    with pytest.raises(error) as info:
        Image.open(io.BytesIO(damage(buf.getvalue())))
    assert isinstance(info.value, (FormatError, sdpic.SdpicError))


def test_other_formats_are_untouched(rgb_image: Image.Image) -> None:
    buf = io.BytesIO()
    rgb_image.save(buf, format="PNG")
    with Image.open(buf) as img:
        assert img.format == "PNG"
