"""The container: round trips, and every corrupted or truncated field gives a typed error."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdpic import format as fmt
from sdpic.errors import ChecksumError, FormatError, TruncatedFileError, UnsupportedVersionError


def _container(**overrides) -> fmt.Container:
    fields = dict(model_id=1, weights_hash=b"\x01" * 8, width=65, height=257, colour=fmt.Colour.RGB, quality=50,
                  level=32, sections={fmt.Section.HYPER_LATENTS: b"zz", fmt.Section.LATENTS: b"yyyy",
                                      fmt.Section.ESCAPES: b""})
    fields.update(overrides)
    return fmt.Container(**fields)


def _recrc(data: bytes) -> bytes:
    body = data[:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def test_round_trip_preserves_every_field() -> None:
    c = _container(sections={**_container().sections, fmt.Section.QUALITY_MAP: b"q"})
    back = fmt.unpack(fmt.pack(c))
    assert back == c
    assert back.flags == fmt.FLAG_QUALITY_MAP


def test_header_is_big_endian_and_documented_size() -> None:
    data = fmt.pack(_container(width=0x0102, height=0x0304))
    assert data[:4] == b"SDPC" and data[4] == 1
    assert data[15:19] == b"\x00\x00\x01\x02" and data[19:23] == b"\x00\x00\x03\x04"
    assert fmt.HEADER_SIZE == 28


@pytest.mark.parametrize("cut", range(0, 40))
def test_every_truncation_is_a_typed_error(cut: int) -> None:
    data = fmt.pack(_container())
    with pytest.raises(FormatError):
        fmt.unpack(data[:cut])


def test_truncation_inside_a_section_is_reported_as_truncation() -> None:
    data = fmt.pack(_container())
    with pytest.raises(TruncatedFileError):
        fmt.unpack(data[:-6])


# (offset, new byte value, expected error) for each header field, with the CRC recomputed so that the
# field check itself (not the checksum) must catch it.
FIELD_CORRUPTIONS = [
    (0, ord("X"), FormatError),                # magic
    (4, 3, UnsupportedVersionError),           # version
    (4, 2, FormatError),                       # version 2 without a version-2 section
    (15, 0xFF, FormatError),                   # width (huge)
    (19, 0xFF, FormatError),                   # height (huge)
    (23, 7, FormatError),                      # colour
    (24, 101, FormatError),                    # quality
    (25, 65, FormatError),                     # level
    (26, 0x80, FormatError),                   # flags
    (26, 0x01, FormatError),                   # quality-map flag without its section
    (27, 9, FormatError),                      # section count
    (28, 9, FormatError),                      # first section tag
    (29, 0xFF, FormatError),                   # first section length
]


@pytest.mark.parametrize(("offset", "value", "error"), FIELD_CORRUPTIONS)
def test_every_corrupted_header_field_is_a_typed_error(offset: int, value: int, error: type) -> None:
    data = bytearray(fmt.pack(_container()))
    data[offset] = value
    with pytest.raises(error):
        fmt.unpack(_recrc(bytes(data)))


def test_zero_width_is_rejected() -> None:
    data = bytearray(fmt.pack(_container()))
    data[15:19] = b"\x00\x00\x00\x00"
    with pytest.raises(FormatError, match="outside the limits"):
        fmt.unpack(_recrc(bytes(data)))


def test_bit_flip_in_payload_fails_the_checksum() -> None:
    data = bytearray(fmt.pack(_container()))
    data[35] ^= 0x10
    with pytest.raises(ChecksumError):
        fmt.unpack(bytes(data))


def test_duplicate_section_is_rejected() -> None:
    c = _container()
    data = fmt.pack(c)
    body = data[: fmt.HEADER_SIZE]
    sections = data[fmt.HEADER_SIZE:-4]
    extra = struct.pack(">BI", int(fmt.Section.LATENTS), 1) + b"x"
    body = bytearray(body)
    body[27] += 1
    with pytest.raises(FormatError, match="twice"):
        fmt.unpack(_recrc(bytes(body) + sections + extra + b"\0\0\0\0"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_escape_as_untyped_errors(blob: bytes) -> None:
    try:
        fmt.unpack(blob)
    except FormatError:
        pass


# ------------------------------------------------------------------ version 2: alpha, ICC profile, EXIF, XMP
def _v2_container(overrides: dict | None = None) -> fmt.Container:
    from sdpic import alpha
    from tests.metadata_helpers import cutout, display_p3, exif_bytes, xmp_bytes

    c = _container(width=64, height=48)
    sections = {**c.sections, fmt.Section.ALPHA: alpha.encode_plane(cutout(48, 64)[..., 3]),
                fmt.Section.ICC_PROFILE: display_p3(), fmt.Section.EXIF: exif_bytes()[6:],
                fmt.Section.XMP: xmp_bytes()}
    sections.update(overrides or {})
    return _container(width=64, height=48, sections={k: v for k, v in sections.items() if v is not None})


def test_version_2_sections_round_trip_and_only_they_make_a_file_version_2() -> None:
    c = _v2_container()
    data = fmt.pack(c)
    assert data[4] == 2 and fmt.unpack(data) == c
    assert fmt.pack(_container())[4] == 1  # no version-2 section: written exactly as before
    for section in fmt.VERSION_2_SECTIONS:
        only = _v2_container({s: None for s in fmt.VERSION_2_SECTIONS - {section}})
        assert fmt.pack(only)[4] == 2


def test_a_version_1_file_cannot_carry_version_2_sections() -> None:
    data = bytearray(fmt.pack(_v2_container()))
    data[4] = 1  # what a version-1 writer could never produce: a version-1 reader knows no tag 5..8
    with pytest.raises(FormatError, match=r"unknown section tag \d in a version-1 file"):
        fmt.unpack(_recrc(bytes(data)))


@pytest.mark.parametrize(("section", "payload", "match"), [
    (fmt.Section.ICC_PROFILE, b"\0" * 200, "acsp"),
    (fmt.Section.ICC_PROFILE, b"", "empty"),
    (fmt.Section.EXIF, b"Exif\0\0II*\0\x08\0\0\0", "TIFF header"),
    (fmt.Section.XMP, "<x/>".encode("utf-16"), "UTF-8"),
    (fmt.Section.XMP, b" " * (16 * 2**20 + 1), "limit"),
    (fmt.Section.ALPHA, b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "not a lossless WebP"),
])
def test_malformed_version_2_sections_are_typed_errors(section: fmt.Section, payload: bytes, match: str) -> None:
    good = fmt.pack(_v2_container())
    c = fmt.unpack(good)
    c.sections[section] = payload
    raw = fmt._HEADER.pack(fmt.MAGIC, 2, c.model_id, c.weights_hash, c.width, c.height, int(c.colour), c.quality,
                           c.level, c.flags, len(c.sections))
    raw += b"".join(fmt._SECTION.pack(int(t), len(d)) + d for t, d in sorted(c.sections.items()))
    with pytest.raises(FormatError, match=match):
        fmt.unpack(raw + struct.pack(">I", zlib.crc32(raw)))
    with pytest.raises(FormatError, match=match):  # the writer checks the same way
        fmt.pack(c)


def test_an_alpha_plane_of_another_size_and_a_profile_for_other_data_are_refused() -> None:
    from sdpic import alpha

    with pytest.raises(FormatError, match="alpha plane is 64x47"):
        fmt.pack(_v2_container({fmt.Section.ALPHA: alpha.encode_plane(np.zeros((47, 64), np.uint8))}))
    grey = _v2_container()
    grey.colour = fmt.Colour.GREYSCALE  # an RGB profile on a greyscale image
    with pytest.raises(FormatError, match="ICC profile is for RGB data, the image is GRAY"):
        fmt.pack(grey)
