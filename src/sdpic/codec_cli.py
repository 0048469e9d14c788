"""`sdpic compress`, `sdpic decompress`, `sdpic info`: the codec's command-line face (calls the public API)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .errors import ParameterError, SdpicError
from .outputs import atomic_save_image, atomic_write_bytes, check_output_path
from .quality_map import DEFAULT_ROI_STRENGTH

SUFFIX = ".sdpic"


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    from .zoo import DEFAULT_MODEL

    p = subparsers.add_parser("compress", help="compress images to .sdpic")
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files")
    _output_args(p)
    p.add_argument("--quality", type=float, default=50.0, help="0 (smallest) .. 100 (best); default 50")
    p.add_argument("--target-bpp", type=float, default=None, help="find the quality that meets this bitrate")
    p.add_argument("--saliency", default="none", metavar="auto|none|MASK.png",
                   help="spend more bits on salient regions: 'auto' (learned model), 'none', or a mask image")
    p.add_argument("--roi-strength", type=float, default=DEFAULT_ROI_STRENGTH, help="0..1, how far bits move")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
    p.set_defaults(func=run_compress)

    p = subparsers.add_parser("decompress", help="decode .sdpic files to PNG")
    p.add_argument("inputs", nargs="+", metavar="IN", help=".sdpic files")
    _output_args(p)
    p.set_defaults(func=run_decompress)

    p = subparsers.add_parser("info", help="show the header of an .sdpic file")
    p.add_argument("input", metavar="IN")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_info)


def _output_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-o", "--output", type=Path, help="output file (one input only)")
    group.add_argument("--out-dir", type=Path, help="output folder (default: next to each input)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (decoded pixels do not depend on it)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs (never inputs)")


def _output_path(args: argparse.Namespace, inp: Path, suffix: str) -> Path:
    if args.output is not None:
        return args.output
    folder = args.out_dir if args.out_dir is not None else inp.parent
    return folder / (inp.stem + suffix)


def _run_batch(args: argparse.Namespace, suffix: str, work: Callable[[Path, Path], str]) -> int:
    inputs = [Path(p) for p in args.inputs]
    if args.output is not None and len(inputs) > 1:
        raise ParameterError("-o/--output takes one input; use --out-dir for several")
    failures = 0
    show_bar = len(inputs) > 1
    for inp in tqdm(inputs, desc="files", unit="file", disable=not show_bar, file=sys.stderr):
        try:
            out = check_output_path(_output_path(args, inp, suffix), inputs, args.force)
            message = work(inp, out)
            (tqdm.write if show_bar else print)(message)
        except SdpicError as exc:
            failures += 1
            print(f"sdpic: error: {inp}: {exc}", file=sys.stderr)
    if failures:
        print(f"sdpic: {failures} of {len(inputs)} file(s) failed", file=sys.stderr)
        return 1
    return 0


def run_compress(args: argparse.Namespace) -> int:
    from .api import compress
    from .image_io import load_image

    def work(inp: Path, out: Path) -> str:
        loaded = load_image(inp)
        source = loaded.rgb[..., 0] if loaded.greyscale else loaded.rgb
        saliency = args.saliency if args.saliency in ("auto", "none") else Path(args.saliency)
        data = compress(source, quality=args.quality, saliency=saliency, roi_strength=args.roi_strength,
                        model=args.model, threads=args.threads, target_bpp=args.target_bpp)
        atomic_write_bytes(out, data)
        bpp = len(data) * 8 / (loaded.width * loaded.height)
        return f"{inp} -> {out}: {len(data)} bytes, {bpp:.4f} bpp"

    return _run_batch(args, SUFFIX, work)


def run_decompress(args: argparse.Namespace) -> int:
    from .api import decompress
    from .errors import InputImageError

    def work(inp: Path, out: Path) -> str:
        try:
            data = inp.read_bytes()
        except OSError as exc:
            raise InputImageError(f"cannot read ({exc.strerror})") from None
        img = decompress(data, threads=args.threads)
        atomic_save_image(img, out, format="PNG")
        return f"{inp} -> {out}: {img.width}x{img.height} {img.mode}"

    return _run_batch(args, ".png", work)


def run_info(args: argparse.Namespace) -> int:
    from .api import info
    from .errors import InputImageError

    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise InputImageError(f"{args.input}: cannot read ({exc.strerror})") from None
    fields = info(data)
    if args.json:
        print(json.dumps(fields, indent=2))
    else:
        for key, value in fields.items():
            print(f"{key:15s} {value}")
    return 0
