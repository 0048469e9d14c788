"""Training data: crops stay aligned with their saliency maps; saliency quality maps match the encoder's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sdpic.quality_map import build_levels
from sdpic.train.data import CropDataset, ground_truth_mask, saliency_quality_maps


def _ecssd_like(root: Path, n: int = 2, size: tuple[int, int] = (96, 80)) -> list[Path]:
    """images/ + masks/ where the mask equals the image's red channel, so alignment is checkable."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / "images" / f"{i:04d}.png")
        Image.fromarray(rgb[..., 0]).save(root / "masks" / f"{i:04d}.png")
        files.append(root / "images" / f"{i:04d}.png")
    return files


def test_ground_truth_mask_lookup(tmp_path: Path) -> None:
    files = _ecssd_like(tmp_path)
    assert ground_truth_mask(files[0]) == tmp_path / "masks" / "0000.png"
    other = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(other)
    assert ground_truth_mask(other) is None


def test_crops_and_saliency_stay_aligned_through_flips(tmp_path: Path) -> None:
    files = _ecssd_like(tmp_path)
    cache = tmp_path / "cache" / "sal.npz"
    data = CropDataset(files, crop=64, progress=False, with_saliency=True, saliency_cache=cache)
    assert cache.is_file()
    for _ in range(20):
        x, s = data[0]
        assert x.shape == (3, 64, 64) and s.shape == (1, 64, 64)
        assert torch.equal(torch.round(x[0] * 255), torch.round(s[0] * 255))
    again = CropDataset(files, crop=64, progress=False, with_saliency=True, saliency_cache=cache)
    assert all(np.array_equal(a, b) for a, b in zip(data.saliency, again.saliency, strict=True))


def test_saliency_quality_maps_are_the_encoders_levels() -> None:
    saliency = torch.zeros(3, 1, 64, 64)
    saliency[:, :, :32] = 1.0
    maps = saliency_quality_maps(saliency, torch.Generator().manual_seed(5))
    assert maps.shape == (3, 1, 4, 4)
    replay = torch.Generator().manual_seed(5)  # the same draws: level, then strength, per crop
    for m in maps:
        level = int(torch.randint(0, 65, (), generator=replay))
        strength = 0.5 * float(torch.rand((), generator=replay))
        expected = build_levels(level, 4, 4, saliency[0, 0].double().numpy(), strength)
        assert np.array_equal(np.rint(m[0].numpy() * 64).astype(np.int64), expected)
        assert m[0, :2].mean() >= m[0, 2:].mean()  # the salient half never gets less


def test_ecssd_validation_photos_are_held_out(tmp_path: Path) -> None:
    from sdpic.saliency.data import load_split
    from sdpic.train.data import list_images

    val, train = load_split()["val"][0], load_split()["train"][0]
    for folder in (tmp_path / "ECSSD" / "images", tmp_path / "other"):
        folder.mkdir(parents=True)
        for stem in (val, train):
            (folder / f"{stem}.jpg").write_bytes(b"")
    names = {(p.parent.parent.name, p.stem) for p in list_images([tmp_path])}
    assert names == {("ECSSD", train), (tmp_path.name, val), (tmp_path.name, train)}
