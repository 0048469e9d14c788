"""Held-out comparison of realism decoders at real file sizes: the files are coded once, then only decoded.

The first ``--limit`` Kodak images are coded with the shipped ``sdpic`` at ``--qualities`` with its default
saliency (``auto``): real ``.sdpic`` files, kept in ``--cache`` with their entropy-decoded latents. Each
candidate realism decoder (training snapshots of ``sdpic train --objective realism``) decodes the same
files at each ``--realism``; the shipped g_s (realism 0) is always the first row. Columns: PSNR, LPIPS-Alex
(in the training loss) and the held-out LPIPS-VGG and DISTS; BD-rates against AVIF (real files) on the
same images. Minutes per candidate, for tuning recipes and drawing the learning curve; the published
figures come from ``sdpic bench rd``.

    .venv/bin/python benchmarks/realism_probe.py runs/realism/snapshots/*.safetensors --realism 0.5 1 \\
        --json results/codec/realism_probe.json --plot results/codec/realism_learning_curve.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import sdpic
from sdpic import format as fmt
from sdpic.api import decode_latents, synthesise_pixels
from sdpic.bench.bdrate import bd_rate
from sdpic.bench.codecs import resolve_codecs
from sdpic.bench.metrics import PERCEPTUAL_COLUMNS, MetricSuite
from sdpic.bench.paths import shared_path
from sdpic.cli import script_status
from sdpic.errors import ParameterError
from sdpic.image_io import load_image
from sdpic.zoo import entry_by_name, load_realism_file, weights_hash

QUALITIES = (2, 10, 22, 35, 50)
AVIF_SETTINGS = (4, 18, 32, 45, 55)
COLUMNS = ("psnr", *PERCEPTUAL_COLUMNS)


def _steps(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return int((fh.metadata() or {}).get("steps", 0))


def coded_files(images: list[Path], qualities: tuple[int, ...], cache: Path) -> list[list[bytes]]:
    """``.sdpic`` files of every image at every quality (shipped model, default saliency), cached by the
    weights' hash."""
    tag = weights_hash(entry_by_name("sdpic").path).hex()
    out = []
    for path in tqdm(images, desc="coding", leave=False):
        rgb = np.asarray(load_image(path).rgb, dtype=np.uint8)
        files = []
        for q in qualities:
            f = cache / f"{path.stem}-q{q}-{tag}.sdpic"
            if not f.exists():
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(sdpic.compress(rgb, quality=q, saliency="auto"))
            files.append(f.read_bytes())
        out.append(files)
    return out


def avif_curve(refs: list[np.ndarray], suite: MetricSuite, cache: Path) -> dict[str, list[float]]:
    key = cache / f"avif-{len(refs)}-{'-'.join(map(str, AVIF_SETTINGS))}.json"
    if key.exists():
        return json.loads(key.read_text())
    avif = resolve_codecs(["avif"])[0]
    rows = []
    for i, ref in enumerate(tqdm(refs, desc="avif", leave=False)):
        streams = [avif.encode(ref, s) for s in AVIF_SETTINGS]
        scores = suite.compute_batch(ref, [avif.decode(s) for s in streams], None, ref_key=str(i))
        for row, s in zip(scores, streams, strict=True):
            row["bpp"] = 8 * len(s) / (ref.shape[0] * ref.shape[1])
        rows.append(scores)
    curve = _curve(rows)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps(curve))
    return curve


def _curve(rows: list[list[dict]]) -> dict[str, list[float]]:
    """Mean over images, point by point (the bench's convention)."""
    keys = ("bpp", *COLUMNS)
    return {k: [float(np.mean([img[i][k] for img in rows])) for i in range(len(rows[0]))] for k in keys}


def probe(weights: list[Path], realisms: list[float], limit: int, qualities: tuple[int, ...], cache: Path,
          threads: int, known: frozenset[str] = frozenset()) -> dict:
    """Rows of every candidate not in ``known`` (rows an earlier run measured)."""
    torch.set_num_threads(threads)
    images = sorted(shared_path("data/kodak").glob("kodim*.png"))[:limit]
    if not images:
        raise ParameterError("no Kodak images under ../shared/data/kodak (set SDPIC_SHARED)")
    refs = [np.asarray(load_image(p).rgb, dtype=np.uint8) for p in images]
    suite = MetricSuite(threads=threads)
    files = coded_files(images, qualities, cache)
    base_path = entry_by_name("sdpic").path
    decoded = []  # (container, latents) per image and quality: entropy decoding once
    for per_image in files:
        row = []
        for data in per_image:
            container = fmt.unpack(data)
            net, y_hat, q_levels = decode_latents(container, threads)
            row.append((container, net, y_hat, q_levels, 8 * len(data) / (container.width * container.height)))
        decoded.append(row)
    candidates: list[tuple[str, torch.nn.Module | None, float, int]] = [("sdpic g_s (realism 0)", None, 0.0, 0)]
    for path in weights:
        decoder = load_realism_file(path, base_path)
        candidates += [(f"{path} @ {r:g}", decoder, r, _steps(path)) for r in realisms]
    curves = {"avif": avif_curve(refs, suite, cache)}
    meta = {}
    for name, decoder, realism, steps in tqdm([c for c in candidates if c[0] not in known], desc="candidates"):
        rows = []
        for i, (ref, row) in enumerate(zip(refs, decoded, strict=True)):
            imgs = [synthesise_pixels(c, net, y, q, realism, threads, decoder=decoder) for c, net, y, q, _ in row]
            scores = suite.compute_batch(ref, imgs, None, ref_key=str(i))
            for s, (*_, bpp) in zip(scores, row, strict=True):
                s["bpp"] = bpp
            rows.append(scores)
        curves[name] = _curve(rows)
        meta[name] = {"steps": steps, "realism": realism}
    ref = curves["avif"]
    table = {name: {col: bd_rate(ref["bpp"], ref[col], c["bpp"], c[col], lower_is_better=col in PERCEPTUAL_COLUMNS)
                    for col in COLUMNS} for name, c in curves.items() if name != "avif"}
    return {"images": len(refs), "qualities": list(qualities), "avif_settings": list(AVIF_SETTINGS),
            "saliency": "auto", "curves": curves, "candidates": meta, "bd_rate_vs_avif": table}


def plot_learning_curve(doc: dict, out: Path) -> None:
    """Held-out BD-rates vs AVIF against adversarial steps, one line per (metric, realism)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdpic.bench.report import save_figure

    base = doc["bd_rate_vs_avif"][next(n for n, m in doc["candidates"].items() if m["steps"] == 0)]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    realisms = sorted({m["realism"] for m in doc["candidates"].values() if m["realism"] > 0})
    for col, colour in (("dists", "tab:red"), ("lpips_vgg", "tab:blue")):
        ax.axhline(base[col], color=colour, lw=0.8, ls=":", label=f"{col}, realism 0")
        for k, realism in enumerate(realisms):
            names = sorted((n for n, m in doc["candidates"].items() if m["realism"] == realism),
                           key=lambda n: doc["candidates"][n]["steps"])
            xs = [doc["candidates"][n]["steps"] for n in names]
            ys = [doc["bd_rate_vs_avif"][n][col] for n in names]
            ax.plot(xs, ys, marker="o", color=colour, alpha=1.0 - 0.35 * k, label=f"{col}, realism {realism:g}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("realism decoder training steps")
    ax.set_ylabel("BD-rate vs AVIF (%), held out")
    ax.set_title(f"Kodak first {doc['images']}, real files, saliency auto", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="*", help="realism decoder weights (training snapshots)")
    parser.add_argument("--realism", type=float, nargs="+", default=[1.0])
    parser.add_argument("--limit", type=int, default=6, help="first N Kodak images")
    parser.add_argument("--qualities", type=int, nargs="+", default=list(QUALITIES))
    parser.add_argument("--cache", type=Path, default=Path("runs/realism-probe"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--merge", action="store_true", help="add the rows to an existing --json")
    parser.add_argument("--plot", type=Path, default=None, help="the learning curve (PNG), from --json's rows")
    args = parser.parse_args(argv)
    old = json.loads(args.json.read_text()) if args.merge and args.json and args.json.exists() else None
    if old is not None and (old["images"], old["qualities"]) != (args.limit, args.qualities):
        raise ParameterError(f"{args.json} holds another image count or quality list")
    known = frozenset(old["candidates"]) if old is not None else frozenset()
    doc = probe(args.weights, args.realism, args.limit, tuple(args.qualities), args.cache, args.threads, known)
    if old is not None:
        for key in ("curves", "candidates", "bd_rate_vs_avif"):
            doc[key] = {**old[key], **doc[key]}
    print(f"BD-rate vs AVIF (%), {doc['images']} Kodak images, real files, saliency auto")
    print(f"{'decoder':72s} " + " ".join(f"{c:>10s}" for c in COLUMNS))
    for name, row in doc["bd_rate_vs_avif"].items():
        cells = " ".join(f"{v:+10.1f}" if v is not None else f"{'n/a':>10s}" for v in row.values())
        print(f"{re.sub(r'^.*/runs/', 'runs/', name)[-72:]:72s} {cells}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot_learning_curve(doc, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
