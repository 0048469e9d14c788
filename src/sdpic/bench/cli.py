"""``sdpic bench rd | task | report``: the command-line face of the evaluation harness.

Defaults point at the shared data (``../shared`` or ``$SDPIC_SHARED``) so ``sdpic bench rd`` with no
arguments benchmarks Kodak. Results are written atomically and never over an existing file unless
``--force`` is given (the encode cache makes a rerun cheap, so overwriting is rarely needed anyway).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..outputs import atomic_write_bytes, check_output_path
from .paths import default_cache_dir, shared_path


def _codec_list(text: str | None) -> list[str] | None:
    if text is None or text.strip().lower() in ("", "all"):
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _float_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("expected positive numbers")
    return values


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench`` with ``rd``, ``task`` and ``report`` on the top-level parser."""
    bench = subparsers.add_parser("bench", help="rate-distortion, speed and downstream-task benchmarks")
    sub = bench.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND")
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])

    rd = sub.add_parser("rd", help="rate-distortion curves + BD-rates for every codec on a folder of images")
    rd.add_argument("--images", type=Path, default=None, help="folder of images (default ../shared/data/kodak)")
    rd.add_argument("--codecs", default=None, help="comma-separated codec names (default: all)")
    rd.add_argument("--masks", type=Path, default=None, help="ground-truth saliency masks (same stem as images)")
    rd.add_argument("--out", type=Path, default=None, help="JSON output (default: print a summary only)")
    rd.add_argument(
        "--update",
        type=Path,
        default=None,
        metavar="JSON",
        help="merge this run's codecs into an earlier RD JSON (other rows kept, BD-rates recomputed) and "
        "write the result to --out (default: JSON itself, which needs --force)",
    )
    rd.add_argument("--plot", default=None, metavar="PREFIX", help="write PREFIX_<metric>.png and PREFIX_table.md")
    rd.add_argument("--workers", type=int, default=2, help="parallel worker processes over images (default 2)")
    rd.add_argument("--threads", type=int, default=2, help="threads per codec and for metrics (default 2)")
    rd.add_argument("--limit", type=int, default=None, help="only the first N images (quick checks)")
    rd.add_argument("--reference", default="avif", help="BD-rate reference codec (default avif)")
    rd.add_argument("--anchors", type=Path, default=None, help="published curves (default ../shared/anchors/...)")
    rd.add_argument("--cache-dir", type=Path, default=None, help="encode cache (default <project>/cache/bench)")
    rd.add_argument("--no-cache", action="store_true", help="encode everything again, store nothing")
    rd.add_argument("--no-perceptual", action="store_true",
                    help="skip the human-calibrated distance columns (lpips_alex, lpips_vgg, dists): "
                         "PSNR, MS-SSIM and salient PSNR only, much faster")
    rd.add_argument("--sdpic-saliency", default=None, metavar="auto|none",
                    help="saliency argument for every sdpic codec (default: each model's own, auto for sdpic, "
                         "none for sdpic-mse)")
    rd.add_argument("--sdpic-roi-strength", type=float, default=None, metavar="S",
                    help="ROI strength for the sdpic codecs (default: sdpic compress's)")
    rd.add_argument("--dataset", default=None, help="dataset name in the JSON (default: the folder name)")
    rd.add_argument("--force", action="store_true", help="overwrite existing output files")
    rd.add_argument("--quiet", action="store_true", help="no progress bar")
    rd.set_defaults(func=cmd_rd)

    task = sub.add_parser("task", help="downstream task accuracy (classify/detect/segment) vs bpp per codec")
    task.add_argument("--task", required=True, choices=("classify", "detect", "segment"))
    task.add_argument("--images", type=Path, default=None, help="images (default depends on the task)")
    task.add_argument("--annotations", type=Path, default=None, help="COCO annotations for detect")
    task.add_argument("--model", type=Path, default=None, help="task model (ONNX for detect/segment)")
    task.add_argument("--codecs", default=None, help="comma-separated codec names (default: all)")
    task.add_argument("--bpp", type=_float_list, default=[0.1, 0.2, 0.4], help="target bpps (default 0.1,0.2,0.4)")
    task.add_argument("--out", type=Path, default=None, help="JSON output")
    task.add_argument(
        "--update",
        type=Path,
        default=None,
        metavar="JSON",
        help="merge this run's codecs into an earlier task JSON (other rows kept) and write the result to --out "
        "(default: JSON itself, which needs --force)",
    )
    task.add_argument("--limit", type=int, default=None, help="only the first N images")
    task.add_argument("--workers", type=int, default=2, help="parallel worker processes over images (default 2)")
    task.add_argument("--threads", type=int, default=2, help="threads per codec / network (default 2)")
    task.add_argument("--cache-dir", type=Path, default=None, help="encode cache (default <project>/cache/bench)")
    task.add_argument("--no-cache", action="store_true", help="do not read or write the encode cache")
    task.add_argument("--sdpic-saliency", default=None, metavar="auto|none",
                      help="saliency argument for every sdpic codec (default: each model's own)")
    task.add_argument("--sdpic-roi-strength", type=float, default=None, metavar="S",
                      help="ROI strength for the sdpic codecs (default: sdpic compress's)")
    task.add_argument("--force", action="store_true", help="overwrite an existing output file")
    task.add_argument("--quiet", action="store_true", help="no progress bar")
    task.set_defaults(func=cmd_task)

    rep = sub.add_parser("report", help="redraw plots and tables from RD or task JSONs (no codec runs)")
    rep.add_argument("json", type=Path, nargs="+", help="one RD JSON (`bench rd --out`) or task JSONs (`bench task`)")
    rep.add_argument(
        "--plot",
        default=None,
        metavar="PREFIX",
        help="RD: write PREFIX_<metric>.png and PREFIX_table.md; tasks: PREFIX.png and PREFIX.md "
        "(without it the table is printed only)",
    )
    rep.add_argument("--reference", default=None, help="RD: BD-rates against this codec instead of the JSON's")
    rep.add_argument("--anchors", type=Path, default=None, help="published curves (default ../shared/anchors/...)")
    rep.add_argument("--codec", default=None,
                     help="RD: print this codec's points, one row per setting, and its BD-rates against every other "
                     "codec (model cards)")
    rep.add_argument("--into", type=Path, default=None, metavar="FILE",
                     help="with --codec: write the table into FILE between '<!-- sdpic bench report --codec NAME: "
                     "begin -->' and '...: end -->' instead of printing it")
    rep.set_defaults(func=cmd_report)


def _cache(args: argparse.Namespace) -> Path | None:
    if args.no_cache:
        return None
    return args.cache_dir or default_cache_dir()


def _anchors(path: Path | None) -> Path | None:
    p = path or shared_path("anchors", "compressai_kodak")
    return p if p.is_dir() else None


def _write_json(path: Path, doc: dict[str, Any], force: bool) -> None:
    check_output_path(path, force=force)
    atomic_write_bytes(path, (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())


def _update_base(args: argparse.Namespace, kind: str) -> tuple[dict[str, Any] | None, Path | None]:
    """The earlier JSON that ``--update`` names (None without it) and the output path: ``--out``, else
    the ``--update`` file itself."""
    if args.update is None:
        return None, args.out
    try:
        return json.loads(args.update.read_text()), args.out or args.update
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{args.update}: cannot read {kind} JSON ({exc})") from None


def _command_line() -> str | None:
    return "sdpic " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("sdpic") else None


def cmd_rd(args: argparse.Namespace) -> int:
    """Run the RD benchmark, write JSON / plots / table, print the BD-rate table."""
    from .codecs import SdpicOptions
    from .rd import list_images, outdated_columns, run_rd
    from .report import markdown_table, write_report

    images_dir = args.images or shared_path("data", "kodak")
    images = list_images(images_dir, args.limit)
    base, out = _update_base(args, "RD")
    if out is not None:
        check_output_path(out, force=args.force)  # fail before the long run, not after
    outdated = outdated_columns(base) if base is not None else None
    if outdated:  # merge_results would refuse it, but only after the run
        raise ParameterError(f"--update {args.update}: {outdated}, without --update")
    if args.plot and not args.force and Path(f"{args.plot}_table.md").exists():
        raise ParameterError(f"{args.plot}_table.md exists (use --force to overwrite)")
    doc = run_rd(
        images,
        _codec_list(args.codecs),
        workers=args.workers,
        threads=args.threads,
        cache_dir=_cache(args),
        masks_dir=args.masks,
        dataset=args.dataset,
        reference=args.reference,
        sdpic=SdpicOptions(args.sdpic_saliency, args.sdpic_roi_strength),
        want_perceptual=not args.no_perceptual,
        progress=not args.quiet,
    )
    doc["run"]["command"] = _command_line()
    if base is not None:
        from .rd import merge_results

        doc = merge_results(base, doc)
    if out is not None:
        _write_json(out, doc, force=args.force)
    if args.plot:
        write_report(doc, args.plot, _anchors(args.anchors))
    print(markdown_table(doc))
    for name, reason in doc["skipped"].items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """Run a downstream-task benchmark and write its JSON."""
    from .codecs import SdpicOptions
    from .task import format_task_table, merge_task_results, run_task

    base, out = _update_base(args, "task")
    if out is not None:
        check_output_path(out, force=args.force)  # fail before the long run, not after
    doc = run_task(
        args.task,
        images=args.images,
        annotations=args.annotations,
        model=args.model,
        codec_names=_codec_list(args.codecs),
        targets=args.bpp,
        limit=args.limit,
        workers=args.workers,
        threads=args.threads,
        cache_dir=_cache(args),
        sdpic=SdpicOptions(args.sdpic_saliency, args.sdpic_roi_strength),
        progress=not args.quiet,
    )
    doc["run"]["command"] = _command_line()
    if base is not None:
        doc = merge_task_results(base, doc)
    if out is not None:
        _write_json(out, doc, force=args.force)
    print(format_task_table(doc))
    for name, reason in doc.get("skipped", {}).items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Regenerate plots and tables from saved RD or task JSONs."""
    from .rd import add_bd_rates, outdated_columns
    from .report import (
        codec_bd_rates_table,
        codec_points_table,
        markdown_table,
        replace_marked_block,
        write_report,
        write_task_report,
    )
    from .task import format_task_table

    if args.into is not None and args.codec is None:
        raise ParameterError("--into needs --codec")

    docs = []
    for path in args.json:
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ParameterError(f"{path}: cannot read bench JSON ({exc})") from None
    kinds = {"task" if "task" in d else "rd" for d in docs}
    if kinds == {"task"}:
        if args.reference is not None or args.codec is not None:
            raise ParameterError("--reference and --codec apply to an RD JSON only")
        if not args.plot:
            print("\n\n".join(format_task_table(d) for d in docs))
            return 0
        files = write_task_report(docs, args.plot)
    elif kinds == {"rd"} and len(docs) == 1:
        doc = docs[0]
        outdated = outdated_columns(doc)
        if outdated:  # still drawn (PSNR / MS-SSIM are comparable), but its distance columns are gone
            print(f"note: {args.json[0]}: {outdated}", file=sys.stderr)
        if args.reference is not None:
            if not doc["codecs"].get(args.reference, {}).get("points"):
                raise ParameterError(f"--reference {args.reference!r}: no such codec with points in {args.json[0]}")
            doc["reference"] = args.reference
            add_bd_rates(doc)
        if args.codec is not None:
            tables = (codec_points_table(doc, args.codec), codec_bd_rates_table(doc, args.codec))
            table = "\n".join(t for t in tables if t)
            if args.into is None:
                print(table, end="")
                return 0
            try:
                text = args.into.read_text()
            except OSError as exc:
                raise ParameterError(f"--into {args.into}: {exc}") from None
            updated = replace_marked_block(text, f"sdpic bench report --codec {args.codec}", table)
            atomic_write_bytes(args.into, updated.encode())
            print(args.into)
            return 0
        if not args.plot:
            print(markdown_table(doc))
            return 0
        files = write_report(doc, args.plot, _anchors(args.anchors))
    else:
        raise ParameterError("give one RD JSON, or one or more task JSONs")
    for f in files:
        print(f)
    return 0
