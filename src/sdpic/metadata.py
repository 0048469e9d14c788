"""Colour profile, EXIF and XMP: read from an input image, stored verbatim in the file, given back on decode.

Data flow::

    read(PIL image)  ──►  Metadata  ──►  checked(strip...)  ──►  container sections (format.py)
    container sections  ──►  Metadata  ──►  pil_info() (PIL ``info``)  ──►  save_params(format) (PNG/TIFF/WebP)

Canonical forms (what the sections hold, docs/format.md):

* ICC profile: the profile's bytes, as embedded in the input (at least the 128-byte header, ``acsp`` at
  offset 36).
* EXIF: the TIFF-structured block (``II*\\0`` or ``MM\\0*`` first), *without* the ``Exif\\0\\0`` prefix that
  JPEG's APP1 segment and Pillow's ``info['exif']`` carry. On decode ``info['exif']`` gets the prefix back,
  so it is byte-identical to what Pillow's JPEG and PNG readers give for the source.
* XMP: the XMP packet as UTF-8 bytes.

Where an input carries them (Pillow's ``info`` keys): ``icc_profile``; ``exif`` (JPEG, PNG ``eXIf``, WebP,
AVIF, HEIF); ``xmp`` (JPEG, PNG ``iTXt``, WebP, TIFF, GIF, AVIF, HEIF); ImageMagick's legacy PNG text chunks
``Raw profile type exif`` / ``xmp`` / ``icc``. A TIFF has no EXIF block: its descriptive tags (ImageDescription,
Make, Model, Software, DateTime, Artist, HostComputer, Copyright) and its EXIF and GPS sub-IFDs are
serialised into one with Pillow (tag values kept, bytes re-laid). Other ancillary data (PNG text chunks,
JPEG comments, DPI, IPTC) is not image metadata in this sense and is not kept.

Orientation: the loader applies EXIF orientation to the pixels (sdpic.image_io); :func:`with_orientation_1`
then rewrites the orientation value to 1 *in place* in EXIF (IFD0's tag 0x0112) and XMP (``tiff:Orientation``),
leaving every other byte as it was, so a viewer does not rotate the already rotated pixels again.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, replace

from PIL import Image

from .errors import InputImageError, SdpicError

#: Largest ICC profile, EXIF block or XMP packet a file may carry (each); real ones are kilobytes.
MAX_METADATA_BYTES = 16 << 20
EXIF_PREFIX = b"Exif\x00\x00"
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_ORIENTATION = 0x0112
# IFD0 tags of a TIFF that are image metadata (not the layout of its own pixel data)
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# TIFF tags that describe a file's pixel layout: never taken from EXIF into a TIFF output's own IFD
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 284, 317, 320, 322,
                               323, 324, 325, 330, 338, 339, 340, 341, 347, 700, 34675})
_XMP_ORIENTATION = (re.compile(rb'(tiff:Orientation=")([0-9])(")'),
                    re.compile(rb"(<tiff:Orientation>)([0-9])(</tiff:Orientation>)"))


@dataclass(frozen=True)
class Metadata:
    """What an image carries besides its pixels, in the canonical forms of the module docstring."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    def __bool__(self) -> bool:
        return any((self.icc_profile, self.exif, self.xmp))

    def stripped(self, strip_metadata: bool = False, strip_icc: bool = False) -> Metadata:
        """A copy without EXIF/XMP (``strip_metadata``) and/or without the colour profile (``strip_icc``)."""
        return Metadata(None if strip_icc else self.icc_profile, None if strip_metadata else self.exif,
                        None if strip_metadata else self.xmp)

    def checked(self, error: type[SdpicError] = InputImageError) -> Metadata:
        """Raise ``error`` unless every field is in its canonical form and within the size limit (an
        :class:`InputImageError` says how to drop the field)."""
        hints = issubclass(error, InputImageError)
        hint = " (drop it with --strip-icc / strip_icc=True)" if hints else ""
        if self.icc_profile is not None:
            check_icc(self.icc_profile, error, hint)
        hint = " (drop EXIF and XMP with --strip-metadata / strip_metadata=True)" if hints else ""
        if self.exif is not None:
            check_exif(self.exif, error, hint)
        if self.xmp is not None:
            check_xmp(self.xmp, error, hint)
        return self

    def pil_info(self) -> dict[str, bytes]:
        """The fields as Pillow's ``info`` keys: ``icc_profile``, ``exif`` (with ``Exif\\0\\0``), ``xmp``."""
        info = {}
        if self.icc_profile:
            info["icc_profile"] = self.icc_profile
        if self.exif:
            info["exif"] = EXIF_PREFIX + self.exif
        if self.xmp:
            info["xmp"] = self.xmp
        return info


def _check_size(name: str, data: bytes, error: type[SdpicError], hint: str) -> None:
    if not data:
        raise error(f"empty {name}{hint}")
    if len(data) > MAX_METADATA_BYTES:
        raise error(f"{name} of {len(data)} bytes is over the {MAX_METADATA_BYTES}-byte limit{hint}")


def check_icc(data: bytes, error: type[SdpicError] = InputImageError, hint: str = "") -> None:
    """An ICC profile: 128-byte header or more, signature ``acsp`` at offset 36, within the size limit."""
    _check_size("ICC profile", data, error, hint)
    if len(data) < 128 or data[36:40] != b"acsp":
        raise error(f"the ICC profile is malformed (no 'acsp' header signature){hint}")


def icc_colour_space(data: bytes) -> str:
    """The data colour space of an ICC profile header (``RGB``, ``GRAY``, ``CMYK``, ``Lab``...)."""
    return data[16:20].decode("latin-1").strip()


def check_exif(data: bytes, error: type[SdpicError] = InputImageError, hint: str = "") -> None:
    """A TIFF-structured EXIF block without the ``Exif\\0\\0`` prefix, within the size limit."""
    _check_size("EXIF block", data, error, hint)
    if len(data) < 8 or data[:4] not in _TIFF_HEADERS:
        raise error(f"the EXIF block is malformed (no TIFF header){hint}")


def check_xmp(data: bytes, error: type[SdpicError] = InputImageError, hint: str = "") -> None:
    """An XMP packet: UTF-8 text within the size limit."""
    _check_size("XMP packet", data, error, hint)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"the XMP packet is not UTF-8 text{hint}") from None


def _raw_profile(text: object) -> bytes | None:
    """Bytes of an ImageMagick 'Raw profile type ...' PNG text chunk: "\\nname\\n  length\\nhex lines"."""
    try:
        lines = str(text).strip("\n").split("\n")
        length = int(lines[1])
        data = bytes.fromhex("".join(lines[2:]))
    except (IndexError, ValueError):
        raise InputImageError("a 'Raw profile type' PNG text chunk is malformed") from None
    if len(data) != length:
        raise InputImageError("a 'Raw profile type' PNG text chunk has the wrong length")
    return data


def _tiff_exif(img: Image.Image) -> bytes | None:
    """A TIFF's descriptive tags and EXIF / GPS sub-IFDs as one EXIF block (Pillow serialises it)."""
    source = img.getexif()
    exif = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        if tag in source:
            exif[tag] = source[tag]
    for tag in (_EXIF_IFD, _GPS_IFD):
        if tag in source and (ifd := source.get_ifd(tag)):
            exif[tag] = ifd
    return exif.tobytes()[len(EXIF_PREFIX):] if len(exif) else None


def read(img: Image.Image) -> Metadata:
    """The ICC profile, EXIF and XMP of an image as Pillow opened it (before any transposition)."""
    info = img.info
    icc = info.get("icc_profile") or None
    if icc is None and "Raw profile type icc" in info:
        icc = _raw_profile(info["Raw profile type icc"])
    exif = info.get("exif") or None
    if exif is None and "Raw profile type exif" in info:
        exif = _raw_profile(info["Raw profile type exif"])
    if exif is None and getattr(img, "format", None) == "TIFF":
        exif = _tiff_exif(img)
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    if exif is not None and exif.startswith(EXIF_PREFIX):
        exif = exif[len(EXIF_PREFIX):]
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or None
    if xmp is None and "Raw profile type xmp" in info:
        xmp = _raw_profile(info["Raw profile type xmp"])
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return Metadata(bytes(icc) if icc else None, bytes(exif) if exif else None, bytes(xmp) if xmp else None)


def _exif_with_orientation_1(exif: bytes) -> bytes:
    """``exif`` with IFD0's orientation value set to 1 in place; unchanged where IFD0 has no orientation."""
    order = "<" if exif[:2] == b"II" else ">"
    buf = bytearray(exif)
    try:
        (ifd,) = struct.unpack_from(order + "I", buf, 4)
        (count,) = struct.unpack_from(order + "H", buf, ifd)
        for k in range(count):
            entry = ifd + 2 + 12 * k
            tag, kind, n = struct.unpack_from(order + "HHI", buf, entry)
            if tag == _ORIENTATION:
                if n != 1 or kind not in (3, 4):  # SHORT (the standard) or LONG
                    raise InputImageError("the EXIF orientation tag has an unexpected type; cannot set it to 1 "
                                          "after rotating (drop EXIF with --strip-metadata)")
                struct.pack_into(order + ("H" if kind == 3 else "I"), buf, entry + 8, 1)
                return bytes(buf)
    except struct.error:
        raise InputImageError("the EXIF block is truncated; cannot set its orientation to 1 after rotating "
                              "(drop EXIF with --strip-metadata)") from None
    return exif


def with_orientation_1(meta: Metadata) -> Metadata:
    """``meta`` after its orientation was applied to the pixels: EXIF and XMP say orientation 1 (in place)."""
    exif = None if meta.exif is None else _exif_with_orientation_1(meta.exif)
    xmp = meta.xmp
    if xmp is not None:
        for pattern in _XMP_ORIENTATION:
            xmp = pattern.sub(rb"\g<1>1\g<3>", xmp)
    return replace(meta, exif=exif, xmp=xmp)


def orientation(meta: Metadata) -> int:
    """The orientation EXIF (IFD0) says, as Pillow reads it; 1 when there is none."""
    if not meta.exif:
        return 1
    exif = Image.Exif()
    try:
        exif.load(meta.exif)
    except (SyntaxError, ValueError, struct.error, EOFError, OSError):
        return 1
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def save_params(meta: Metadata, pillow_format: str) -> dict[str, object]:
    """Keyword arguments of ``Image.save`` that write ``meta`` into a PNG, TIFF or WebP file.

    PNG: ``iCCP``, ``eXIf`` and an uncompressed ``iTXt`` ``XML:com.adobe.xmp`` chunk (the XMP spec's place);
    WebP: ``ICCP``, ``EXIF`` (the TIFF block, no prefix) and ``XMP `` chunks; TIFF: tag 34675 (ICC), the
    EXIF tags merged into the file's IFD with its EXIF and GPS sub-IFDs, and tag 700 (XMP). Raises
    ValueError for a format that holds none of them (a caller strips, or picks another format)."""
    if not meta:
        return {}
    params: dict[str, object] = {}
    if pillow_format == "PNG":
        from PIL.PngImagePlugin import PngInfo

        if meta.icc_profile:
            params["icc_profile"] = meta.icc_profile
        if meta.exif:
            params["exif"] = meta.exif
        if meta.xmp:
            text = PngInfo()
            text.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8"))
            params["pnginfo"] = text
    elif pillow_format == "WEBP":
        params.update({k: v for k, v in (("icc_profile", meta.icc_profile), ("exif", meta.exif),
                                         ("xmp", meta.xmp)) if v})
    elif pillow_format == "TIFF":
        if meta.icc_profile:
            params["icc_profile"] = meta.icc_profile
        exif = Image.Exif()
        if meta.exif:
            exif.load(meta.exif)  # loaded (not built): Pillow's TIFF writer reads sub-IFDs through get_ifd
            for tag in [t for t in exif if t in _TIFF_LAYOUT_TAGS]:
                del exif[tag]
        if meta.xmp:
            exif[700] = meta.xmp
        if len(exif):
            params["exif"] = exif
    else:
        kinds = ", ".join(n for n, v in (("an ICC profile", meta.icc_profile), ("EXIF", meta.exif),
                                         ("XMP", meta.xmp)) if v)
        raise ValueError(f"{pillow_format} cannot hold {kinds}")
    return params


def from_pil_info(info: dict) -> Metadata:
    """The metadata a decoded image carries in its ``info`` (as :meth:`Metadata.pil_info` wrote it)."""
    exif = info.get("exif")
    if isinstance(exif, bytes) and exif.startswith(EXIF_PREFIX):
        exif = exif[len(EXIF_PREFIX):]
    return Metadata(info.get("icc_profile") or None, exif or None, info.get("xmp") or None)


def icc_description(data: bytes) -> str | None:
    """The profile's description tag (``desc``: ICC v2 ``desc`` or v4 ``mluc`` text, first record), or None.

    Read from the tag table directly, in time linear in the profile: littleCMS (Pillow's ImageCms) took
    over 300 ms to open some fuzzed 580-byte profiles, and ``sdpic info`` reads untrusted files."""
    try:
        (count,) = struct.unpack_from(">I", data, 128)
        if count > (len(data) - 132) // 12:
            return None
        for k in range(count):
            signature, offset, size = struct.unpack_from(">4sII", data, 132 + 12 * k)
            if signature != b"desc" or offset + size > len(data):
                continue
            tag = data[offset: offset + size]
            if tag[:4] == b"desc":  # textDescriptionType: u32 length, ASCII with a NUL
                (n,) = struct.unpack_from(">I", tag, 8)
                text = tag[12: 12 + n].split(b"\0", 1)[0].decode("latin-1")
            elif tag[:4] == b"mluc":  # multiLocalizedUnicodeType: records of (language, country, length, offset)
                (records,) = struct.unpack_from(">I", tag, 8)
                if records < 1:
                    return None
                n, start = struct.unpack_from(">II", tag, 20)
                text = tag[start: start + n].decode("utf-16-be", errors="replace")
            else:
                return None
            return text.strip("\0 ").strip() or None
    except struct.error:
        return None
    return None
