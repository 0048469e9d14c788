"""Does lowering realism where the file lifted the quality keep the salient subject faithful?

ECSSD validation photos (ground-truth masks; neither the codec nor the saliency model trained on them) are
coded once with ``sdpic --saliency auto`` over a quality sweep. The same files are decoded three ways: at
realism 0 (the model's own g_s), at realism R with the saliency-driven realism map (what
``sdpic.decompress`` does: realism falls where the quality map lifts a block above the file's level), and
at realism R everywhere (a uniform map). Every decoding is scored on the whole image and on the salient
region (the reference with the decoded salient pixels pasted in, as ``benchmarks/saliency_payoff.py``
does). The files are the same, so the rates are equal: the table compares quality at each rate and the
BD-rates of each decoding against realism 0.

    .venv/bin/python benchmarks/realism_saliency.py --limit 16 --json results/codec/realism_saliency.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sdpic
from benchmarks.saliency_payoff import COLUMNS, scores
from sdpic import format as fmt
from sdpic.api import decode_latents
from sdpic.bench.bdrate import bd_rate
from sdpic.bench.metrics import PERCEPTUAL_COLUMNS
from sdpic.cli import script_status
from sdpic.codec.realism import check_realism, realism_map
from sdpic.errors import ParameterError
from sdpic.image_io import load_image, load_mask
from sdpic.outputs import atomic_write_bytes
from sdpic.saliency.data import resolve_ecssd_dir, split_paths
from sdpic.zoo import DEFAULT_MODEL, entry_by_name, load_realism_decoder, load_realism_file

QUALITIES = (5, 15, 30, 45)
DECODINGS = ("realism 0", "saliency-driven", "uniform")


def decodings(data: bytes, realism: float, decoder: torch.nn.Module) -> dict[str, np.ndarray]:
    """The file decoded at realism 0, with the saliency-driven realism map and with a uniform one."""
    container = fmt.unpack(data)
    net, y_hat, q_levels = decode_latents(container)
    h, w = container.height, container.width
    with torch.inference_mode():
        driven = realism_map(q_levels, container.level, realism)
        return {
            "realism 0": net.synthesise_pixels(y_hat, q_levels, h, w),
            "saliency-driven": net.synthesise_pixels(y_hat, q_levels, h, w, (decoder, driven)),
            "uniform": net.synthesise_pixels(y_hat, q_levels, h, w, (decoder, torch.full_like(driven, realism))),
        }


def run(limit: int, realism: float, decoder: torch.nn.Module) -> dict:
    pairs = split_paths(resolve_ecssd_dir(None), "val")[:limit]
    per_image = []
    for image, mask_path in tqdm(pairs, desc="images", unit="img"):
        rgb = np.asarray(load_image(image).rgb)
        mask = load_mask(mask_path, rgb.shape[1], rgb.shape[0]) >= 0.5
        if not mask.any() or mask.all():
            continue
        row: dict = {"image": image.name, "salient_fraction": float(mask.mean())}
        streams = [sdpic.compress(rgb, q, saliency="auto", model=DEFAULT_MODEL) for q in QUALITIES]
        decoded = [decodings(s, realism, decoder) for s in streams]
        for name in DECODINGS:
            points = scores(rgb, [d[name] for d in decoded], mask)
            for p, s in zip(points, streams, strict=True):
                p["bpp"] = 8 * len(s) / mask.size
            row[name] = points
        per_image.append(row)
    if not per_image:
        raise ParameterError("no ECSSD validation photo with a partial mask was found")
    keys = ("bpp", *COLUMNS, *(f"{c}_salient" for c in COLUMNS))
    mean = {d: {k: [float(np.mean([r[d][i][k] for r in per_image])) for i in range(len(QUALITIES))] for k in keys}
            for d in DECODINGS}
    bd = {}
    for d in DECODINGS[1:]:
        bd[d] = {}
        for col in (*COLUMNS, *(f"{c}_salient" for c in COLUMNS)):
            lower = col.removesuffix("_salient") in PERCEPTUAL_COLUMNS
            bd[d][col] = bd_rate(mean["realism 0"]["bpp"], mean["realism 0"][col], mean[d]["bpp"], mean[d][col], lower)
    return {"command": "python benchmarks/realism_saliency.py " + " ".join(sys.argv[1:]), "model": DEFAULT_MODEL,
            "realism": realism, "qualities": QUALITIES, "images": len(per_image),
            "set": "ECSSD validation split (ground-truth masks), sdpic.saliency.data.split_paths(..., 'val')",
            "bd_rate_vs_realism_0": bd, "mean": mean, "per_image": per_image}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=16, help="first N validation photos")
    parser.add_argument("--realism", type=float, default=None, help="default: the model's")
    parser.add_argument("--decoder", type=Path, default=None,
                        help="realism decoder weights to measure (default: the shipped one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    entry = entry_by_name(DEFAULT_MODEL)
    decoder = load_realism_file(args.decoder, entry.path) if args.decoder else load_realism_decoder(DEFAULT_MODEL)
    realism = check_realism(entry.default_realism if args.realism is None else args.realism)
    if realism == 0.0:
        raise ParameterError("give a realism above 0 (the model's default is 0)")
    doc = run(args.limit, realism, decoder)
    print(f"{doc['images']} ECSSD validation photos, realism {realism:g}; quality at the same files:")
    print(f"{'':18s}" + "".join(f"{c:>22s}" for c in ("lpips_vgg_salient", "dists_salient", "lpips_vgg", "dists")))
    for d in DECODINGS:
        cells = "".join(f"{' '.join(f'{v:.3f}' for v in doc['mean'][d][c]):>22s}"
                        for c in ("lpips_vgg_salient", "dists_salient", "lpips_vgg", "dists"))
        print(f"{d:18s}{cells}")
    for d, row in doc["bd_rate_vs_realism_0"].items():
        print(f"BD-rate vs realism 0, {d}: " + ", ".join(f"{k} {v:+.1f}%" for k, v in row.items() if v is not None))
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(doc, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
