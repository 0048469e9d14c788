"""benchmarks/rd_gap.py: the table's cells come from the right curves, and the committed table is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.rd_gap import COMPARISONS, gap_table, main
from sdpic.errors import ParameterError

COMMITTED = Path(__file__).resolve().parents[2] / "results" / "bench" / "rd_gap.md"
RATES = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def rd_doc() -> dict:
    """Every codec of the table on the same curve, except sdpic-mse, 0.5 dB below it."""
    curve = [{"bpp": b, "psnr": q, "psnr_salient": q, "ms_ssim": 0.9, "percep_eval": 1.0}
             for b, q in zip(RATES[:-1], [27.0, 29.5, 32.0, 34.6, 37.1], strict=True)]
    codecs = {name: {"points": [dict(p) for p in curve]}
              for name in {c for comparison in COMPARISONS for c in comparison[:2]}}
    for p in codecs["sdpic-mse"]["points"]:
        p["psnr"] -= 0.5
    return {"images": 3, "codecs": codecs}


def test_cells_are_the_quality_differences_at_each_rate() -> None:
    rows = gap_table(rd_doc(), RATES).splitlines()
    mse_webp = next(r for r in rows if r.startswith("| `sdpic-mse` − webp"))
    assert mse_webp.count("\u22120.50") == 5, "0.5 dB below the reference at every sampled rate"
    assert mse_webp.endswith("| – |"), "3.2 bpp lies beyond both curves: no extrapolation"
    percep = next(r for r in rows if "percep_eval" in r)
    assert percep.count("+0.000") == 5 and "lower is better" in percep
    assert "Kodak, 3 images" in rows[-1]


def test_a_missing_codec_is_a_typed_error() -> None:
    doc = rd_doc()
    del doc["codecs"]["webp"]
    with pytest.raises(ParameterError, match="webp"):
        gap_table(doc)


def test_the_committed_table_is_current() -> None:
    assert main(["--check", str(COMMITTED)]) == 0, "run benchmarks/rd_gap.py --out results/bench/rd_gap.md"
