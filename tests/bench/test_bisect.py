"""Bisection lands on the target bpp: the most expensive setting that does not exceed it."""

from __future__ import annotations

import numpy as np
import pytest

from sdpic.bench.bisect import bisect_setting
from sdpic.bench.cache import EncodeCache
from sdpic.bench.codecs.base import Codec
from sdpic.bench.codecs.jpeg import JpegCodec
from sdpic.errors import ParameterError

from .conftest import smooth_image


class FakeCodec(Codec):
    """Rate = a smooth monotone function of the setting (exact, so the test isolates the search)."""

    name = "fake"
    settings = (1.0, 2.0)
    setting_range = (0.1, 10.0)
    integer = False
    higher_is_more_bits = False  # like a distance: larger setting, fewer bits

    def version(self) -> str:
        return "fake 1"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        bits = rgb.shape[0] * rgb.shape[1] * 2.0 / (1.0 + setting)
        return b"x" * max(1, int(bits / 8))

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


@pytest.mark.parametrize("target", [0.25, 0.5, 1.0])
def test_continuous_bisection_hits_target(target: float) -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    res = bisect_setting(FakeCodec(), rgb, target, tol=0.01)
    assert res.under_target
    assert target * 0.99 - 1e-3 <= res.bpp <= target


@pytest.mark.parametrize("target", [0.5, 1.0, 2.0])
def test_jpeg_bisection_is_the_best_setting_under_target(target: float) -> None:
    codec = JpegCodec()
    rgb = smooth_image(192, 256)
    res = bisect_setting(codec, rgb, target, tol=0.0)
    pixels = rgb.shape[0] * rgb.shape[1]
    assert res.under_target and res.bpp <= target
    if res.setting < 100:
        nxt = len(codec.encode(rgb, res.setting + 1)) * 8 / pixels
        assert nxt > target  # one step more would overshoot: the target was hit as closely as JPEG allows


def test_unreachable_target_is_flagged_and_uses_the_cheapest_setting() -> None:
    codec = JpegCodec()
    res = bisect_setting(codec, smooth_image(32, 32), 0.01)
    assert not res.under_target and res.setting == 1


def test_bisection_reuses_the_cache(tmp_path) -> None:
    codec = JpegCodec()
    rgb = smooth_image(40, 40)
    cache = EncodeCache(tmp_path)
    first = bisect_setting(codec, rgb, 1.0, cache=cache)
    codec.encode = None  # type: ignore[assignment]  # any encode now would crash: all must come from the cache
    second = bisect_setting(codec, rgb, 1.0, cache=cache)
    assert (second.setting, second.data) == (first.setting, first.data)


def test_bad_target_raises() -> None:
    with pytest.raises(ParameterError):
        bisect_setting(JpegCodec(), smooth_image(16, 16), 0.0)
