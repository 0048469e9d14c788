"""Bjøntegaard delta rate: the average bit-rate difference between two RD curves at equal quality.

We follow the common modern variant (used by CompressAI and JVET's reporting templates): log-rate is
interpolated as a function of quality with a piecewise-cubic Hermite interpolant (PCHIP, which never
overshoots between points, unlike the original cubic polynomial fit), both interpolants are integrated
over the quality interval where the curves overlap, and the mean log-rate difference is turned into a
percentage. Negative = the test codec needs fewer bits than the reference for the same quality.

For lower-is-better metrics (the human-calibrated distances LPIPS-Alex, LPIPS-VGG, DISTS) quality is
negated first, so "better" always means "larger" and the sign convention of the result is the same for
every metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ParameterError
from .metrics import PERCEPTUAL_COLUMNS

#: Metrics where a smaller value means a better image: the distance columns (lpips_alex, lpips_vgg, dists).
LOWER_IS_BETTER = frozenset(PERCEPTUAL_COLUMNS)


def _prepare(rate: Sequence[float], quality: Sequence[float], lower_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ParameterError(f"rate and quality must be 1-D and the same length (got {r.shape}, {q.shape})")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[keep], q[keep]
    if lower_is_better:
        q = -q
    order = np.argsort(q, kind="stable")
    q, logr = q[order], np.log10(r[order])
    # PCHIP needs strictly increasing abscissae: merge points of equal quality (keep their mean log-rate).
    uq, inverse = np.unique(q, return_inverse=True)
    if len(uq) != len(q):
        logr = np.bincount(inverse, weights=logr) / np.bincount(inverse)
        q = uq
    return q, logr


def bd_rate(
    ref_rate: Sequence[float],
    ref_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
    lower_is_better: bool = False,
) -> float | None:
    """BD-rate of ``test`` against ``ref`` in percent, or None when the curves do not overlap in quality.

    Each curve needs at least two points with distinct quality. Rates must be positive (bpp or bits).
    """
    from scipy.interpolate import PchipInterpolator

    q1, l1 = _prepare(ref_rate, ref_quality, lower_is_better)
    q2, l2 = _prepare(test_rate, test_quality, lower_is_better)
    if len(q1) < 2 or len(q2) < 2:
        return None
    lo, hi = max(q1[0], q2[0]), min(q1[-1], q2[-1])
    if not hi > lo:
        return None
    p1, p2 = PchipInterpolator(q1, l1), PchipInterpolator(q2, l2)
    avg_diff = (float(p2.integrate(lo, hi)) - float(p1.integrate(lo, hi))) / (hi - lo)
    value = (10.0**avg_diff - 1.0) * 100.0
    return value if math.isfinite(value) else None


def bd_rate_table(
    curves: dict[str, dict[str, Sequence[float]]], reference: str, metrics: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """``{metric: {codec: bd_rate vs reference}}`` for every codec in ``curves`` (reference itself gives 0).

    ``curves[codec]`` maps ``"bpp"`` and each metric name to per-point values (None for missing values).
    A metric missing for either curve, or curves that do not overlap, give None.
    """
    table: dict[str, dict[str, float | None]] = {}
    for metric in metrics:
        row: dict[str, float | None] = {}
        ref = curves.get(reference)
        for codec, curve in curves.items():
            if ref is None:
                row[codec] = None
                continue
            r_rate, r_q = _clean(ref.get("bpp"), ref.get(metric))
            t_rate, t_q = _clean(curve.get("bpp"), curve.get(metric))
            if len(r_q) < 2 or len(t_q) < 2:
                row[codec] = None
                continue
            row[codec] = bd_rate(r_rate, r_q, t_rate, t_q, lower_is_better=metric in LOWER_IS_BETTER)
        table[metric] = row
    return table


def _clean(rate: Sequence[float] | None, quality: Sequence[float | None] | None) -> tuple[list[float], list[float]]:
    if not rate or not quality:
        return [], []
    pairs = [(r, q) for r, q in zip(rate, quality, strict=False) if r is not None and q is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def quality_delta_at_rates(
    ref_rate: Sequence[float],
    ref_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
    rates: Sequence[float],
) -> list[float | None]:
    """Quality of ``test`` minus quality of ``ref`` at each of ``rates`` (same units as the curves), or
    None where a rate lies outside either curve's range (no extrapolation).

    The complement of :func:`bd_rate`: one number per rate instead of one average, so it shows *where*
    along the curve a codec loses (BD-rate alone cannot tell a uniform gap from a saturating top end).
    Quality is interpolated as a function of log10-rate with PCHIP, the same interpolant ``bd_rate``
    fits the other way round. Metric direction is not flipped: for a lower-is-better metric a negative
    delta is the better one.
    """
    from scipy.interpolate import PchipInterpolator

    def curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        r = np.asarray(rate, dtype=np.float64)
        q = np.asarray(quality, dtype=np.float64)
        if r.shape != q.shape or r.ndim != 1:
            raise ParameterError(f"rate and quality must be 1-D and the same length (got {r.shape}, {q.shape})")
        keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
        logr, q = np.log10(r[keep]), q[keep]
        # PCHIP needs strictly increasing abscissae: merge points of equal rate (keep their mean quality).
        ur, inverse = np.unique(logr, return_inverse=True)
        return ur, np.bincount(inverse, weights=q) / np.bincount(inverse)

    (r1, q1), (r2, q2) = curve(ref_rate, ref_quality), curve(test_rate, test_quality)
    if len(r1) < 2 or len(r2) < 2:
        return [None] * len(rates)
    p1, p2 = PchipInterpolator(r1, q1), PchipInterpolator(r2, q2)
    deltas: list[float | None] = []
    for rate in rates:
        if not (math.isfinite(rate) and rate > 0):
            raise ParameterError(f"rates must be positive and finite (got {rate})")
        at = float(np.log10(np.float64(rate)))  # as the curves were, so an end point is inside
        inside = max(r1[0], r2[0]) <= at <= min(r1[-1], r2[-1])
        deltas.append(float(p2(at)) - float(p1(at)) if inside else None)
    return deltas
