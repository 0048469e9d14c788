"""Test data for transparency and metadata: a real Display P3 profile, EXIF with GPS, an XMP packet, images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import smooth_image

DATA = Path(__file__).resolve().parent / "data"


def display_p3() -> bytes:
    """A Display P3 ICC profile (littleCMS; tests/data/make_display_p3.py made it)."""
    return (DATA / "display-p3.icc").read_bytes()


def exif_bytes(orientation: int = 1, gps: bool = True) -> bytes:
    """An EXIF block as Pillow's JPEG reader gives it (``Exif\\0\\0`` + TIFF): camera, date, GPS, orientation."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x0112] = orientation
    exif[0x0132] = "2024:05:06 07:08:09"
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09", 0x829A: (1.0, 250.0)}
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)}
    return exif.tobytes()


def xmp_bytes(orientation: int | None = None) -> bytes:
    """A small XMP packet (UTF-8, with a non-ASCII title), optionally with tiff:Orientation."""
    extra = f' tiff:Orientation="{orientation}"' if orientation is not None else ""
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/"{extra}><dc:title><rdf:Alt>'
            '<rdf:li xml:lang="x-default">Zürich, bei Nacht</rdf:li></rdf:Alt></dc:title></rdf:Description>'
            '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def cutout(height: int = 48, width: int = 64, seed: int = 0, soft: bool = True) -> np.ndarray:
    """An RGBA cut-out: a smooth photo-like image, an ellipse opaque, the rest transparent (soft edge)."""
    rgb = smooth_image(height, width, seed=seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    r = np.sqrt(((ys - height / 2) / (height / 3)) ** 2 + ((xs - width / 2) / (width / 3)) ** 2)
    alpha = np.clip((1.0 - r) * (8.0 if soft else 1e6) + 0.5, 0, 1)
    return np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)])


def reopened(img: Image.Image, fmt: str, **params: object) -> Image.Image:
    """``img`` saved as ``fmt`` and opened again (so ``info`` is what Pillow's reader gives)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out
