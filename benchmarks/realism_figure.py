"""The picture behind the realism decoder: equal-size crops of the original, AVIF, sdpic at realism 0 and
sdpic at its default realism, at three low rates.

Each row is one sdpic file (``--saliency auto``, the default) decoded twice — the same bytes — and the AVIF
file of the largest quality that is not larger (``sdpic.bench.bisect``). The crop is a 192x192 detail with
texture (the most high-frequency energy of the image, away from the salient subject).

    .venv/bin/python benchmarks/realism_figure.py --out results/codec/realism_crops.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import sdpic
from sdpic.bench.bisect import bisect_setting
from sdpic.bench.codecs import get_codec
from sdpic.bench.metrics import PERCEPTUAL_COLUMNS
from sdpic.bench.paths import shared_path
from sdpic.cli import script_status
from sdpic.errors import ParameterError
from sdpic.image_io import load_image
from sdpic.metric import get_metric
from sdpic.zoo import DEFAULT_MODEL, entry_by_name

QUALITIES = (2, 10, 22)
HALF = 96


def textured_centre(rgb: np.ndarray) -> tuple[int, int]:
    """Centre of the HALF*2 window with the most high-frequency energy, outside the salient region."""
    from scipy.ndimage import uniform_filter

    from sdpic.saliency import predict_rgb

    grey = rgb.astype(np.float64).mean(axis=2)
    detail = np.abs(grey - uniform_filter(grey, 5))
    energy = uniform_filter(detail, 2 * HALF) * (predict_rgb(rgb) < 0.3)
    energy[:HALF], energy[-HALF:], energy[:, :HALF], energy[:, -HALF:] = 0, 0, 0, 0
    cy, cx = np.unravel_index(np.argmax(energy), energy.shape)
    return int(cy), int(cx)


def _score(ref: np.ndarray, img: np.ndarray) -> str:
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    with torch.inference_mode():
        values = {c: float(get_metric(n)(t(ref), t(img))[0])
                  for c, n in PERCEPTUAL_COLUMNS.items() if c != "lpips_alex"}
    return f"LPIPS-VGG {values['lpips_vgg']:.3f}, DISTS {values['dists']:.3f}"


def figure(image: Path, out: Path, realism: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdpic.bench.report import save_figure

    rgb = np.asarray(load_image(image).rgb)
    cy, cx = textured_centre(rgb)
    crop = lambda a: a[cy - HALF:cy + HALF, cx - HALF:cx + HALF]  # noqa: E731
    avif = get_codec("avif", threads=2)
    pixels = rgb.shape[0] * rgb.shape[1]
    fig, axes = plt.subplots(len(QUALITIES), 4, figsize=(13, 3.5 * len(QUALITIES)))
    for row, quality in zip(axes, QUALITIES, strict=True):
        data = sdpic.compress(rgb, quality=quality, saliency="auto")
        found = bisect_setting(avif, rgb, 8 * len(data) / pixels)
        panels = (("original", rgb, None),
                  (f"AVIF, {len(found.data)} B", avif.decode(found.data), None),
                  (f"sdpic realism 0, {len(data)} B", np.asarray(sdpic.decompress(data, realism=0)), None),
                  (f"sdpic realism {realism:g}, {len(data)} B", np.asarray(sdpic.decompress(data, realism=realism)),
                   None))
        for ax, (title, img, _) in zip(row, panels, strict=True):
            ax.imshow(crop(img), interpolation="nearest")
            ax.set_title(title if img is rgb else f"{title}\nwhole image: {_score(rgb, img)}", fontsize=8)
            ax.set_axis_off()
    fig.suptitle(f"{image.name}, a 192x192 detail; each row one sdpic file decoded twice, AVIF at most as large",
                 fontsize=10)
    save_figure(fig, out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=None, help="default: Kodak's kodim13.png")
    parser.add_argument("--realism", type=float, default=None, help="default: the model's")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    entry = entry_by_name(DEFAULT_MODEL)
    realism = entry.default_realism if args.realism is None else args.realism
    if entry.realism_path is None or realism == 0.0:
        raise ParameterError("the default model has no realism decoder, or its default realism is 0: give --realism")
    figure(args.image or shared_path("data/kodak/kodim13.png"), args.out, realism)
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
