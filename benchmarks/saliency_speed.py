"""Inference time of the saliency methods on one 768x512 image with 2 CPU threads.

Why: the target for the learned model is at most 0.15 s per 768x512 photo on 2 threads, so that
``--saliency auto`` adds little to encoding time. Uses Kodak's kodim01 when ../shared is there (else a
random image, which costs the learned model the same), warms up, then reports the median of N runs.

    python benchmarks/saliency_speed.py [--runs 20] [--threads 2] [--methods learned,hc,rc,spectral,finegrained]
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting collapse when the cores are shared with other jobs (measured here:
# 1.3 s instead of 0.1 s per image with 2 threads on a loaded 2-core VM); passive waiting avoids that. It must
# be set before torch loads OpenMP. Pass OMP_WAIT_POLICY=ACTIVE in the environment to measure the other way.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sdpic.image_io import load_image
from sdpic.saliency import predict_rgb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default="learned")
    p.add_argument("--image", help="image to time (default: kodim01.png from ../shared, else random 768x512)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(__file__).resolve().parents[1]
    kodak = root.parent / "shared" / "data" / "kodak" / "kodim01.png"
    if args.image:
        rgb, name = load_image(args.image).rgb, args.image
    elif kodak.is_file():
        rgb, name = load_image(kodak).rgb, str(kodak)
    else:
        rgb, name = np.random.default_rng(0).integers(0, 256, (512, 768, 3), dtype=np.uint8), "random 768x512"
    print(
        f"image: {name} ({rgb.shape[1]}x{rgb.shape[0]}), torch threads: {torch.get_num_threads()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, load average {os.getloadavg()[0]:.1f}"
    )
    for method in args.methods.split(","):
        for _ in range(3):
            predict_rgb(rgb, method)
        times, cpu = [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            predict_rgb(rgb, method)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        # CPU seconds (all threads) do not depend on how busy the machine is; wall time does.
        print(
            f"{method:12s} median {statistics.median(times):.4f} s  min {min(times):.4f} s  "
            f"mean {statistics.fmean(times):.4f} s  cpu {statistics.median(cpu):.4f} s  ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
