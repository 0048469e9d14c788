"""Reading, validating and converting input images: the one place that turns "an image" into pixels.

Accepted inputs are a path, a PIL image or a numpy array. The result (:class:`LoadedImage`) is 8-bit colour
(``uint8``, shape ``(H, W, 3)``, straight: not multiplied by alpha), an 8-bit alpha plane or None, a flag
saying whether the source was greyscale (so the decoder gives greyscale back), and the source's ICC
profile, EXIF and XMP (:mod:`sdpic.metadata`). ``LoadedImage.rgb`` is the colour composited over white,
for consumers that need what is displayed (saliency, metrics, the bench). Conversions:

* EXIF orientation is applied, so pixels are stored the way they are displayed; the kept EXIF and XMP are
  then rewritten to say orientation 1 (in place, :func:`sdpic.metadata.with_orientation_1`).
* Every Pillow mode is in :data:`DECODED_MODE`: the mode decoding gives back. Greyscale (``1``, ``L``,
  ``I;16``...) is coded as R=G=B and decoded to ``L``; alpha (``RGBA``, ``LA``, ``PA``, premultiplied
  ``RGBa`` / ``La`` (un-premultiplied), a palette's or a colour key's ``transparency``) is kept and decoded
  to ``RGBA`` / ``LA``. An alpha plane that is 255 everywhere is not kept (decoded ``RGB`` / ``L``).
* 16-bit and float images are scaled to 8 bits (rounded); CMYK, YCbCr, HSV and palette images are converted
  to RGB with Pillow, CIELAB to sRGB with littleCMS (a Lab profile is then not kept: it no longer describes
  the pixels); ``RGBX``'s padding byte is not a channel. A profile for other data than the coded pixels
  (a CMYK profile on a CMYK image, converted to RGB) is refused by the encoder, which names ``--strip-icc``.

Decisions for awkward inputs, each tested in tests/test_image_io.py:

* Pillow's own readers decide some conversions: a 16-bit RGB(A) PNG arrives as 8-bit (its high byte),
  a multi-frame file (GIF, APNG, TIFF) as its first frame. ICC profiles are not applied: pixels are
  coded as stored and the profile is stored with them. A greyscale image with an RGB profile is coded
  as colour, so that the profile still describes the decoded pixels.
* Rejected with :class:`InputImageError`: a file Pillow cannot identify (text, empty, zero-size
  header), a corrupt or truncated PNG / JPEG (no partial images), a mode not in :data:`DECODED_MODE`
  (the message names it), metadata that cannot be read.
* Rejected with :class:`ImageTooLargeError` *before* the pixels are decoded: more than ``MAX_SIDE``
  a side or ``MAX_PIXELS`` in all (Pillow's decompression-bomb error limit, twice its warning limit).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from . import metadata as meta_mod
from .errors import ImageTooLargeError, InputImageError
from .metadata import Metadata

#: Largest side accepted anywhere (libavif's default limit).
MAX_SIDE = 16384
#: Largest pixel count accepted for an input or announced by a header (Pillow's bomb limit x2).
MAX_PIXELS = 2 * 89_478_485

ImageLike = str | os.PathLike | Image.Image | np.ndarray

#: Every Pillow image mode and the mode its decoded image has (before alpha: an image with a kept alpha
#: plane decodes to RGBA, or LA where this says L). ``P`` / ``PA``: L for a grey palette.
DECODED_MODE = {
    "1": "L", "L": "L", "I": "L", "I;16": "L", "I;16B": "L", "I;16L": "L", "I;16N": "L", "F": "L",
    "LA": "L", "La": "L", "P": "RGB", "PA": "RGB",
    "RGB": "RGB", "RGBX": "RGB", "RGBA": "RGB", "RGBa": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "HSV": "RGB",
    "LAB": "RGB",
}
_GREY_MODES = {mode for mode, out in DECODED_MODE.items() if out == "L" and mode not in ("P", "PA")}
_INT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


@dataclass(frozen=True)
class LoadedImage:
    """8-bit straight colour, alpha and metadata: what the encoder needs to give the image back in its own kind."""

    colour: np.ndarray  # uint8 (H, W, 3); R=G=B for greyscale sources
    greyscale: bool
    alpha: np.ndarray | None = None  # uint8 (H, W); None when the source has none or it is 255 everywhere
    metadata: Metadata = field(default_factory=Metadata)

    @cached_property
    def rgb(self) -> np.ndarray:
        """The colour composited over white (what a viewer shows on white): ``colour`` where there is no alpha."""
        if self.alpha is None:
            return self.colour
        rgba = Image.fromarray(np.dstack([self.colour, self.alpha]), mode="RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.ascontiguousarray(np.asarray(Image.alpha_composite(white, rgba).convert("RGB")))

    @property
    def width(self) -> int:
        return int(self.colour.shape[1])

    @property
    def height(self) -> int:
        return int(self.colour.shape[0])


def check_dimensions(width: int, height: int) -> None:
    """Raise :class:`ImageTooLargeError` / :class:`InputImageError` unless ``width x height`` is allowed."""
    if width < 1 or height < 1:
        raise InputImageError(f"image has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeError(f"image is {width}x{height}; the limit is {MAX_SIDE} pixels a side")
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"image has {width * height} pixels; the limit is {MAX_PIXELS}")


# What Pillow raises for undecodable pixels or metadata (EXIF parsing raises SyntaxError / struct.error).
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def _read_pil(path: str | os.PathLike) -> LoadedImage:
    """Open, check, decode and convert an image file; every failure is :class:`InputImageError`."""
    path = Path(path)
    if not path.exists():
        raise InputImageError(f"{path}: no such file")
    if path.is_dir():
        raise InputImageError(f"{path}: is a directory, not an image")
    try:
        with Image.open(path) as img:
            check_dimensions(*img.size)
            img.load()
            return _from_pil(img)
    except Image.DecompressionBombError as exc:  # Pillow's check on the header size, before decoding
        raise ImageTooLargeError(f"{path}: too many pixels ({exc})") from None
    except UnidentifiedImageError as exc:
        raise InputImageError(f"{path}: not a readable image ({exc})") from None
    except InputImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except _PILLOW_ERRORS as exc:
        raise InputImageError(f"{path}: cannot decode image ({exc})") from None


def _from_pil(img: Image.Image) -> LoadedImage:
    """Metadata (read before turning), EXIF orientation applied, pixels converted."""
    check_dimensions(*img.size)
    meta = meta_mod.read(img)
    try:
        turned = img.getexif().get(0x0112, 1) in range(2, 9)  # Pillow's reading, which exif_transpose follows
    except _PILLOW_ERRORS:  # EXIF Pillow cannot parse has no orientation to apply (the encoder checks its bytes)
        turned = False
    if turned:
        try:
            img = ImageOps.exif_transpose(img)
        except _PILLOW_ERRORS as exc:
            raise InputImageError(f"cannot apply the EXIF orientation ({exc})") from None
        meta = meta_mod.with_orientation_1(meta)
    try:
        return _convert(img, meta)
    except InputImageError:
        raise
    except (ValueError, OSError, ImageCms.PyCMSError) as exc:  # Pillow has no conversion for this mode
        raise InputImageError(f"cannot convert a {img.mode} image to RGB ({exc})") from None


def _convert(img: Image.Image, meta: Metadata) -> LoadedImage:
    mode = img.mode
    if mode not in DECODED_MODE:
        raise InputImageError(f"image mode {mode!r} is not supported (sdpic reads {', '.join(DECODED_MODE)})")
    space = meta_mod.icc_colour_space(meta.icc_profile) if meta.icc_profile else None
    if mode == "LAB":  # the pixels become sRGB; a Lab profile (Pillow attaches one) describes them no more
        lab_to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                              "LAB", "RGB")
        colour = np.asarray(ImageCms.applyTransform(img, lab_to_srgb))
        kept = Metadata(None, meta.exif, meta.xmp) if space == "Lab" else meta
        return LoadedImage(np.ascontiguousarray(colour), False, None, kept)
    greyscale = (mode in _GREY_MODES or (mode in ("P", "PA") and _palette_is_grey(img))) and space != "RGB"
    alpha = None
    if mode in _INT_MODES:
        arr = np.asarray(img, dtype=np.float64)
        if "transparency" in img.info and mode != "F":  # a colour key (PNG tRNS): that value is transparent
            alpha = np.where(arr == float(img.info["transparency"]), 0, 255).astype(np.uint8)
        scale = 255.0 / 65535.0 if mode != "F" and arr.max(initial=0) > 255 else 1.0
        if mode == "F":
            scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        grey = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        colour = np.repeat(grey[..., None], 3, axis=2)
    elif mode in _ALPHA_MODES or (mode in ("1", "L", "RGB", "P") and "transparency" in img.info):
        rgba = np.asarray((img.convert("LA") if mode == "La" else img).convert("RGBA"))
        colour, alpha = rgba[..., :3], rgba[..., 3]
    else:
        colour = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return LoadedImage(np.ascontiguousarray(colour), greyscale, _kept_alpha(alpha), meta)


def _kept_alpha(alpha: np.ndarray | None) -> np.ndarray | None:
    """The alpha plane, or None where there is none or it is opaque everywhere (nothing to store)."""
    if alpha is None or bool(np.all(alpha == 255)):
        return None
    return np.ascontiguousarray(alpha, dtype=np.uint8)


def _palette_is_grey(img: Image.Image) -> bool:
    palette = img.getpalette() or []
    triples = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
    if not len(triples):
        return False
    return bool(np.all(triples[:, 0] == triples[:, 1]) and np.all(triples[:, 1] == triples[:, 2]))


def _array_to_image(arr: np.ndarray) -> LoadedImage:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputImageError(f"array of shape {arr.shape} is not an image (expected HxW, HxWx1, HxWx3 or HxWx4 "
                              "(RGBA); grey with alpha: a PIL image of mode LA)")
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
    pixels = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    greyscale = pixels.shape[2] == 1
    colour = np.repeat(pixels, 3, axis=2) if greyscale else pixels[..., :3]
    alpha = pixels[..., 3] if pixels.shape[2] == 4 else None
    return LoadedImage(np.ascontiguousarray(colour), greyscale, _kept_alpha(alpha))


def load_image(image: ImageLike) -> LoadedImage:
    """Return the 8-bit colour, alpha and metadata of ``image`` (path, PIL image or array), converted as the
    module says. Arrays carry no metadata."""
    if isinstance(image, (str, os.PathLike)):
        return _read_pil(image)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, np.ndarray):
        return _array_to_image(image)
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


def to_pil(rgb: np.ndarray, greyscale: bool = False, alpha: np.ndarray | None = None) -> Image.Image:
    """Wrap decoded uint8 RGB pixels (and an alpha plane) as a PIL image: ``RGB`` / ``L`` when the source was
    greyscale; ``RGBA`` / ``LA`` with alpha."""
    if greyscale:
        grey = np.ascontiguousarray(rgb[..., 0])
        if alpha is None:
            return Image.fromarray(grey, mode="L")
        return Image.fromarray(np.dstack([grey, alpha]), mode="LA")
    if alpha is None:
        return Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
