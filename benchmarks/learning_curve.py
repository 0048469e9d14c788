"""Learning curve: PSNR BD-rate of training snapshots vs Pillow JPEG and WebP on Kodak.

    .venv/bin/python benchmarks/learning_curve.py runs/sdpic-mse/snapshots/*.safetensors \
        [--images ../shared/data/kodak] [--limit 24] [--out results/learning_curve.json]

Each snapshot codes every image at several qualities through the real coding path (entropy coded
bytes + container), so bpp is the real file size. The baselines are coded live at equal settings.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from sdpic import format as fmt
from sdpic.api import _padded_tensor
from sdpic.bench.bdrate import bd_rate
from sdpic.bench.metrics import psnr
from sdpic.codec.model import LATENT_STRIDE
from sdpic.image_io import load_image
from sdpic.zoo import load_model_file

QUALITIES = (5, 20, 35, 50, 70, 90)


def code_snapshot(path: Path, images: list[np.ndarray]) -> list[dict]:
    net = load_model_file(path)
    points = []
    for quality in QUALITIES:
        level = round(quality * 64 / 100)
        bpps, psnrs = [], []
        for rgb in images:
            h, w = rgb.shape[:2]
            with torch.inference_mode():
                x = _padded_tensor(rgb)
                q = torch.full((1, 1, x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE), level)
                coded, _ = net.compress_latents(net.analyse(x, q), q)
                y_hat = net.decompress_latents(coded, q)
                out = net.synthesise(y_hat, q)[0, :, :h, :w].clamp(0, 1)
            data = fmt.pack(fmt.Container(0, b"\0" * 8, w, h, fmt.Colour.RGB, quality, level, {
                fmt.Section.HYPER_LATENTS: coded.z_bytes, fmt.Section.LATENTS: coded.y_bytes,
                fmt.Section.ESCAPES: coded.escapes}))
            dec = torch.round(out * 255).to(torch.uint8).permute(1, 2, 0).numpy()
            bpps.append(len(data) * 8 / (h * w))
            psnrs.append(psnr(rgb, dec))
        points.append({"quality": quality, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return points


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshots", nargs="+", type=Path)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/learning_curve.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = [load_image(f).rgb for f in sorted(args.images.glob("*.png"))[: args.limit]]
    jpeg = code_pillow("JPEG", (5, 10, 20, 35, 50, 70, 85, 95), images)
    webp = code_pillow("WEBP", (5, 10, 20, 35, 50, 70, 85, 95), images, method=6)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {"snapshots": {}}
    rows = previous.get("snapshots", {})
    for snap in tqdm(args.snapshots, desc="snapshots"):
        from safetensors import safe_open

        with safe_open(str(snap), framework="pt") as fh:
            steps = int((fh.metadata() or {}).get("steps", 0))
        points = code_snapshot(snap, images)
        rows[str(steps)] = {"file": str(snap), "steps": steps, "points": points,
                            "bd_rate_psnr_vs_jpeg": _bd(jpeg, points), "bd_rate_psnr_vs_webp": _bd(webp, points)}
        print(f"steps {steps}: BD-rate vs JPEG {rows[str(steps)]['bd_rate_psnr_vs_jpeg']}, "
              f"vs WebP {rows[str(steps)]['bd_rate_psnr_vs_webp']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": len(images), "dataset": str(args.images), "jpeg": jpeg, "webp": webp,
                                    "snapshots": dict(sorted(rows.items(), key=lambda kv: int(kv[0])))}, indent=2))


if __name__ == "__main__":
    main()
