"""Learning curve: PSNR BD-rate of training snapshots vs Pillow JPEG and WebP on Kodak.

    .venv/bin/python benchmarks/learning_curve.py runs/sdpic-mse/snapshots/*.safetensors \
        [--images ../shared/data/kodak] [--limit 24] [--out results/learning_curve.json] [--plot CURVE.png]

Each snapshot codes every image at several qualities through the real coding path (entropy coded
bytes + container), so bpp is the real file size. The baselines are coded live at equal settings.
Each row also records the *transform ceiling*: the PSNR of g_s(g_a(x)) at the top quality level with
no quantisation at all. The rate cannot buy more than that, so it shows whether the transforms or the
entropy model limit the high-rate end.
Rows already in ``--out`` are kept (keyed by the snapshot's step count), so each run adds new snapshots;
``--plot`` draws BD-rate against training steps from all rows.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from sdpic import format as fmt
from sdpic.api import decoded_pixels, padded_tensor, stream_sections
from sdpic.bench.bdrate import bd_rate
from sdpic.bench.metrics import psnr
from sdpic.codec.model import LATENT_STRIDE, QUALITY_LEVELS
from sdpic.image_io import load_image
from sdpic.outputs import atomic_write_bytes
from sdpic.quality_map import build_levels, quality_to_level
from sdpic.zoo import UNREGISTERED_MODEL_ID, load_model_file, weights_hash, weights_steps

QUALITIES = (5, 20, 35, 50, 70, 90)


def _levels(x: torch.Tensor, level: int) -> torch.Tensor:
    """The uniform quality map the encoder builds for ``level`` (no saliency), as (1, 1, h, w)."""
    return torch.from_numpy(build_levels(level, x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE))[None, None]


def code_snapshot(net: torch.nn.Module, net_hash: bytes, images: list[np.ndarray]) -> list[dict]:
    points = []
    for quality in QUALITIES:
        level = quality_to_level(quality)
        bpps, psnrs = [], []
        for rgb in images:
            h, w = rgb.shape[:2]
            with torch.inference_mode():
                x = padded_tensor(rgb)
                q = _levels(x, level)
                coded, _ = net.compress_latents(net.analyse(x, q), q)
                out = net.synthesise(net.decompress_latents(coded, q), q)
            # a snapshot is no zoo model (no installation decodes this stream), but its size is the real one
            data = fmt.pack(fmt.Container(UNREGISTERED_MODEL_ID, net_hash, w, h, fmt.Colour.RGB, quality, level,
                                          stream_sections(coded, q[0, 0].numpy(), level)))
            bpps.append(len(data) * 8 / (h * w))
            psnrs.append(psnr(rgb, decoded_pixels(out, h, w)))
        points.append({"quality": quality, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return points


def transform_ceiling(net: torch.nn.Module, images: list[np.ndarray]) -> float:
    """Mean PSNR of g_s(g_a(x)) at quality level 64 with unquantised latents (synthesise divides by the
    gain that analyse multiplied by)."""
    psnrs = []
    for rgb in images:
        with torch.inference_mode():
            x = padded_tensor(rgb)
            q = _levels(x, QUALITY_LEVELS)
            out = net.synthesise(net.analyse(x, q), q)
        psnrs.append(psnr(rgb, decoded_pixels(out, *rgb.shape[:2])))
    return float(np.mean(psnrs))


def code_pillow(fmt_name: str, settings: tuple[int, ...], images: list[np.ndarray], **params: object) -> list[dict]:
    points = []
    for s in settings:
        bpps, psnrs = [], []
        for rgb in images:
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format=fmt_name, quality=s, **params)
            dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            bpps.append(buf.tell() * 8 / (rgb.shape[0] * rgb.shape[1]))
            psnrs.append(psnr(rgb, dec))
        points.append({"quality": s, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return points


def _bd(ref: list[dict], test: list[dict]) -> float | None:
    try:
        return bd_rate([p["bpp"] for p in ref], [p["psnr"] for p in ref],
                       [p["bpp"] for p in test], [p["psnr"] for p in test])
    except Exception:  # no overlap yet (an early snapshot far below the baseline)
        return None


def code_row(snap: Path, images: list[np.ndarray], jpeg: list[dict], webp: list[dict]) -> dict:
    """One snapshot's row: its RD points and PSNR BD-rates against the baselines."""
    steps = weights_steps(snap)
    net = load_model_file(snap)
    points = code_snapshot(net, weights_hash(snap), images)
    return {"file": str(snap), "steps": steps, "points": points,
            "bd_rate_psnr_vs_jpeg": _bd(jpeg, points), "bd_rate_psnr_vs_webp": _bd(webp, points),
            "transform_ceiling_psnr": transform_ceiling(net, images)}


def plot_curve(rows: dict[str, dict], out: Path, marks: Sequence[str] = ()) -> None:
    """BD-rate (PSNR) vs JPEG and vs WebP against training steps; points without overlap are left out.
    ``marks`` are ``STEP:LABEL`` events (a recipe change) drawn as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for key, label in (("bd_rate_psnr_vs_jpeg", "vs Pillow JPEG"), ("bd_rate_psnr_vs_webp", "vs WebP (method 6)")):
        pts = sorted((r["steps"], r[key]) for r in rows.values() if r.get(key) is not None)
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", label=label)
    ax.axhline(0, color="k", lw=0.8)
    for mark in marks:
        step, _, label = mark.partition(":")
        ax.axvline(int(step), color="gray", ls="--", lw=1.0)
        ax.annotate(label, (int(step), 0.98), xycoords=("data", "axes fraction"), rotation=90, va="top",
                    ha="right", fontsize=7, color="gray")
    ax.set_xlabel("training steps (batch 4, 256x256 crops)")
    ax.set_ylabel("PSNR BD-rate (%), lower is better")
    ax.set_title("sdpic-mse learning curve (Kodak, first 8 images)")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ceiling = sorted((r["steps"], r["transform_ceiling_psnr"]) for r in rows.values() if "transform_ceiling_psnr" in r)
    if ceiling:  # rows measured before the ceiling was recorded have none
        right = ax.twinx()
        (line,) = right.plot(*zip(*ceiling, strict=True), "s:", color="tab:green", label="transform ceiling (right)")
        right.set_ylabel("PSNR of g_s(g_a(x)) unquantised (dB)")
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels, fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def merge_marks(stored: Sequence[str], new: Sequence[str]) -> list[str]:
    """``STEP:LABEL`` marks sorted by step: the stored ones plus ``new``, a new label replacing a stored
    one at the same step. Raises ValueError on a malformed mark."""
    marks = {}
    for mark in [*stored, *new]:
        step, sep, label = mark.partition(":")
        if not sep or not step.strip().isdigit() or not label:
            raise ValueError(f"--mark takes STEP:LABEL, got {mark!r}")
        marks[int(step)] = mark
    return [marks[k] for k in sorted(marks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshots", nargs="*", type=Path)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/learning_curve.json"))
    parser.add_argument("--plot", type=Path, default=None, help="draw BD-rate vs steps here (PNG)")
    parser.add_argument("--mark", action="append", default=[], metavar="STEP:LABEL",
                        help="a recipe change to draw on the plot (repeatable)")
    args = parser.parse_args()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {"snapshots": {}}
    rows = previous.get("snapshots", {})
    # Recipe changes are kept in the JSON, so a later run (benchmarks/ship.sh) redraws them without
    # repeating every --mark; a new mark at a step already marked replaces its label.
    try:
        marks = merge_marks(previous.get("marks", []), args.mark)
    except ValueError as exc:
        parser.error(str(exc))
    doc = dict(previous)
    if args.snapshots:  # without snapshots no coding: only new marks and --plot have work to do
        torch.set_num_threads(args.threads)
        images = [load_image(f).rgb for f in sorted(args.images.glob("*.png"))[: args.limit]]
        jpeg = code_pillow("JPEG", (5, 10, 20, 35, 50, 70, 85, 95), images)
        webp = code_pillow("WEBP", (5, 10, 20, 35, 50, 70, 85, 95), images, method=6)
        for snap in tqdm(args.snapshots, desc="snapshots"):
            row = code_row(snap, images, jpeg, webp)
            rows[str(row["steps"])] = row
            print(f"steps {row['steps']}: BD-rate vs JPEG {row['bd_rate_psnr_vs_jpeg']}, "
                  f"vs WebP {row['bd_rate_psnr_vs_webp']}, transform ceiling {row['transform_ceiling_psnr']:.2f} dB")
        doc.update({"images": len(images), "dataset": str(args.images), "jpeg": jpeg, "webp": webp})
    doc["snapshots"] = dict(sorted(rows.items(), key=lambda kv: int(kv[0])))
    doc["marks"] = marks
    if args.snapshots or args.mark:
        atomic_write_bytes(args.out, json.dumps(doc, indent=2).encode())
    if args.plot:
        plot_curve(rows, args.plot, doc["marks"])


if __name__ == "__main__":
    main()
