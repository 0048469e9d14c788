"""Does the saliency allocation pay for itself? `--saliency auto` against `none` at equal total file size.

On ECSSD validation photos (the ground-truth masks of the saliency split, never seen by the saliency model;
the encoder itself only sees its own predicted map), every image is coded with both modes over a quality
sweep. Each decoded image is scored on the whole image and on the salient region alone; the region's
score compares the reference with the reference *with the decoded salient pixels pasted in*, so one
definition serves every metric (DISTS has no spatial map) and the background cannot count. BD-rates of
`auto` against `none`, with the whole file's bpp as the rate: negative = fewer bytes for the same quality.

    .venv/bin/python benchmarks/saliency_payoff.py --limit 24 --out results/saliency_allocation/payoff.json \\
        --figure results/saliency_allocation/payoff.png

The figure is a picture pair at (nearly) equal file size: the salient crop of a Kodak photo (its region from
the learned saliency map > 0.5; ECSSD's photos are research data and stay in ../shared) coded with `none`
and `auto`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import sdpic
from sdpic.bench.bdrate import bd_rate
from sdpic.bench.metrics import PERCEPTUAL_COLUMNS, psnr
from sdpic.bench.paths import shared_path
from sdpic.cli import script_status
from sdpic.image_io import load_image, load_mask
from sdpic.metric import get_metric
from sdpic.outputs import atomic_write_bytes
from sdpic.quality_map import DEFAULT_ROI_STRENGTH
from sdpic.saliency.data import resolve_ecssd_dir, split_paths
from sdpic.zoo import DEFAULT_MODEL

QUALITIES = (15, 30, 45, 60, 75)
MODES = ("none", "auto")
COLUMNS = ("psnr", *PERCEPTUAL_COLUMNS)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255


def scores(ref: np.ndarray, decoded: list[np.ndarray], mask: np.ndarray) -> list[dict[str, float]]:
    """Whole-image and salient-region scores of each decoded image."""
    pasted = [np.where(mask[..., None], d, ref) for d in decoded]
    rows: list[dict[str, float]] = [
        {"psnr": psnr(ref, d), "psnr_salient": psnr(ref[mask], d[mask])} for d in decoded
    ]
    ref_t = _tensor(ref)
    with torch.inference_mode():
        for col, name in PERCEPTUAL_COLUMNS.items():
            metric = get_metric(name)
            feats = metric.reference_features(ref_t)
            whole = metric.from_reference_features(feats, torch.cat([_tensor(d) for d in decoded])).tolist()
            region = metric.from_reference_features(feats, torch.cat([_tensor(p) for p in pasted])).tolist()
            for row, w, r in zip(rows, whole, region, strict=True):
                row[col], row[f"{col}_salient"] = w, r
    return rows


def code_both(rgb: np.ndarray, model: str, roi_strength: float) -> dict[str, tuple[list[bytes], list[np.ndarray]]]:
    """Streams and decoded images of ``rgb`` at every quality, for both saliency modes."""
    coded = {}
    for mode in MODES:
        streams = [sdpic.compress(rgb, q, saliency=mode, roi_strength=roi_strength, model=model) for q in QUALITIES]
        coded[mode] = (streams, [np.asarray(sdpic.decompress(s)) for s in streams])
    return coded


def run(limit: int, model: str, roi_strength: float) -> dict:
    pairs = split_paths(resolve_ecssd_dir(None), "val")[:limit]
    per_image = []
    for image, mask_path in tqdm(pairs, desc="images", unit="img"):
        rgb = np.asarray(load_image(image).rgb)
        mask = load_mask(mask_path, rgb.shape[1], rgb.shape[0]) >= 0.5
        if not mask.any() or mask.all():
            continue
        row: dict = {"image": image.name, "salient_fraction": float(mask.mean())}
        for mode, (streams, decoded) in code_both(rgb, model, roi_strength).items():
            points = scores(rgb, decoded, mask)
            for p, s in zip(points, streams, strict=True):
                p["bpp"] = 8 * len(s) / mask.size
            row[mode] = points
        per_image.append(row)
    keys = ("bpp", *COLUMNS, *(f"{c}_salient" for c in COLUMNS))
    mean = {m: {k: [float(np.mean([r[m][i][k] for r in per_image])) for i in range(len(QUALITIES))]
                for k in keys} for m in MODES}
    bd = {}
    for col in (*COLUMNS, *(f"{c}_salient" for c in COLUMNS)):
        lower = col.removesuffix("_salient") in PERCEPTUAL_COLUMNS
        bd[col] = bd_rate(mean["none"]["bpp"], mean["none"][col], mean["auto"]["bpp"], mean["auto"][col], lower)
    doc = {
        "command": "python benchmarks/saliency_payoff.py " + " ".join(sys.argv[1:]),
        "model": model, "roi_strength": roi_strength, "qualities": QUALITIES, "images": len(per_image),
        "set": "ECSSD validation split (ground-truth masks), sdpic.saliency.data.split_paths(..., 'val')",
        "bd_rate_auto_vs_none": bd, "mean": mean, "per_image": per_image,
    }
    return doc


def save_figure(path: Path, image: Path, model: str, roi_strength: float, quality: float = 20.0) -> None:
    """A salient detail of ``image`` coded with `none` at ``quality`` and with `auto` at the same file size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdpic.bench.report import save_figure as save
    from sdpic.saliency import predict_rgb

    rgb = np.asarray(load_image(image).rgb)
    mask = predict_rgb(rgb) > 0.5
    none = sdpic.compress(rgb, quality, saliency="none", model=model)
    auto = sdpic.compress(rgb, saliency="auto", roi_strength=roi_strength, model=model,
                          target_bpp=8 * len(none) / mask.size)  # the largest quality that fits none's size
    from scipy.ndimage import distance_transform_edt

    half = 96
    cy, cx = np.unravel_index(np.argmax(distance_transform_edt(mask)), mask.shape)  # deepest inside the region
    cy = int(np.clip(cy, half, rgb.shape[0] - half))
    cx = int(np.clip(cx, half, rgb.shape[1] - half))
    crop = lambda a: a[cy - half : cy + half, cx - half : cx + half]  # noqa: E731
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
    panels = (("original", rgb, None), ("--saliency none", np.asarray(sdpic.decompress(none)), len(none)),
              ("--saliency auto", np.asarray(sdpic.decompress(auto)), len(auto)))
    for ax, (title, img, size) in zip(axes, panels, strict=True):
        ax.imshow(crop(img), interpolation="nearest")
        if size is not None:
            region = get_metric("lpips-vgg")(_tensor(rgb), _tensor(np.where(mask[..., None], img, rgb)))
            title += f"\n{size} bytes (whole file), salient LPIPS-VGG {float(region[0]):.3f}"
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{image.name}, a 192x192 detail of the salient region: same file size, bits moved to it", fontsize=10)
    save(fig, path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=24, help="first N validation photos")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--roi-strength", type=float, default=DEFAULT_ROI_STRENGTH)
    parser.add_argument("--out", type=Path, default=None, help="JSON with every point and the BD-rates")
    parser.add_argument("--figure", type=Path, default=None, help="the picture pair (PNG)")
    parser.add_argument("--figure-image", type=Path, default=None,
                        help="the photo of the figure (default: Kodak's kodim20.png)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    doc = run(args.limit, args.model, args.roi_strength)
    print(f"{doc['images']} ECSSD validation photos, model {args.model}, ROI strength {args.roi_strength:g}")
    print("BD-rate of --saliency auto vs none at equal file size (negative = auto better):")
    for col in COLUMNS:
        whole, region = doc["bd_rate_auto_vs_none"][col], doc["bd_rate_auto_vs_none"][f"{col}_salient"]
        fmt = lambda v: "n/a" if v is None else f"{v:+.1f}%"  # noqa: E731
        print(f"  {col:11s} whole image {fmt(whole):>8s}   salient region {fmt(region):>8s}")
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(doc, indent=1) + "\n").encode())
    if args.figure:
        save_figure(args.figure, args.figure_image or shared_path("data/kodak/kodim20.png"), args.model,
                    args.roi_strength)
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
