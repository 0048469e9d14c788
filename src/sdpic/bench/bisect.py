"""Find, per image, the codec setting that lands on a target bpp (for comparing codecs at equal rate).

The rule is "the most expensive setting that does not exceed the target": a codec is never credited
with bits it did not spend. When even the cheapest setting is above the target, that cheapest setting is
returned and flagged (``under_target=False``), so callers can report it rather than silently use it.
Rate is assumed monotone in the setting (true for every wrapped codec up to small wiggles; the search
keeps the best feasible point seen, so a wiggle costs accuracy, not correctness).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .cache import EncodeCache, image_digest
from .codecs import Codec


@dataclass(frozen=True)
class BisectResult:
    """The chosen setting, the stream it produced and how close it came to the target."""

    setting: float | int
    bpp: float
    data: bytes
    target_bpp: float
    under_target: bool
    encodes: int

    @property
    def relative_error(self) -> float:
        return (self.bpp - self.target_bpp) / self.target_bpp


def bisect_setting(
    codec: Codec,
    rgb: np.ndarray,
    target_bpp: float,
    *,
    tol: float = 0.03,
    max_encodes: int = 16,
    cache: EncodeCache | None = None,
) -> BisectResult:
    """Search ``codec.setting_range`` for the largest-rate setting with bpp <= ``target_bpp``.

    Stops early once a feasible point is within ``tol`` (relative) below the target. Integer codecs are
    searched over integers, so the answer is exact up to the codec's granularity.
    """
    if not (isinstance(target_bpp, (int, float)) and math.isfinite(target_bpp) and target_bpp > 0):
        raise ParameterError(f"target bpp must be a positive number, got {target_bpp!r}")
    pixels = rgb.shape[0] * rgb.shape[1]
    lo_s, hi_s = codec.setting_range
    digest = image_digest(rgb) if cache is not None else ""
    key = codec.key() if cache is not None else ""
    tried: dict[float | int, tuple[float, bytes]] = {}

    def setting_at(t: float) -> float | int:
        # t in [0, 1]: 0 = fewest bits, 1 = most bits
        s = lo_s + t * (hi_s - lo_s) if codec.higher_is_more_bits else hi_s - t * (hi_s - lo_s)
        return codec.normalise_setting(s)

    def rate(setting: float | int) -> float:
        if setting not in tried:
            data = None
            if cache is not None:
                data, _ = cache.load(codec.name, key, digest, setting)
            if data is None:
                t0 = time.perf_counter()
                data = codec.encode(rgb, setting)
                if cache is not None:  # same sidecar as the RD runner's, so it can reuse this stream
                    cache.store(codec.name, key, digest, setting, data, {"encode_s": time.perf_counter() - t0})
            tried[setting] = (len(data) * 8.0 / pixels, data)
        return tried[setting][0]

    lo, hi = 0.0, 1.0
    if codec.integer:
        # search over integer steps so the bracket closes exactly
        steps = round(hi_s - lo_s)

        def s_of(i: int) -> float | int:
            return setting_at(i / steps if steps else 0.0)

        a, b = 0, steps
        if rate(s_of(a)) > target_bpp:
            return _result(s_of(a), tried, target_bpp, under=False)
        if rate(s_of(b)) <= target_bpp:
            return _result(s_of(b), tried, target_bpp, under=True)
        while b - a > 1 and len(tried) < max_encodes + 2:
            m = (a + b) // 2
            if rate(s_of(m)) <= target_bpp:
                a = m
                if rate(s_of(m)) >= target_bpp * (1 - tol):
                    break
            else:
                b = m
        return _best(tried, target_bpp)

    if rate(setting_at(lo)) > target_bpp:
        return _result(setting_at(lo), tried, target_bpp, under=False)
    if rate(setting_at(hi)) <= target_bpp:
        return _result(setting_at(hi), tried, target_bpp, under=True)
    for _ in range(max_encodes):
        mid = 0.5 * (lo + hi)
        r = rate(setting_at(mid))
        if r <= target_bpp:
            lo = mid
            if r >= target_bpp * (1 - tol):
                break
        else:
            hi = mid
    return _best(tried, target_bpp)


def _result(setting: float | int, tried: dict, target: float, under: bool) -> BisectResult:
    bpp, data = tried[setting]
    return BisectResult(setting, bpp, data, target, under, len(tried))


def _best(tried: dict, target: float) -> BisectResult:
    feasible = [(bpp, s) for s, (bpp, _) in tried.items() if bpp <= target]
    if feasible:
        _, s = max(feasible, key=lambda x: x[0])
        return _result(s, tried, target, under=True)
    s = min(tried, key=lambda k: tried[k][0])
    return _result(s, tried, target, under=False)
