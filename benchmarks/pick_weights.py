"""Pick among candidate weights (training snapshots, weight averages) with the bench itself.

Each candidate is installed in place of one zoo model for the length of one ``sdpic bench rd`` run on
the first ``--limit`` Kodak images (the real coding path, in the model's own saliency mode), then the
shipped file is put back. Prints one row of BD-rates per candidate against ``--reference``::

    .venv/bin/python benchmarks/pick_weights.py --model sdpic-mse --reference webp --metrics psnr \\
        runs/sdpic-mse-s12/snapshots/step_0040000-ema.safetensors runs/sdpic-mse-s12-export.safetensors
    .venv/bin/python benchmarks/pick_weights.py --model sdpic --reference avif \\
        --metrics psnr,ms_ssim,lpips_alex,lpips_vgg,dists,psnr_salient runs/.../step_0046102-ema.safetensors

The shipped weights are measured first as the row to beat (``--no-shipped`` skips them). Stop training
first: the encode times are not reported, but a shared CPU makes each candidate take twice as long.

``--history FILE`` keeps every measured row across sessions (keyed by weights hash, with the training
steps from the file's metadata) and ``--plot`` draws BD-rate against steps from it: the learning curve
of the perceptual model, from the picks that were run anyway. ``--plot`` with no candidates only redraws.

Swapping the zoo file is what makes the candidate go through exactly the shipped path (the stream names
the model by id and weights hash). The shipped file is renamed to ``<file>.pick-backup`` and renamed
back in a ``finally``; if this process is killed hard the backup stays, and the next run refuses to
start until it has been moved back by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sdpic.bench.metrics import QUALITY_METRICS
from sdpic.bench.report import save_figure
from sdpic.cli import script_status
from sdpic.errors import ParameterError
from sdpic.outputs import atomic_write_bytes
from sdpic.zoo import entry_by_name, weights_hash, weights_steps

DEFAULT_METRICS = ",".join(QUALITY_METRICS)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _backup_path(zoo_path: Path) -> Path:
    return zoo_path.with_name(zoo_path.name + ".pick-backup")


@contextlib.contextmanager
def _installed(weights: Path, zoo_path: Path) -> Iterator[None]:
    """``weights`` stand in for the shipped file inside the block; the shipped file is back afterwards,
    whatever happened inside."""
    if weights.resolve() == zoo_path.resolve():
        yield
        return
    backup = _backup_path(zoo_path)
    os.replace(zoo_path, backup)
    try:
        shutil.copy2(weights, zoo_path)
        yield
    finally:
        os.replace(backup, zoo_path)


def measure(model: str, reference: str, weights: Path, images: Path, limit: int, metrics: list[str],
            workdir: Path) -> dict[str, float | None]:
    """BD-rates (percent) of ``model`` with ``weights`` installed, against ``reference``."""
    out = workdir / "rd.json"  # one candidate at a time: each run overwrites it
    with _installed(weights, entry_by_name(model).path):
        _run_bench(model, reference, images, limit, out)
    bd = json.loads(out.read_text())["bd_rate"]
    return {m: bd.get(m, {}).get(model) for m in metrics}


def _run_bench(model: str, reference: str, images: Path, limit: int, out: Path) -> None:
    sdpic_cli = Path(sys.executable).with_name("sdpic")  # the console script of this environment
    cmd = [str(sdpic_cli), "bench", "rd", "--images", str(images), "--limit", str(limit),
           "--codecs", f"{reference},{model}", "--reference", reference, "--out", str(out), "--force",
           "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def weights_kind(weights: Path) -> str:
    """'average' or 'raw' from the snapshot naming of ``sdpic train``; 'other' for any other file (an
    ``--export``, the shipped file), which keeps the kind the history already has for its hash."""
    if weights.stem.startswith("step_"):
        return "average" if weights.stem.endswith("-ema") else "raw"
    return "other"


def update_history(history: Path, reference: str, limit: int, rows: list[dict]) -> dict:
    """Add ``rows`` to the history file (a row with the same weights hash is replaced); returns it."""
    doc = json.loads(history.read_text()) if history.exists() else {"reference": reference, "limit": limit,
                                                                     "rows": []}
    if (doc["reference"], doc["limit"]) != (reference, limit):
        raise ParameterError(f"{history} holds BD-rates vs {doc['reference']} on {doc['limit']} images, "
                             f"not vs {reference} on {limit}")
    known = {r["hash"]: r["kind"] for r in doc["rows"] if r.get("hash")}
    for row in rows:
        if row["kind"] == "other":
            row["kind"] = known.get(row["hash"], "other")
    measured_now = {row["hash"] for row in rows}
    doc["rows"] = [r for r in doc["rows"] if r.get("hash") not in measured_now] + rows
    doc["rows"].sort(key=lambda r: (r["steps"], r["weights"]))
    atomic_write_bytes(history, (json.dumps(doc, indent=2) + "\n").encode())
    return doc


def plot_history(doc: dict, out: Path, model: str) -> None:
    """BD-rate vs training steps, one panel per metric; weight averages and raw weights apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted({m for r in doc["rows"] for m, v in r["bd_rate"].items() if v is not None})
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for kind, style in (("average", "o-"), ("raw", "s--"), ("other", "x")):
            pts = [(r["steps"], r["bd_rate"][metric]) for r in doc["rows"]
                   if r["kind"] == kind and r["bd_rate"].get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, ms=4, label=kind)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_title(metric)
        ax.set_xlabel("training steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"BD-rate vs {doc['reference']} (%)")
    axes[0][0].legend()
    fig.suptitle(f"{model}: picks on the first {doc['limit']} Kodak images", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="*", type=Path, help="safetensors weights files")
    parser.add_argument("--model", default="sdpic", help="zoo model the candidates stand in for")
    parser.add_argument("--reference", default="avif", help="BD-rate reference codec")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help="comma-separated bench metrics")
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--limit", type=int, default=8, help="first N images")
    parser.add_argument("--no-shipped", action="store_true", help="do not measure the shipped weights first")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--history", type=Path, default=None, help="add the rows to this JSON of all picks")
    parser.add_argument("--plot", type=Path, default=None, help="draw the --history file as a PNG")
    args = parser.parse_args(argv)
    if args.plot and not args.history:
        raise ParameterError("--plot draws the --history file: give both")
    if not args.candidates:
        if not args.plot:
            raise ParameterError("give candidate weights, or --history and --plot to redraw")
        if not args.history.is_file():
            raise ParameterError(f"no such history file: {args.history}")
        plot_history(json.loads(args.history.read_text()), args.plot, args.model)
        return 0

    zoo_path = entry_by_name(args.model).path
    backup = _backup_path(zoo_path)
    if backup.exists():
        raise ParameterError(f"{backup} exists: an earlier run was killed before it could restore the shipped "
                             f"weights; check it and move it back to {zoo_path.name}")
    missing = [str(p) for p in args.candidates if not p.is_file()]
    if missing:
        raise ParameterError(f"no such weights file: {', '.join(missing)}")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in QUALITY_METRICS]
    if unknown:  # e.g. the old percep / percep_eval: the bench would leave them empty without a word
        raise ParameterError(f"unknown --metrics {', '.join(unknown)} (the bench measures {DEFAULT_METRICS})")
    candidates = ([] if args.no_shipped else [zoo_path]) + list(args.candidates)

    signal.signal(signal.SIGTERM, _raise_interrupt)  # so the finally restores the shipped file
    rows = []
    print(f"| weights | hash | {' | '.join(metrics)} |  (BD-rate vs {args.reference}, "
          f"first {args.limit} images of {args.images})")
    print("|---|---|" + "---:|" * len(metrics))
    with tempfile.TemporaryDirectory(prefix="pick-weights-") as tmp:
        for weights in candidates:
            bd = measure(args.model, args.reference, weights, args.images, args.limit, metrics, Path(tmp))
            label = "shipped" if weights == zoo_path else str(weights)
            row = {"weights": label, "hash": weights_hash(weights).hex(), "steps": weights_steps(weights),
                   "kind": weights_kind(weights),
                   "measured": time.strftime("%Y-%m-%d", time.gmtime()), "bd_rate": bd}
            rows.append(row)
            cells = " | ".join("n/a" if v is None else f"{v:+.1f}%" for v in bd.values())
            print(f"| {label} | {row['hash']} | {cells} |", flush=True)
    if args.json:
        doc = {"model": args.model, "reference": args.reference, "images": str(args.images),
               "limit": args.limit, "rows": rows}
        atomic_write_bytes(args.json, (json.dumps(doc, indent=2) + "\n").encode())
    if args.history:
        history = update_history(args.history, args.reference, args.limit, rows)
        if args.plot:
            plot_history(history, args.plot, args.model)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(script_status(main))
    except subprocess.CalledProcessError as exc:
        print(f"error: the bench failed (exit {exc.returncode}): {' '.join(exc.cmd)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; the shipped weights are back in place", file=sys.stderr)
        sys.exit(130)
