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
