"""benchmarks/heldout_probe.py and benchmarks/saliency_payoff.py: their scoring and reporting pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.heldout_probe import _curve, plot_learning_curve
from benchmarks.saliency_payoff import scores


def test_curve_averages_images_point_by_point() -> None:
    points = [[{"bpp": 0.1, "psnr": 30.0}, {"bpp": 0.2, "psnr": 32.0}],
              [{"bpp": 0.3, "psnr": 28.0}, {"bpp": 0.4, "psnr": 30.0}]]
    assert _curve(points) == {"bpp": [0.2, 0.30000000000000004], "psnr": [29.0, 31.0]}


def test_learning_curve_plot(tmp_path: Path) -> None:
    doc = {"images": 6, "steps": {"a": 100, "b": 50},
           "bd_rate_vs_avif": {n: {"psnr": v, "lpips_alex": -v, "lpips_vgg": v / 2, "dists": None}
                               for n, v in (("a", 10.0), ("b", 20.0))}}
    plot_learning_curve(doc, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_salient_scores_ignore_the_background() -> None:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[8:40, 16:48] = True
    background_only = ref.copy()
    background_only[~mask] = 255 - ref[~mask]  # wrong everywhere except the salient region
    object_only = ref.copy()
    object_only[mask] = 255 - ref[mask]
    rows = scores(ref, [background_only, object_only], mask)
    assert rows[0]["psnr_salient"] == 100.0 and rows[1]["psnr_salient"] < 20
    for col in ("lpips_alex", "lpips_vgg", "dists"):
        assert rows[0][f"{col}_salient"] == pytest.approx(0.0, abs=1e-6)
        assert rows[1][f"{col}_salient"] > 0.01 and rows[0][col] > 0.01
