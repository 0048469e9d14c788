"""Encode / decode wall time of the shipped model on Kodak (2 threads), per image and mean.

Run with nothing else busy on the machine (pause training), or the figures lie:
    .venv/bin/python benchmarks/codec_speed.py [--images ../shared/data/kodak] [--threads 2] [--quality 50]
Targets: decode <= 0.3 s, encode <= 0.5 s per Kodak image.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import sdpic
from sdpic.image_io import load_image
from sdpic.zoo import DEFAULT_MODEL, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quality", type=float, default=50.0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(args.images.glob("*.png"))[: args.limit]
    load_model(DEFAULT_MODEL)
    warm = load_image(files[0]).rgb
    sdpic.decompress(sdpic.compress(warm, quality=args.quality))  # warm-up (allocations, kernels)
    rows = []
    for f in tqdm(files, desc="kodak", unit="img"):
        rgb = load_image(f).rgb
        t0 = time.perf_counter()
        data = sdpic.compress(rgb, quality=args.quality, threads=args.threads)
        t1 = time.perf_counter()
        sdpic.decompress(data, threads=args.threads)
        t2 = time.perf_counter()
        rows.append({"image": f.name, "encode_s": t1 - t0, "decode_s": t2 - t1,
                     "bpp": len(data) * 8 / (rgb.shape[0] * rgb.shape[1])})
    enc = np.mean([r["encode_s"] for r in rows])
    dec = np.mean([r["decode_s"] for r in rows])
    print(f"{len(rows)} images, {args.threads} threads, quality {args.quality}: "
          f"encode {enc:.3f} s, decode {dec:.3f} s (mean), bpp {np.mean([r['bpp'] for r in rows]):.3f}")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "quality": args.quality, "encode_s": enc,
                                         "decode_s": dec, "images": rows}, indent=2))


if __name__ == "__main__":
    main()
