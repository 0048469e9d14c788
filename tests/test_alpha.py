"""The alpha plane: lossless WebP coding, header checks before decoding, and the fill under transparent pixels."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sdpic import alpha
from sdpic.errors import FormatError, InputImageError
from tests.metadata_helpers import cutout


@pytest.mark.parametrize("plane", [
    cutout()[..., 3],
    cutout(soft=False)[..., 3],
    np.random.default_rng(0).integers(0, 256, (37, 29), dtype=np.uint8),  # incompressible
    np.full((1, 1), 7, np.uint8),
    np.tile(np.arange(256, dtype=np.uint8), (3, 1)),
])
def test_the_plane_round_trips_bit_exactly(plane: np.ndarray) -> None:
    payload = alpha.encode_plane(plane)
    assert payload[:4] == b"RIFF" and payload[8:16] == b"WEBPVP8L"
    back = alpha.decode_plane(payload, plane.shape[1], plane.shape[0])
    assert back.dtype == np.uint8 and np.array_equal(back, plane)


def test_a_binary_mask_costs_little() -> None:
    plane = cutout(96, 128, soft=False)[..., 3]
    assert len(alpha.encode_plane(plane)) < 200


def test_planes_wider_than_webp_allows_are_refused() -> None:
    with pytest.raises(InputImageError, match="16383"):
        alpha.encode_plane(np.zeros((1, alpha.MAX_ALPHA_SIDE + 1), np.uint8))


def _payload() -> bytes:
    return alpha.encode_plane(cutout(20, 30)[..., 3])


@pytest.mark.parametrize(("edit", "match"), [
    (lambda p: b"RIFX" + p[4:], "not a lossless WebP"),
    (lambda p: p[:12] + b"VP8 " + p[16:], "not a lossless WebP"),
    (lambda p: p[:-2], "sizes disagree"),
    (lambda p: p + b"\0\0", "sizes disagree"),
    (lambda p: p[:20] + b"\x2e" + p[21:], "signature"),
    (lambda p: p[:21] + struct.pack("<I", struct.unpack_from("<I", p, 21)[0] | (1 << 29)) + p[25:], "version"),
    (lambda p: p[:10], "not a lossless WebP"),
])
def test_malformed_headers_are_refused_before_decoding(edit, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        alpha.check_header(edit(_payload()), 30, 20)


def test_a_plane_of_another_size_is_refused_before_decoding() -> None:
    payload = _payload()
    with pytest.raises(FormatError, match="alpha plane is 30x20, the image 30x21"):
        alpha.decode_plane(payload, 30, 21)
    # a header announcing a huge plane is refused from its 25 header bytes, without libwebp
    huge = bytearray(payload)
    struct.pack_into("<I", huge, 21, (16383 - 1) | ((16383 - 1) << 14))
    with pytest.raises(FormatError, match="16383x16383"):
        alpha.check_header(bytes(huge), 30, 20)


def test_damaged_image_data_is_a_format_error() -> None:
    payload = bytearray(_payload())
    payload[30:40] = b"\xff" * 10
    try:
        plane = alpha.decode_plane(bytes(payload), 30, 20)
    except FormatError:
        return
    assert plane.shape == (20, 30)  # or some plane of the right size: never another exception


def test_fill_keeps_every_visible_pixel_and_is_smooth() -> None:
    rgba = cutout(64, 80, soft=True)
    colour, plane = rgba[..., :3], rgba[..., 3]
    filled = alpha.fill_transparent(colour, plane)
    visible = plane > 0
    assert np.array_equal(filled[visible], colour[visible])
    assert not np.array_equal(filled[~visible], colour[~visible])
    # smooth: neighbouring hidden pixels differ far less than the photo's own pixels do
    hidden_rows = (~visible[:, 1:]) & (~visible[:, :-1])
    step = np.abs(np.diff(filled.astype(int), axis=1)).max(axis=2)[hidden_rows]
    photo_step = np.abs(np.diff(colour.astype(int), axis=1)).max(axis=2)[hidden_rows]
    assert step.mean() < 0.25 * photo_step.mean()
    assert np.array_equal(alpha.fill_transparent(colour, plane), filled)  # deterministic


def test_fill_of_opaque_and_of_invisible_images() -> None:
    colour = cutout()[..., :3]
    assert alpha.fill_transparent(colour, np.full(colour.shape[:2], 255, np.uint8)) is colour
    assert not alpha.fill_transparent(colour, np.zeros(colour.shape[:2], np.uint8)).any()
    one = np.zeros(colour.shape[:2], np.uint8)
    one[5, 7] = 1  # a single visible pixel: everything else takes its colour
    filled = alpha.fill_transparent(colour, one)
    assert np.abs(filled.astype(int) - colour[5, 7]).max() <= 1
