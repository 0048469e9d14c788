"""The alpha channel: lossless coding of the plane, and the colour the codec is given under transparent pixels.

Data flow::

    encode: colour + alpha ─► fill_transparent (colour the codec codes) ; alpha ─► encode_plane (ALPHA section)
    decode: ALPHA section ─► check_header (at parse time) ─► decode_plane ─► the decoded image's A channel

Choices (measured on 12 ECSSD validation photos cut out with their masks: results/metadata/,
benchmarks/alpha_overhead.py):

* **Lossless, WebP lossless (VP8L) through Pillow's libwebp**, the plane stored as a grey image
  (R = G = B = alpha, decoders read G): 52% of an 8-bit PNG's bytes on binary masks, 27% fewer on soft
  edges, smaller than zlib on the raw plane; effort ``method=4`` is within 2% of ``method=6`` (a far
  slower search). About what WebP's own lossless alpha costs; AVIF's default alpha is smaller on soft
  edges because it is lossy (errors up to 34 levels). WebP holds at most 16383 pixels a side, so images
  with alpha are limited to that (one less than sdpic's limit).
* **Straight (unassociated) alpha.** The colour channels are coded as they are, not multiplied by alpha:
  premultiplied colour (black under transparent pixels, darkened edges) needs 45-89% more bytes for the
  same visible quality, and dividing by a small alpha on decode magnifies coding error.
* **Colour under fully transparent pixels is not kept**: it is invisible, and replacing it with a smooth
  continuation of the visible colours (:func:`fill_transparent`, a push-pull pyramid) takes a third of
  the bytes of coding the hidden background on photo-sized cut-outs (keeping it: BD-rate +178-205%;
  icons +26%); a mean-colour fill needs 6-21% more bytes, a white one 20-159% more, at the same quality
  on the visible pixels. Pixels with alpha > 0 keep their colour (lossy-coded as usual).
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image
from scipy import ndimage

from .errors import FormatError, InputImageError

#: WebP's largest side; images with alpha are limited to it.
MAX_ALPHA_SIDE = 16383
#: libwebp settings for the plane: lossless, effort 4 (method 6 saves under 2% with a far slower search).
WEBP_PARAMS = {"lossless": True, "quality": 100, "method": 4}
_VP8L_SIGNATURE = 0x2F
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0


def encode_plane(alpha: np.ndarray) -> bytes:
    """The ALPHA section: ``alpha`` (uint8 HxW) as a lossless WebP (VP8L) of a grey image."""
    h, w = alpha.shape
    if max(h, w) > MAX_ALPHA_SIDE:
        raise InputImageError(f"images with transparency are limited to {MAX_ALPHA_SIDE} pixels a side "
                              f"(WebP's limit, which codes the alpha plane); this one is {w}x{h}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(alpha), mode="L").save(buf, format="WEBP", **WEBP_PARAMS)
    return buf.getvalue()


def check_header(payload: bytes, width: int, height: int) -> None:
    """Raise :class:`FormatError` unless ``payload`` is a simple-format lossless WebP of ``width x height``.

    Read from the bytes alone (RIFF and VP8L headers) so a mismatched or oversized plane is refused before
    libwebp allocates anything."""
    if len(payload) < 25 or payload[:4] != b"RIFF" or payload[8:16] != b"WEBPVP8L":
        raise FormatError("alpha section is not a lossless WebP (RIFF/WEBP/VP8L) stream")
    (riff_size,) = struct.unpack_from("<I", payload, 4)
    (chunk_size,) = struct.unpack_from("<I", payload, 16)
    if riff_size != len(payload) - 8 or chunk_size + (chunk_size & 1) != len(payload) - 20:
        raise FormatError("alpha section: WebP chunk sizes disagree with the section length")
    if payload[20] != _VP8L_SIGNATURE:
        raise FormatError("alpha section: bad VP8L signature")
    (bits,) = struct.unpack_from("<I", payload, 21)
    plane_w, plane_h, version = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bits >> 29
    if version != 0:
        raise FormatError(f"alpha section: VP8L version {version} (must be 0)")
    if (plane_w, plane_h) != (width, height):
        raise FormatError(f"alpha plane is {plane_w}x{plane_h}, the image {width}x{height}")


def decode_plane(payload: bytes, width: int, height: int) -> np.ndarray:
    """The alpha plane (uint8 ``height x width``) of an ALPHA section; :class:`FormatError` if it is bad."""
    check_header(payload, width, height)
    try:
        with Image.open(io.BytesIO(payload), formats=["WEBP"]) as img:
            if img.size != (width, height):
                raise FormatError(f"alpha plane is {img.size[0]}x{img.size[1]}, the image {width}x{height}")
            img.load()
            plane = np.asarray(img.convert("RGB").getchannel("G"), dtype=np.uint8)
    except FormatError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise FormatError(f"alpha section does not decode ({exc})") from None
    return np.ascontiguousarray(plane)


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur over the first two axes (edges replicated)."""
    x = ndimage.convolve1d(x, _BINOMIAL, axis=0, mode="nearest")
    return ndimage.convolve1d(x, _BINOMIAL, axis=1, mode="nearest")


def fill_transparent(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour`` (uint8 HxWx3) with every fully transparent pixel (alpha 0) replaced by a smooth continuation
    of the visible colours; other pixels unchanged.

    Push-pull: the known colours (alpha-0 pixels weigh 0) are blurred and halved level by level down to one
    pixel, each level's weight saturating at 1 where a quarter of its footprint is known; going back up,
    each level's unknown share is taken from the (blurred, doubled) coarser level. Deterministic: float32
    numpy/scipy only, no threads."""
    hidden = alpha == 0
    if not hidden.any():
        return colour
    if hidden.all():  # nothing visible: any constant is as good and costs least
        return np.zeros_like(colour)
    known = (~hidden).astype(np.float32)[..., None]
    pulled = [(colour.astype(np.float32) * known, known)]
    while max(pulled[-1][1].shape[:2]) > 1:
        c, w = pulled[-1]
        c, w = _blur(c)[::2, ::2], _blur(w)[::2, ::2]
        confident = np.minimum(4.0 * w, 1.0)
        pulled.append((c * (confident / np.maximum(w, 1e-12)), confident))
    c, w = pulled[-1]
    estimate = c / np.maximum(w, 1e-12)
    for c, w in reversed(pulled[:-1]):
        h, wd = c.shape[:2]
        up = _blur(np.repeat(np.repeat(estimate, 2, axis=0), 2, axis=1)[:h, :wd])
        estimate = c + (1.0 - w) * up
    out = colour.copy()
    out[hidden] = np.clip(np.rint(estimate[hidden]), 0, 255).astype(np.uint8)
    return out
