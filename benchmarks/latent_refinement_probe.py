"""Encoder-side latent refinement: does optimising y per image (decoder unchanged) lower the real R-D cost?

Amortised encoders leave a gap: g_a(x) is not the latent that minimises rate + λ·distortion for this
image. Refinement starts from g_a(x) and takes Adam steps on y against the training graph
(``SdpicModel.forward_latents``), then codes the result with the real coder. The figure of merit is the
*real* cost J = bpp + λ(q)·255²·MSE of the file (bits counted from the bytes, MSE of the 8-bit
decoded pixels), before and after, at a uniform quality level. ``--proxy`` picks where the rate
likelihoods are taken (see ``forward_latents``); the straight-through rounding of ŷ is the same in all.

    .venv/bin/python benchmarks/latent_refinement_probe.py --model sdpic-mse --steps 50 --lr 0.001 \\
        --proxy noise round continuous --out results/codec/latent_refinement_probe.json

Centre crops keep the probe to minutes on 2 CPU cores; each step is a full forward and backward pass
of h_a, h_s, the context and parameter networks and g_s, so a full Kodak image costs ~1 s a step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sdpic.api import decoded_pixels, pack_coded, padded_tensor
from sdpic.bench.paths import shared_path
from sdpic.cli import script_status
from sdpic.codec.model import LATENT_STRIDE, QUALITY_LEVELS, RateProxy, SdpicModel
from sdpic.errors import ParameterError
from sdpic.image_io import load_image
from sdpic.metric import classic
from sdpic.outputs import atomic_write_bytes
from sdpic.quality_map import level_to_quality
from sdpic.train.losses import TrainingLoss, get_objective
from sdpic.zoo import load_model


def real_cost(model: str, net: SdpicModel, y: torch.Tensor, level: int, x: torch.Tensor,
              lam: float) -> dict[str, float]:
    """Code y at a uniform ``level`` for real; bits per pixel of the whole ``.sdpic`` file (header
    included, as every reported bitrate), PSNR of the 8-bit decoded image, J."""
    height, width = x.shape[2], x.shape[3]
    levels = np.full((height // LATENT_STRIDE, width // LATENT_STRIDE), level, dtype=np.int64)
    q_levels = torch.from_numpy(levels)[None, None]
    coded, y_hat = net.compress_latents(y, q_levels)
    data = pack_coded(model, coded, levels, level, width, height, False, level_to_quality(level))
    bpp = 8 * len(data) / (height * width)
    x_hat = padded_tensor(decoded_pixels(net.synthesise(y_hat, q_levels), height, width))
    mse = classic.mse(x_hat, x)
    return {"bpp": bpp, "psnr": float(classic.psnr_from_mse(mse)[0]), "cost": bpp + lam * 255 ** 2 * float(mse[0])}


def refine(net: SdpicModel, y0: torch.Tensor, q_levels: torch.Tensor, x: torch.Tensor, steps: int, lr: float,
           proxy: RateProxy) -> torch.Tensor:
    """Adam on y against the ``mse`` training objective (rate by ``proxy`` + λ(q)·255²·MSE of the float x̂)."""
    q = q_levels.float() / QUALITY_LEVELS
    objective = TrainingLoss(get_objective("mse"))
    with torch.no_grad():
        q_features = net.quality_encoder(q)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    for _ in range(steps):
        out = net.forward_latents(y, q, q_features, rate_proxy=proxy)
        loss = objective(net, x, q, out)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return y.detach()


def _centre_crop(name: str, height: int, width: int) -> torch.Tensor:
    path = shared_path("data", "kodak", f"{name}.png")
    if not path.is_file():
        raise ParameterError(f"{path}: no such Kodak image (the probe reads ../shared/data/kodak)")
    rgb = load_image(path).rgb
    top, left = (rgb.shape[0] - height) // 2, (rgb.shape[1] - width) // 2
    return padded_tensor(rgb[top:top + height, left:left + width])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="sdpic-mse")
    p.add_argument("--images", nargs="+", default=["kodim01", "kodim05", "kodim15", "kodim23"])
    p.add_argument("--crop", type=int, nargs=2, default=(256, 384), metavar=("H", "W"))
    p.add_argument("--levels", type=int, nargs="+", default=[16, 48])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--proxy", nargs="+", default=["noise"], choices=["noise", "round", "continuous"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if any(not 0 <= level <= QUALITY_LEVELS for level in args.levels):
        raise ParameterError(f"levels must lie in 0..{QUALITY_LEVELS}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = load_model(args.model).eval().requires_grad_(False)
    rows = []
    crops = {name: _centre_crop(name, *args.crop) for name in args.images}  # each image read once
    jobs = [(name, level) for name in args.images for level in args.levels]
    for name, level in tqdm(jobs, desc="refinement probe", unit="point"):
        x = crops[name]
        shape = (1, 1, x.shape[2] // LATENT_STRIDE, x.shape[3] // LATENT_STRIDE)
        q_levels = torch.full(shape, level, dtype=torch.int64)
        lam = float(net.lambda_map(torch.tensor(level / QUALITY_LEVELS)))
        y0 = net.analyse(x, q_levels)
        row = {"image": name, "level": level, "lambda": lam,
               "amortised": real_cost(args.model, net, y0, level, x, lam)}
        for proxy in args.proxy:
            start = time.perf_counter()
            y = refine(net, y0, q_levels, x, args.steps, args.lr, proxy)
            row[proxy] = {**real_cost(args.model, net, y, level, x, lam),
                          "seconds_per_step": (time.perf_counter() - start) / max(args.steps, 1)}
        rows.append(row)
    summary = {proxy: 100 * float(np.mean([r[proxy]["cost"] / r["amortised"]["cost"] - 1 for r in rows]))
               for proxy in args.proxy}
    for proxy, change in summary.items():
        print(f"{proxy:>10}: real cost J {change:+.2f}% (mean of {len(rows)} points, "
              f"{args.steps} steps, lr {args.lr:g})")
    if args.out:
        doc = {"model": args.model, "crop": list(args.crop), "steps": args.steps, "lr": args.lr,
               "mean_cost_change_percent": summary, "rows": rows,
               "command": "benchmarks/latent_refinement_probe.py " + " ".join(sys.argv[1:] if argv is None else argv)}
        atomic_write_bytes(args.out, (json.dumps(doc, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
