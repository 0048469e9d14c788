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
