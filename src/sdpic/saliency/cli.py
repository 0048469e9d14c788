"""``sdpic saliency``: write saliency maps, evaluate methods against ground truth, or train the model.

Three forms share one subcommand (the first word decides)::

    sdpic saliency IN... [-o OUT.png | --out-dir DIR] [--method M] [--overlay] [--force]
    sdpic saliency eval [--images DIR --masks DIR] [--split val] [--method M ...] [--json OUT] [--markdown OUT]
    sdpic saliency train [--data DIR] [--run-dir DIR] [--epochs N] ...

argparse cannot mix a positional list of files with sub-subcommands, so the ``saliency`` parser takes the
rest of the command line verbatim and this module parses it with the parser of the form it names.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ParameterError
from . import METHODS

_DESCRIPTION = "Saliency maps (learned or classical), their evaluation against masks, and model training."


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``saliency`` with the top-level dispatcher (see :mod:`sdpic.cli`)."""
    parser = subparsers.add_parser(
        "saliency",
        help="saliency maps; `saliency eval` scores methods, `saliency train` trains the model",
        description=_DESCRIPTION,
        add_help=False,
        prefix_chars="\x00",  # pass every token (options included) through to run()
    )
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def predict_parser() -> argparse.ArgumentParser:
    """Parser of ``sdpic saliency IN...``."""
    p = argparse.ArgumentParser(
        prog="sdpic saliency",
        description=_DESCRIPTION + " Other forms: `sdpic saliency eval -h`, `sdpic saliency train -h`.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="input images")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="OUT.png", help="output map (only with one input)")
    out.add_argument("--out-dir", metavar="DIR", help="write DIR/<stem>_saliency.png for every input")
    p.add_argument("--method", choices=METHODS, default="learned", help="saliency method (default: learned)")
    p.add_argument("--overlay", action="store_true", help="also write <map stem>_overlay.png: the map over the photo")
    p.add_argument("--weights", metavar="FILE", help="learned-model weights (default: the shipped file)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    return p


def eval_parser() -> argparse.ArgumentParser:
    """Parser of ``sdpic saliency eval``."""
    p = argparse.ArgumentParser(prog="sdpic saliency eval", description="Score saliency methods against binary masks.")
    p.add_argument("--images", metavar="DIR", help="photos (default: ECSSD images/ under ../shared/data/ecssd)")
    p.add_argument("--masks", metavar="DIR", help="masks named like the photos (default: ECSSD masks/)")
    p.add_argument(
        "--split",
        choices=("all", "train", "val"),
        default="all",
        help="only the images of the committed ECSSD split (default: all found)",
    )
    p.add_argument(
        "--method",
        action="append",
        choices=(*METHODS, "all"),
        metavar="M",
        help=f"method to score, repeatable: {', '.join(METHODS)} or all (default: all)",
    )
    p.add_argument("--limit", type=_positive_int, help="score only the first N pairs")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the results as a Markdown table (with the command)")
    p.add_argument("--weights", metavar="FILE", help="learned-model weights (default: the shipped file)")
    p.add_argument("--threads", type=_positive_int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def train_parser() -> argparse.ArgumentParser:
    """Parser of ``sdpic saliency train`` (defaults = the configuration of the shipped weights)."""
    from .train import TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="sdpic saliency train",
        description="Train the learned saliency model on the ECSSD train split (resumable).",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="ECSSD root with images/ and masks/ (default: $SDPIC_ECSSD or ../shared/data/ecssd)",
    )
    p.add_argument("--run-dir", default=d.run_dir, help=f"checkpoints + cache; rerun to resume (default: {d.run_dir})")
    p.add_argument("--out", help="exported weights (default: RUN_DIR/saliency_mnv2.safetensors)")
    p.add_argument("--epochs", type=_positive_int, default=d.epochs)
    p.add_argument("--views", type=_positive_int, default=d.views, help="augmented views cached per image")
    p.add_argument("--batch", type=_positive_int, default=d.batch)
    p.add_argument("--size", type=_positive_int, default=d.size, help="training crop side (multiple of 32)")
    p.add_argument("--lr-decoder", type=float, default=d.lr_decoder)
    p.add_argument("--lr-backbone", type=float, default=d.lr_backbone)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=_positive_int, default=d.threads)
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke test)")
    return p


def run(args: argparse.Namespace) -> int:
    """Dispatch on the first word of the saliency command line."""
    argv = list(args.argv)
    if argv and argv[0] == "eval":
        return _run_eval(eval_parser().parse_args(argv[1:]), argv)
    if argv and argv[0] == "train":
        return _run_train(train_parser().parse_args(argv[1:]))
    return _run_predict(predict_parser().parse_args(argv))


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


_HOT = np.array([[0, 0, 0], [160, 0, 0], [255, 80, 0], [255, 200, 0], [255, 255, 255]], dtype=np.float64)


def overlay_image(rgb: np.ndarray, sal: np.ndarray) -> Image.Image:
    """The photo blended half-and-half with a black-red-yellow-white heat map of ``sal``."""
    pos = np.clip(sal, 0.0, 1.0) * (len(_HOT) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_HOT) - 2)
    t = (pos - lo)[..., None]
    heat = _HOT[lo] * (1 - t) + _HOT[lo + 1] * t
    out = 0.5 * rgb.astype(np.float64) + 0.5 * heat
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def _run_predict(a: argparse.Namespace) -> int:
    from ..image_io import load_image
    from ..outputs import atomic_save_image, check_output_path
    from . import predict_rgb
    from .evaluate import to_uint8

    if a.output and len(a.inputs) > 1:
        raise ParameterError("-o/--output takes one input; use --out-dir for several")
    _set_threads(a.threads)
    for inp in a.inputs:
        src = Path(inp)
        if a.output:
            out = Path(a.output)
        elif a.out_dir:
            out = Path(a.out_dir) / f"{src.stem}_saliency.png"
        else:
            out = src.with_name(f"{src.stem}_saliency.png")
        overlay_out = out.with_name(f"{out.stem}_overlay.png")
        check_output_path(out, a.inputs, a.force)
        if a.overlay:
            check_output_path(overlay_out, a.inputs, a.force)
        rgb = load_image(src).rgb
        sal = predict_rgb(rgb, a.method, weights=a.weights)
        atomic_save_image(Image.fromarray(to_uint8(sal), mode="L"), out, format="PNG")
        if a.overlay:
            atomic_save_image(overlay_image(rgb, sal), overlay_out, format="PNG")
        print(f"{src} -> {out}" + (f" (+ {overlay_out})" if a.overlay else ""))
    return 0


def _run_eval(a: argparse.Namespace, argv: list[str]) -> int:
    from ..outputs import atomic_write_bytes, check_output_path
    from . import predict_rgb
    from .data import default_ecssd_dir, load_split
    from .evaluate import evaluate, find_pairs, markdown_table

    if a.images is None or a.masks is None:
        root = default_ecssd_dir()
        if root is None:
            raise ParameterError("give --images DIR and --masks DIR (ECSSD not found at ../shared/data/ecssd)")
        a.images = a.images or str(root / "images")
        a.masks = a.masks or str(root / "masks")
    for out in (a.json, a.markdown):
        if out:
            check_output_path(out, (), a.force)
    methods = list(METHODS) if not a.method or "all" in a.method else list(dict.fromkeys(a.method))
    stems = None
    if a.split != "all":
        stems = load_split()[a.split]
    pairs = find_pairs(Path(a.images), Path(a.masks), stems)
    if a.limit:
        pairs = pairs[: a.limit]
    _set_threads(a.threads)
    weights = a.weights

    def predictor(rgb: np.ndarray, method: str) -> np.ndarray:
        return predict_rgb(rgb, method, weights=weights if method == "learned" else None)

    results = evaluate(pairs, methods, predictor, progress=not a.quiet)
    command = "sdpic saliency " + shlex.join(argv)
    table = markdown_table(results, f"Saliency on {len(pairs)} images ({a.split} split, {a.images})", command)
    print(table, end="")
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(results, indent=2) + "\n").encode())
    if a.markdown:
        atomic_write_bytes(a.markdown, table.encode())
    return 0


def _run_train(a: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(
        data=a.data or "",
        run_dir=a.run_dir,
        out=a.out or "",
        epochs=a.epochs,
        views=a.views,
        batch=a.batch,
        size=a.size,
        lr_decoder=a.lr_decoder,
        lr_backbone=a.lr_backbone,
        seed=a.seed,
        threads=a.threads,
        limit=a.limit,
    )
    out = train(cfg)
    print(f"to ship it: cp {out} src/sdpic/saliency/", file=sys.stderr)
    return 0
