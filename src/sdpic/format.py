"""The .sdpic container: bytes only, no tensors. Layout (all integers big-endian) in docs/format.md.

::

    offset size field
    0      4    magic  b"SDPC"
    4      1    format version (1, or 2 when a section of version 2 is present)
    5      2    model id (u16)
    7      8    weights hash (first 8 bytes of the SHA-256 of the weights file)
    15     4    width  (u32, 1..16384)
    19     4    height (u32, 1..16384)
    23     1    colour (0 = RGB, 1 = greyscale)
    24     1    quality (0..100, as requested)
    25     1    global quality level (0..64)
    26     1    flags (bit 0: quality map section present; other bits must be 0)
    27     1    section count (n)
    28     ...  n sections: tag (u8), length (u32), payload
    end-4  4    CRC-32 of every byte before it

Version 2 adds optional sections (alpha plane, ICC profile, EXIF, XMP); a file is written as version 1
unless it has one of them, so files without them stay byte-identical to what older builds wrote, and a
version-1 reader refuses a version-2 file by its version byte (never decodes it without its alpha).

Parsing checks, in order: minimum length, magic, version, CRC, then every field and section
(unknown flags or tags, duplicates, missing sections, lengths past the end, size limits, the headers
of the version-2 sections). Every failure is a :class:`sdpic.FormatError` subclass; the parser never
allocates more than the input.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

from . import alpha, metadata
from .errors import ChecksumError, FormatError, TruncatedFileError, UnsupportedVersionError
from .image_io import MAX_PIXELS, MAX_SIDE

MAGIC = b"SDPC"
#: The newest version this build writes; it reads every version in READ_VERSIONS.
VERSION = 2
READ_VERSIONS = (1, 2)
_HEADER = struct.Struct(">4sBH8sIIBBBBB")
HEADER_SIZE = _HEADER.size  # 28
_SECTION = struct.Struct(">BI")
CRC_SIZE = 4
FLAG_QUALITY_MAP = 0x01
KNOWN_FLAGS = FLAG_QUALITY_MAP


class Section(IntEnum):
    QUALITY_MAP = 1
    HYPER_LATENTS = 2
    LATENTS = 3
    ESCAPES = 4
    ALPHA = 5  # version 2
    ICC_PROFILE = 6  # version 2
    EXIF = 7  # version 2
    XMP = 8  # version 2


REQUIRED_SECTIONS = {Section.HYPER_LATENTS, Section.LATENTS, Section.ESCAPES}
#: Sections a version-1 file cannot have (a version-1 reader knows no such tag).
VERSION_2_SECTIONS = {Section.ALPHA, Section.ICC_PROFILE, Section.EXIF, Section.XMP}


class Colour(IntEnum):
    RGB = 0
    GREYSCALE = 1


@dataclass
class Container:
    model_id: int
    weights_hash: bytes
    width: int
    height: int
    colour: Colour
    quality: int
    level: int
    sections: dict[Section, bytes] = field(default_factory=dict)

    @property
    def flags(self) -> int:
        return FLAG_QUALITY_MAP if Section.QUALITY_MAP in self.sections else 0

    @property
    def version(self) -> int:
        """The format version the file is written as: 2 only where it needs a version-2 section."""
        return 2 if VERSION_2_SECTIONS & self.sections.keys() else 1

    @property
    def metadata(self) -> metadata.Metadata:
        """The ICC profile, EXIF and XMP sections (verbatim)."""
        s = self.sections
        return metadata.Metadata(s.get(Section.ICC_PROFILE), s.get(Section.EXIF), s.get(Section.XMP))


def pack(c: Container) -> bytes:
    """Serialise a container (fields and sections are validated the same way :func:`unpack` checks them)."""
    _check_fields(c.model_id, c.weights_hash, c.width, c.height, int(c.colour), c.quality, c.level, c.flags)
    _check_version_2_sections(c)
    head = _HEADER.pack(MAGIC, c.version, c.model_id, c.weights_hash, c.width, c.height, int(c.colour),
                        c.quality, c.level, c.flags, len(c.sections))
    body = b"".join(_SECTION.pack(int(tag), len(data)) + data for tag, data in sorted(c.sections.items()))
    payload = head + body
    return payload + struct.pack(">I", zlib.crc32(payload))


def _check_fields(model_id: int, weights_hash: bytes, width: int, height: int, colour: int, quality: int,
                  level: int, flags: int) -> None:
    if not 0 <= model_id <= 0xFFFF or len(weights_hash) != 8:
        raise FormatError("bad model id or weights hash")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise FormatError(f"image size {width}x{height} is outside the limits (1..{MAX_SIDE} a side)")
    if colour not in (0, 1):
        raise FormatError(f"unknown colour code {colour}")
    if not 0 <= quality <= 100:
        raise FormatError(f"quality {quality} is outside 0..100")
    if not 0 <= level <= 64:
        raise FormatError(f"quality level {level} is outside 0..64")
    if flags & ~KNOWN_FLAGS:
        raise FormatError(f"unknown flags 0x{flags:02x}")


def peek_is_sdpic(data: bytes) -> bool:
    return data[:4] == MAGIC


def unpack(data: bytes) -> Container:
    """Parse and validate a .sdpic byte string."""
    data = bytes(data)
    if not MAGIC.startswith(data[:4]):
        raise FormatError("not an .sdpic stream (bad magic bytes)")
    if len(data) < 5:
        raise TruncatedFileError("stream ends inside the header")
    version = data[4]
    if version not in READ_VERSIONS:
        raise UnsupportedVersionError(f"format version {version} is not supported (this build reads versions "
                                      f"{' and '.join(map(str, READ_VERSIONS))})")
    if len(data) < HEADER_SIZE + CRC_SIZE:
        raise TruncatedFileError("stream ends inside the header")
    (_, _, model_id, weights_hash, width, height, colour, quality, level, flags,
     count) = _HEADER.unpack_from(data, 0)
    # Walk the sections first: a length past the end means truncation, which deserves its own message.
    pos, sections = HEADER_SIZE, {}
    for _ in range(count):
        if pos + _SECTION.size > len(data) - CRC_SIZE:
            raise TruncatedFileError("stream ends inside a section header")
        tag, length = _SECTION.unpack_from(data, pos)
        pos += _SECTION.size
        if pos + length > len(data) - CRC_SIZE:
            raise TruncatedFileError("stream ends inside a section")
        sections[tag] = (pos, length) if tag not in sections else None
        pos += length
    if pos != len(data) - CRC_SIZE:
        raise FormatError("bytes after the last section (or a corrupted section length)")
    (crc,) = struct.unpack_from(">I", data, len(data) - CRC_SIZE)
    if zlib.crc32(data[: len(data) - CRC_SIZE]) != crc:
        raise ChecksumError("CRC-32 mismatch: the stream is corrupted")
    _check_fields(model_id, weights_hash, width, height, colour, quality, level, flags)
    parsed: dict[Section, bytes] = {}
    for tag, span in sections.items():
        if tag not in Section.__members__.values() or (version == 1 and tag in VERSION_2_SECTIONS):
            raise FormatError(f"unknown section tag {tag}" + (" in a version-1 file" if version == 1 else ""))
        if span is None:
            raise FormatError(f"section {Section(tag).name} appears twice")
        parsed[Section(tag)] = data[span[0]: span[0] + span[1]]
    missing = REQUIRED_SECTIONS - parsed.keys()
    if missing:
        raise FormatError(f"missing sections: {', '.join(sorted(s.name for s in missing))}")
    if bool(flags & FLAG_QUALITY_MAP) != (Section.QUALITY_MAP in parsed):
        raise FormatError("quality-map flag and section disagree")
    container = Container(model_id, weights_hash, width, height, Colour(colour), quality, level, parsed)
    if version != container.version:  # one way to write a file: version 2 only where it is needed
        raise FormatError("a version-2 file without a version-2 section")
    _check_version_2_sections(container)
    return container


def _check_version_2_sections(c: Container) -> None:
    """The alpha plane's WebP header matches the image size; ICC / EXIF / XMP are in their canonical forms
    and within :data:`sdpic.metadata.MAX_METADATA_BYTES` (checks on bytes only: nothing is decoded)."""
    if Section.ALPHA in c.sections:
        alpha.check_header(c.sections[Section.ALPHA], c.width, c.height)
    meta = c.metadata
    meta.checked(FormatError)
    if meta.icc_profile is not None:
        space = metadata.icc_colour_space(meta.icc_profile)
        expected = "GRAY" if c.colour == Colour.GREYSCALE else "RGB"
        if space != expected:
            raise FormatError(f"ICC profile is for {space} data, the image is {expected}")

