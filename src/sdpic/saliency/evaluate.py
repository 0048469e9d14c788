"""Scoring saliency maps against binary ground truth (``sdpic saliency eval``).

The four numbers are the standard salient-object-detection ones, computed with ``pysodmetrics`` so that
they match published tables: MAE, maximum F-measure over 256 thresholds with beta^2 = 0.3 (precision
weighted more than recall, as Achanta et al. and DSS do), S-measure (structure similarity, Fan et al.
2017) and mean E-measure (enhanced alignment, Fan et al. 2018). Maps are scored at the mask's size after
rounding to 8 bits, as the SOD toolboxes do.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputImageError, ParameterError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def to_uint8(sal: np.ndarray) -> np.ndarray:
    """[0, 1] float map -> uint8 (0-255), the form the SOD metrics expect."""
    return np.clip(np.rint(np.asarray(sal, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def binarise_mask(mask: np.ndarray) -> np.ndarray:
    """Ground truth as uint8 0/255 (values above 128 count as salient, as in pysodmetrics)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., :3].mean(axis=2)
    if m.dtype != np.uint8:
        m = np.clip(np.rint(m.astype(np.float64) * (255.0 if m.max(initial=0) <= 1.0 else 1.0)), 0, 255)
    return np.where(m > 128, 255, 0).astype(np.uint8)


@dataclass
class Scores:
    """Accumulates the four SOD metrics over images."""

    def __post_init__(self) -> None:
        from py_sod_metrics import MAE, Emeasure, Fmeasure, Smeasure

        self._mae = MAE()
        with warnings.catch_warnings():  # Fmeasure is deprecated upstream but is the reference max-F
            warnings.simplefilter("ignore")
            self._fm = Fmeasure(beta=0.3)
        self._sm = Smeasure()
        self._em = Emeasure()
        self.count = 0

    def add(self, sal: np.ndarray, mask: np.ndarray) -> None:
        """Score one map (float in [0, 1] or uint8) against one mask of the same size."""
        pred = sal if sal.dtype == np.uint8 else to_uint8(sal)
        gt = binarise_mask(mask)
        if pred.shape != gt.shape:
            raise ParameterError(f"map {pred.shape} and mask {gt.shape} differ in size")
        for metric in (self._mae, self._fm, self._sm, self._em):
            metric.step(pred=pred, gt=gt)
        self.count += 1

    def result(self) -> dict[str, float]:
        """``{"mae", "max_f", "s_measure", "e_measure"}`` averaged over the images added so far."""
        if not self.count:
            raise ParameterError("no images were scored")
        return {
            "mae": float(self._mae.get_results()["mae"]),
            "max_f": float(np.max(self._fm.get_results()["fm"]["curve"])),
            "s_measure": float(self._sm.get_results()["sm"]),
            "e_measure": float(np.mean(self._em.get_results()["em"]["curve"])),
        }


def score(sal: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The four metrics of a single map (convenience for tests and notebooks)."""
    s = Scores()
    s.add(sal, mask)
    return s.result()


def find_pairs(images: Path, masks: Path, stems: Iterable[str] | None = None) -> list[tuple[Path, Path]]:
    """Pair ``images/STEM.*`` with ``masks/STEM.*`` by file stem (optionally only the given stems)."""
    if not images.is_dir():
        raise InputImageError(f"{images}: not a directory")
    if not masks.is_dir():
        raise InputImageError(f"{masks}: not a directory")
    mask_by_stem = {p.stem: p for p in sorted(masks.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    wanted = set(stems) if stems is not None else None
    pairs = []
    for p in sorted(images.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or (wanted is not None and p.stem not in wanted):
            continue
        if p.stem in mask_by_stem:
            pairs.append((p, mask_by_stem[p.stem]))
    if not pairs:
        raise InputImageError(f"no image/mask pairs with matching names in {images} and {masks}")
    return pairs


def evaluate(
    pairs: Sequence[tuple[Path, Path]],
    methods: Sequence[str],
    predictor: Callable[[np.ndarray, str], np.ndarray] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Score every method on every pair; ``{method: {mae, max_f, s_measure, e_measure, seconds_per_image}}``.

    ``seconds_per_image`` times the prediction only (decoding the file is excluded), after one warm-up
    call so the learned model's one-off loading is not counted.
    """
    from ..image_io import load_image
    from . import predict_rgb

    predictor = predictor or (lambda rgb, m: predict_rgb(rgb, m))
    loaded = []
    for img_path, mask_path in pairs:
        rgb = load_image(img_path).rgb
        mask = np.asarray(Image.open(mask_path).convert("L"))
        if mask.shape != rgb.shape[:2]:
            raise InputImageError(f"{mask_path}: mask size {mask.shape[::-1]} differs from image {rgb.shape[1::-1]}")
        loaded.append((rgb, mask))
    results: dict[str, dict[str, float]] = {}
    for method in methods:
        predictor(loaded[0][0], method)  # warm-up (model load, imports)
        scores = Scores()
        elapsed = 0.0
        items = loaded
        if progress:
            from tqdm import tqdm

            items = tqdm(loaded, desc=f"eval {method}", unit="img", leave=False)
        for rgb, mask in items:
            t0 = time.perf_counter()
            sal = predictor(rgb, method)
            elapsed += time.perf_counter() - t0
            scores.add(sal, mask)
        res = scores.result()
        res["seconds_per_image"] = elapsed / len(loaded)
        results[method] = res
    return results


def markdown_table(results: dict[str, dict[str, float]], title: str = "", command: str = "") -> str:
    """A Markdown table of :func:`evaluate`'s output (best method first by max-F)."""
    lines = []
    if title:
        lines += [f"## {title}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    lines += [
        "| method | MAE ↓ | max-F (β²=0.3) ↑ | S-measure ↑ | E-measure (mean) ↑ | s / image |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["max_f"]):
        lines.append(
            f"| {name} | {r['mae']:.4f} | {r['max_f']:.4f} | {r['s_measure']:.4f} | {r['e_measure']:.4f} "
            f"| {r['seconds_per_image']:.3f} |"
        )
    return "\n".join(lines) + "\n"
