"""Input images: documented conversions and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdpic.errors import ImageTooLargeError, InputImageError
from sdpic.image_io import load_image, load_mask


def test_rgba_is_composited_over_white() -> None:
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    loaded = load_image(img)
    assert loaded.rgb[0, 0].tolist() == [255, 255, 255] and not loaded.greyscale


def test_16_bit_greyscale_is_scaled_and_flagged() -> None:
    arr = np.full((3, 5), 65535, dtype=np.uint16)
    loaded = load_image(Image.fromarray(arr))
    assert loaded.greyscale and loaded.rgb.max() == 255 and loaded.rgb.shape == (3, 5, 3)


def test_palette_and_cmyk_convert() -> None:
    assert load_image(Image.new("P", (3, 3))).rgb.shape == (3, 3, 3)
    assert load_image(Image.new("CMYK", (3, 3))).rgb.shape == (3, 3, 3)


def test_exif_rotation_is_applied(tmp_path) -> None:
    img = Image.new("RGB", (4, 2))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    path = tmp_path / "r.jpg"
    img.save(path, exif=exif)
    assert load_image(path).rgb.shape == (4, 2, 3)


def test_bad_inputs_are_typed_errors(tmp_path) -> None:
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(InputImageError):
        load_image(tmp_path / "x.png")
    with pytest.raises(InputImageError):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputImageError):
        load_image(tmp_path)
    with pytest.raises(InputImageError):
        load_image(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(InputImageError):
        load_image(np.full((2, 2, 3), np.nan))
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((1, 20000), np.uint8))


def test_truncated_png_is_a_typed_error(tmp_path) -> None:
    path = tmp_path / "t.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InputImageError):
        load_image(path)


def test_mask_is_resized_to_the_image() -> None:
    mask = load_mask(Image.new("L", (8, 8), 255), 16, 4)
    assert mask.shape == (4, 16) and mask.min() == 1.0


# ------------------------------------------------------------------ awkward inputs : each case
# handled by a documented conversion (module docstring of sdpic.image_io) or rejected with a clear error.

def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny IDAT: sizes are checked before decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
            + chunk(b"IEND", b""))


def test_truncated_jpeg_is_a_typed_error_not_a_partial_image(tmp_path) -> None:
    path = tmp_path / "t.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputImageError, match="cannot decode"):
        load_image(path)


def test_png_with_a_corrupted_chunk_is_a_typed_error(tmp_path) -> None:
    path = tmp_path / "c.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[data.index(b"IDAT") + 20] ^= 0xFF  # breaks the chunk CRC / the zlib stream
    path.write_bytes(bytes(data))
    with pytest.raises(InputImageError):
        load_image(path)


@pytest.mark.parametrize("content", [b"", b"hello, not an image\n", _png_with_header(0, 10)])
def test_empty_text_and_zero_size_files_are_rejected(tmp_path, content: bytes) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(InputImageError, match="not a readable image"):
        load_image(path)


@pytest.mark.parametrize(("width", "height"), [(16384, 16384), (20000, 100), (100, 16385)])
def test_huge_headers_are_rejected_before_decoding(tmp_path, width: int, height: int) -> None:
    """Beyond 16384 a side or Pillow's decompression-bomb limit: ImageTooLargeError from the header
    alone (the IDAT is 20 bytes, so decoding would fail differently)."""
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_header(width, height))
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_palette_images_convert_and_grey_palettes_stay_greyscale() -> None:
    colour = Image.new("P", (2, 2), 1)
    colour.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    loaded = load_image(colour)
    assert loaded.rgb[0, 0].tolist() == [200, 10, 20] and not loaded.greyscale
    grey = Image.new("P", (2, 2), 1)
    grey.putpalette([v for i in range(256) for v in (i, i, i)])
    assert load_image(grey).greyscale


def test_palette_transparency_is_composited_over_white() -> None:
    img = Image.new("P", (2, 2), 0)
    img.putpalette([255, 0, 0] + [0] * 765)
    img.info["transparency"] = 0
    assert load_image(img).rgb[0, 0].tolist() == [255, 255, 255]


def test_cmyk_converts_to_rgb() -> None:
    assert load_image(Image.new("CMYK", (2, 2), (0, 255, 255, 0))).rgb[0, 0].tolist() == [255, 0, 0]
    assert load_image(Image.new("CMYK", (2, 2), (0, 0, 0, 0))).rgb[0, 0].tolist() == [255, 255, 255]


def test_16_bit_files_are_reduced_to_8_bits(tmp_path) -> None:
    """Greyscale 16-bit is scaled by 255/65535 and rounded; Pillow reads 16-bit RGB PNGs as their high byte."""
    import imagecodecs

    grey = np.array([[0, 257, 1000, 65535]], dtype=np.uint16)
    (tmp_path / "g16.png").write_bytes(imagecodecs.png_encode(grey))
    loaded = load_image(tmp_path / "g16.png")
    assert loaded.greyscale and loaded.rgb[0, :, 0].tolist() == [0, 1, 4, 255]
    rgb = np.array([[[65535, 32768, 1000]]], dtype=np.uint16)
    (tmp_path / "c16.png").write_bytes(imagecodecs.png_encode(rgb))
    assert load_image(tmp_path / "c16.png").rgb[0, 0].tolist() == [255, 128, 3]


def test_rgba_and_la_with_partial_alpha_are_composited() -> None:
    rgba = load_image(Image.new("RGBA", (1, 1), (0, 0, 0, 128))).rgb[0, 0]
    assert rgba.tolist() == [127, 127, 127]
    la = load_image(Image.new("LA", (1, 1), (0, 0)))
    assert la.greyscale and la.rgb[0, 0].tolist() == [255, 255, 255]
    assert load_image(np.dstack([np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 1), 255, np.uint8)])).rgb.max() == 0


@pytest.mark.parametrize(("mode", "value", "expected"), [
    ("LAB", (255, 128, 128), [254, 255, 254]),   # L=100, a=b=0: white (littleCMS rounding)
    ("HSV", (0, 255, 255), [255, 0, 0]),
    ("La", (0, 0), [255, 255, 255]),             # premultiplied, fully transparent
    ("RGBa", (0, 0, 0, 0), [255, 255, 255]),
])
def test_other_modes_convert(mode: str, value: tuple, expected: list) -> None:
    assert load_image(Image.new(mode, (1, 1), value)).rgb[0, 0].tolist() == expected


def test_multi_frame_files_use_the_first_frame(tmp_path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert load_image(tmp_path / "a.gif").rgb[0, 0].tolist() == [255, 0, 0]


def test_unconvertible_mode_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdpic import image_io

    def fail(img, meta):  # what Pillow raises for a mode it has no converter for
        raise ValueError(f"conversion from {img.mode} to RGB not supported")

    monkeypatch.setattr(image_io, "_convert", fail)
    with pytest.raises(InputImageError, match="cannot convert"):
        load_image(Image.new("RGB", (1, 1)))


# ------------------------------------------------------------------ alpha and modes: nothing loses a channel
def _alpha_of(img: Image.Image) -> np.ndarray | None:
    """The alpha Pillow itself gives an image (None where it has none or it is opaque everywhere)."""
    from sdpic.image_io import _ALPHA_MODES

    if img.mode not in _ALPHA_MODES and "transparency" not in img.info:
        return None
    plane = np.asarray((img.convert("LA") if img.mode == "La" else img).convert("RGBA"))[..., 3]
    return None if np.all(plane == 255) else plane


@pytest.mark.parametrize("mode", Image.MODES)
def test_every_pillow_mode_round_trips_with_its_channels(mode: str) -> None:
    """Each mode Pillow has decodes to the mode DECODED_MODE names, alpha bit-exact where there is one."""
    import sdpic
    from sdpic.image_io import DECODED_MODE
    from tests.metadata_helpers import cutout

    img = Image.fromarray(cutout(12, 16)).convert(mode)
    expected_alpha = _alpha_of(img)
    decoded = sdpic.decompress(sdpic.compress(img, quality=30))
    grey_palette = mode in ("P", "PA") and load_image(img).greyscale
    expected = ("L" if grey_palette else DECODED_MODE[mode]) + ("A" if expected_alpha is not None else "")
    assert decoded.mode == expected and decoded.size == img.size
    if expected_alpha is not None:
        np.testing.assert_array_equal(np.asarray(decoded.getchannel("A")), expected_alpha)


def test_a_mode_outside_the_table_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdpic import image_io

    monkeypatch.delitem(image_io.DECODED_MODE, "HSV")
    with pytest.raises(InputImageError, match="image mode 'HSV' is not supported"):
        load_image(Image.new("HSV", (2, 2)))


def test_alpha_is_kept_straight_and_opaque_alpha_is_not_kept() -> None:
    from tests.metadata_helpers import cutout

    rgba = cutout()
    loaded = load_image(Image.fromarray(rgba))
    np.testing.assert_array_equal(loaded.alpha, rgba[..., 3])
    np.testing.assert_array_equal(loaded.colour, rgba[..., :3])  # not multiplied by alpha
    assert loaded.rgb[0, 0].tolist() == [255, 255, 255]  # composited for those who show it
    opaque = load_image(Image.fromarray(rgba[..., :3]).convert("RGBA"))
    assert opaque.alpha is None
    premultiplied = load_image(Image.new("RGBa", (1, 1), (64, 32, 0, 128)))
    assert premultiplied.colour[0, 0].tolist() == [127, 63, 0] and premultiplied.alpha[0, 0] == 128


@pytest.mark.parametrize(("mode", "key"), [("RGB", (10, 20, 30)), ("L", 10), ("I;16", 1000)])
def test_a_colour_key_becomes_alpha(tmp_path, mode: str, key) -> None:
    """PNG's tRNS for grey and RGB images (one transparent value) is transparency too."""
    size = (4, 3)
    img = Image.new(mode, size, 200 if mode != "RGB" else (200, 100, 0))
    img.putpixel((1, 1), key)
    path = tmp_path / "key.png"
    img.save(path, transparency=key)
    loaded = load_image(path)
    expected = np.full((3, 4), 255, np.uint8)
    expected[1, 1] = 0
    np.testing.assert_array_equal(loaded.alpha, expected)
    assert loaded.greyscale == (mode != "RGB")


def test_palette_transparency_is_kept(tmp_path) -> None:
    img = Image.new("P", (3, 2), 1)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.save(tmp_path / "t.gif", transparency=0)
    loaded = load_image(tmp_path / "t.gif")
    assert loaded.alpha.tolist() == [[0, 255, 255], [255, 255, 255]]
    assert loaded.colour[1, 1].tolist() == [0, 255, 0]


def test_metadata_is_read_and_orientation_rewritten(tmp_path) -> None:
    from sdpic.metadata import EXIF_PREFIX, orientation
    from tests.metadata_helpers import display_p3, exif_bytes, xmp_bytes

    path = tmp_path / "r.jpg"
    Image.new("RGB", (4, 2), (200, 10, 10)).save(path, exif=exif_bytes(orientation=6), icc_profile=display_p3(),
                                                xmp=xmp_bytes(orientation=6))
    loaded = load_image(path)
    assert loaded.colour.shape == (4, 2, 3)  # turned
    meta = loaded.metadata
    assert meta.icc_profile == display_p3() and orientation(meta) == 1
    assert meta.exif == exif_bytes(orientation=1)[len(EXIF_PREFIX):]  # only the orientation value changed
    assert meta.xmp == xmp_bytes(orientation=1)

