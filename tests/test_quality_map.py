"""Quality map construction and its coding."""

from __future__ import annotations

import numpy as np
import pytest

from sdpic.codec.model import QUALITY_LEVELS
from sdpic.errors import FormatError, ParameterError
from sdpic.quality_map import build_levels, decode_levels, encode_levels, level_to_quality, quality_to_level


def test_quality_to_level_range() -> None:
    assert quality_to_level(0) == 0 and quality_to_level(100) == 64 and quality_to_level(50) == 32
    with pytest.raises(ParameterError):
        quality_to_level(101)


def test_saliency_moves_levels_toward_salient_blocks() -> None:
    sal = np.zeros((64, 64), dtype=np.float32)
    sal[:32, :32] = 1.0
    levels = build_levels(32, 4, 4, sal, strength=0.25)
    assert levels[:2, :2].min() > 32 > levels[2:, 2:].max()


def test_mid_range_maps_keep_the_global_level_as_their_mean() -> None:
    sal = np.zeros((64, 64), dtype=np.float32)
    sal[:32, :32] = 1.0  # a quarter salient: offsets +12 and -4 levels at strength 0.25
    assert build_levels(32, 4, 4, sal, strength=0.25).mean() == 32


def test_at_the_ends_the_map_clips_instead_of_moving_bits() -> None:
    sal = np.zeros((64, 64), dtype=np.float32)
    sal[:32, :32] = 1.0
    low = build_levels(0, 4, 4, sal, strength=0.25)
    assert low[2:, 2:].max() == 0 and low[:2, :2].min() == 12  # the region stays visible, the mean rises
    high = build_levels(64, 4, 4, sal, strength=0.25)
    assert high[:2, :2].min() == 64 and high[2:, 2:].max() == 60  # and at the top the mean falls


@pytest.mark.parametrize("seed", range(5))
def test_levels_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = np.clip(np.cumsum(rng.integers(-3, 4, (9, 13)), axis=1) + 30, 0, 64)
    data = encode_levels(levels, 30)
    assert np.array_equal(decode_levels(data, 9, 13, 30), levels)


def test_smooth_map_is_cheap() -> None:
    levels = np.full((32, 48), 20)
    levels[8:24, 10:30] = 40
    assert len(encode_levels(levels, 20)) < 40


def test_garbage_map_is_a_typed_error_or_in_range() -> None:
    for seed in range(20):
        blob = np.random.default_rng(seed).integers(1, 2**32, 3, dtype=np.uint64).astype(">u4").tobytes()
        try:
            levels = decode_levels(blob, 5, 5, 32)
        except FormatError:
            continue
        assert levels.min() >= 0 and levels.max() <= 64


def test_map_too_short_for_its_size_is_rejected_before_decoding() -> None:
    """A forged header claiming a huge map cannot buy a long decode with a few bytes."""
    levels = np.full((8, 8), 30, dtype=np.int64)
    levels[:4] = 40
    data = encode_levels(levels, 30)
    assert np.array_equal(decode_levels(data, 8, 8, 30), levels)  # real maps pass the bound
    with pytest.raises(FormatError, match="truncated"):
        decode_levels(data, 1024, 1024, 30)


def test_level_to_quality_inverts_quality_to_level() -> None:
    for level in range(QUALITY_LEVELS + 1):
        assert quality_to_level(level_to_quality(level)) == level
    with pytest.raises(ParameterError):
        level_to_quality(QUALITY_LEVELS + 1)
