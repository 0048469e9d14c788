"""Peak memory (max RSS of a separate process) of compressing and decompressing large photos.

For each size (megapixels, 3:2 landscape) it writes a synthetic smooth-noise photo as PNG into a temp
dir, then runs three fresh processes: the baseline (import + model load), ``sdpic.compress(path)``
and ``sdpic.decompress(bytes)``. Each child reports its own ``ru_maxrss``. It also checks the decoded
large image for seams at the encoder's analysis-strip borders (error in the rows next to a border
vs. everywhere else).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/memory_peak.py --megapixels 1 12 24 \\
        --threads 2 --json results/reliability/memory_peak.json

Target: compressing a 24 MP photo within 4 GB of RAM. The seconds are wall time of the codec
call alone (not the PNG read/write), on whatever else the machine is running: not a speed benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHILD = r"""
import json, resource, sys, time
mode, src, dst, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import sdpic
from sdpic.zoo import load_model
load_model()
t0 = time.perf_counter()
if mode == "compress":
    data = sdpic.compress(src, quality=50, threads=threads)
    open(dst, "wb").write(data)
elif mode == "decompress":
    img = sdpic.decompress(open(src, "rb").read(), threads=threads)
seconds = time.perf_counter() - t0  # the PNG write below is not the codec's time (its memory is counted)
if mode == "decompress":
    img.save(dst, compress_level=1)
print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))
"""


def synthetic_photo(megapixels: float, seed: int = 0) -> Image.Image:
    """Smooth noise at several scales plus fine grain: compresses like a photo, unlike white noise."""
    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(megapixels * 1e6 / width)
    rng = np.random.default_rng(seed)
    acc = np.zeros((height, width, 3), dtype=np.float32)
    for cells, amplitude in ((6, 70.0), (40, 30.0), (300, 12.0)):
        small = rng.normal(0, 1, (max(2, cells * height // width), cells, 3)).astype(np.float32)
        layer = [np.asarray(Image.fromarray(small[..., c], mode="F").resize((width, height), Image.BICUBIC))
                 for c in range(3)]
        acc += amplitude * np.stack(layer, axis=2)
    acc += rng.normal(0, 3, acc.shape).astype(np.float32) + 128.0
    return Image.fromarray(np.clip(acc, 0, 255).astype(np.uint8), mode="RGB")


def run_child(mode: str, src: Path, dst: Path, threads: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(dst), str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def seam_check(original: np.ndarray, decoded: np.ndarray, width: int) -> dict:
    """Mean absolute error on the pixel rows at analysis-strip borders vs. all rows (ratio ~1: no seam)."""
    from sdpic.codec.model import LATENT_STRIDE, PAD_MULTIPLE, analysis_strips

    padded_w = width + (-width) % PAD_MULTIPLE
    padded_h = original.shape[0] + (-original.shape[0]) % PAD_MULTIPLE
    strips = analysis_strips(padded_h // LATENT_STRIDE, padded_w // LATENT_STRIDE)
    err = np.abs(original.astype(np.float64) - decoded.astype(np.float64)).mean(axis=(1, 2))
    border_rows = [r for top, _ in strips[1:] for r in (top * LATENT_STRIDE - 1, top * LATENT_STRIDE)
                   if r < len(err)]
    border = float(err[border_rows].mean()) if border_rows else float("nan")
    return {"strips": len(strips), "border_rows_mae": border, "all_rows_mae": float(err.mean()),
            "ratio": border / float(err.mean()) if border_rows else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[1.0, 12.0, 24.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sdpic-mem-") as tmp:
        tmp = Path(tmp)
        baseline = run_child("baseline", tmp, tmp, args.threads)
        print(f"baseline (import + model load): {baseline['max_rss_mb']:.0f} MB")
        for mp in args.megapixels:
            photo = synthetic_photo(mp)
            src, coded, decoded = tmp / f"{mp}mp.png", tmp / f"{mp}mp.sdpic", tmp / f"{mp}mp.out.png"
            photo.save(src, compress_level=1)
            enc = run_child("compress", src, coded, args.threads)
            dec = run_child("decompress", coded, decoded, args.threads)
            seams = seam_check(np.asarray(photo), np.asarray(Image.open(decoded).convert("RGB")), photo.width)
            row = {"megapixels": photo.width * photo.height / 1e6, "width": photo.width, "height": photo.height,
                   "compress_max_rss_mb": enc["max_rss_mb"], "compress_s": enc["seconds"],
                   "decompress_max_rss_mb": dec["max_rss_mb"], "decompress_s": dec["seconds"],
                   "bytes": coded.stat().st_size, "seams": seams}
            rows.append(row)
            print(f"{photo.width}x{photo.height} ({row['megapixels']:.1f} MP): compress {enc['max_rss_mb']:.0f} MB "
                  f"{enc['seconds']:.1f} s, decompress {dec['max_rss_mb']:.0f} MB {dec['seconds']:.1f} s, "
                  f"strip-border/all-rows error ratio {seams['ratio']}")
            del photo
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"threads": args.threads, "quality": 50, "baseline_max_rss_mb":
                                         baseline["max_rss_mb"], "date": time.strftime("%Y-%m-%d"), "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
