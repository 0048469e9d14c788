"""`sdpic demo`: compress and decompress the bundled sample with the shipped model and report the result."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SAMPLE = Path(__file__).resolve().parent / "samples" / "astronaut.png"


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="compress the bundled sample photo and show the result")
    p.add_argument("--image", type=Path, default=SAMPLE, help="photo to use (default: bundled astronaut)")
    p.add_argument("--quality", type=float, default=50.0)
    p.add_argument("--saliency", default="none", help="auto|none|MASK.png")
    p.add_argument("--out-dir", type=Path, default=Path("demo-out"))
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .api import compress, decompress
    from .bench.metrics import psnr
    from .image_io import load_image
    from .outputs import atomic_save_image, atomic_write_bytes
    from .zoo import DEFAULT_MODEL, load_model

    loaded = load_image(args.image)
    load_model(DEFAULT_MODEL)  # load once, outside the timings
    start = time.perf_counter()
    data = compress(loaded.rgb, quality=args.quality, saliency=args.saliency, threads=args.threads)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decompress(data, threads=args.threads)
    decode_s = time.perf_counter() - start
    rgb = np.asarray(decoded.convert("RGB"))

    out_dir = args.out_dir
    stream_path = out_dir / (args.image.stem + ".sdpic")
    atomic_write_bytes(stream_path, data)
    atomic_save_image(decoded, out_dir / (args.image.stem + ".decoded.png"))
    side = Image.new("RGB", (2 * loaded.width + 8, loaded.height + 24), "white")
    side.paste(Image.fromarray(loaded.rgb), (0, 24))
    side.paste(decoded.convert("RGB"), (loaded.width + 8, 24))
    draw = ImageDraw.Draw(side)
    bpp = len(data) * 8 / (loaded.width * loaded.height)
    draw.text((4, 6), "original", fill="black")
    draw.text((loaded.width + 12, 6), f"sdpic {bpp:.3f} bpp, PSNR {psnr(loaded.rgb, rgb):.2f} dB", fill="black")
    atomic_save_image(side, out_dir / (args.image.stem + ".side_by_side.png"))

    original_png = args.image.stat().st_size
    print(f"model            {DEFAULT_MODEL}")
    print(f"image            {args.image} ({loaded.width}x{loaded.height})")
    print(f"original file    {original_png} bytes")
    print(f"sdpic file       {len(data)} bytes -> {stream_path}")
    print(f"bits per pixel   {bpp:.4f}")
    print(f"PSNR (RGB)       {psnr(loaded.rgb, rgb):.2f} dB")
    print(f"encode / decode  {encode_s:.2f} s / {decode_s:.2f} s ({args.threads} threads)")
    print(f"side by side     {out_dir / (args.image.stem + '.side_by_side.png')}")
    return 0
