"""`sdpic compress`, `sdpic decompress`, `sdpic info`: the codec's command-line face (calls the public API)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .batch import FileStats, Plan, WorkFunction, collect_inputs, make_plan, parse_shard, run_batch
from .errors import InputImageError, ParameterError, SdpicError
from .outputs import LOSSLESS_FORMATS, LosslessFormat, atomic_write_bytes, encode_lossless, lossless_format_for
from .quality_map import DEFAULT_ROI_STRENGTH

SUFFIX = ".sdpic"


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    from .zoo import DEFAULT_MODEL

    p = subparsers.add_parser("compress", help="compress images (files or folders) to .sdpic")
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
    _output_args(p)
    p.add_argument("--quality", type=float, default=50.0, help="0 (smallest) .. 100 (best); default 50")
    p.add_argument("--target-bpp", type=float, default=None, help="find the quality that meets this bitrate")
    p.add_argument("--saliency", default="none", metavar="auto|none|MASK.png",
                   help="spend more bits on salient regions: 'auto' (learned model), 'none', or a mask image")
    p.add_argument("--roi-strength", type=float, default=DEFAULT_ROI_STRENGTH, help="0..1, how far bits move")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
    _strip_args(p, "store")
    p.set_defaults(func=run_compress)

    p = subparsers.add_parser("decompress", help="decode .sdpic files (or folders of them) to PNG (or --format)")
    p.add_argument("inputs", nargs="+", metavar="IN", help=".sdpic files or folders")
    _output_args(p)
    formats = "; ".join(f"{f.name} ({f.note})" for f in LOSSLESS_FORMATS.values())
    p.add_argument("--format", choices=sorted(LOSSLESS_FORMATS), default=None,
                   help=f"lossless output format: {formats}. Default: the suffix of -o if it names one, else png")
    p.add_argument("--realism", type=float, default=None, metavar="R",
                   help="0 (faithful: the model's own decoder) .. 1 (most realistic texture, lowered where the file "
                        "gave a region more bits); default: the model's")
    _strip_args(p, "write")
    p.set_defaults(func=run_decompress)

    p = subparsers.add_parser("info", help="show the header of an .sdpic file")
    p.add_argument("input", metavar="IN")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_info)


def _strip_args(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("--strip-metadata", action="store_true",
                   help=f"do not {verb} EXIF and XMP (camera, date, GPS...); the colour profile is kept")
    p.add_argument("--strip-icc", action="store_true", help=f"do not {verb} the ICC colour profile")


def _output_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-o", "--output", type=Path, help="output file (one input file only)")
    group.add_argument("--out-dir", type=Path,
                       help="output folder; folder inputs keep their structure under it (default: next to each input)")
    p.add_argument("-r", "--recursive", action="store_true", help="also take files from sub-folders of folder inputs")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="parallel worker processes (default: one per CPU, at most one per two files; 1 = no workers)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default 1 with several workers; decoded pixels do not depend on it)")
    p.add_argument("--resume", action="store_true", help="skip files whose output exists and is valid")
    p.add_argument("--shard", metavar="I/N", default=None,
                   help="process only shard I of N (0 <= I < N) of the sorted file list; see docs/batch.md")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs (never inputs)")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per file in a batch")
    p.add_argument("--report", type=Path, default=None, metavar="JSON", help="write the run summary as JSON")


def image_suffixes() -> set[str]:
    """File suffixes Pillow can open (what a folder batch picks up), minus .sdpic itself."""
    from PIL import Image

    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN} - {SUFFIX}


def _plan(args: argparse.Namespace, suffix: str, input_suffixes: set[str], validate: Callable[[Path], bool]) -> Plan:
    paths = [Path(p) for p in args.inputs]  # a missing file fails on its own, like any other bad file
    if args.output is not None and (len(paths) > 1 or paths[0].is_dir()):
        raise ParameterError("-o/--output takes one input file; use --out-dir for several files or a folder")
    files = collect_inputs(paths, input_suffixes, args.recursive, skip_dir=args.out_dir)
    if not files:
        raise InputImageError(f"no input files found (looked for {', '.join(sorted(input_suffixes))})"
                              + ("" if args.recursive else "; use --recursive for sub-folders"))
    return make_plan(files, args.out_dir, suffix, force=args.force, resume=args.resume, validate=validate,
                     shard=parse_shard(args.shard), single_output=args.output)


def _run(args: argparse.Namespace, plan: Plan, work: WorkFunction, verb: str) -> int:
    return run_batch(plan, work, jobs=args.jobs, threads=args.threads, verb=verb, verbose=args.verbose,
                     report=args.report)


@dataclass(frozen=True)
class CompressSettings:
    quality: float
    target_bpp: float | None
    saliency: str
    roi_strength: float
    model: str
    strip_metadata: bool = False
    strip_icc: bool = False


def compress_file(settings: CompressSettings, source: Path, output: Path) -> FileStats:
    """Compress one image file (pixels, alpha, ICC profile, EXIF, XMP) to ``output`` (atomically). Runs in
    batch workers, so it is module level."""
    from .api import compress
    from .format import Section, unpack

    saliency = settings.saliency if settings.saliency in ("auto", "none") else Path(settings.saliency)
    data = compress(source, quality=settings.quality, saliency=saliency, roi_strength=settings.roi_strength,
                    model=settings.model, target_bpp=settings.target_bpp, strip_metadata=settings.strip_metadata,
                    strip_icc=settings.strip_icc)
    atomic_write_bytes(output, data)
    header = unpack(data)
    n_pixels = header.width * header.height
    carried = "".join(f", {name}" for name, section in (("alpha", Section.ALPHA), ("ICC profile", Section.ICC_PROFILE),
                                                        ("EXIF", Section.EXIF), ("XMP", Section.XMP))
                      if section in header.sections)
    return FileStats(len(data), n_pixels, len(data),
                     f"{source} -> {output}: {len(data)} bytes, {len(data) * 8 / n_pixels:.4f} bpp{carried}")


def decompress_file(source: Path, output: Path, format: str = "png", strip_metadata: bool = False,
                    strip_icc: bool = False, realism: float | None = None) -> FileStats:
    """Decode one .sdpic file to a lossless image (``format``, a key of LOSSLESS_FORMATS) at ``output``
    (atomically), with its alpha and the ICC profile, EXIF and XMP it carries (less what is stripped), at
    ``realism`` (None: the model's default; see :func:`sdpic.decompress`)."""
    from .api import decompress

    if not source.is_file():
        raise InputImageError(f"{source}: no such file" if not source.exists() else f"{source}: not a file")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InputImageError(f"{source}: cannot read ({exc.strerror})") from None
    img = decompress(data, realism=realism)
    for key, strip in (("icc_profile", strip_icc), ("exif", strip_metadata), ("xmp", strip_metadata)):
        if strip:
            img.info.pop(key, None)
    try:
        encoded = encode_lossless(img, LOSSLESS_FORMATS[format])
    except ValueError as exc:
        raise ParameterError(f"{source}: {exc}") from None
    atomic_write_bytes(output, encoded)
    message = f"{source} -> {output}: {img.width}x{img.height} {img.mode}"
    return FileStats(len(encoded), img.width * img.height, len(data), message)


def is_valid_sdpic(path: Path) -> bool:
    """A complete .sdpic file: header fields and CRC-32 check out (what --resume trusts)."""
    from .format import unpack

    try:
        unpack(path.read_bytes())
    except (SdpicError, OSError):
        return False
    return True


def is_valid_png(path: Path) -> bool:
    """A complete PNG: Pillow's verify() walks every chunk and checks its CRC."""
    return is_valid_image(path, LOSSLESS_FORMATS["png"])


def is_valid_image(path: Path, fmt: LosslessFormat) -> bool:
    """A complete file of ``fmt`` (what --resume trusts): a PNG's chunk CRCs check out (verify()); other
    formats have no checksums, so their pixels must load in full."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.format != fmt.pillow:
                return False
            if fmt.pillow == "PNG":
                img.verify()
            else:
                img.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def run_compress(args: argparse.Namespace) -> int:
    if args.saliency not in ("auto", "none") and not Path(args.saliency).is_file():
        raise InputImageError(f"{args.saliency}: saliency mask not found (use auto, none or a mask image)")
    settings = CompressSettings(args.quality, args.target_bpp, args.saliency, args.roi_strength, args.model,
                                args.strip_metadata, args.strip_icc)
    plan = _plan(args, SUFFIX, image_suffixes(), is_valid_sdpic)
    return _run(args, plan, partial(compress_file, settings), "compressed")


def run_decompress(args: argparse.Namespace) -> int:
    fmt = LOSSLESS_FORMATS[args.format] if args.format else (
        (args.output is not None and lossless_format_for(args.output)) or LOSSLESS_FORMATS["png"])
    from .codec.realism import check_realism

    realism = None if args.realism is None else check_realism(args.realism)
    plan = _plan(args, fmt.suffix, {SUFFIX}, partial(is_valid_image, fmt=fmt))
    return _run(args, plan, partial(decompress_file, format=fmt.name, strip_metadata=args.strip_metadata,
                                    strip_icc=args.strip_icc, realism=realism), "decompressed")


def run_info(args: argparse.Namespace) -> int:
    from .api import info

    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise InputImageError(f"{args.input}: cannot read ({exc.strerror})") from None
    fields = info(data)
    if args.json:
        print(json.dumps(fields, indent=2))
    else:
        for key, value in fields.items():
            if key in ("alpha", "icc_profile", "exif", "xmp"):  # what the file carries
                value = "none" if value is None else f"{value} bytes"
            elif key == "icc_description" and value is None:
                continue
            print(f"{key:15s} {value}")
    return 0
