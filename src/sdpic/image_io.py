"""Reading, validating and converting input images: the one place that turns "an image" into pixels.

Accepted inputs are a path, a PIL image or a numpy array. The result is always 8-bit RGB
(``uint8``, shape ``(H, W, 3)``) plus a flag saying whether the source was greyscale, so the
decoder can give greyscale back. Conversions (documented in the README):

* EXIF orientation is applied, so pixels are stored the way they are displayed.
* Greyscale (``1``, ``L``, ``I;16``...) is coded as R=G=B and decoded back to ``L``.
* Alpha (``RGBA``, ``LA``, ``PA``) is composited over white: sdpic does not store transparency.
* 16-bit and float images are scaled to 8 bits (rounded), CMYK / YCbCr / palette are converted to RGB.

Decisions for awkward inputs, each tested in tests/test_image_io.py:

* Pillow's own readers decide some conversions: a 16-bit RGB(A) PNG arrives as 8-bit (its high byte),
  a multi-frame file (GIF, APNG, TIFF) as its first frame. ICC profiles are not applied: pixels are
  coded as stored and decoded as sRGB. CIELAB is converted to sRGB with littleCMS (Pillow's ImageCms),
  HSV with Pillow's converter; premultiplied ``La`` / ``RGBa`` are un-premultiplied, then composited.
* Rejected with :class:`InputImageError`: a file Pillow cannot identify (text, empty, zero-size
  header), a corrupt or truncated PNG / JPEG (no partial images), a mode Pillow cannot convert.
* Rejected with :class:`ImageTooLargeError` *before* the pixels are decoded: more than ``MAX_SIDE``
  a side or ``MAX_PIXELS`` in all (Pillow's decompression-bomb error limit, twice its warning limit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeError, InputImageError

#: Largest side accepted anywhere (libavif's default limit).
MAX_SIDE = 16384
#: Largest pixel count accepted for an input or announced by a header (Pillow's bomb limit x2).
MAX_PIXELS = 2 * 89_478_485

ImageLike = str | os.PathLike | Image.Image | np.ndarray

_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


@dataclass(frozen=True)
class LoadedImage:
    """8-bit RGB pixels plus what the decoder needs to give the image back in its own kind."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    greyscale: bool

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def check_dimensions(width: int, height: int) -> None:
    """Raise :class:`ImageTooLargeError` / :class:`InputImageError` unless ``width x height`` is allowed."""
    if width < 1 or height < 1:
        raise InputImageError(f"image has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeError(f"image is {width}x{height}; the limit is {MAX_SIDE} pixels a side")
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"image has {width * height} pixels; the limit is {MAX_PIXELS}")


def open_pil(path: str | os.PathLike) -> Image.Image:
    """Open an image file with Pillow, mapping every failure to :class:`InputImageError`."""
    path = Path(path)
    if not path.exists():
        raise InputImageError(f"{path}: no such file")
    if path.is_dir():
        raise InputImageError(f"{path}: is a directory, not an image")
    try:
        with Image.open(path) as img:
            check_dimensions(*img.size)
            img.load()
            return ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as exc:  # Pillow's check on the header size, before decoding
        raise ImageTooLargeError(f"{path}: too many pixels ({exc})") from None
    except UnidentifiedImageError as exc:
        raise InputImageError(f"{path}: not a readable image ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputImageError):
            raise
        raise InputImageError(f"{path}: cannot decode image ({exc})") from None


def _pil_to_rgb(img: Image.Image) -> LoadedImage:
    check_dimensions(*img.size)
    try:
        return _convert(img)
    except (ValueError, OSError) as exc:  # Pillow has no conversion for this mode
        raise InputImageError(f"cannot convert a {img.mode} image to RGB ({exc})") from None


def _convert(img: Image.Image) -> LoadedImage:
    if img.mode == "LAB":
        lab_to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                              "LAB", "RGB")
        return LoadedImage(np.ascontiguousarray(np.asarray(ImageCms.applyTransform(img, lab_to_srgb))), False)
    if img.mode == "La":
        img = img.convert("LA")
    greyscale = img.mode in _GREY_MODES or (img.mode == "P" and _palette_is_grey(img))
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if img.mode != "F" and arr.max(initial=0) > 255 else 1.0
        if img.mode == "F":
            scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        grey = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        return LoadedImage(np.repeat(grey[..., None], 3, axis=2), True)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return LoadedImage(np.ascontiguousarray(rgb), greyscale)


def _palette_is_grey(img: Image.Image) -> bool:
    palette = img.getpalette() or []
    triples = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
    if not len(triples):
        return False
    return bool(np.all(triples[:, 0] == triples[:, 1]) and np.all(triples[:, 1] == triples[:, 2]))


def _array_to_rgb(arr: np.ndarray) -> LoadedImage:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputImageError(f"array of shape {arr.shape} is not an image (expected HxW, HxWx1, HxWx3 or HxWx4)")
    check_dimensions(arr.shape[1], arr.shape[0])
    if arr.dtype == np.uint8:
        data = arr.astype(np.float64)
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float64) * (255.0 / 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InputImageError("float image contains NaN or infinity")
        data = arr.astype(np.float64) * 255.0
    else:
        raise InputImageError(f"unsupported array dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")
    greyscale = data.shape[2] == 1
    if data.shape[2] == 4:
        alpha = data[..., 3:4] / 255.0
        data = data[..., :3] * alpha + 255.0 * (1.0 - alpha)
    if greyscale:
        data = np.repeat(data, 3, axis=2)
    rgb = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    return LoadedImage(np.ascontiguousarray(rgb), greyscale)


def load_image(image: ImageLike) -> LoadedImage:
    """Return 8-bit RGB pixels of ``image`` (path, PIL image or array), converted as the module says."""
    if isinstance(image, (str, os.PathLike)):
        return _pil_to_rgb(open_pil(image))
    if isinstance(image, Image.Image):
        return _pil_to_rgb(ImageOps.exif_transpose(image))
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise InputImageError(f"cannot read an image from a {type(image).__name__}")


def load_mask(image: ImageLike, width: int, height: int) -> np.ndarray:
    """Return a float32 map in [0, 1] of size ``height x width`` from a mask image (resized if needed)."""
    if isinstance(image, np.ndarray) and image.ndim == 2 and np.issubdtype(image.dtype, np.floating):
        arr = image.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise InputImageError("mask contains NaN or infinity")
        pil = Image.fromarray(np.clip(arr, 0.0, 1.0), mode="F")
    else:
        grey = load_image(image).rgb.astype(np.float32).mean(axis=2) / 255.0
        pil = Image.fromarray(grey, mode="F")
    if pil.size != (width, height):
        pil = pil.resize((width, height), Image.BILINEAR)
    return np.clip(np.asarray(pil, dtype=np.float32), 0.0, 1.0)


def to_pil(rgb: np.ndarray, greyscale: bool = False) -> Image.Image:
    """Wrap decoded uint8 RGB pixels as a PIL image (``L`` when the source was greyscale)."""
    if greyscale:
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0]), mode="L")
    return Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
