"""`sdpic train`: train (or resume) the codec from image folders."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

#: glibc allocator settings that roughly double CPU training speed here (no mmap churn for big tensors).
ALLOCATOR_ENV = {
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "1073741824",
}


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the codec (resumable)", description=__doc__)
    p.add_argument("--run-dir", type=Path, default=Path("runs/sdpic-mse"), help="checkpoints and logs")
    p.add_argument("--data", type=Path, nargs="*", default=None,
                   help="image folders (default: ../shared/data/{bsds500/images,photos_hr,ecssd/images})")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and checkpoint) after this long")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="crop size, a multiple of 64")
    p.add_argument("--lr", type=float, default=None, help="default 3e-4; 5e-5 with --objective realism")
    p.add_argument("--warmup-steps", type=int, default=None, help="default 500; 100 with --objective realism")
    p.add_argument("--lr-decay-start", type=int, default=60_000)
    p.add_argument("--no-bf16", action="store_true", help="train the transforms in fp32")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--init-from", type=Path, default=None, help="start from these weights (fresh optimiser)")
    p.add_argument("--export", type=Path, default=None, help="write shippable weights here when stopping")
    p.add_argument("--snapshot-every", type=int, default=2000)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--objective", default="mse",
                   help="training loss (sdpic.train.losses): mse, perceptual (saliency-weighted metric + MS-SSIM), "
                        "or realism (the realism decoder, see below)")
    for name, symbol in (("mse", "α"), ("perceptual", "β"), ("ms-ssim", "γ"), ("saliency", "k")):
        p.add_argument(f"--{name}-weight", type=float, default=None,
                       help=f"override the objective's {symbol} (sdpic.train.losses)")
    p.add_argument("--training-metric", choices=("lpips-alex", "lpips-vgg"), default=None,
                   help="the perceptual term's metric (default: the objective's, lpips-alex)")
    p.add_argument("--ema-decay", type=float, default=0.999,
                   help="exponential moving average of the weights; snapshots are written for both, --export "
                        "ships the average (default %(default)s; 0 turns it off)")
    p.add_argument("--lambda-range", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="rate-distortion λ of the loss at quality levels 0 and 64 (MSE on [0,1] x 255^2); "
                        "default: the checkpoint's, else the --init-from weights', else 0.0002 0.08")
    g = p.add_argument_group(
        "realism decoder (--objective realism)",
        "train a second g_s for the base model's files adversarially, everything else frozen "
        "(sdpic.train.realism); --init-from then names a realism state file to continue from")
    g.add_argument("--base", type=Path, default=None,
                   help="the base model's weights (default: the zoo's sdpic)")
    g.add_argument("--adversarial-weight", type=float, default=None, help="weight of the adversarial term")
    g.add_argument("--disc-lr", type=float, default=None, help="the discriminator's learning rate")
    g.add_argument("--disc-warmup-steps", type=int, default=None, help="discriminator-only steps first")
    g.add_argument("--adversarial-ramp-steps", type=int, default=None,
                   help="steps over which the adversarial weight ramps up after the warm-up")
    g.add_argument("--discriminator", choices=("features", "pixels"), default=None,
                   help="heads on the frozen AlexNet taps (default) or a HiFiC-style pixel discriminator")
    g.add_argument("--save-state", type=Path, default=None,
                   help="write a state file (decoder, average, discriminator; fp32) when stopping")
    p.add_argument("--loader-workers", type=int, default=0,
                   help="processes cutting training crops (0: in the training process; a few on a GPU)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ParameterError

    if args.crop % 64 or args.crop < 64:
        raise ParameterError("--crop must be a positive multiple of 64")
    if args.loader_workers < 0:
        raise ParameterError("--loader-workers must be 0 or more")
    if not 0.0 <= args.ema_decay < 1.0:
        raise ParameterError("--ema-decay must be within [0, 1)")
    if args.lambda_range is not None and not 0.0 < args.lambda_range[0] < args.lambda_range[1]:
        raise ParameterError("--lambda-range needs 0 < MIN < MAX")
    missing = {k: v for k, v in ALLOCATOR_ENV.items() if os.environ.get(k) != v}
    if missing and not os.environ.get("SDPIC_NO_REEXEC") and sys.argv and sys.argv[0]:
        # The allocator reads these at start-up only: restart this command with them set.
        env = {**os.environ, **ALLOCATOR_ENV, "SDPIC_NO_REEXEC": "1"}
        os.execve(sys.executable, [sys.executable, "-m", "sdpic.cli", *sys.argv[1:]], env)
    from .loop import TrainConfig, is_main_process, train
    from .losses import TERM_WEIGHTS

    _stop_on_signals()
    if args.objective == "realism":
        return _run_realism(args)
    cfg = TrainConfig(
        run_dir=args.run_dir, folders=list(args.data or []), steps=args.steps, max_minutes=args.max_minutes,
        batch_size=args.batch_size, crop=args.crop, lr=3e-4 if args.lr is None else args.lr,
        warmup_steps=500 if args.warmup_steps is None else args.warmup_steps, lr_decay_start=args.lr_decay_start,
        bf16=not args.no_bf16, threads=args.threads,
        init_from=args.init_from, export=args.export, snapshot_every=args.snapshot_every, seed=args.seed,
        objective=args.objective, ema_decay=args.ema_decay,
        lambda_range=tuple(args.lambda_range) if args.lambda_range else None,
        loader_workers=args.loader_workers,
        loss_weights={**{k: v for k in TERM_WEIGHTS if (v := getattr(args, k)) is not None},
                      **({"metric": args.training_metric} if args.training_metric else {})},
    )
    path = train(cfg)
    if is_main_process():
        print(f"checkpoint: {path}")
    return 0


def _run_realism(args: argparse.Namespace) -> int:
    from ..zoo import entry_by_name
    from .realism import RealismConfig, train_realism

    overrides = {k: v for k in ("adversarial_weight", "disc_lr", "disc_warmup_steps", "adversarial_ramp_steps",
                                "discriminator", "mse_weight", "perceptual_weight", "ms_ssim_weight",
                                "saliency_weight") if (v := getattr(args, k)) is not None}
    cfg = RealismConfig(
        run_dir=args.run_dir, base=args.base or entry_by_name("sdpic").path, init_from=args.init_from,
        folders=list(args.data or []), steps=args.steps, max_minutes=args.max_minutes,
        batch_size=args.batch_size, crop=args.crop, lr=5e-5 if args.lr is None else args.lr,
        warmup_steps=100 if args.warmup_steps is None else args.warmup_steps, ema_decay=args.ema_decay,
        bf16=not args.no_bf16, threads=args.threads,
        snapshot_every=args.snapshot_every, seed=args.seed, export=args.export, save_state=args.save_state,
        **overrides,
    )
    print(f"checkpoint: {train_realism(cfg)}")
    return 0


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM stop training cleanly (the loop saves its checkpoint on the way out).

    Why explicit: a job started with ``&`` from a script inherits SIGINT *ignored* (POSIX), and
    schedulers stop jobs with SIGTERM; either way the last minutes of training would be lost.
    """
    from ..interrupts import raise_keyboard_interrupt

    signal.signal(signal.SIGINT, raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
