"""Quick held-out comparison of candidate weights, for tuning a training recipe on short runs.

For each weights file, the first ``--limit`` Kodak images are coded at a few uniform quality levels through
the model's training graph with the coder's rounding (``rate_proxy="round"``: the model's own estimate of
the real bits, within ~1% of the file for these sizes); the decoded 8-bit images are scored with PSNR,
LPIPS-Alex (the training metric) and the held-out LPIPS-VGG and DISTS. AVIF (the bench's codec, real files)
on the same images is the reference of the BD-rates. No entropy coding and no saliency: minutes per
candidate instead of the bench's hour, good for ranking recipes, not for publishing (use ``sdpic bench rd``).

    .venv/bin/python benchmarks/heldout_probe.py src/sdpic/zoo/sdpic.safetensors runs/tune-A/snapshots/*.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sdpic.bench.bdrate import bd_rate
from sdpic.bench.codecs import resolve_codecs
from sdpic.bench.metrics import PERCEPTUAL_COLUMNS, psnr
from sdpic.bench.paths import shared_path
from sdpic.cli import script_status
from sdpic.codec.model import LATENT_STRIDE
from sdpic.errors import ParameterError
from sdpic.image_io import load_image
from sdpic.metric import get_metric
from sdpic.zoo import load_model_file, weights_steps

LEVELS = (0.1, 0.2, 0.3, 0.45, 0.6)
AVIF_SETTINGS = (5, 16, 28, 40, 52)
COLUMNS = ("psnr", *PERCEPTUAL_COLUMNS)


def _scores(ref: np.ndarray, decoded: list[np.ndarray], features: dict) -> list[dict[str, float]]:
    ref_t = torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255
    imgs = torch.cat([torch.from_numpy(d).permute(2, 0, 1)[None].float() / 255 for d in decoded])
    rows = [{"psnr": psnr(ref, d)} for d in decoded]
    for col, name in PERCEPTUAL_COLUMNS.items():
        metric = get_metric(name)
        if name not in features:
            features[name] = metric.reference_features(ref_t)
        for row, v in zip(rows, metric.from_reference_features(features[name], imgs).tolist(), strict=True):
            row[col] = v
    return rows


def _curve(points: list[list[dict[str, float]]]) -> dict[str, list[float]]:
    """Average over images, point by point (the bench's convention)."""
    return {k: [float(np.mean([img[i][k] for img in points])) for i in range(len(points[0]))] for k in points[0][0]}


def probe(weights: list[Path], limit: int, threads: int, avif_curve: dict | None = None) -> dict:
    torch.set_num_threads(threads)
    images = sorted(shared_path("data/kodak").glob("kodim*.png"))[:limit]
    rgbs = [np.array(load_image(p).rgb, dtype=np.uint8) for p in images]  # writable: torch wraps them
    avif = resolve_codecs(["avif"])[0]
    curves: dict[str, dict[str, list[float]]] = {}
    steps: dict[str, int] = {}
    per_image: dict[str, list] = {"avif": []}
    feats = [dict() for _ in rgbs]
    with torch.inference_mode():
        for rgb, f in zip(tqdm(rgbs, desc="avif", leave=False) if avif_curve is None else (), feats, strict=False):
            streams = [avif.encode(rgb, s) for s in AVIF_SETTINGS]
            rows = _scores(rgb, [avif.decode(s) for s in streams], f)
            for row, s in zip(rows, streams, strict=True):
                row["bpp"] = 8 * len(s) / (rgb.shape[0] * rgb.shape[1])
            per_image["avif"].append(rows)
        curves["avif"] = avif_curve or _curve(per_image["avif"])
        for path in weights:
            model = load_model_file(path).eval()
            name = f"{path} ({weights_steps(path)} steps)"
            steps[name] = weights_steps(path)
            per_image[name] = []
            for rgb, f in zip(tqdm(rgbs, desc=path.name, leave=False), feats, strict=True):
                h, w = rgb.shape[:2]
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
                decoded, bpps = [], []
                for level in LEVELS:
                    q = torch.full((1, 1, h // LATENT_STRIDE, w // LATENT_STRIDE), level)
                    out = model(x, q, rate_proxy="round")
                    bits = -torch.log2(out["y_likelihoods"]).sum() - torch.log2(out["z_likelihoods"]).sum()
                    bpps.append(float(bits) / (h * w))
                    decoded.append(
                        (out["x_hat"].clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
                    )
                rows = _scores(rgb, decoded, f)
                for row, b in zip(rows, bpps, strict=True):
                    row["bpp"] = b
                per_image[name].append(rows)
            curves[name] = _curve(per_image[name])
    ref = curves["avif"]
    table = {
        name: {
            col: bd_rate(ref["bpp"], ref[col], c["bpp"], c[col], lower_is_better=col in PERCEPTUAL_COLUMNS)
            for col in COLUMNS
        }
        for name, c in curves.items()
        if name != "avif"
    }
    return {"images": len(rgbs), "levels": LEVELS, "avif_settings": AVIF_SETTINGS, "curves": curves,
            "steps": steps, "bd_rate_vs_avif": table}


def plot_learning_curve(doc: dict, out: Path) -> None:
    """BD-rate vs AVIF against training steps, one line per metric: the learning curve of a run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdpic.bench.report import save_figure

    names = sorted(doc["steps"], key=doc["steps"].get)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for col in COLUMNS:
        xs = [doc["steps"][n] for n in names if doc["bd_rate_vs_avif"][n][col] is not None]
        ys = [doc["bd_rate_vs_avif"][n][col] for n in names if doc["bd_rate_vs_avif"][n][col] is not None]
        ax.plot(xs, ys, marker="o", label=col + (" (held out)" if col in ("lpips_vgg", "dists") else ""))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("training steps")
    ax.set_ylabel("BD-rate vs AVIF (%)")
    ax.set_title(f"Kodak first {doc['images']}, estimated rates, uniform map", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--limit", type=int, default=6, help="first N Kodak images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the curves and BD-rates here")
    parser.add_argument("--plot", type=Path, default=None, help="BD-rates against training steps (PNG)")
    parser.add_argument("--avif-from", type=Path, default=None,
                        help="reuse the AVIF curve of an earlier --json with the same --limit")
    args = parser.parse_args(argv)
    avif_curve = None
    if args.avif_from:
        earlier = json.loads(args.avif_from.read_text())
        if earlier["images"] != args.limit or list(earlier["avif_settings"]) != list(AVIF_SETTINGS):
            raise ParameterError(f"{args.avif_from}: another image count or AVIF settings")
        avif_curve = earlier["curves"]["avif"]
    doc = probe(args.weights, args.limit, args.threads, avif_curve)
    print(f"BD-rate vs AVIF (%), {doc['images']} Kodak images, estimated rates, uniform quality")
    print(f"{'weights':70s} " + " ".join(f"{c:>10s}" for c in COLUMNS))
    for name, row in doc["bd_rate_vs_avif"].items():
        cells = " ".join(f"{v:+10.1f}" if v is not None else f"{'n/a':>10s}" for v in row.values())
        print(f"{name[-70:]:70s} {cells}")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot_learning_curve(doc, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
