"""Cost of the perceptual metrics as a training loss: forward + backward, batch 8, 256x256, 2 CPU threads.

Why: the codec trains on LPIPS-Alex (its spatial map, weighted by saliency), so every step pays for it; the
issue's budget is 0.3 s per step on 2 CPU threads. LPIPS-VGG and DISTS are the held-out metrics: the codec
never trains on them, so no budget applies, but their cost says what training on them would mean and what
the bench pays per image. The reference is a constant target (no gradient), as in training.

    python benchmarks/metric_speed.py [--metric all] [--repeats 10] [--json results/metric/speed.json]

Reports the median and best wall time of ``loss = metric(ref, img).mean(); loss.backward()`` (the LPIPS
metrics through their spatial map, as :mod:`sdpic.train.losses` uses them; DISTS has none), plus
forward-only (no_grad) time, for each metric, and the process CPU time (less sensitive to other jobs on a
shared machine: wall >= CPU / threads). Shared machines are noisy: quote the median of several repeats
after two warm-up runs, with the load average that the JSON records.
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

from sdpic.metric import DEFAULT_METRIC, METRICS, build_metric

#: Metrics with a spatial map: timed through it, as the training loss computes it.
SPATIAL = frozenset({"lpips-alex", "lpips-vgg"})


def time_metric(metric: torch.nn.Module, batch: int, size: int, repeats: int, spatial: bool) -> dict[str, object]:
    """Time forward+backward and forward-only; wall seconds (median, best) and this process's CPU seconds."""
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(batch, 3, size, size, generator=gen)
    base = (ref + 0.05 * torch.randn(batch, 3, size, size, generator=gen)).clamp(0, 1)

    def step() -> None:
        img = base.clone().requires_grad_(True)
        loss = metric(ref, img, spatial=spatial).mean()
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
    parser.add_argument("--metric", default="all", choices=("all", *METRICS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.3,
                        help=f"budget in seconds for forward+backward of the training metric ({DEFAULT_METRIC})")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
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
    names = METRICS if args.metric == "all" else (args.metric,)
    results = []
    for name in names:
        metric = build_metric(name).eval()
        spatial = name in SPATIAL
        r: dict[str, object] = {"metric": name, "spatial": spatial, "trains_the_codec": name == DEFAULT_METRIC}
        r.update(time_metric(metric, args.batch, args.size, args.repeats, spatial))
        results.append(r)
        fb, fo = r["fwd_bwd"], r["fwd_only"]
        if name == DEFAULT_METRIC:
            verdict = f"target {args.target} s: " + ("OK" if fb["median_s"] <= args.target else "OVER BUDGET")
        else:
            verdict = "held out (no budget)"
        print(
            f"{name:10s} fwd+bwd median {fb['median_s']:.3f} s (best {fb['best_s']:.3f}, "
            f"cpu {fb['median_cpu_s']:.3f} s) | fwd only {fo['median_s']:.3f} s | {verdict}",
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
            "target_metric": DEFAULT_METRIC,
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
