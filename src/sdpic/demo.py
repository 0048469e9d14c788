"""`sdpic demo`: code the bundled sample with the shipped model, and with AVIF and JPEG at the same file size.

The baselines go through the bench's codec wrappers (:mod:`sdpic.bench.codecs`) and its bisection to a target
rate (:func:`sdpic.bench.bisect.bisect_setting`), so the demo compares exactly what the benchmarks compare.
A baseline whose library is missing here is named with the reason and left out; sdpic and JPEG always run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SAMPLE = Path(__file__).resolve().parent / "samples" / "astronaut.png"

#: Baselines coded at sdpic's file size, in table order.
BASELINES = ("avif", "jpeg")
#: How far below sdpic's size a baseline may land (the bisection never goes above it: no codec gets more bits).
SIZE_TOLERANCE = 0.03
#: File suffix of each baseline's stream in the output folder.
STREAM_SUFFIX = {"avif": ".avif", "jpeg": ".jpg"}
#: Height of the label band above each panel, and the gap between panels, in pixels.
LABEL_H, GAP = 24, 8


@dataclass(frozen=True)
class Coded:
    """One codec's result on the image: the stream, the decoded pixels, timings and the setting used."""

    codec: str
    data: bytes
    rgb: np.ndarray
    encode_s: float
    decode_s: float
    setting: str


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="compress the bundled sample photo with sdpic, AVIF and JPEG at the same size and compare"
    )
    p.add_argument("--image", type=Path, default=SAMPLE, help="photo to use (default: bundled astronaut)")
    p.add_argument("--quality", type=float, default=50.0)
    p.add_argument("--saliency", default="none", help="auto|none|MASK.png")
    p.add_argument("--out-dir", type=Path, default=Path("demo-out"))
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .api import compress, decompress
    from .image_io import load_image
    from .outputs import check_output_path
    from .zoo import DEFAULT_MODEL, load_model

    stem, out_dir = args.image.stem, args.out_dir
    outputs = {
        "stream": out_dir / f"{stem}.sdpic",
        "decoded": out_dir / f"{stem}.decoded.png",
        "side": out_dir / f"{stem}.side_by_side.png",
        **{name: out_dir / f"{stem}{suffix}" for name, suffix in STREAM_SUFFIX.items()},
    }
    inputs = [args.image] + ([Path(args.saliency)] if args.saliency not in ("auto", "none") else [])
    for path in outputs.values():  # before any work: e.g. --image x/cat.jpg --out-dir x would hit the input
        check_output_path(path, inputs=inputs, force=True)  # earlier demo outputs are replaced

    loaded = load_image(args.image)
    load_model(DEFAULT_MODEL)  # load once, outside the timings
    start = time.perf_counter()
    data = compress(loaded.rgb, quality=args.quality, saliency=args.saliency, threads=args.threads)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decompress(data, threads=args.threads)
    decode_s = time.perf_counter() - start
    sdpic_rgb = np.asarray(decoded.convert("RGB"))
    results = [Coded("sdpic", data, sdpic_rgb, encode_s, decode_s, f"quality {args.quality:g}")]

    pixels = loaded.width * loaded.height
    missing: list[tuple[str, str]] = []
    notes: list[str] = []
    for name in BASELINES:
        coded, problem = code_at_size(name, loaded.rgb, len(data), args.threads)
        if coded is None:
            missing.append((name, problem))
            continue
        results.append(coded)
        if problem:
            notes.append(f"{name}: {problem}")

    lpips = lpips_alex(loaded.rgb, [r.rgb for r in results], args.threads)
    write_outputs(results, lpips, decoded, outputs)

    print(f"model            {DEFAULT_MODEL}")
    print(f"image            {args.image} ({loaded.width}x{loaded.height})")
    print(f"original file    {args.image.stat().st_size} bytes")
    print()
    print(format_table(results, loaded.rgb, lpips, pixels, args.threads))
    for note in notes:
        print(f"note: {note}")
    for name, reason in missing:
        print(f"not shown: {name} ({reason})")
    print()
    print(f"streams          {', '.join(str(outputs[k]) for k in ['stream', *(r.codec for r in results[1:])])}")
    print(f"side by side     {outputs['side']}")
    return 0


def code_at_size(name: str, rgb: np.ndarray, target_bytes: int, threads: int) -> tuple[Coded | None, str]:
    """Code ``rgb`` with baseline ``name`` at the largest setting not above ``target_bytes``.

    Returns (result, note) where the note says when the size could not be matched within
    :data:`SIZE_TOLERANCE`, or (None, reason) when the codec is unavailable or fails here.
    """
    from .bench.bisect import bisect_setting
    from .bench.codecs import get_codec
    from .errors import SdpicError

    codec = get_codec(name, threads=threads)
    available = codec.is_available()
    if not available:
        return None, available.reason
    pixels = rgb.shape[0] * rgb.shape[1]
    try:
        found = bisect_setting(codec, rgb, target_bytes * 8.0 / pixels, tol=SIZE_TOLERANCE)
        # time a fresh encode at the chosen setting: the search's first encodes pay the library's warm-up
        start = time.perf_counter()
        data = codec.encode(rgb, found.setting)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        out = codec.decode(data)
        decode_s = time.perf_counter() - start
    except (SdpicError, OSError, ValueError) as exc:  # a broken library: report it, keep the rest of the demo
        return None, f"failed: {exc}"
    label = "quality" if codec.higher_is_more_bits else "setting"
    coded = Coded(name, data, out, encode_s, decode_s, f"{label} {found.setting:g}")
    off = len(data) / target_bytes - 1.0
    note = ""
    if not found.under_target:
        note = f"even its smallest setting is {off:+.1%} of sdpic's size"
    elif off < -SIZE_TOLERANCE:
        note = f"{off:+.1%} of sdpic's size: the next setting up is larger than sdpic's file"
    return coded, note


def lpips_alex(ref: np.ndarray, images: list[np.ndarray], threads: int) -> list[float]:
    """LPIPS-Alex of each image against ``ref``, in one batch (one forward pass instead of one per codec)."""
    import torch

    from .metric import distance, to_tensor
    from .threads import torch_threads

    with torch_threads(threads), torch.inference_mode():
        ref_t = to_tensor(ref)
        batch = torch.cat([to_tensor(img) for img in images])
        out = distance(ref_t.expand(len(images), -1, -1, -1), batch, metric="lpips-alex")
    return [float(v) for v in out]


def format_table(results: list[Coded], ref: np.ndarray, lpips: list[float], pixels: int, threads: int) -> str:
    """The comparison table: one row per codec, sdpic first."""
    from .bench.metrics import psnr

    head = (f"{'codec':<7}{'bytes':>8}{'bpp':>8}{'PSNR dB':>9}{'LPIPS-Alex':>12}"
            f"{'encode s':>10}{'decode s':>10}  setting")
    lines = [head, "-" * len(head)]
    for r, d in zip(results, lpips, strict=True):
        lines.append(
            f"{r.codec:<7}{len(r.data):>8}{len(r.data) * 8 / pixels:>8.4f}{psnr(ref, r.rgb):>9.2f}{d:>12.4f}"
            f"{r.encode_s:>10.3f}{r.decode_s:>10.3f}  {r.setting}"
        )
    lines.append(f"(LPIPS-Alex: lower is closer to the original; times at {threads} threads)")
    return "\n".join(lines)


def side_by_side(results: list[Coded], lpips: list[float]) -> Image.Image:
    """The decoded images in a row, each under a label with codec name, bytes and LPIPS-Alex."""
    h, w = results[0].rgb.shape[:2]
    canvas = Image.new("RGB", (len(results) * w + (len(results) - 1) * GAP, h + LABEL_H), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (r, d) in enumerate(zip(results, lpips, strict=True)):
        x = i * (w + GAP)
        canvas.paste(Image.fromarray(r.rgb), (x, LABEL_H))
        draw.text((x + 4, 6), f"{r.codec}, {len(r.data)} bytes, LPIPS-Alex {d:.4f}", fill="black")
    return canvas


def write_outputs(results: list[Coded], lpips: list[float], decoded: Image.Image, outputs: dict[str, Path]) -> None:
    """Every stream, sdpic's decoded image and the side-by-side, each written atomically."""
    from .outputs import atomic_save_image, atomic_write_bytes

    atomic_write_bytes(outputs["stream"], results[0].data)
    atomic_save_image(decoded, outputs["decoded"])
    for r in results[1:]:
        atomic_write_bytes(outputs[r.codec], r.data)
    atomic_save_image(side_by_side(results, lpips), outputs["side"])
