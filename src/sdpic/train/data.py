"""Training data: image folders decoded once into memory, random crops, random quality maps."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def default_train_folders(shared: str | os.PathLike | None = None) -> list[Path]:
    """The default training folders under ../shared/data (those that exist)."""
    root = Path(shared or os.environ.get("SDPIC_SHARED", "../shared")) / "data"
    candidates = [root / "bsds500" / "images", root / "photos_hr", root / "ecssd" / "images"]
    return [p for p in candidates if p.is_dir()]


def list_images(folders: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files under ``folders``, without the ECSSD validation photos.

    Those photos (the saliency model's fixed validation split) are where ``benchmarks/saliency_payoff.py``
    judges the saliency allocation with ground-truth masks: the codec must not train on them either.
    """
    from ..saliency.data import load_split

    held_out = set(load_split()["val"])
    files: list[Path] = []
    for folder in folders:
        files += sorted(
            p for p in Path(folder).rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not (_is_ecssd(p) and p.stem in held_out)
        )
    return files


def _is_ecssd(path: Path) -> bool:
    return path.parent.name == "images" and path.parent.parent.name.lower() == "ecssd"


def _prepare(path: Path, min_side: int, max_side: int) -> np.ndarray | None:
    """Decode, downscale large photos (hides JPEG artefacts, keeps crops at a photographic scale)."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (max_side, max_side))  # fast JPEG DCT-domain downscale for huge photos
            img = img.convert("RGB")
    except (OSError, ValueError):
        return None
    w, h = img.size
    if max(w, h) > max_side:
        factor = max(w, h) / max_side
        img = img.resize((round(w / factor), round(h / factor)), Image.LANCZOS)
    elif max(w, h) > 1000:  # high-quality JPEGs of ~1 MP: halve to suppress compression artefacts
        img = img.resize((w // 2, h // 2), Image.LANCZOS)
    if min(img.size) < min_side:
        return None
    return np.array(img, dtype=np.uint8)  # a writable copy: torch.from_numpy warns on read-only arrays


class CropDataset(torch.utils.data.Dataset):
    """Random crops (with flips) from images held in memory as uint8, optionally with saliency maps.

    With ``with_saliency`` every item is ``(crop, saliency_crop)``: the ground-truth mask where the
    image has one (a ``masks/<stem>.png`` beside its ``images/`` folder, the ECSSD layout), else the
    learned saliency model's prediction, computed once and kept in ``saliency_cache`` (an ``.npz``).
    """

    def __init__(self, files: Sequence[Path], crop: int = 256, max_side: int = 1600, progress: bool = True,
                 with_saliency: bool = False, saliency_cache: Path | None = None) -> None:
        self.crop = crop
        self.images: list[np.ndarray] = []
        kept: list[Path] = []
        for f in tqdm(files, desc="loading images", disable=not progress, unit="img"):
            arr = _prepare(f, crop, max_side)
            if arr is not None:
                self.images.append(arr)
                kept.append(f)
        if not self.images:
            raise RuntimeError("no usable training images found")
        self.saliency = _saliency_maps(kept, self.images, saliency_cache, progress) if with_saliency else None
        # Sample big images more often, in proportion to the number of crops they hold.
        areas = np.array([a.shape[0] * a.shape[1] for a in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return 1 << 30  # an endless stream; the loop decides how many steps

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng()
        i = rng.choice(len(self.images), p=self.weights)
        img = self.images[i]
        h, w = img.shape[:2]
        top, left = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
        rows, cols = slice(top, top + self.crop), slice(left, left + self.crop)
        flip = rng.random() < 0.5
        patch = img[rows, cols, :][:, ::-1] if flip else img[rows, cols, :]
        x = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float().div(255.0)
        if self.saliency is None:
            return x
        sal = self.saliency[i][rows, cols][:, ::-1] if flip else self.saliency[i][rows, cols]
        return x, torch.from_numpy(np.ascontiguousarray(sal))[None].float().div(255.0)


def ground_truth_mask(image_path: Path) -> Path | None:
    """``.../images/NAME.ext`` -> ``.../masks/NAME.png`` when that file exists (ECSSD layout)."""
    candidate = image_path.parent.parent / "masks" / (image_path.stem + ".png")
    return candidate if image_path.parent.name == "images" and candidate.is_file() else None


def _saliency_maps(files: list[Path], images: list[np.ndarray], cache: Path | None,
                   progress: bool) -> list[np.ndarray]:
    """uint8 saliency map per image (same size as the image in memory)."""
    stored: dict[str, np.ndarray] = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            stored = {k: data[k] for k in data.files}
    maps, changed = [], False
    for f, img in tqdm(list(zip(files, images, strict=True)), desc="saliency maps", disable=not progress,
                       unit="img"):
        key = f"{f.resolve()}|{img.shape[0]}x{img.shape[1]}"
        sal = stored.get(key)
        if sal is None:
            mask_path = ground_truth_mask(f)
            if mask_path is not None:
                with Image.open(mask_path) as m:
                    mask = m.convert("L").resize((img.shape[1], img.shape[0]), Image.BILINEAR)
                sal = np.asarray(mask, dtype=np.uint8)
            else:
                from ..saliency import predict_rgb

                sal = np.rint(predict_rgb(img) * 255.0).astype(np.uint8)
            stored[key], changed = sal, True
        maps.append(sal)
    if cache is not None and changed:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.stem + ".tmp.npz")
        np.savez(tmp, **stored)
        tmp.replace(cache)
    return maps


def saliency_quality_maps(saliency: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Quality maps built from the crops' saliency exactly as the encoder builds them
    (:func:`sdpic.quality_map.build_levels`), with a random global level and ROI strength in [0, 0.5]."""
    from ..codec.model import QUALITY_LEVELS
    from ..quality_map import BLOCK, build_levels

    b, _, h, w = saliency.shape
    maps = torch.empty(b, 1, h // BLOCK, w // BLOCK)
    for i in range(b):
        level = int(torch.randint(0, QUALITY_LEVELS + 1, (), generator=generator))
        strength = 0.5 * float(torch.rand((), generator=generator))
        levels = build_levels(level, h // BLOCK, w // BLOCK, saliency[i, 0].double().numpy(), strength)
        maps[i, 0] = torch.from_numpy(levels).float() / QUALITY_LEVELS
    return maps


def random_quality_maps(batch: int, height: int, width: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random quality maps in [0, 1] at latent resolution, quantised to the codec's 65 levels.

    Half uniform (plain variable rate), the rest spatially varying as in Song et al. 2021: linear
    ramps and elliptic regions of interest, so the model learns to move bits between regions.
    """
    g = generator
    maps = torch.empty(batch, 1, height, width)
    ys = torch.linspace(0, 1, height)[:, None].expand(height, width)
    xs = torch.linspace(0, 1, width)[None, :].expand(height, width)
    for i in range(batch):
        kind = torch.rand((), generator=g).item()
        a, b = torch.rand(2, generator=g).tolist()
        if kind < 0.5:
            m = torch.full((height, width), a)
        elif kind < 0.7:
            angle = 2 * math.pi * torch.rand((), generator=g).item()
            t = (xs * math.cos(angle) + ys * math.sin(angle))
            t = (t - t.min()) / (t.max() - t.min() + 1e-9)
            m = a + (b - a) * t
        else:
            cy, cx, ry, rx = torch.rand(4, generator=g).tolist()
            inside = ((ys - cy) / (0.1 + 0.5 * ry)) ** 2 + ((xs - cx) / (0.1 + 0.5 * rx)) ** 2 <= 1.0
            m = torch.where(inside, torch.tensor(max(a, b)), torch.tensor(min(a, b)))
        maps[i, 0] = m
    return torch.round(maps.clamp(0, 1) * 64) / 64
