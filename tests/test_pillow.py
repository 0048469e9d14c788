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


# ------------------------------------------------------------------ transparency and metadata
def test_rgba_and_metadata_are_known_at_open_and_restored_at_load(tmp_path: Path) -> None:
    from tests.metadata_helpers import cutout, display_p3, exif_bytes, xmp_bytes

    rgba = Image.fromarray(cutout(30, 40))
    rgba.info.update({"icc_profile": display_p3(), "exif": exif_bytes(), "xmp": xmp_bytes()})
    path = tmp_path / "cut.sdpic"
    rgba.save(path, quality=60)
    with Image.open(path) as img:
        assert img.mode == "RGBA" and img.size == (40, 30)  # header only
        assert img.info["icc_profile"] == display_p3() and img.info["exif"] == exif_bytes()
        assert img.info["xmp"] == xmp_bytes() and img.getexif().get_ifd(0x8825)[1] == "N"
        img.load()
        np.testing.assert_array_equal(np.asarray(img)[..., 3], np.asarray(rgba)[..., 3])


def test_save_takes_pillows_metadata_arguments_and_strip_flags(tmp_path: Path) -> None:
    from tests.metadata_helpers import display_p3, exif_bytes, xmp_bytes

    img = Image.fromarray(smooth_image(16, 24))
    img.info["icc_profile"] = display_p3()
    buf = io.BytesIO()
    img.save(buf, format="SDPIC", exif=exif_bytes(orientation=1, gps=False), xmp=xmp_bytes())
    assert "exif" not in img.info  # the caller's image is left alone
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        assert back.info["exif"] == exif_bytes(gps=False) and back.info["xmp"] == xmp_bytes()
        assert back.info["icc_profile"] == display_p3()
    exif = Image.Exif()
    exif[0x010F] = "Nikon"
    buf = io.BytesIO()
    img.save(buf, format="SDPIC", exif=exif, icc_profile=None)  # an Image.Exif; None removes the profile
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        assert back.getexif()[0x010F] == "Nikon" and "icc_profile" not in back.info
    buf = io.BytesIO()
    img.save(buf, format="SDPIC", strip_icc=True)
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        assert "icc_profile" not in back.info and back.mode == "RGB"


def test_la_and_palette_transparency_through_the_plugin() -> None:
    la = Image.fromarray(np.dstack([smooth_image(12, 12)[..., 0], np.tri(12, dtype=np.uint8) * 255]), mode="LA")
    buf = io.BytesIO()
    la.save(buf, format="SDPIC")
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        assert back.mode == "LA"
        np.testing.assert_array_equal(np.asarray(back.getchannel("A")), np.asarray(la.getchannel("A")))
    pal = Image.fromarray(smooth_image(12, 12)).convert("P")
    pal.info["transparency"] = pal.getpixel((0, 0))
    buf = io.BytesIO()
    pal.save(buf, format="SDPIC")
    with Image.open(io.BytesIO(buf.getvalue())) as back:
        assert back.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(back)[..., 3], np.asarray(pal.convert("RGBA"))[..., 3])


def test_realism_is_set_on_the_opened_image_or_for_every_image(tmp_path: Path, rgb_image: Image.Image,
                                                              realism_decoder: Path, monkeypatch) -> None:
    path = tmp_path / "x.sdpic"
    rgb_image.save(path, quality=30)
    data = path.read_bytes()
    with Image.open(path) as img:
        assert img.realism is None  # the model's default (0.5 in the fixture)
        np.testing.assert_array_equal(np.asarray(img), np.asarray(sdpic.decompress(data)))
    with Image.open(path) as img:
        img.realism = 0.0
        np.testing.assert_array_equal(np.asarray(img), np.asarray(sdpic.decompress(data, realism=0)))
    monkeypatch.setattr(sdpic.pillow.options, "realism", 1.0)
    with Image.open(path) as img:
        np.testing.assert_array_equal(np.asarray(img), np.asarray(sdpic.decompress(data, realism=1)))
    with Image.open(path) as img:
        img.realism = 3.0
        with pytest.raises(sdpic.ParameterError, match="realism"):
            img.load()
