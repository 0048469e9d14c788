"""BD-rate against hand-computed values: identical curves, a curve at half / double the rate, metric direction."""

from __future__ import annotations

import math

import pytest

from sdpic.bench.bdrate import LOWER_IS_BETTER, bd_rate, bd_rate_table, quality_delta_at_rates
from sdpic.errors import ParameterError

RATE = [0.1, 0.2, 0.4, 0.8, 1.6]
PSNR = [27.0, 29.5, 32.0, 34.6, 37.1]


def test_identical_curves_give_zero() -> None:
    assert bd_rate(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-9)


def test_half_the_rate_gives_minus_50_percent() -> None:
    half = [r / 2 for r in RATE]
    assert bd_rate(RATE, PSNR, half, PSNR) == pytest.approx(-50.0, abs=1e-9)


def test_double_the_rate_gives_plus_100_percent() -> None:
    double = [r * 2 for r in RATE]
    assert bd_rate(RATE, PSNR, double, PSNR) == pytest.approx(100.0, abs=1e-9)


def test_partial_overlap_uses_only_the_common_quality_range() -> None:
    # the test curve covers only the upper part of the range at half the rate: -50% up to the small
    # difference between PCHIP fitted to 3 and to 5 points (the end slopes differ)
    half = [r / 2 for r in RATE[2:]]
    assert bd_rate(RATE, PSNR, half, PSNR[2:]) == pytest.approx(-50.0, abs=0.5)


def test_hand_computed_constant_log_offset_on_uneven_curve() -> None:
    # log10-rate offset of 0.1 everywhere -> 10**0.1 - 1 = +25.89 %
    test = [r * 10**0.1 for r in RATE]
    assert bd_rate(RATE, PSNR, test, PSNR) == pytest.approx((10**0.1 - 1) * 100, rel=1e-9)


def test_lower_is_better_metric_keeps_the_sign_convention() -> None:
    dist = [0.40, 0.30, 0.21, 0.14, 0.09]  # a distance (LPIPS, DISTS) falls as rate rises
    half = [r / 2 for r in RATE]
    assert bd_rate(RATE, dist, half, dist, lower_is_better=True) == pytest.approx(-50.0, abs=1e-9)
    # treating it as higher-is-better would flip the curve order; the explicit flag is what makes it right
    worse = [d * 1.2 for d in dist]  # same rate, worse distance -> needs more bits -> positive
    assert bd_rate(RATE, dist, RATE, worse, lower_is_better=True) > 0


def test_no_overlap_or_too_few_points_gives_none() -> None:
    assert bd_rate(RATE, PSNR, RATE, [p + 20 for p in PSNR]) is None
    assert bd_rate(RATE, PSNR, [0.5], [30.0]) is None


def test_better_codec_is_negative() -> None:
    better = [p + 1.0 for p in PSNR]  # +1 dB at the same rate
    value = bd_rate(RATE, PSNR, RATE, better)
    assert value is not None and value < 0 and math.isfinite(value)


def test_mismatched_lengths_raise_parameter_error() -> None:
    with pytest.raises(ParameterError):
        bd_rate(RATE, PSNR[:3], RATE, PSNR)


def test_table_includes_reference_and_handles_missing_metrics() -> None:
    curves = {
        "avif": {"bpp": RATE, "psnr": PSNR, "lpips_vgg": [None] * 5},
        "x": {"bpp": [r / 2 for r in RATE], "psnr": PSNR, "lpips_vgg": [None] * 5},
    }
    table = bd_rate_table(curves, "avif", ["psnr", "lpips_vgg"])
    assert table["psnr"]["avif"] == pytest.approx(0.0, abs=1e-9)
    assert table["psnr"]["x"] == pytest.approx(-50.0, abs=1e-9)
    assert table["lpips_vgg"] == {"avif": None, "x": None}


def test_the_distance_columns_are_the_lower_is_better_ones() -> None:
    assert LOWER_IS_BETTER == {"lpips_alex", "lpips_vgg", "dists"}
    dist = [0.40, 0.30, 0.21, 0.14, 0.09]
    curves = {"avif": {"bpp": RATE, "dists": dist}, "x": {"bpp": [r / 2 for r in RATE], "dists": dist}}
    assert bd_rate_table(curves, "avif", ["dists"])["dists"]["x"] == pytest.approx(-50.0, abs=1e-9)


def test_quality_delta_is_the_constant_offset_of_a_shifted_curve() -> None:
    shifted = [p - 0.5 for p in PSNR]
    deltas = quality_delta_at_rates(RATE, PSNR, RATE, shifted, [0.15, 0.4, 1.2])
    assert deltas == pytest.approx([-0.5, -0.5, -0.5], abs=1e-12)


def test_quality_delta_at_a_sample_point_is_the_difference_of_the_samples() -> None:
    # a curve at double the rate is, at a sampled rate r, the reference's quality at r/2: at 0.4 bpp
    # that is PSNR[1] - PSNR[2] = 29.5 - 32.0, exactly (PCHIP passes through its points)
    double = [r * 2 for r in RATE]
    assert quality_delta_at_rates(RATE, PSNR, double, PSNR, [0.4])[0] == pytest.approx(-2.5, abs=1e-12)


def test_quality_delta_is_none_outside_either_curve() -> None:
    upper = RATE[2:]
    deltas = quality_delta_at_rates(RATE, PSNR, upper, PSNR[2:], [0.1, 0.3, 0.4, 1.6, 2.0])
    assert deltas[0] is None and deltas[1] is None and deltas[4] is None
    assert deltas[2] == pytest.approx(0.0, abs=1e-12) and deltas[3] == pytest.approx(0.0, abs=1e-12)


def test_quality_delta_rejects_non_positive_rates() -> None:
    with pytest.raises(ParameterError):
        quality_delta_at_rates(RATE, PSNR, RATE, PSNR, [0.0])
