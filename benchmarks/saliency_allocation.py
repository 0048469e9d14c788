"""Where the bits go: `--saliency none` vs `--saliency auto` on the same images at the same quality.

For each image: the real file sizes, the share of the bits spent inside the salient region (learned
saliency > 0.5), bits per pixel inside / outside it, and PSNR inside / outside. The per-position bits
come from the model's rate estimate at the coded (rounded) latents, rescaled so that they add up to
the real file size. Writes a JSON table and a figure (image, saliency, bit maps, decoded crops).

    .venv/bin/python benchmarks/saliency_allocation.py [--images ../shared/data/kodak] [--quality 50] \
        [--out results/saliency_allocation/kodak.json] [--figure results/saliency_allocation/kodim.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import sdpic
from sdpic.api import encode, padded_tensor
from sdpic.bench.metrics import psnr
from sdpic.codec.model import LATENT_STRIDE, QUALITY_LEVELS
from sdpic.image_io import load_image
from sdpic.saliency import predict_rgb
from sdpic.zoo import DEFAULT_MODEL, load_model


def bit_map(rgb: np.ndarray, levels: np.ndarray, file_bits: int, model: str) -> np.ndarray:
    """Estimated bits per pixel at every pixel (each 16x16 block shares its latent's bits), summing to
    the file's bits."""
    net = load_model(model)
    h, w = rgb.shape[:2]
    x = padded_tensor(rgb)
    q = torch.from_numpy(levels)[None, None].float() / QUALITY_LEVELS
    with torch.no_grad():
        out = net(x, q, rate_proxy="round")
    per_latent = -torch.log2(out["y_likelihoods"]).sum(dim=1)[0].numpy()
    per_pixel = np.kron(per_latent, np.ones((LATENT_STRIDE, LATENT_STRIDE))) / LATENT_STRIDE ** 2
    per_pixel = per_pixel[:h, :w]
    return per_pixel * (file_bits / per_pixel.sum())


def region_stats(rgb: np.ndarray, decoded: np.ndarray, bits: np.ndarray, salient: np.ndarray) -> dict:
    inside, outside = salient, ~salient
    return {
        "bits_share_salient": float(bits[inside].sum() / bits.sum()),
        "bpp_salient": float(bits[inside].mean()), "bpp_background": float(bits[outside].mean()),
        "psnr_salient": psnr(rgb[inside], decoded[inside]), "psnr_background": psnr(rgb[outside], decoded[outside]),
        "psnr": psnr(rgb, decoded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--quality", type=float, default=50.0)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("results/saliency_allocation/kodak.json"))
    parser.add_argument("--figure", type=Path, default=Path("results/saliency_allocation/kodim.png"))
    parser.add_argument("--figure-image", default="kodim20.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    files = sorted(args.images.glob("*.png"))[: args.limit]
    rows, figure_data = [], None
    for f in tqdm(files, desc="images", unit="img"):
        rgb = load_image(f).rgb
        salient = predict_rgb(rgb) > 0.5
        if not salient.any() or salient.all():
            continue
        row: dict = {"image": f.name, "salient_fraction": float(salient.mean())}
        maps = {}
        for mode in ("none", "auto"):
            result = encode(rgb, quality=args.quality, saliency=mode, model=args.model)
            decoded = np.asarray(sdpic.decompress(result.data))
            bits = bit_map(rgb, result.levels, len(result.data) * 8, args.model)
            row[mode] = {"bytes": len(result.data), "bpp": len(result.data) * 8 / salient.size,
                         **region_stats(rgb, decoded, bits, salient)}
            maps[mode] = (bits, decoded)
        rows.append(row)
        if f.name == args.figure_image:
            figure_data = (rgb, salient, maps)
    summary = {
        mode: {k: float(np.mean([r[mode][k] for r in rows]))
               for k in ("bpp", "bits_share_salient", "bpp_salient", "bpp_background", "psnr_salient",
                         "psnr_background", "psnr")}
        for mode in ("none", "auto")
    }
    report = {"model": args.model, "quality": args.quality, "images": len(rows),
              "salient_fraction": float(np.mean([r["salient_fraction"] for r in rows])),
              "mean": summary, "per_image": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"{len(rows)} images, quality {args.quality}, salient area {report['salient_fraction']:.1%}")
    print("mode  bpp    share of bits in salient  bpp salient  bpp background  PSNR salient  PSNR background")
    for mode, s in summary.items():
        print(f"{mode:5} {s['bpp']:.3f}  {s['bits_share_salient']:24.1%}  {s['bpp_salient']:11.3f}  "
              f"{s['bpp_background']:14.3f}  {s['psnr_salient']:12.2f}  {s['psnr_background']:15.2f}")
    if figure_data is not None:
        _figure(args.figure, *figure_data)
        print(f"figure: {args.figure}")


def _figure(path: Path, rgb: np.ndarray, salient: np.ndarray, maps: dict) -> None:
    """Salient mask and the two bit maps. No photo pixels: the data set's images stay in ../shared."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vmax = max(maps[m][0].max() for m in maps)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].imshow(salient, cmap="gray")
    axes[0].set_title("salient region (learned, > 0.5)")
    for ax, mode in zip(axes[1:], ("none", "auto"), strict=True):
        bits, decoded = maps[mode]
        im = ax.imshow(bits, cmap="magma", vmin=0, vmax=vmax)
        share = bits[salient].sum() / bits.sum()
        ax.set_title(f"{mode}: {bits.mean():.3f} bpp, {share:.0%} in salient\nPSNR salient / background "
                     f"{psnr(rgb[salient], decoded[salient]):.2f} / {psnr(rgb[~salient], decoded[~salient]):.2f} dB",
                     fontsize=9)
        ax.contour(salient, levels=[0.5], colors="cyan", linewidths=0.8)
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="bits per pixel")
    for ax in axes:
        ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    main()
