"""benchmarks/rd_gap.py: the table's cells come from the right curves, and the committed table is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.rd_gap import COMPARISONS, RD_JSON, gap_table, main
from sdpic.bench.rd import outdated_columns
from sdpic.errors import ParameterError

COMMITTED = Path(__file__).resolve().parents[2] / "results" / "bench" / "rd_gap.md"
RATES = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def rd_doc() -> dict:
    """Every codec of the table on the same curve, except sdpic-mse, 0.5 dB below it."""
    curve = [{"bpp": b, "psnr": q, "psnr_salient": q, "ms_ssim": 0.9, "lpips_vgg": 0.2, "dists": 0.1}
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
    for metric in ("lpips_vgg", "dists"):  # the held-out distances of the perceptual model
        row = next(r for r in rows if f"| {metric} (" in r)
        assert row.startswith("| `sdpic` − avif") and row.count("+0.0000") == 5 and "lower is better" in row
    assert "Kodak, 3 images" in rows[-1]


def test_a_missing_codec_is_a_typed_error() -> None:
    doc = rd_doc()
    del doc["codecs"]["webp"]
    with pytest.raises(ParameterError, match="webp"):
        gap_table(doc)


def test_check_and_out_on_a_small_rd_document(tmp_path: Path) -> None:
    """The check below, on a synthetic RD JSON: --out writes what --check then accepts, and a stale file fails."""
    rd, table = tmp_path / "rd.json", tmp_path / "rd_gap.md"
    rd.write_text(json.dumps(rd_doc()))
    assert main(["--rd", str(rd), "--out", str(table)]) == 0
    assert main(["--rd", str(rd), "--check", str(table)]) == 0
    table.write_text(table.read_text().replace("\u22120.50", "\u22120.40", 1))
    assert main(["--rd", str(rd), "--check", str(table)]) == 1


def test_the_committed_table_is_current() -> None:
    outdated = outdated_columns(json.loads(RD_JSON.read_text()))
    if outdated:
        pytest.skip(f"results/bench/kodak_rd.json: {outdated} (results/bench/README.md); then "
                    "benchmarks/rd_gap.py --out results/bench/rd_gap.md")
    assert main(["--check", str(COMMITTED)]) == 0, "run benchmarks/rd_gap.py --out results/bench/rd_gap.md"
