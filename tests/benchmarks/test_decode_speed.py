"""benchmarks/decode_speed.py: one speed row on a small image, the halo shares, the committed table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import benchmarks.decode_speed as decode_speed

RESULTS = Path(__file__).resolve().parents[2] / "results" / "codec"


def test_speed_row_measures_sdpic_and_avif_on_the_same_pixels() -> None:
    yy, xx = np.mgrid[0:96, 0:128]
    rgb = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    row = decode_speed.speed_row("tiny", rgb, threads=1, repeat=1)
    assert row["megapixels"] == 96 * 128 / 1e6
    assert row["decode_s"] > 0 and row["decode_mp_s"] == row["megapixels"] / row["decode_s"]
    assert row["bpp"] > 0 and row["png_bytes"] > 0
    assert row["avif_bpp"] > 0 and row["avif_decode_s"] > 0


def test_the_strips_halo_work_shrank() -> None:
    before, after = decode_speed.overlap_share(153, 272)  # a 10.6 MP photo's latent grid
    assert 0.0 <= after < before < 1.0


def test_the_committed_table_renders() -> None:
    doc = json.loads((RESULTS / "decode_speed.json").read_text())
    table = decode_speed.speed_markdown(doc)
    assert table.count("\n| ") == len(doc["rows"]) + 1 and "Kodak (24 images" in table
