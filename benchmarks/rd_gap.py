"""Where along the rate axis each sdpic model wins or loses: quality differences at equal bitrate.

    .venv/bin/python benchmarks/rd_gap.py                                   # print the table
    .venv/bin/python benchmarks/rd_gap.py --out results/bench/rd_gap.md     # write it (atomically)
    .venv/bin/python benchmarks/rd_gap.py --check results/bench/rd_gap.md  # status 1 if it is stale

A BD-rate is one average over the overlapping range: it cannot tell a codec that is a little behind
everywhere from one that ties at low rates and falls away at the top. This table reads the averaged
Kodak points of `sdpic bench rd` (`results/bench/kodak_rd.json`) and prints, for each comparison the
open issues care about, the test codec's quality minus the reference's at a few bitrates
(:func:`sdpic.bench.bdrate.quality_delta_at_rates`: PCHIP on log-rate, no extrapolation; "–" where a
rate lies outside either curve). Nothing is measured here; `benchmarks/ship.sh` regenerates the file
after the rows it reads change, and tests/benchmarks/test_rd_gap.py fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sdpic.bench.bdrate import LOWER_IS_BETTER, quality_delta_at_rates
from sdpic.cli import script_status
from sdpic.errors import ParameterError
from sdpic.outputs import atomic_write_bytes

RD_JSON = Path(__file__).resolve().parent.parent / "results" / "bench" / "kodak_rd.json"
RATES = (0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9, 1.2)
#: (test codec, reference, metric): the comparisons of the open targets (sdpic's
#: perceptual targets are on the held-out distances, LPIPS-VGG and DISTS).
COMPARISONS = (
    ("sdpic-mse", "webp", "psnr"),
    ("sdpic-mse", "avif", "psnr"),
    ("sdpic", "avif", "lpips_vgg"),
    ("sdpic", "avif", "dists"),
    ("sdpic", "avif", "psnr_salient"),
    ("sdpic", "avif", "psnr"),
    ("sdpic", "avif", "ms_ssim"),
)
UNITS = {"psnr": "dB", "psnr_salient": "dB"}  # MS-SSIM and the distances have none


def _curve(doc: dict[str, Any], codec: str, metric: str) -> tuple[list[float], list[float]]:
    entry = doc.get("codecs", {}).get(codec)
    if entry is None:
        raise ParameterError(f"no codec {codec!r} in the RD results")
    pairs = [(p["bpp"], p[metric]) for p in entry.get("points", [])
             if p.get("bpp") is not None and p.get(metric) is not None]
    if len(pairs) < 2:
        raise ParameterError(f"{codec!r} has fewer than two {metric} points in the RD results")
    return [b for b, _ in pairs], [q for _, q in pairs]


def _cell(delta: float | None, metric: str) -> str:
    if delta is None:
        return "–"
    # distances (LPIPS, DISTS) of compressed Kodak images differ in the second or third decimal
    digits = 2 if metric in ("psnr", "psnr_salient") else 4
    return f"{delta:+.{digits}f}".replace("-", "\u2212")


def gap_table(doc: dict[str, Any], rates: tuple[float, ...] = RATES) -> str:
    """The Markdown table: one row per comparison, one column per bitrate."""
    header = "| test − reference | metric | " + " | ".join(f"{r:g} bpp" for r in rates) + " |"
    lines = [header, "|---|---|" + "---:|" * len(rates)]
    for codec, reference, metric in COMPARISONS:
        ref_rate, ref_q = _curve(doc, reference, metric)
        test_rate, test_q = _curve(doc, codec, metric)
        deltas = quality_delta_at_rates(ref_rate, ref_q, test_rate, test_q, rates)
        better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        unit = f" {UNITS[metric]}" if UNITS.get(metric) else ""
        cells = " | ".join(_cell(d, metric) for d in deltas)
        lines.append(f"| `{codec}` − {reference} | {metric}{unit} ({better}) | {cells} |")
    images = doc.get("images")
    note = (f"\nKodak, {len(images) if isinstance(images, list) else images} images, averaged points of "
            "`results/bench/kodak_rd.json`; PCHIP on log-rate, no extrapolation (– outside a curve).\n")
    return "\n".join(lines) + "\n" + note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rd", type=Path, default=RD_JSON, help="an RD JSON of `sdpic bench rd`")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, metavar="FILE", help="write the table to FILE")
    where.add_argument("--check", type=Path, metavar="FILE", help="status 1 if FILE differs from the table")
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.rd.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{args.rd}: cannot read RD JSON ({exc})") from None
    table = gap_table(doc)
    if args.check is not None:
        try:
            current = args.check.read_text()
        except OSError as exc:
            raise ParameterError(f"{args.check}: {exc}") from None
        if current != table:
            print(f"{args.check}: stale; run benchmarks/rd_gap.py --out {args.check}", file=sys.stderr)
            return 1
        return 0
    if args.out is None:
        print(table, end="")
        return 0
    atomic_write_bytes(args.out, table.encode())
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(script_status(main))
