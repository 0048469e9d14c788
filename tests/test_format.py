"""The container: round trips, and every corrupted or truncated field gives a typed error."""

from __future__ import annotations

import struct
import zlib

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
    (4, 2, UnsupportedVersionError),           # version
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
