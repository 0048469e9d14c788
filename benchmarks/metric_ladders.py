"""Sanity figure for the perceptual metrics: does each distance grow along distortion ladders on Kodak?

For every Kodak image and every ladder (JPEG quality 90 -> 5, Gaussian blur, Gaussian noise, WebP and AVIF
quality 90 -> 5) the distance to the original is computed at each rung, and the Spearman rank correlation
between rung (increasing distortion) and distance is taken within the ladder. The issue asks for
Spearman >= 0.95 within each ladder for each metric. Columns: the three human-calibrated distances of
:mod:`sdpic.metric` (``lpips_alex``, the codec's training metric; ``lpips_vgg`` and ``dists``, held out),
and PSNR and MS-SSIM as -PSNR and 1 - MS-SSIM, so larger = worse for every column. This checks monotonic
behaviour only, not agreement with people (the calibrated metrics' own papers measure that).

    python benchmarks/metric_ladders.py --kodak /work/shared/data/kodak --out results/metric

writes ``ladders.json`` (every distance) and ``ladders.md`` (the summary table). Deterministic: noise uses a
fixed seed per image; codecs are Pillow's (libjpeg, libwebp, libavif). The two VGG16 metrics dominate the
cost (about 20x LPIPS-Alex); ``--metrics lpips-alex`` or ``--images N`` make a quick check.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sdpic.metric import METRICS, column, get_metric, ms_ssim, psnr, to_tensor

QUALITIES = (90, 80, 70, 60, 50, 40, 30, 20, 10, 5)
LADDERS: dict[str, tuple[float, ...]] = {
    "jpeg": QUALITIES,
    "blur": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    "noise": (2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0),
    "webp": QUALITIES,
    "avif": QUALITIES,
}
#: Rungs per forward pass: a bound on memory (VGG16's first stage holds ~100 MB per Kodak image).
BATCH = 4


def distort(img: Image.Image, ladder: str, level: float, seed: int) -> Image.Image:
    """One rung of a ladder: re-encoded with a codec, blurred (sigma px) or with Gaussian noise (sigma /255)."""
    if ladder in ("jpeg", "webp", "avif"):
        buf = io.BytesIO()
        params: dict[str, object] = {"quality": int(level)}
        if ladder == "avif":
            params["speed"] = 8
        img.save(buf, format=ladder.upper(), **params)
        buf.seek(0)
        with Image.open(buf) as dec:
            return dec.convert("RGB")
    if ladder == "blur":
        return img.filter(ImageFilter.GaussianBlur(level))
    if ladder == "noise":
        rng = np.random.default_rng(seed)
        arr = np.asarray(img, dtype=np.float64) + rng.normal(0.0, level, size=(img.height, img.width, 3))
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    raise ValueError(ladder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kodak", type=Path, default=Path("/work/shared/data/kodak"))
    parser.add_argument("--out", type=Path, default=Path("results/metric"))
    parser.add_argument("--images", type=int, default=0, help="use only the first N images (0 = all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--metrics", default=",".join(METRICS),
                        help=f"comma-separated sdpic.metric names (default {','.join(METRICS)})")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        parser.error(f"--metrics: choose from {', '.join(METRICS)}")
    torch.set_num_threads(args.threads)
    paths = sorted(args.kodak.glob("kodim*.png"))
    if args.images:
        paths = paths[: args.images]
    if not paths:
        print(f"no kodim*.png under {args.kodak}", file=sys.stderr)
        return 1
    metrics = {column(m): get_metric(m) for m in names}
    columns = [*metrics, "neg_psnr", "one_minus_ms_ssim"]
    records = []  # one per (image, ladder): the distance of every rung in every column
    t0 = time.time()
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            src = im.convert("RGB")
        ref = to_tensor(src)
        for ladder, levels in LADDERS.items():
            imgs = torch.cat([to_tensor(distort(src, ladder, lvl, seed=i)) for lvl in levels])
            row: dict[str, object] = {"image": path.name, "ladder": ladder, "levels": list(levels)}
            with torch.inference_mode():
                for name, metric in metrics.items():
                    feats = metric.reference_features(ref)  # once per ladder, not once per rung
                    row[name] = [float(v) for start in range(0, len(imgs), BATCH)
                                 for v in metric.from_reference_features(feats, imgs[start : start + BATCH])]
                refs = ref.expand_as(imgs)
                row["neg_psnr"] = [-float(v) for v in psnr(refs, imgs)]
                row["one_minus_ms_ssim"] = [1.0 - float(v) for v in ms_ssim(refs, imgs)]
            for col in columns:
                row[f"spearman_{col}"] = float(spearmanr(np.arange(len(levels)), row[col]).statistic)
            records.append(row)
        print(f"[{i + 1}/{len(paths)}] {path.name} {time.time() - t0:.0f} s", flush=True)
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for ladder in LADDERS:
        summary[ladder] = {}
        for col in columns:
            rho = np.array([r[f"spearman_{col}"] for r in records if r["ladder"] == ladder])
            summary[ladder][col] = {
                "mean": float(rho.mean()),
                "min": float(rho.min()),
                "frac_ge_threshold": float((rho >= args.threshold).mean()),
            }
    report = {
        "command": "python benchmarks/metric_ladders.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "images": [p.name for p in paths],
        "ladders": {k: list(v) for k, v in LADDERS.items()},
        "threshold": args.threshold,
        "metric_versions": {b: m.version for b, m in metrics.items()},
        "summary": summary,
        "records": records,
        "seconds": time.time() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ladders.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        f"Spearman rank correlation between distortion rung and distance, within each ladder, over {len(paths)} "
        f"Kodak images: mean / min over images / fraction of images with rho >= {args.threshold}.",
        "",
        "| ladder | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for ladder in LADDERS:
        cells = [
            f"{s['mean']:.3f} / {s['min']:.3f} / {s['frac_ge_threshold']:.2f}"
            for s in (summary[ladder][c] for c in columns)
        ]
        lines.append(f"| {ladder} {list(LADDERS[ladder])} | " + " | ".join(cells) + " |")
    (args.out / "ladders.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
