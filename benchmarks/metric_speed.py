"""Cost of the perceptual metric as a training loss: forward + backward, batch 8, 256x256, 2 CPU threads.

Why: the codec trains with this distance as (part of) its loss, so every step pays for it; the issue's
budget is 0.3 s per step on 2 CPU threads. The reference is a constant target (no gradient), as in training.

    python benchmarks/metric_speed.py [--backbone all] [--repeats 10] [--json results/metric/speed.json]

Reports the median and best wall time of ``loss = metric(ref, img).mean(); loss.backward()``, plus
forward-only (no_grad) time, for each backbone, and the process CPU time (less sensitive to other jobs
on a shared machine: wall >= CPU / threads). Shared machines are noisy: quote the median of several
repeats after two warm-up runs, with the load average that the JSON records. ``--sweep`` also prices
other truncations of each backbone, so the depth/cost trade-off is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sdpic.metric.backbones import BACKBONES, TAPS, get_backbone
from sdpic.metric.distance import PerceptualDistance

#: Truncations priced by --sweep (one tap per resolution 1/2, 1/4, 1/8, 1/16; cut after the last).
SWEEP: dict[str, list[tuple[int, ...]]] = {
    "mobilenet_v2": [(1,), (1, 3), (1, 3, 6), (1, 3, 6, 10)],
    "efficientnet_lite0": [(0,), (0, 2), (0, 2, 4), (0, 2, 4, 7)],
}


def sweep_loss(backbone: str, taps: tuple[int, ...]) -> torch.nn.Module:
    """The metric's computation with other tapped layers (uniform weights), to price a truncation."""
    metric = PerceptualDistance(backbone)
    metric.net = get_backbone(backbone, taps)
    metric.lin = torch.nn.ParameterList(
        [torch.nn.Parameter(torch.ones(1, c, 1, 1), requires_grad=False) for c in metric.net.channels]
    )
    return metric


def time_metric(metric: torch.nn.Module, batch: int, size: int, repeats: int) -> dict[str, object]:
    """Time forward+backward and forward-only; wall seconds (median, best) and this process's CPU seconds."""
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(batch, 3, size, size, generator=gen)
    base = (ref + 0.05 * torch.randn(batch, 3, size, size, generator=gen)).clamp(0, 1)

    def step() -> None:
        img = base.clone().requires_grad_(True)
        loss = metric(ref, img).mean()
        loss.backward()

    def forward() -> None:
        with torch.no_grad():
            metric(ref, base)

    out: dict[str, object] = {}
    for name, fn in (("fwd_bwd", step), ("fwd_only", forward)):
        for _ in range(2):
            fn()
        times, cpu = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[name] = {
            "median_s": statistics.median(times),
            "best_s": min(times),
            "median_cpu_s": statistics.median(cpu),
            "all_s": [round(t, 4) for t in times],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="all", choices=("all", *BACKBONES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.3, help="budget in seconds for forward+backward")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--sweep", action="store_true", help="also price other truncations (tapped layers)")
    parser.add_argument(
        "--reuse-freed-memory",
        action="store_true",
        help="glibc keeps freed memory for reuse (sdpic.nets.memory.reuse_freed_memory): no page faults per tensor",
    )
    args = parser.parse_args(argv)
    if args.reuse_freed_memory:
        from sdpic.nets.memory import reuse_freed_memory

        if not reuse_freed_memory():
            parser.error("--reuse-freed-memory needs glibc")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbones = BACKBONES if args.backbone == "all" else (args.backbone,)
    variants = [(b, TAPS[b], PerceptualDistance(b)) for b in backbones]
    if args.sweep:
        for b in backbones:
            for taps in SWEEP[b]:
                if taps != TAPS[b]:
                    variants.append((b, taps, sweep_loss(b, taps)))
    results = []
    for backbone, taps, metric in variants:
        r = {"backbone": backbone, "taps": list(taps), "default": taps == TAPS[backbone]}
        r.update(time_metric(metric, args.batch, args.size, args.repeats))
        results.append(r)
        fb, fo = r["fwd_bwd"], r["fwd_only"]
        verdict = "OK" if fb["median_s"] <= args.target else "OVER BUDGET"
        print(
            f"{backbone:18s} taps {taps!s:16s} fwd+bwd median {fb['median_s']:.3f} s (best {fb['best_s']:.3f}, "
            f"cpu {fb['median_cpu_s']:.3f} s) | fwd only {fo['median_s']:.3f} s | target {args.target} s: {verdict}",
            flush=True,
        )
    if args.json:
        report = {
            "command": "python benchmarks/metric_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "batch": args.batch,
            "size": args.size,
            "threads": args.threads,
            "repeats": args.repeats,
            "target_s": args.target,
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}".strip(),
            "load_avg_1min": os.getloadavg()[0],
            "reuse_freed_memory": args.reuse_freed_memory,
            "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
